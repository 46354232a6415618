"""What every demo-model trainer shares: resumable state files, seeded data, progress and sample sheets."""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from studio.atomic import write_atomic
from studio.demo import toyfaces
from studio.errors import StudioError
from studio.render.device import select_device


@dataclass
class RunState:
    """Progress of a run; saved next to the weights so a killed run resumes where it stopped."""

    step: int = 0
    wall_s: float = 0.0


def toyfaces_batch(n: int, step: int, seed: int) -> Tensor:
    """Fresh ToyFaces for this step as NCHW float in [-1, 1]: a pure function of (seed, step), so resuming
    replays exactly the data an uninterrupted run would have seen."""
    b = toyfaces.sample(n, [seed, step])
    return torch.from_numpy(b.images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def batches(make: Callable[[int], Any], start: int, stop: int, workers: int = 0) -> Iterator[Any]:
    """`make(step)` for each step in order. With `workers` > 0, worker processes render ahead (at most two
    batches each), so ToyFaces drawing stops being the bottleneck of a GPU run; `make` must be picklable and
    a pure function of the step, so the data is the same with or without workers."""
    if workers <= 0:
        for step in range(start, stop):
            yield make(step)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:  # spawn: safe beside a CUDA context
        pending: collections.deque = collections.deque()
        step = start
        while step < stop or pending:
            while step < stop and len(pending) < 2 * workers:
                pending.append(pool.apply_async(make, (step,)))
                step += 1
            yield pending.popleft().get()


def toyfaces_batches(n: int, start: int, stop: int, seed: int, workers: int = 0) -> Iterator[Tensor]:
    """`toyfaces_batch` for steps start..stop-1, optionally rendered ahead by worker processes."""
    return batches(partial(toyfaces_batch, n, seed=seed), start, stop, workers)


def save_state(path: Path, modules: dict[str, Any], state: RunState) -> None:
    """Atomic write of every state_dict plus progress (plain tensors and numbers: loads with weights_only)."""
    payload = {name: m.state_dict() for name, m in modules.items()}
    payload["run"] = asdict(state)
    payload["torch_rng"] = torch.get_rng_state()
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_state(path: Path, modules: dict[str, Any]) -> RunState:
    if not path.exists():
        return RunState()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    missing = [name for name in modules if name not in payload]
    if missing:  # a run started by an older trainer (e.g. before the generator EMA existed)
        raise StudioError(f"{path} has no {', '.join(missing)}: it was written by another version of this "
                          f"trainer; train into a new --out-dir")
    for name, m in modules.items():
        m.load_state_dict(payload[name])
    torch.set_rng_state(payload["torch_rng"])
    return RunState(**payload["run"])


def end_step(state: RunState, timer: "Timer", bar: Any, **losses: Tensor) -> None:
    """Count a finished step and its time, and show its losses on the progress bar."""
    state.step += 1
    state.wall_s = timer.elapsed
    if bar is not None:
        bar.update(1)
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in losses.items()})


def due(state: RunState, every: int, last: int) -> bool:
    """Whether to save or sample after this step: every `every` steps and at the end."""
    return state.step % every == 0 or state.step == last


def ema_beta(batch: int, images_seen: int, half_life_images: float) -> float:
    """Official G EMA decay per step: a half-life in images, ramped to 5% of the images seen so that early
    samples move."""
    half = min(half_life_images, max(images_seen, 1) * 0.05)
    return 0.5 ** (batch / max(half, 1e-8))


def lazy_r1(D: torch.nn.Module, real: Tensor, gamma: float, every: int) -> Tensor:
    """R1 penalty (Mescheder et al. 2018: the squared gradient of D on real images), scaled by `every` because
    it is applied only every `every` steps, as StyleGAN2's lazy regularisation does."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]).mean() * (gamma / 2) * every


def logistic_d_loss(D: torch.nn.Module, real: Tensor, fake: Tensor, step: int, r1_gamma: float,
                    r1_every: int) -> Tensor:
    """StyleGAN2's D loss: logistic on real and (detached) fake images, plus lazy R1 on the real ones."""
    loss = F.softplus(D(fake.detach())).mean() + F.softplus(-D(real)).mean()
    if step % r1_every == 0:
        loss = loss + lazy_r1(D, real, r1_gamma, r1_every)
    return loss


def nonsaturating_g_loss(D: torch.nn.Module, fake: Tensor) -> Tensor:
    """StyleGAN2's G loss against D; D's own weight gradients are not recorded (autograd decides at forward
    time, so D can take gradients again as soon as this returns)."""
    D.requires_grad_(False)
    try:
        return F.softplus(-D(fake)).mean()
    finally:
        D.requires_grad_(True)


def update(opt: torch.optim.Optimizer, loss: Tensor) -> None:
    """One optimiser step on `loss`."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def lazy_adam(params: Any, lr: float, every: int = 0) -> torch.optim.Adam:
    """StyleGAN2's Adam (betas 0, 0.99) for a network regularised every `every` steps (0: not regularised),
    with the official correction: the extra regularisation steps would otherwise speed up its learning rate
    and momentum decay."""
    c = every / (every + 1) if every else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(0.0, 0.99 ** c), eps=1e-8)


def save_sheet(images: Tensor, path: Path, cols: int = 8) -> None:
    arr = ((images.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    toyfaces.contact_sheet(arr, cols=cols, scale=2).save(path)


class Timer:
    def __init__(self, start: float = 0.0):
        self.base, self.t0 = start, time.monotonic()

    @property
    def elapsed(self) -> float:
        return self.base + time.monotonic() - self.t0


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def trainer_parser(family: str, description: str, steps: int, batch: int) -> argparse.ArgumentParser:
    """The options every `latent-studio train FAMILY` shares; trainers add their own."""
    ap = argparse.ArgumentParser(prog=f"latent-studio train {family}", description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=Path("runs") / family,
                    help="where progress is saved (rerun the same command to resume)")
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--device", default=None,
                    help="auto (default: the fastest present, or $LATENT_STUDIO_DEVICE), cpu or cuda; data "
                         "and latents are drawn on the CPU, so only the arithmetic differs between devices")
    ap.add_argument("--data-workers", type=int, default=0,
                    help="processes that render training faces ahead (0 = in the training process)")
    ap.add_argument("--export", type=Path, default=None, help="write the fp16 safetensors here when done")
    return ap


def parse_trainer_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        args.device = select_device(args.device)
    except (ValueError, RuntimeError) as e:
        raise StudioError(f"--device {args.device}: {e}") from None
    return args


def run_facts(state: RunState) -> dict[str, Any]:
    """What every bundled file's header says about its run."""
    return {"steps": state.step, "wall_s": round(state.wall_s, 1)}


def command_facts(args: argparse.Namespace) -> dict[str, Any]:
    """What the bundled file's header says about the command that trained it: with the step count, enough to
    rerun it (a CUDA run is not bit-reproducible: cuDNN picks its own algorithms)."""
    return {"seed": args.seed, "batch": args.batch, "device": args.device.type}


def export_if_asked(path: Path | None, state: RunState, write: Callable[[Path], None]) -> None:
    """`--export PATH`: write the bundled file and print one JSON line saying what was written."""
    if path is None:
        return
    write(path)
    print(json.dumps({"exported": str(path), "steps": state.step, "wall_s": round(state.wall_s)}))

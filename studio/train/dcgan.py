"""Train the DCGAN demo model on ToyFaces (pytorch/examples layout, 64x64).

The generator is built by the DCGAN plugin's own network code and saved in the studio's safetensors
format, so the bundled model goes through exactly the loader users' checkpoints do. The generator is the
paper's; the training is StyleGAN2's (non-saturating logistic loss, lazy R1 on a discriminator without
BatchNorm, Adam betas 0/0.99, G EMA): the paper's recipe (BCE, BatchNorm in D) oscillated on ToyFaces, its
attribute rates swinging by up to 28 points between snapshots.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from studio.model.registry import family
from studio.train.loop import (RunState, Timer, command_facts, due, ema_beta, end_step, export_if_asked,
                               lazy_adam, load_state, logistic_d_loss, nonsaturating_g_loss,
                               parse_trainer_args, run_facts, save_sheet, save_state, seed_everything,
                               toyfaces_batches, trainer_parser, update)

WEIGHTS = ("ema", "last")
EMA_HALF_LIFE = 10_000  # images, as StyleGAN's ema_kimg: averaging G's weights is a nearly free FID gain
R1_GAMMA = 20.0
R1_EVERY = 16
# Off by default: it makes glasses close to linear in z (0.25 made the glasses units findable; 1 gave the
# paper's arithmetic 0.65) but costs the fit (at 1, toy-FID 31-36 and hair rates off by 0.12-0.14 at
# 4,000-7,000 steps; at 0.25, 0.12 at 7,000); 2 (StyleGAN2's, in W) collapsed the samples. See the model card.
PL_WEIGHT = 0.0
PL_EVERY = 4


def networks() -> Any:
    """The DCGAN family's network code, from its plugin (this trainer imports no family)."""
    return family("DCGAN").networks()


def generator_config(z_dim: int = 100, ngf: int = 32, channels: int = 3) -> Any:
    """The DCGAN family's config for the paper's generator (5 transposed convs, BatchNorm)."""
    widths = [ngf * 8, ngf * 4, ngf * 2, ngf, channels]
    convs, cin = [], z_dim
    for w in widths:
        convs.append((cin, w, 4, False))
        cin = w
    return networks().Config("main.", tuple(convs), (True,) * 4)


def discriminator(ndf: int = 32, channels: int = 3) -> nn.Sequential:
    """The DCGAN paper's discriminator (strided convs, LeakyReLU) returning logits, without BatchNorm: R1
    penalises each real image's own gradient, which batch statistics would mix across the batch."""
    layers: list[nn.Module] = []
    widths = [channels, ndf, ndf * 2, ndf * 4, ndf * 8]
    for cin, cout in zip(widths, widths[1:]):
        layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Conv2d(ndf * 8, 1, 4, 1, 0), nn.Flatten())


class PathLength(nn.Module):
    """StyleGAN2's path length regulariser, applied to z: a fixed-size step in z moves the image by the same
    amount everywhere, so the generator does not fold z space (folds make attributes non-linear in z,
    which vector arithmetic and fitted directions rely on). The running mean is a buffer so runs resume."""

    def __init__(self, decay: float = 0.01):
        super().__init__()
        self.decay = decay
        self.register_buffer("mean", torch.zeros(()))

    def penalty(self, G: nn.Module, z: Tensor, weight: float, every: int) -> Tensor:
        z = z.detach().requires_grad_(True)
        img = G(z)
        noise = torch.randn(img.shape).to(img.device) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * noise).sum(), z, create_graph=True)
        lengths = grad.square().sum(dim=[1, 2, 3]).sqrt()
        self.mean.lerp_(lengths.mean().detach(), self.decay)
        return (lengths - self.mean).square().mean() * weight * every


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def recalibrate_batchnorm(G: nn.Sequential, z_dim: int, batches: int = 16, batch: int = 256,
                          seed: int = 4321) -> None:
    """Running statistics that belong to these (averaged) weights: the training generator's statistics
    were measured with other weights, so the EMA generator gets its own from fresh z (seeded)."""
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    G.train()
    with torch.no_grad():
        for _ in range(batches):
            G(torch.randn(batch, z_dim, 1, 1, generator=gen).to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    G.eval()


def train(out_dir: Path, steps: int, batch: int = 64, z_dim: int = 100, ngf: int = 32, ndf: int = 32,
          seed: int = 0, lr: float = 2e-4, r1_gamma: float = R1_GAMMA, r1_every: int = R1_EVERY,
          pl_weight: float = PL_WEIGHT, sample_every: int = 250, save_every: int = 100,
          progress: bool = True, weights: str = "ema", device: torch.device | str = "cpu",
          data_workers: int = 0) -> tuple[nn.Sequential, RunState]:
    """Train (or resume) until `steps`; returns the run state and, in eval mode on the CPU, the EMA generator
    with its BatchNorm recalibrated (`weights="ema"`) or the last step's generator (`"last"`: the training
    trajectory is the same either way, as the average draws no random numbers)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, not {weights!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    cfg = generator_config(z_dim, ngf)
    G, D = networks().build(cfg), discriminator(ndf)
    G.apply(_init)
    D.apply(_init)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).requires_grad_(False)
    opt_g = lazy_adam(G.parameters(), lr, PL_EVERY if pl_weight > 0 else 0)
    opt_d = lazy_adam(D.parameters(), lr, r1_every)
    pl = PathLength().to(device)
    modules = {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g, "opt_d": opt_d, "pl": pl}
    state_path = out_dir / "state.pt"
    state = load_state(state_path, modules)
    timer = Timer(state.wall_s)
    fixed_z = torch.randn(64, z_dim, 1, 1, generator=torch.Generator().manual_seed(1234))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=state.step, desc="dcgan", unit="step")
    G.train()
    D.train()
    for real in toyfaces_batches(batch, state.step, steps, seed, data_workers):
        real = real.to(device)
        z = torch.randn(batch, z_dim, 1, 1).to(device)  # drawn on the CPU: the same z on every device
        fake = G(z)
        loss_d = logistic_d_loss(D, real, fake, state.step, r1_gamma, r1_every)
        update(opt_d, loss_d)
        loss_g = nonsaturating_g_loss(D, fake)  # against the updated D
        update(opt_g, loss_g)
        if pl_weight > 0 and state.step % PL_EVERY == 0:
            update(opt_g, pl.penalty(G, torch.randn(batch // 2, z_dim, 1, 1).to(device), pl_weight, PL_EVERY))
        end_step(state, timer, bar, d=loss_d, g=loss_g)
        with torch.no_grad():
            beta = ema_beta(batch, state.step * batch, EMA_HALF_LIFE)
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.lerp_(p, 1 - beta)
        if due(state, save_every, steps):
            save_state(state_path, modules, state)
        if due(state, sample_every, steps):
            sample = copy.deepcopy(G_ema)
            recalibrate_batchnorm(sample, z_dim, batches=4)
            with torch.no_grad():
                save_sheet(sample(fixed_z.to(device)), out_dir / f"samples_{state.step:06d}.png")
    if bar is not None:
        bar.close()
    if weights == "last":
        return G.eval().cpu(), state
    recalibrate_batchnorm(G_ema, z_dim)
    return G_ema.cpu(), state


def export(G: nn.Sequential, path: Path, state: RunState, extra: dict | None = None) -> None:
    """The bundled file: fp16 safetensors whose header carries the config and the run's facts."""
    networks().save(path, G, name="DCGAN ToyFaces 64", half=True,
               extra={**run_facts(state), **(extra or {})})


def main(argv: list[str] | None = None) -> int:
    ap = trainer_parser("dcgan", __doc__, steps=5000, batch=64)
    ap.add_argument("--r1-gamma", type=float, default=R1_GAMMA, help="R1 penalty weight on the discriminator")
    ap.add_argument("--pl-weight", type=float, default=PL_WEIGHT,
                    help="path length penalty on the generator, in z (0 = off)")
    ap.add_argument("--weights", choices=WEIGHTS, default="ema",
                    help="export the weight average (default; BatchNorm re-measured) or the last step's "
                         "weights")
    args = parse_trainer_args(ap, argv)
    G, state = train(args.out_dir, args.steps, args.batch, seed=args.seed, r1_gamma=args.r1_gamma,
                     pl_weight=args.pl_weight, weights=args.weights, device=args.device,
                     data_workers=args.data_workers)
    facts = {**command_facts(args), "weights": args.weights, "r1_gamma": args.r1_gamma,
             "pl_weight": args.pl_weight}
    export_if_asked(args.export, state, lambda path: export(G, path, state, facts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

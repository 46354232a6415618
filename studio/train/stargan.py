"""Train the StarGAN (v1) demo model on ToyFaces: 64x64, the six ToyFaces attributes as labels.

The generator is the StarGAN plugin's own network (yunjey/stargan layout), so the bundled model goes
through the loader users' checkpoints do; the discriminator is yunjey's PatchGAN with a source head
(real/fake per patch) and a classification head (the labels). Losses are StarGAN's: adversarial,
domain classification (lambda_cls) and cycle reconstruction (lambda_rec), with least-squares GAN loss
instead of WGAN-GP (no double backward: about half the cost per step on CPU).

Demo-model training aid: ToyFaces can render the same face with its attributes set to the target labels,
so a supervised L1 term (lambda_sup) pulls G(x, c) towards that rendered counterfactual. It makes the
model converge within CPU minutes; the network and inference are standard StarGAN.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from studio.core.attributes import exclusive_groups, toggle
from studio.demo import toyfaces
from studio.model.registry import family
from studio.model.safeload import save_safetensors
from studio.train.loop import (RunState, Timer, batches, command_facts, due, end_step, export_if_asked,
                               load_state, parse_trainer_args, run_facts, save_sheet, save_state,
                               seed_everything, trainer_parser, update)

ATTRIBUTES = toyfaces.BINARY_ATTRIBUTES  # Black_Hair, Blond_Hair, Brown_Hair, Eyeglasses, Male, Smiling
GROUPS = exclusive_groups(ATTRIBUTES)  # the three hair colours
HAIR = GROUPS[0]
IMAGE_SIZE = toyfaces.SIZE


@dataclasses.dataclass(frozen=True)
class Hyper:
    """Everything that shapes a run besides its length (saved in the export's config)."""

    conv_dim: int = 16  # CPU-sized: ~1 s/step at batch 16 on one core (32 costs 2x)
    repeat_num: int = 4
    d_conv_dim: int = 32
    d_repeat: int = 5
    lr: float = 2e-4
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_sup: float = 10.0
    p_single: float = 0.5  # share of targets that change one attribute of the source (the UI's toggles)


class Discriminator(nn.Module):
    """yunjey/stargan's D: strided 4x4 convs with LeakyReLU(0.01), then conv1 -> a real/fake score per
    patch and conv2 -> one logit per label."""

    def __init__(self, image_size: int = IMAGE_SIZE, conv_dim: int = 32, c_dim: int = len(ATTRIBUTES),
                 repeat_num: int = 5):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        d = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            d *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(d, c_dim, image_size // 2 ** repeat_num, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)


def to_tensor(images: np.ndarray) -> Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def random_targets(rng: np.random.Generator, source: np.ndarray, p_single: float) -> np.ndarray:
    """Valid target vectors (one hair colour): a random attribute of the source toggled by the core's
    rules (what a click in the attribute panel asks for), or every label drawn at random."""
    n, c = source.shape
    out = np.zeros_like(source)
    single = rng.random(n) < p_single
    which = rng.integers(0, c, size=n)
    hair = rng.integers(0, len(HAIR), size=n)
    flags = rng.random((n, c)) < 0.5
    for i in range(n):
        if single[i]:
            out[i] = toggle(source[i].tolist(), int(which[i]), GROUPS)
        else:
            out[i] = flags[i]
            out[i, list(HAIR)] = 0.0
            out[i, HAIR[hair[i]]] = 1.0
    return out


def with_labels(p: toyfaces.FaceParams, labels: np.ndarray) -> toyfaces.FaceParams:
    """The same face with its binary attributes set to `labels` (BINARY_ATTRIBUTES order)."""
    return dataclasses.replace(p, hair=int(np.argmax(labels[list(HAIR)])), eyeglasses=bool(labels[3] > 0.5),
                               male=bool(labels[4] > 0.5), smiling=bool(labels[5] > 0.5))


def training_batch(n: int, step: int, seed: int, p_single: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(real, source labels, target labels, rendered counterfactual): a pure function of (seed, step), so a
    resumed run replays exactly the data an uninterrupted one would have seen."""
    rng = np.random.default_rng([seed, step])
    params = toyfaces.sample_params(rng, n)
    real = toyfaces.render_batch(params)
    trg = random_targets(rng, real.binary, p_single)
    target = toyfaces.render_batch([with_labels(p, t) for p, t in zip(params, trg)])
    return to_tensor(real.images), torch.from_numpy(real.binary), torch.from_numpy(trg), to_tensor(target.images)


def toggle_sheet(G: nn.Module, faces: toyfaces.ToyFacesBatch) -> Tensor:
    """Rows: the inputs, then each attribute toggled from the faces' true labels (as the UI would)."""
    device = next(G.parameters()).device
    x = to_tensor(faces.images).to(device)
    rows = [x]
    with torch.no_grad():
        for i in range(len(ATTRIBUTES)):
            c = torch.tensor([toggle(b.tolist(), i, GROUPS) for b in faces.binary], dtype=torch.float32,
                             device=device)
            rows.append(G(x, c))
    return torch.cat(rows)


def build_generator(h: Hyper) -> nn.Module:
    """The StarGAN family's v1 generator (from its plugin: this trainer imports no family)."""
    nets = family("StarGAN").networks()
    return nets.StarGANv1(nets.StarGANConfig(h.conv_dim, len(ATTRIBUTES), h.repeat_num))


def train(out_dir: Path, steps: int, batch: int = 16, h: Hyper = Hyper(), seed: int = 0,
          sample_every: int = 100, save_every: int = 50, progress: bool = True,
          device: torch.device | str = "cpu", data_workers: int = 0) -> tuple[nn.Module, RunState]:
    """Train (or resume) until `steps`; returns the generator (on the CPU) and the run state."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    G = build_generator(h)
    D = Discriminator(IMAGE_SIZE, h.d_conv_dim, len(ATTRIBUTES), h.d_repeat)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=h.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=h.lr, betas=(0.5, 0.999))
    modules = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    state_path = out_dir / "state.pt"
    state = load_state(state_path, modules)
    timer = Timer(state.wall_s)
    fixed = toyfaces.sample(8, [seed, 10**9])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=state.step, desc="stargan", unit="step")
    make = partial(training_batch, batch, seed=seed, p_single=h.p_single)
    for data in batches(make, state.step, steps, data_workers):
        x, c_org, c_trg, x_cf = (t.to(device) for t in data)
        # Discriminator: LSGAN (real -> 1, fake -> 0) plus the labels of real images.
        fake = G(x, c_trg)
        src_real, cls_real = D(x)
        src_fake, _ = D(fake.detach())
        d_adv = F.mse_loss(src_real, torch.ones_like(src_real)) + F.mse_loss(src_fake, torch.zeros_like(src_fake))
        d_cls = F.binary_cross_entropy_with_logits(cls_real, c_org, reduction="sum") / batch
        loss_d = d_adv + h.lambda_cls * d_cls
        update(opt_d, loss_d)
        # Generator: fool D, be classified as the target, come back to x under the source labels, and
        # (training aid) match the rendered counterfactual.
        src_fake, cls_fake = D(fake)
        g_adv = F.mse_loss(src_fake, torch.ones_like(src_fake))
        g_cls = F.binary_cross_entropy_with_logits(cls_fake, c_trg, reduction="sum") / batch
        g_rec = (G(fake, c_org) - x).abs().mean()
        g_sup = (fake - x_cf).abs().mean()
        loss_g = g_adv + h.lambda_cls * g_cls + h.lambda_rec * g_rec + h.lambda_sup * g_sup
        update(opt_g, loss_g)
        end_step(state, timer, bar, d=d_adv, dcls=d_cls, gcls=g_cls, rec=g_rec, sup=g_sup)
        if due(state, save_every, steps):
            save_state(state_path, modules, state)
        if due(state, sample_every, steps):
            save_sheet(toggle_sheet(G, fixed), out_dir / f"samples_{state.step:06d}.png")
    if bar is not None:
        bar.close()
    return G.cpu(), state


def export(G: nn.Module, path: Path, state: RunState, h: Hyper = Hyper(), extra: dict | None = None) -> None:
    """The bundled file: fp16 safetensors (yunjey key names) whose header names the labels, so the StarGAN
    plugin needs no sidecar."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in G.state_dict().items()}
    config = {"family": "stargan", "name": "StarGAN ToyFaces 64", "attributes": list(ATTRIBUTES),
              "exclusive": [[ATTRIBUTES[i] for i in g] for g in GROUPS], "image_size": IMAGE_SIZE,
              **run_facts(state), "hyper": dataclasses.asdict(h),
              **(extra or {})}
    save_safetensors(path, sd, config)


def main(argv: list[str] | None = None) -> int:
    ap = trainer_parser("stargan", __doc__, steps=4000, batch=16)
    ap.add_argument("--conv-dim", type=int, default=Hyper.conv_dim)
    ap.add_argument("--repeat-num", type=int, default=Hyper.repeat_num)
    args = parse_trainer_args(ap, argv)
    h = Hyper(conv_dim=args.conv_dim, repeat_num=args.repeat_num)
    G, state = train(args.out_dir, args.steps, args.batch, h, seed=args.seed, device=args.device,
                     data_workers=args.data_workers)
    export_if_asked(args.export, state, lambda path: export(G, path, state, h, command_facts(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

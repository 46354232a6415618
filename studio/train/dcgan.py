"""Train the DCGAN demo model on ToyFaces (pytorch/examples layout, 64x64).

The generator is built by the DCGAN plugin's own network code and saved in the studio's safetensors
format, so the bundled model goes through exactly the loader users' checkpoints do.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from plugins.dcgan.network import DCGANConfig, build
from plugins.dcgan.save import save_dcgan
from studio.train.loop import (RunState, Timer, command_facts, due, ema_beta, end_step, export_if_asked,
                               load_state, parse_trainer_args, run_facts, save_sheet, save_state,
                               seed_everything, toyfaces_batches, trainer_parser)

WEIGHTS = ("ema", "last")
EMA_HALF_LIFE = 10_000  # images, as StyleGAN's ema_kimg: averaging G's weights is a nearly free FID gain


def generator_config(z_dim: int = 100, ngf: int = 32, channels: int = 3) -> DCGANConfig:
    widths = [ngf * 8, ngf * 4, ngf * 2, ngf, channels]
    convs, cin = [], z_dim
    for w in widths:
        convs.append((cin, w, 4, False))
        cin = w
    return DCGANConfig("main.", tuple(convs), (True,) * 4)


def discriminator(ndf: int = 32, channels: int = 3) -> nn.Sequential:
    """The DCGAN paper's discriminator (strided convs, BatchNorm, LeakyReLU), returning logits."""
    return nn.Sequential(
        nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Flatten(),
    )


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
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
          seed: int = 0, lr: float = 2e-4, sample_every: int = 250, save_every: int = 100,
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
    G, D = build(cfg), discriminator(ndf)
    G.apply(_init)
    D.apply(_init)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    modules = {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g, "opt_d": opt_d}
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
        # Discriminator: real -> 1 (one-sided label smoothing to 0.9 keeps D from saturating), fake -> 0.
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 0.9))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        out = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
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
    save_dcgan(path, G, name="DCGAN ToyFaces 64", half=True,
               extra={**run_facts(state), **(extra or {})})


def main(argv: list[str] | None = None) -> int:
    ap = trainer_parser("dcgan", __doc__, steps=5500, batch=64)
    ap.add_argument("--weights", choices=WEIGHTS, default="ema",
                    help="export the weight average (default; BatchNorm re-measured) or the last step's "
                         "weights")
    args = parse_trainer_args(ap, argv)
    G, state = train(args.out_dir, args.steps, args.batch, seed=args.seed, weights=args.weights,
                     device=args.device, data_workers=args.data_workers)
    facts = {**command_facts(args), "weights": args.weights}
    export_if_asked(args.export, state, lambda path: export(G, path, state, facts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the StyleGAN2 demo model on ToyFaces (64x64, config F in miniature, sized for a CPU).

The generator is the StyleGAN plugin's own network (mapping MLP, modulated convs, skip architecture), so the
bundled model loads through exactly the code users' checkpoints do. That network stores *effective* tensors
as buffers; here each trainable buffer gets a raw parameter and a constant equalized-learning-rate gain, and
the forward pass swaps in raw * gain (torch.func.functional_call), as the official trainer's layers do.
Losses as in StyleGAN2: non-saturating logistic, lazy R1 on D, style-mixing regularisation, G EMA, w_avg
tracking. Path-length regularisation is left out (it mainly smooths W for projection; the CPU budget goes
to more steps instead).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from studio.model.registry import family
from studio.train.loop import (RunState, Timer, command_facts, due, ema_beta, end_step, export_if_asked,
                               lazy_adam, load_state, logistic_d_loss, nonsaturating_g_loss,
                               parse_trainer_args, run_facts, save_sheet, save_state, seed_everything,
                               toyfaces_batches, trainer_parser, update)

MAPPING_LR_MULT = 0.01
W_AVG_BETA = 0.995
MIXING_PROB = 0.9
R1_GAMMA = 0.5  # 0.1 trained the first demo model but was unstable from run to run; 0.02 diverged


def networks() -> Any:
    """The StyleGAN family's network code, from its plugin (this trainer imports no family)."""
    return family("StyleGAN").networks()


def generator_config(z_dim: int = 128, mapping_layers: int = 4,
                     channels: tuple[int, ...] = (128, 128, 64, 32, 16)) -> Any:
    """The family's StyleGAN2Config for the demo model."""
    res = 2 ** (len(channels) + 1)
    return networks().StyleGAN2Config(z_dim=z_dim, w_dim=z_dim, resolution=res, channels=tuple(channels),
                           mapping_layers=mapping_layers, architecture="skip")


class TrainableG(nn.Module):
    """Raw parameters for the network's trainable buffers; `effective()` is what the network runs on."""

    def __init__(self, cfg: Any):
        super().__init__()
        self.net = networks().StyleGAN2(cfg)
        for m in self.net.modules():  # the unfused modulated conv: same maths, a much cheaper backward on CPU
            if hasattr(m, "fused"):
                m.fused = False
        self.raw = nn.ParameterDict()
        self.gains: dict[str, float] = {}
        for name, buf in self.net.named_buffers():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("w_avg", "noise_const") or name.endswith("resample_filter"):
                continue
            mult = MAPPING_LR_MULT if name.startswith("mapping.") else 1.0
            if leaf == "weight":
                raw, gain = torch.randn(buf.shape) / mult, mult / math.sqrt(buf[0].numel())
                if name.split(".")[-2] in ("conv0", "conv1"):  # demodulated: the official layers keep no gain on these weights
                    gain = 1.0
            elif leaf == "bias":
                init = 1.0 if ".affine." in name else 0.0  # styles start at 1, as bias_init=1 officially
                raw, gain = torch.full(buf.shape, init / mult), mult
            elif leaf == "const":
                raw, gain = torch.randn(buf.shape), 1.0
            elif leaf == "noise_strength":
                raw, gain = torch.zeros(buf.shape), 1.0
            else:
                raise ValueError(f"no training rule for buffer {name}")
            self.raw[name.replace(".", "__")] = nn.Parameter(raw)
            self.gains[name] = gain
        with torch.no_grad():
            for name, buf in self.net.named_buffers():
                if name.endswith("noise_const"):
                    buf.copy_(torch.randn(buf.shape))
            self.net.load_state_dict({**self.net.state_dict(), **self.effective()})

    def effective(self) -> dict[str, Tensor]:
        return {name: self.raw[name.replace(".", "__")] * g for name, g in self.gains.items()}

    def mapping(self, z: Tensor, track: bool = True) -> Tensor:
        ws = functional_call(self.net.mapping, {k[len("mapping."):]: v for k, v in self.effective().items()
                                                if k.startswith("mapping.")}, (z,))
        if track:  # w_avg as officially: a running mean of the mapped w, the centre truncation pulls to
            with torch.no_grad():
                self.net.mapping.w_avg.copy_(ws[:, 0].mean(0).lerp(self.net.mapping.w_avg, W_AVG_BETA))
        return ws

    def synthesis(self, ws: Tensor, noise: str = "random") -> Tensor:
        params = {k[len("synthesis."):]: v for k, v in self.effective().items() if k.startswith("synthesis.")}
        return functional_call(self.net.synthesis, params, (ws,), {"noise": noise})

    def mixed_ws(self, z: Tensor, prob: float = MIXING_PROB) -> Tensor:
        """Style-mixing regularisation: with probability `prob` the styles from a random cutoff on come from
        a second z, so no layer can rely on its neighbours sharing one w (what makes coarse/fine mixing work)."""
        ws = self.mapping(z)
        if torch.rand(()) < prob:
            cutoff = int(torch.randint(1, ws.shape[1], ()))
            ws2 = self.mapping(torch.randn(z.shape).to(z.device), track=False)  # CPU draw, as z's
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws


class EqConv(nn.Module):
    """Conv with the weight stored N(0, 1) and scaled at run time (equalized learning rate)."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain, self.pad = 1 / math.sqrt(cin * k * k), k // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)


class EqLinear(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.gain = 1 / math.sqrt(cin)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.gain, self.bias)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


class DBlock(nn.Module):
    """Resnet block: two 3x3 convs and a 1x1 shortcut, both halved in size by 2x2 averaging (a box blur)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0, self.conv1 = EqConv(cin, cin, 3), EqConv(cin, cout, 3)
        self.skip = EqConv(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.skip(F.avg_pool2d(x, 2))
        x = _lrelu(self.conv1(F.avg_pool2d(_lrelu(self.conv0(x)), 2)))
        return (x + y) * math.sqrt(0.5)


class Discriminator(nn.Module):
    """StyleGAN2's resnet D in miniature: fromRGB, blocks down to 4x4, minibatch stddev, conv, two FCs."""

    def __init__(self, channels: tuple[int, ...], mbstd_group: int = 4):
        super().__init__()
        ch = list(reversed(channels))  # highest resolution first
        self.from_rgb = EqConv(3, ch[0], 1)
        self.blocks = nn.Sequential(*[DBlock(a, b) for a, b in zip(ch[:-1], ch[1:])])
        self.group = mbstd_group
        self.conv = EqConv(ch[-1] + 1, ch[-1], 3)
        self.fc = EqLinear(ch[-1] * 16, ch[-1])
        self.out = EqLinear(ch[-1], 1)

    def minibatch_stddev(self, x: Tensor) -> Tensor:
        """Append the std over groups of samples: lets D see a batch's lack of variety (mode collapse)."""
        n, c, h, w = x.shape
        g = min(self.group, n) if n % min(self.group, n) == 0 else 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=[1, 2, 3])
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, img: Tensor) -> Tensor:
        x = self.blocks(_lrelu(self.from_rgb(img)))
        x = _lrelu(self.conv(self.minibatch_stddev(x)))
        return self.out(_lrelu(self.fc(x.flatten(1))))


EMA_HALF_LIFE = 10_000 * 16 / 32  # images: the official ema_kimg for a batch of 16


def train(out_dir: Path, steps: int, batch: int = 16, seed: int = 0, lr: float = 0.0025,
          r1_gamma: float = R1_GAMMA, r1_every: int = 16, cfg: Any = None,
          sample_every: int = 250, save_every: int = 100, progress: bool = True,
          device: torch.device | str = "cpu", data_workers: int = 0) -> tuple[nn.Module, RunState]:
    """Train (or resume) until `steps`; returns the EMA generator (w_avg included, on the CPU) and the run
    state."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    cfg = cfg or generator_config()
    G, D = TrainableG(cfg), Discriminator(cfg.channels)
    G_ema = networks().StyleGAN2(cfg).eval()
    G_ema.load_state_dict(G.net.state_dict())
    G, D, G_ema = G.to(device), D.to(device), G_ema.to(device)
    opt_g = lazy_adam(G.parameters(), lr)
    opt_d = lazy_adam(D.parameters(), lr, r1_every)
    modules = {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g, "opt_d": opt_d}
    state_path = out_dir / "state.pt"
    state = load_state(state_path, modules)
    timer = Timer(state.wall_s)
    fixed_z = torch.randn(64, cfg.z_dim, generator=torch.Generator().manual_seed(1234))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=state.step, desc="stylegan2", unit="step")
    for real in toyfaces_batches(batch, state.step, steps, seed, data_workers):
        real = real.to(device)
        # One generator pass serves both updates (a CPU saving: official draws fresh z for the G step).
        fake = G.synthesis(G.mixed_ws(torch.randn(batch, cfg.z_dim).to(device)))
        loss_d = logistic_d_loss(D, real, fake, state.step, r1_gamma, r1_every)
        update(opt_d, loss_d)
        loss_g = nonsaturating_g_loss(D, fake)  # against the updated D
        update(opt_g, loss_g)
        end_step(state, timer, bar, d=loss_d, g=loss_g)
        with torch.no_grad():
            beta = ema_beta(batch, state.step * batch, EMA_HALF_LIFE)
            target = G_ema.state_dict()
            for name, value in G.effective().items():
                target[name].lerp_(value, 1 - beta)
            G_ema.mapping.w_avg.copy_(G.net.mapping.w_avg)
        if due(state, save_every, steps):
            save_state(state_path, modules, state)
        if due(state, sample_every, steps):
            with torch.no_grad():
                save_sheet(G_ema(fixed_z.to(device)), out_dir / f"samples_{state.step:06d}.png")
    if bar is not None:
        bar.close()
    return G_ema.cpu(), state


def export(G: nn.Module, path: Path, state: RunState, extra: dict | None = None) -> None:
    """The bundled file: fp16 safetensors of the EMA generator (w_avg included) with the run's facts."""
    networks().save(path, G, name="StyleGAN2 ToyFaces 64", half=True,
                  extra={**run_facts(state), **(extra or {})})


def main(argv: list[str] | None = None) -> int:
    ap = trainer_parser("stylegan2", __doc__, steps=16000, batch=16)
    ap.add_argument("--sample-every", type=int, default=250, help="write a sample sheet every N steps")
    ap.add_argument("--r1-gamma", type=float, default=R1_GAMMA, help="R1 penalty weight on the discriminator")
    args = parse_trainer_args(ap, argv)
    G, state = train(args.out_dir, args.steps, args.batch, seed=args.seed, r1_gamma=args.r1_gamma,
                     sample_every=args.sample_every, device=args.device, data_workers=args.data_workers)
    facts = {**command_facts(args), "r1_gamma": args.r1_gamma}
    export_if_asked(args.export, state, lambda path: export(G, path, state, facts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

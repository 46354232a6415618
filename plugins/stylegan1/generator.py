"""rosinality's StyleGAN as a studio Generator: one stage per progression block, each reading one style row.

StyleGAN1 feeds one style to both AdaINs of a block, and rosinality's mixing_range counts blocks, so W has
one row per block (num_ws = step + 1, labelled 4, 8, ... px): the Style mixing panel, Mix edits and
`latent-studio mix --layers a-b` then mean exactly what style_mixing(mixing_range=(a, b)) means. The last
block carries, during a fade-in (alpha < 1), the previous block's to_rgb (upsampled) beside its features,
and a last "torgb" stage blends it with its own to_rgb: so the last block's features stay inspectable.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from latent_studio_plugins.stylegan1.network import StyleGAN1
from studio.errors import RecipeError
from studio.model.api import Choice, Generator, ModelInfo, StageContext
from studio.model.wspace import WSpaceRecipes, truncate

FAMILY = "stylegan1"
CAPABILITIES = frozenset({"walk", "style_mix", "features"})
NOISE_MODES = ("const", "random", "none")  # const: one fixed noise image per block (the file stores none)


def _noise_seed(seed: int, block: int) -> int:
    digest = hashlib.blake2b(f"stylegan1-noise/{seed}/{block}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _drawn(seed: int, side: int) -> Tensor:
    return torch.randn(1, 1, side, side, generator=torch.Generator().manual_seed(_noise_seed(seed, side)))


class BlockStage:
    """Progression block `index` with style row `index` and its noise image. The last block, while fading in,
    carries the previous block's upsampled RGB in 3 extra channels (for RGBStage)."""

    def __init__(self, net: StyleGAN1, index: int, last: bool, alpha: float):
        self.net, self.index, self.last = net, index, last
        self.block = net.blocks[index]
        self.side = 4 * 2 ** index
        self.carries_skip = last and index > 0 and 0 <= alpha < 1
        self.rows = [index]
        self.name = f"b{self.side}.conv"  # 'bN.x': the form the noise panel's layer titles read

    def inputs(self, ctx: StageContext) -> bytes:
        assert ctx.ws is not None
        noise = ctx.extras.get("noise", "const")
        seeds = ctx.extras.get("noise_seeds") if noise == "random" else None
        noise += "" if seeds is None else "@" + ",".join(map(str, seeds))
        scale = ctx.extras.get("noise_scale")
        scale = b"" if scale is None or noise == "none" or bool((scale[:, self.index] == 1).all()) else \
            scale[:, self.index].detach().cpu().contiguous().numpy().tobytes()
        row = ctx.ws[:, self.index].detach().cpu().contiguous()
        return f"{tuple(row.shape)}|{noise}|".encode() + row.numpy().tobytes() + scale

    def noise(self, ctx: StageContext, n: int, device: torch.device) -> Tensor | None:
        """This block's noise image (N, 1, side, side), or None for noise "none"."""
        given = ctx.extras.get("noise_tensors")
        mode = ctx.extras.get("noise", "const")
        if given is not None:
            t = given[self.index].to(device=device, dtype=torch.float32)
        elif mode == "none":
            return None
        elif mode == "const":
            t = _drawn(0, self.side).to(device).expand(n, 1, self.side, self.side)
        else:
            seeds = ctx.extras.get("noise_seeds")
            t = torch.randn(n, 1, self.side, self.side, device=device) if seeds is None else \
                torch.cat([_drawn(int(s) + 1, self.side) for s in seeds]).to(device)
        scale = ctx.extras.get("noise_scale")
        return t if scale is None else t * scale[:, self.index].to(t).reshape(-1, 1, 1, 1)

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert ctx.ws is not None
        w = ctx.ws[:, self.index]
        out = self.block(x, w, self.noise(ctx, w.shape[0], w.device))
        if not self.carries_skip:
            return out
        assert x is not None
        skip = F.interpolate(self.net.to_rgb[self.index - 1](x), scale_factor=2, mode="nearest")
        return torch.cat([out, skip], dim=1)

    def features(self, out: Tensor) -> Tensor:
        return out[:, :-3] if self.carries_skip else out


class RGBStage:
    """to_rgb of the last block; while fading in, (1 - alpha) * the previous block's RGB + alpha * this one.
    Reads no style (alpha belongs to the model: a pick makes another model id)."""

    name = "torgb"

    def __init__(self, net: StyleGAN1, step: int, alpha: float, blends: bool):
        self.to_rgb, self.alpha, self.blends = net.to_rgb[step], alpha, blends

    def inputs(self, ctx: StageContext) -> bytes:
        return b""

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert x is not None
        if not self.blends:
            return self.to_rgb(x)
        return (1 - self.alpha) * x[:, -3:] + self.alpha * self.to_rgb(x[:, :-3])


class StyleGAN1Generator(WSpaceRecipes, Generator):
    """Mapping and truncation toward mean_style (generate.py's, seeded), blocks up to the picked step."""

    is_stylegan3 = False

    def __init__(self, net: StyleGAN1, w_avg: Tensor, source: dict[str, str], picks: dict[str, str],
                 sources: dict[str, str], device: torch.device | str = "cpu",
                 defaults: dict[str, str] | None = None):
        from studio.model.choices import picked_id

        # `network`, not `net`: tools that duck-type StyleGAN2/3 by a `net` (the ONNX exporter, SeFa, convert)
        # must not take this for one
        self.network = net.eval()
        self._w_avg = w_avg
        self.source, self.picks, self.sources = source, dict(picks), sources
        self.defaults = dict(defaults or picks)
        step, alpha = int(picks["step"]), float(picks["alpha"])
        self.step = step
        blocks = [BlockStage(net, i, i == step, alpha) for i in range(step + 1)]
        stages: list = [*blocks, RGBStage(net, step, alpha, blocks[-1].carries_skip)]
        res = 4 * 2 ** step
        cfg = net.cfg
        info = ModelInfo(family=FAMILY, format=source["format"], resolution=res, z_dim=cfg.code_dim,
                         w_dim=cfg.code_dim, num_ws=step + 1, capabilities=CAPABILITIES,
                         layer_names=tuple(s.name for s in stages), name=source["name"],
                         choices=self._choices(cfg.blocks))
        super().__init__(info, stages, device=device,
                         model_id=picked_id(source["sha256"], self.picks, self.defaults), modules=[net])
        self._w_avg = self._w_avg.to(self.device)

    def _choices(self, blocks: int) -> tuple[Choice, ...]:
        p, d = self.picks, self.defaults
        sizes = ", ".join(str(4 * 2 ** i) for i in range(blocks))
        step_from = self.sources["step"] if p["step"] == d["step"] else "picked"
        alpha_from = self.sources["alpha"] if p["alpha"] == d["alpha"] else "picked"
        return (Choice("step", p["step"], tuple(str(i) for i in range(blocks)),
                       source=f"{step_from}; steps 0-{blocks - 1} are {sizes} px", label="Step"),
                Choice("alpha", p["alpha"], source=f"{alpha_from}; 1 = the new block only, 0 = the previous "
                       "one only", label="Fade-in alpha"))

    def choose(self, **picks: str) -> "StyleGAN1Generator":
        from studio.model.choices import checked_picks

        new = {**self.picks, **checked_picks(self.info.choices, picks, self.source["what"])}
        if new == self.picks:
            return self
        return StyleGAN1Generator(self.network, self._w_avg, self.source, new, self.sources, self.device,
                                  self.defaults)

    def to(self, device: torch.device | str) -> "StyleGAN1Generator":
        super().to(device)
        self._w_avg = self._w_avg.to(self.device)
        return self

    # -- W space ---------------------------------------------------------------------------------------
    @property
    def w_avg(self) -> Tensor:
        """mean_style: what truncation (generate.py's style_weight) pulls toward."""
        return self._w_avg

    def style_resolutions(self) -> list[int]:
        return [4 * 2 ** i for i in range(self.info.num_ws)]

    def noise_layers(self) -> list[str]:
        """One noise input per block (both of its injections read the same noise image)."""
        return [s.name for s in self.stages if isinstance(s, BlockStage)]

    def map(self, z: Tensor | np.ndarray, c: Tensor | None = None, truncation: float | Tensor = 1.0,
            truncation_cutoff: int | None = None) -> Tensor:
        """ws [N, step + 1, code_dim]; truncation is generate.py's mean_style + psi * (w - mean_style)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(-1, self.info.z_dim)
        with torch.inference_mode():
            ws = self.network.mapping(z).unsqueeze(1).repeat(1, self.info.num_ws, 1)
            return truncate(ws, self._w_avg, truncation, truncation_cutoff)

    def _ws_context(self, ws: Tensor, noise: Any, z: Tensor | None = None, transform: Tensor | None = None,
                    noise_seeds: Sequence[int] | None = None) -> StageContext:
        """`noise` is a mode, or (scripting) one noise image [N, 1, 4 * 2**i, 4 * 2**i] per block."""
        if transform is not None:
            raise RecipeError("an input transform (translate / rotate) needs a StyleGAN3 model")
        extras: dict[str, Any] = {}
        if isinstance(noise, str):
            if noise not in NOISE_MODES:
                raise RecipeError(f"unknown noise mode {noise!r} (known: {', '.join(NOISE_MODES)})")
            extras["noise"] = noise
        else:
            extras["noise_tensors"] = self._checked_noise(noise, len(ws))
        if noise_seeds is not None:
            if len(noise_seeds) != len(ws):
                raise RecipeError(f"{len(noise_seeds)} noise seeds for {len(ws)} samples")
            extras["noise_seeds"] = tuple(int(s) for s in noise_seeds)
        fixed = isinstance(noise, str) and (noise != "random" or noise_seeds is not None)
        return StageContext(z=z, ws=ws, extras=extras, cacheable=fixed, key_fields=())

    def _checked_noise(self, noise: Any, n: int) -> list[Tensor]:
        blocks = self.info.num_ws
        given = list(noise)
        if len(given) < blocks:
            raise RecipeError(f"{len(given)} noise images for a step-{self.step} model; it needs {blocks} "
                              f"(one per block, 4 to {self.info.resolution} px)")
        out = []
        for i, t in enumerate(given[:blocks]):
            t = torch.as_tensor(t, dtype=torch.float32)
            side = 4 * 2 ** i
            if tuple(t.shape) not in ((n, 1, side, side), (1, 1, side, side)):
                raise RecipeError(f"noise image {i} has shape {list(t.shape)}, not [{n}, 1, {side}, {side}]")
            out.append(t.expand(n, 1, side, side))
        return out

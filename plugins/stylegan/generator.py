"""StyleGAN as a studio Generator: mapping in `context`, synthesis cut into cacheable stages.

Each stage holds the synthesis layers that read one style input (a block's ToRGB and the next block's first
conv share one), and its cache key is exactly that style row plus the noise setting. So an edit to style
inputs >= k re-runs only the stages from the first layer reading input k; everything before comes from
the engine's activation cache. Between stages the features and the RGB accumulator travel as one tensor
(RGB in the last channels), so a preview can read the low-resolution image from any cached stage.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import Tensor

from latent_studio_plugins.stylegan.network import NOISE_MODES, Op, StyleGAN2, SynthState
from studio.errors import RecipeError
from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.wspace import WSpaceRecipes

if TYPE_CHECKING:
    from latent_studio_plugins.stylegan.network3 import StyleGAN3
    from studio.core.directions import DirectionSet

CAPABILITIES = frozenset({"walk", "style_mix", "features"})
PREVIEW_BUDGET = 0.15  # a progressive preview may cost at most this share of the frame's convolution MACs


class ConstStage:
    """The learned 4x4 input (reads no style)."""

    name = "const"
    macs = 0
    progressive = False

    def __init__(self, net: StyleGAN2):
        self.net = net

    def inputs(self, ctx: StageContext) -> bytes:
        return f"n={_batch(ctx)}".encode()

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        st = self.net.synthesis.start(_batch(ctx))
        return torch.cat([st.x, st.img], dim=1)

    def features(self, out: Tensor) -> Tensor:
        """The feature maps in this stage's output (without the RGB accumulator riding along)."""
        return out[:, :-self.net.cfg.img_channels]

    def preview(self, out: Tensor) -> Tensor:
        """The image so far (low resolution, upsampled to this stage's size): a progressive preview."""
        return out[:, -self.net.cfg.img_channels:]


class StyleStage:
    """The synthesis ops that read one style row; the last stage returns the image alone."""

    def __init__(self, ops: list[Op], img_channels: int, last: bool):
        self.ops = ops
        self.rows = sorted({r for op in ops for r in op.rows})
        self.noisy = any(op.noisy for op in ops)
        self.name = "+".join(op.name for op in ops)
        self.img_channels = img_channels
        self.last = last
        self.macs = sum(op_macs(op) for op in ops)
        self.noise_ids = sorted({i for op in ops for i in op.noise_ids})  # columns of ctx "noise_scale"
        self.progressive = False  # build_stages marks the one stage whose image the engine previews

    def inputs(self, ctx: StageContext) -> bytes:
        assert ctx.ws is not None
        rows = ctx.ws[:, self.rows].detach().cpu().contiguous()
        noise = ctx.extras.get("noise", "const") if self.noisy else ""
        seeds = ctx.extras.get("noise_seeds") if noise == "random" else None
        noise += "" if seeds is None else "@" + ",".join(map(str, seeds))  # seeded random noise keys by seed
        scale = ctx.extras.get("noise_scale")
        scale = None if scale is None or noise in ("", "none") else scale[:, self.noise_ids]
        # multipliers of 1 render as no edit does, so they key alike (a late-layer edit reuses early stages)
        scale = b"" if scale is None or bool((scale == 1).all()) else \
            scale.detach().cpu().contiguous().numpy().tobytes()
        maps = ctx.extras.get("noise_maps") if noise == "const" else None
        maps = b"" if maps is None else b"maps" + b"".join(
            maps[i].detach().cpu().contiguous().numpy().tobytes() for i in self.noise_ids)
        return f"{tuple(rows.shape)}|{noise}|".encode() + rows.numpy().tobytes() + scale + maps

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert x is not None and ctx.ws is not None
        k = self.img_channels
        st = SynthState(x[:, :-k], x[:, -k:], ctx.extras.get("noise_scale"), ctx.extras.get("noise_seeds"),
                        ctx.extras.get("noise_maps"))
        noise = ctx.extras.get("noise", "const")
        for op in self.ops:
            op.fn(st, ctx.ws, noise)
        return st.img if self.last else torch.cat([st.x, st.img], dim=1)

    def features(self, out: Tensor) -> Tensor:
        """The feature maps in this stage's output (the last stage's output is the image itself)."""
        return out if self.last else out[:, :-self.img_channels]

    def preview(self, out: Tensor) -> Tensor:
        """The image so far (the skip architecture's RGB sum, upsampled to this stage's size)."""
        return out if self.last else out[:, -self.img_channels:]


def op_macs(op: Op) -> int:
    """Multiply-accumulates of an op's convolutions (a 2x-up conv counts per input pixel, as it runs)."""
    return sum(o * i * kh * kw * res * res for o, i, kh, kw, res in op.conv_shapes)


def _batch(ctx: StageContext) -> int:
    assert ctx.ws is not None
    return int(ctx.ws.shape[0])


class InputStage3:
    """StyleGAN3's Fourier-feature input: reads ws[0] and the user's input transform (translate / rotate)."""

    name = "input"
    rows = [0]

    def __init__(self, net: "StyleGAN3"):
        self.net = net

    def inputs(self, ctx: StageContext) -> bytes:
        assert ctx.ws is not None
        t = ctx.extras.get("transform")
        tb = b"-" if t is None else t.detach().cpu().contiguous().numpy().tobytes()
        return f"{_batch(ctx)}|".encode() + ctx.ws[:, 0].detach().cpu().contiguous().numpy().tobytes() + tb

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert ctx.ws is not None
        return self.net.synthesis.input(ctx.ws[:, 0], ctx.extras.get("transform"))


class LayerStage3:
    """One StyleGAN3 layer, reading style row `row`; the last one applies the output scale."""

    def __init__(self, net: "StyleGAN3", index: int):
        self.layer = net.synthesis.layers()[index]
        self.name = self.layer.spec.name
        self.rows = [index + 1]
        self.scale = net.cfg.output_scale if index == len(net.cfg.layers) - 1 else 1.0

    def inputs(self, ctx: StageContext) -> bytes:
        assert ctx.ws is not None
        return ctx.ws[:, self.rows[0]].detach().cpu().contiguous().numpy().tobytes()

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert x is not None and ctx.ws is not None
        x = self.layer(x, ctx.ws[:, self.rows[0]])
        return x * self.scale if self.scale != 1 else x


def build_stages(net: "StyleGAN2 | StyleGAN3") -> list:
    """StyleGAN2: const, then one stage per style row (ops that share a row stay together).
    StyleGAN3: the input, then one stage per layer (each reads one row)."""
    from latent_studio_plugins.stylegan.network3 import StyleGAN3

    if isinstance(net, StyleGAN3):
        return [InputStage3(net)] + [LayerStage3(net, i) for i in range(len(net.cfg.layers))]
    groups: list[list[Op]] = []
    for op in net.synthesis.ops():
        if groups and op.rows[0] == groups[-1][-1].rows[-1]:
            groups[-1].append(op)
        else:
            groups.append([op])
    k = net.cfg.img_channels
    stages = [ConstStage(net)] + [StyleStage(g, k, i == len(groups) - 1) for i, g in enumerate(groups)]
    if net.cfg.architecture == "skip":
        mark_preview_stage(stages)
    return stages


def mark_preview_stage(stages: list, budget: float = PREVIEW_BUDGET) -> int | None:
    """Mark the stage whose skip image is the progressive preview: the last one ending a ToRGB (the RGB sum is
    exact so far there) whose stages up to it cost at most `budget` of the frame. Its index, or None."""
    total = sum(s.macs for s in stages) or 1
    done, pick = 0, None
    for i, s in enumerate(stages[:-1]):
        done += s.macs
        if done > budget * total:
            break
        if any(op.name.endswith(".torgb") for op in getattr(s, "ops", ())):
            pick = i
    for i, s in enumerate(stages):
        s.progressive = i == pick
    return pick


class StyleGANGenerator(WSpaceRecipes, Generator):
    """A StyleGAN2 or StyleGAN3 network with the studio's recipe semantics: truncation, W walks and style
    mixing act on ws; StyleGAN3's translate / rotate move its input."""

    def __init__(self, net: "StyleGAN2 | StyleGAN3", info: ModelInfo, device: torch.device | str = "cpu",
                 model_id: str = ""):
        self.net = net.eval()
        stages = build_stages(net)
        cfg = net.cfg
        self.is_stylegan3 = hasattr(cfg, "layers")
        # "transform", not "translate": the UI and exporters read "translate" as a photo translator
        caps = CAPABILITIES | ({"transform"} if self.is_stylegan3 else set())
        info = replace(info, z_dim=cfg.z_dim, w_dim=cfg.w_dim, num_ws=cfg.num_ws, c_dim=cfg.c_dim,
                       resolution=cfg.resolution, channels=cfg.img_channels, capabilities=frozenset(caps),
                       layer_names=tuple(s.name for s in stages))
        super().__init__(info, stages, device=device, model_id=model_id, modules=[net])

    # -- the scripting API --------------------------------------------------------------------------
    @property
    def w_avg(self) -> Tensor:
        return self.net.mapping.w_avg

    def stored_transform(self) -> Tensor:
        """StyleGAN3's input transform as trained (3x3, on the CPU): the one a sample without a
        Transform edit uses."""
        return self.net.synthesis.input.transform.detach().cpu()

    def sefa_directions(self, k: int = 10, layers: tuple[int, int] | None = None) -> "DirectionSet":
        """SeFa's closed-form directions in W for style inputs `layers` (all by default), strongest first."""
        from latent_studio_plugins.stylegan.directions import sefa_directions

        return sefa_directions(self.net, k, layers)

    def style_resolutions(self) -> list[int]:
        """The resolution each style input is conventionally labelled with (rows 2k and 2k+1 -> 4 * 2**k),
        for grouping rows coarse / middle / fine."""
        cfg = self.net.cfg
        if self.is_stylegan3:  # each row's layer size, from names like L5_52_13
            sizes = [int(s.name.split("_")[1]) if s.name.count("_") == 2 else cfg.resolution
                     for s in cfg.layers]
            return [min(sizes[0], cfg.resolution)] + [min(v, cfg.resolution) for v in sizes]
        return [min(4 * 2 ** (r // 2), self.info.resolution) for r in range(self.info.num_ws)]

    def map(self, z: Tensor | np.ndarray, c: Tensor | None = None, truncation: float | Tensor = 1.0,
            truncation_cutoff: int | None = None) -> Tensor:
        """ws [N, num_ws, w_dim]; truncation pulls the first `truncation_cutoff` rows (all) to w_avg."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(-1, self.info.z_dim)
        if c is not None:
            c = torch.as_tensor(c, dtype=torch.float32, device=self.device).reshape(-1, self.info.c_dim)
        with torch.inference_mode():
            return self.net.mapping(z, c, truncation, truncation_cutoff)

    def _ws_context(self, ws: Tensor, noise: str, z: Tensor | None = None, transform: Tensor | None = None,
                    noise_seeds: Sequence[int] | None = None) -> StageContext:
        """`noise_seeds` (per sample) make random noise reproducible, and so cacheable; without them (the
        scripting API) it is drawn afresh each call and never cached."""
        if noise not in NOISE_MODES:
            raise RecipeError(f"unknown noise mode {noise!r} (known: {', '.join(NOISE_MODES)})")
        extras: dict = {"noise": noise}
        if transform is not None:
            extras["transform"] = self._checked_transform(transform, len(ws))
        if noise_seeds is not None:
            if len(noise_seeds) != len(ws):
                raise RecipeError(f"{len(noise_seeds)} noise seeds for {len(ws)} samples")
            extras["noise_seeds"] = tuple(int(s) for s in noise_seeds)
        noisy = noise == "random" and not self.is_stylegan3 and noise_seeds is None  # StyleGAN3: no noise
        # The stages' inputs cover everything they read (their ws rows), so the chained key starts empty:
        # that is what lets a change to late rows reuse the cached early stages.
        return StageContext(z=z, ws=ws, extras=extras, cacheable=not noisy, key_fields=())

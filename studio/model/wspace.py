"""W-space recipe semantics shared by every family with a mapping network (StyleGAN in torch and its ONNX
export): truncation toward w_avg, W walks, style mixing, per-layer noise strength and StyleGAN3's input
transform. It lives here rather than in one family so no family imports another, and a third-party
StyleGAN-like plugin can mix it in too.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.recipe import Recipe, Walk
from studio.core.style_edits import Mix, Transform, noise_maps, noise_strengths, truncation_cutoff
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.api import StageContext


def truncate(ws: Tensor, w_avg: Tensor, psi: float | Tensor, cutoff: int | None = None) -> Tensor:
    """Pull the first `cutoff` (all when None) style inputs toward w_avg; psi may be per sample ([N])."""
    if not torch.is_tensor(psi):
        if psi == 1:
            return ws
        psi_t: float | Tensor = float(psi)
    else:
        psi_t = psi.reshape(-1, 1, 1).to(ws)
        if bool((psi_t == 1).all()):
            return ws
    stop = ws.shape[1] if cutoff is None else cutoff
    ws = ws.clone()
    ws[:, :stop] = w_avg.expand_as(ws[:, :stop]).lerp(ws[:, :stop], psi_t)
    return ws


def input_transform(translate: tuple[float, float] = (0.0, 0.0), angle: float = 0.0) -> Tensor:
    """The matrix the synthesis input needs to show the image shifted by `translate` (in units of the image
    size) and rotated by `angle` degrees: the inverse of gen_images.py's make_transform."""
    a = math.radians(angle)
    s, c = math.sin(a), math.cos(a)
    m = np.array([[c, s, translate[0]], [-s, c, translate[1]], [0, 0, 1]], dtype=np.float64)
    return torch.from_numpy(np.linalg.inv(m).astype(np.float32))


class WSpaceRecipes:
    """Recipe semantics in W, mixed into a Generator subclass (before Generator in its bases): the torch
    StyleGAN family and its ONNX twin. The class provides `map` (its mapping network), `w_avg`,
    `_ws_context`, `is_stylegan3` and, for StyleGAN3, `stored_transform`."""

    def z_mean(self) -> np.ndarray:
        """Truncation happens in W toward w_avg; in Z the prior's mean is still zero."""
        return np.zeros(self.info.z_dim, np.float32)

    def generate(self, z: Tensor | np.ndarray, truncation: float = 1.0, c: Tensor | None = None,
                 noise: str = "const", transform: Tensor | None = None) -> Tensor:
        return self.synthesize(self.map(z, c, truncation), noise, transform)

    def synthesize(self, ws: Tensor, noise: str = "const", transform: Tensor | None = None) -> Tensor:
        """Images [N, C, H, W] (nominally [-1, 1], not clamped) from ws [N, num_ws, w_dim].

        `transform` (StyleGAN3 only) is the input's 3x3 matrix; studio.model.wspace.input_transform(translate, angle)
        makes one. StyleGAN3 has no noise inputs, so `noise` only matters for StyleGAN2."""
        ws = torch.as_tensor(ws, dtype=torch.float32, device=self.device)
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.info.num_ws, self.info.w_dim):
            raise RecipeError(f"ws must have shape [N, {self.info.num_ws}, {self.info.w_dim}], "
                              f"not {list(ws.shape)}")
        return self.run(self._ws_context(ws, noise, transform=transform))

    def _checked_transform(self, transform: Tensor, n: int) -> Tensor:
        """StyleGAN3 input matrices as (1 or n, 3, 3), or one clear message."""
        if not self.is_stylegan3:
            raise RecipeError("an input transform (translate / rotate) needs a StyleGAN3 model")
        t = torch.as_tensor(transform, dtype=torch.float32).reshape(-1, 3, 3)
        if t.shape[0] not in (1, n):
            raise RecipeError(f"{t.shape[0]} input transforms for {n} samples")
        return t

    # -- recipes ------------------------------------------------------------------------------------
    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        """z (+ Z walks) -> mapping -> truncation to w_avg (of the first `cutoff` inputs when the recipe
        has a TruncationCutoff) -> W walks and mixes (psi never scales them)."""
        given = [self._given_ws(r) for r in recipes]  # WLatent rows skip the mapping network
        z = np.stack([np.zeros(self.info.z_dim, np.float32) if w is not None
                      else self.edited_z(replace(r, truncation=1.0)) for r, w in zip(recipes, given)])
        psi = torch.tensor([float(r.truncation) for r in recipes], dtype=torch.float32, device=self.device)
        c = self._condition(recipes)
        ws = self.map(torch.from_numpy(z), c, psi).clone()
        cut = [self._cutoff(r) for r in recipes]
        raw = self.map(torch.from_numpy(z), c) if any(k is not None for k in cut) else None
        for i, r in enumerate(recipes):
            if given[i] is not None:  # truncation pulls a given w toward w_avg, like a mapped one
                ws[i] = self.w_avg + psi[i] * (torch.from_numpy(given[i]).to(self.device) - self.w_avg)
            if raw is not None and cut[i] is not None:  # psi pulls only the first k: the rest as mapped
                rest = raw[i] if given[i] is None else torch.from_numpy(given[i]).to(self.device)
                ws[i, cut[i]:] = rest[cut[i]:]
            for e in r.edits:  # in order, so a walk listed after a mix moves the mixed styles
                if isinstance(e, Walk) and e.space == "w":
                    ws[i] = self._walk(ws[i], e)
                elif isinstance(e, Mix):
                    ws[i] = self._mix(ws[i], e, psi[i], None if c is None else c[i:i + 1], cut[i])
        noise = {r.noise for r in recipes}
        if len(noise) != 1:
            raise RecipeError("recipes rendered together must share one noise mode")
        edits = [next((e for e in r.edits if isinstance(e, Transform)), None) for r in recipes]
        matrix = None
        if any(edits):  # one matrix per sample (an animated translate exports in batches)
            if not self.is_stylegan3:
                raise RecipeError("an input transform (translate / rotate) needs a StyleGAN3 model")
            stored = self.stored_transform()
            matrix = torch.stack([stored if t is None else input_transform(t.translate, t.angle) for t in edits])
        mode = noise.pop()
        seeds = [r.noise_seed for r in recipes] if mode == "random" else None  # the same pixels every time
        ctx = self._ws_context(ws, mode, z=torch.from_numpy(z).to(self.device), transform=matrix,
                               noise_seeds=seeds)
        scales = self._noise_scales(recipes)
        if scales is not None:
            ctx.extras["noise_scale"] = scales
        maps = self._noise_maps(recipes)
        if maps is not None:
            ctx.extras["noise_maps"] = maps
        return ctx

    def noise_layers(self) -> list[str]:
        """The layers with a noise input (a NoiseStrength edit has one multiplier per layer, in this order)."""
        net = getattr(self, "net", None)
        return [] if net is None or self.is_stylegan3 else net.synthesis.noise_layers()

    def _noise_scales(self, recipes: Sequence[Recipe]) -> Tensor | None:
        """(N, noise layers) multipliers when any recipe has a NoiseStrength edit, else None."""
        given = [noise_strengths(r) for r in recipes]
        if not any(s is not None for s in given):
            return None
        layers = self.noise_layers()
        if not layers:
            raise RecipeError("per-layer noise strength needs a StyleGAN2 model in torch (this one has no "
                              "adjustable noise inputs)")
        for s in given:
            if s is not None and len(s) != len(layers):
                raise RecipeError(f"noise strength has {len(s)} values; this model has {len(layers)} noise "
                                  f"layers")
        rows = [s if s is not None else (1.0,) * len(layers) for s in given]
        return torch.tensor(rows, dtype=torch.float32, device=self.device)

    def constant_noise(self) -> list[Tensor]:
        """Each noise layer's stored constant map (r, r), in noise_layers() order."""
        net = getattr(self, "net", None)
        if net is None or self.is_stylegan3:
            return []
        layers = [getattr(b, c) for b in net.synthesis.blocks() for c in ("conv0", "conv1") if hasattr(b, c)]
        return [layer.noise_const for layer in layers]

    def _noise_maps(self, recipes: Sequence[Recipe]) -> tuple[Tensor, ...] | None:
        """Per noise layer (N, r, r) maps when any recipe carries NoiseMaps (the others: the constant noise)."""
        given = [noise_maps(r) for r in recipes]
        if not any(m is not None for m in given):
            return None
        const = self.constant_noise()
        if not const:
            raise RecipeError("optimised noise maps need a StyleGAN2 model in torch (this one has no noise "
                              "inputs to set)")
        rows: list[list[Tensor]] = []
        for m in given:
            arrays = const if m is None else [torch.from_numpy(a) for a in m.arrays()]
            if len(arrays) != len(const) or any(a.shape != c.shape for a, c in zip(arrays, const)):
                raise RecipeError(f"the recipe's noise maps ({len(arrays)}) do not fit this model's "
                                  f"{len(const)} noise layers of sides {[c.shape[-1] for c in const]}")
            rows.append([a.to(self.device, torch.float32) for a in arrays])
        return tuple(torch.stack([r[i] for r in rows]) for i in range(len(const)))

    def _given_ws(self, r: Recipe) -> np.ndarray | None:
        """A WLatent's rows (num_ws, w_dim), None for latents that go through the mapping network."""
        if not isinstance(r.latent, WLatent):
            return None
        if any(isinstance(e, Walk) and e.space == "z" for e in r.edits):
            raise RecipeError("a z-space walk needs a z latent; this recipe starts from a w")
        return r.latent.rows(self.info.num_ws, self.info.w_dim)

    def _walk(self, ws: Tensor, e: Walk) -> Tensor:
        d = torch.tensor(e.direction, dtype=torch.float32, device=self.device)
        n, w_dim = self.info.num_ws, self.info.w_dim
        if d.numel() == n * w_dim:  # a W+ direction: one vector per style input
            d = d.reshape(n, w_dim)
        elif d.numel() != w_dim:
            raise RecipeError(f"walk {e.label!r} has {d.numel()} values; this model's w has {w_dim} "
                              f"(or {n * w_dim} for W+)")
        start, stop = e.layers if e.layers is not None else (0, n)
        if not 0 <= start < stop <= n:
            raise RecipeError(f"walk {e.label!r}: layers [{start}, {stop}) outside this model's 0..{n}")
        ws = ws.clone()
        ws[start:stop] += e.amount * (d[start:stop] if d.ndim == 2 else d)
        return ws

    def _cutoff(self, r: Recipe) -> int | None:
        k = truncation_cutoff(r)
        if k is not None and k > self.info.num_ws:
            raise RecipeError(f"truncation cutoff {k} is more than this model's {self.info.num_ws} "
                              f"style inputs")
        return k

    def _mix(self, ws: Tensor, e: Mix, psi: Tensor, c: Tensor | None, cutoff: int | None = None) -> Tensor:
        n = self.info.num_ws
        start, stop = e.layers
        if not 0 <= start < stop <= n:
            raise RecipeError(f"mix {e.label!r}: layers [{start}, {stop}) outside this model's 0..{n}")
        src = self.map(torch.from_numpy(self.latent(e.latent()))[None], c, psi.reshape(1), cutoff)[0]
        ws = ws.clone()
        ws[start:stop] = ws[start:stop].lerp(src[start:stop], float(e.amount))
        return ws

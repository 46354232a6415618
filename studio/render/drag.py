"""Drag to edit: point-based manipulation of a generated image (DragGAN, Pan et al. 2023).

The user gives handle -> target point pairs and, optionally, a flexible region; the latent is optimised so
the content under each handle moves to its target while everything outside the region stays. Each step:

- motion supervision: at an intermediate feature map F (one stage's output, read bilinearly at image pixel
  positions, which is the paper's "upsample F to the image size, then sample"), the features one unit step
  toward the target, F(p + q + d), are pulled onto the features at the handle, F(p + q), detached, for
  every offset q within `r1` of the handle p (d = (t - p) / |t - p|);
- the mask term keeps F outside the flexible region at its value before the drag (L1, weight `mask_weight`);
- point tracking: after the step, each handle moves to the position within `r2` of it whose features are
  nearest (L1) to the handle's features in the first image, searched on a half-pixel grid. The paper
  compares one feature vector; this compares the r1 disk around it (a patch), which bench/drag.py measured
  drifting less at 64 px (a single 16-channel vector matched other parts of a changing mouth).

What is optimised: W+ rows 0..k-1 of a StyleGAN-like model (the later rows stay, as in the paper), or z of
any other differentiable generator. The job is a generator function like the projection's (and reuses its
frozen-generator machinery): each step yields a `DragProgress` with the current image and latent (a live
preview; what Stop keeps), `DragControl.stop()` ends it with a result, and the `DragResult` is its return
value: a recipe latent, so a finished drag is data (studio.core.drag keeps the points and mask beside it).
Device-agnostic: it runs wherever the generator's weights are (CPU or CUDA).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from studio.core.recipe import Recipe, VectorLatent, Walk
from studio.core.style_edits import Mix, TruncationCutoff
from studio.core.units import UnitMask, resize_area
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.api import Generator, StageContext
from studio.model.units import apply_to_stage, stage_features
from studio.render.projection import frozen, run_to_end

DEFAULT_STEPS = 100
LR_W = 0.02          # Adam on W+ rows (the paper: 2e-3 at 512 px; bench/drag.py measured 0.02 at 64 px)
LR_Z = 0.02          # Adam on z
R1 = 3.0             # motion supervision (and tracking patch) radius, px at 64 px (scaled up above)
R2 = 4.0             # tracking search radius, image pixels at 64 px (scaled with the resolution)
MASK_WEIGHT = 20.0   # the paper's lambda
TOLERANCE = 0.5      # a handle this close to its target (px) is there
ROWS_SHARE = 0.3     # of the style inputs, the share optimised by default (the paper: 6 of 18; 3 of 10 here)
BAKED_EDITS = (Walk, Mix, TruncationCutoff)  # edits folded into the latent the drag starts from


@dataclass(frozen=True)
class DragPoint:
    """A handle and where it should go, in image pixel coordinates (x right, y down; pixel i spans [i, i+1),
    so its centre is i + 0.5)."""

    handle: tuple[float, float]
    target: tuple[float, float]

    def __post_init__(self) -> None:
        for name, p in (("handle", self.handle), ("target", self.target)):
            if len(p) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in p):
                raise RecipeError(f"a drag {name} must be two finite numbers (x, y), not {p!r}")
        object.__setattr__(self, "handle", (float(self.handle[0]), float(self.handle[1])))
        object.__setattr__(self, "target", (float(self.target[0]), float(self.target[1])))

    def distance(self) -> float:
        return math.dist(self.handle, self.target)


@dataclass(frozen=True)
class DragSettings:
    """`layer`: the feature stage ("" picks one, see `default_layer`); `rows`: the style inputs optimised
    (0..rows-1; 0 picks ROWS_SHARE of them; ignored for z); `lr`: Adam's step size (0: the space's default);
    r1 / r2 in image pixels (0: the defaults scaled to the resolution)."""

    steps: int = DEFAULT_STEPS
    layer: str = ""
    rows: int = 0
    lr: float = 0.0
    r1: float = 0.0
    r2: float = 0.0
    mask_weight: float = MASK_WEIGHT
    tolerance: float = TOLERANCE

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise RecipeError(f"drag steps must be a positive whole number, not {self.steps!r}")
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 0:
            raise RecipeError(f"drag rows must be a whole number >= 0, not {self.rows!r}")
        for name in ("lr", "r1", "r2", "mask_weight", "tolerance"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise RecipeError(f"drag {name} must be a finite number >= 0, not {v!r}")


class DragControl:
    """Shared with a running drag: `stop()` makes it end after the current step with what it has (the
    worker's cancel would discard the result)."""

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


@dataclass(frozen=True)
class DragProgress:
    """One step: the tracked handles, the largest handle-target distance, the loss, the image (1, C, H, W)
    in [-1, 1] on the CPU and the current latent (a recipe latent)."""

    done: int
    total: int
    handles: tuple[tuple[float, float], ...]
    distance: float
    loss: float
    image: Tensor
    latent: WLatent | VectorLatent


@dataclass(frozen=True)
class DragResult:
    """Where the drag ended: the latent (`space` "w+" or "z"), the tracked handles, its image, why it ended
    ("reached", "steps" or "stopped") and the latent after every step (the trajectory, step 0 first)."""

    latent: WLatent | VectorLatent
    space: str
    points: tuple[DragPoint, ...]
    handles: tuple[tuple[float, float], ...]
    image: Tensor
    steps: int
    seconds: float
    ended: str
    layer: str
    rows: int
    trajectory: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))

    @property
    def distance(self) -> float:
        return max((math.dist(h, p.target) for h, p in zip(self.handles, self.points)), default=0.0)

    def recipe(self, base: Recipe) -> Recipe:
        """`base` with its latent replaced by the drag's (its walks, mixes and truncation are in it)."""
        return dragged_recipe(base, self.latent)

    def trajectory_latents(self, count: int) -> list[WLatent | VectorLatent]:
        """`count` latents evenly spaced along the trajectory, the start and the end included."""
        n = len(self.trajectory)
        if n == 0:
            return [self.latent]
        picks = sorted({int(round(i * (n - 1) / max(1, count - 1))) for i in range(max(1, count))})
        return [_latent_of(self.trajectory[i], self.space) for i in picks]


def dragged_recipe(base: Recipe, latent: WLatent | VectorLatent) -> Recipe:
    """The recipe a drag leaves: its latent, with the edits it folded in removed (what it did not fold in,
    unit edits, an input transform, noise strengths, stays)."""
    kept = tuple(e for e in base.edits if not isinstance(e, BAKED_EDITS))
    return replace(base, latent=latent, truncation=1.0, edits=kept)


def _latent_of(values: np.ndarray, space: str) -> WLatent | VectorLatent:
    if space == "z":
        return VectorLatent(tuple(float(v) for v in values.reshape(-1)))
    return WLatent.of(values)


# -- checks and defaults -----------------------------------------------------------------------------------
def drag_space(g: Generator) -> str:
    """"w+" for models with a W space, "z" for the others; a clear message for those that cannot drag."""
    if "translate" in g.info.capabilities:
        raise RecipeError("a photo translator has no latent to drag; drag works on generated images")
    if g.has_w:
        return "w+"
    if not g.info.z_dim:
        raise RecipeError(f"{g.info.name or g.info.family} models have no latent input to drag")
    return "z"


def default_layer(g: Generator) -> str:
    """The feature stage the drag reads: the first whose 4-D feature maps are as large as the image (or
    256 px for larger models: the paper reads StyleGAN2's 256 px block of a 1024 px model), else the
    largest there is (a DCGAN's last feature layer is half its image). At 64 px coarser maps were measured
    worse (bench/drag.py: 16 px features seldom reached the target in 100 steps)."""
    ctx = g.example_context()
    x, best, best_size = None, "", 0
    want = min(g.info.resolution, 256)
    with torch.no_grad():
        for i, _ in enumerate(g.stages):
            x = g.run_stage(i, x, ctx)
            f = stage_features(g.stages[i], x)
            if f.ndim != 4 or f.shape[1] <= g.info.channels:
                continue
            if f.shape[-1] > best_size:
                best, best_size = str(getattr(g.stages[i], "name", i)), int(f.shape[-1])
            if best_size >= want:
                break
    if not best:
        raise RecipeError(f"{g.info.name or g.info.family} has no spatial feature maps to drag on")
    return best


def default_rows(g: Generator) -> int:
    return max(1, int(round(g.info.num_ws * ROWS_SHARE)))


def _scaled(r: float, default: float, resolution: int) -> float:
    return r if r > 0 else max(default, default * resolution / 64 / 2)


def mask_weights(mask: Any, h: int, w: int) -> Tensor | None:
    """The flexible region at h x w as weights in [0, 1] (1 inside), from a UnitMask or an H x W array."""
    if mask is None:
        return None
    if isinstance(mask, UnitMask) or (isinstance(mask, (tuple, list)) and mask and isinstance(mask[0], str)):
        a = UnitMask(mask).to_array(h, w)
    else:
        arr = np.asarray(mask, np.float32)
        if arr.ndim != 2:
            raise RecipeError(f"a drag mask must be a 2-D array, not shape {arr.shape}")
        a = resize_area(arr, h, w)
    return torch.from_numpy(np.clip(a, 0.0, 1.0).astype(np.float32))


# -- the differentiable forward -----------------------------------------------------------------------------
def _forward(g: Generator, ctx: StageContext, layer: int) -> tuple[Tensor, Tensor]:
    """(image, features at `layer`) with autograd on; unit edits apply after their stage as when rendering."""
    x: Tensor | None = None
    feats: Tensor | None = None
    for i, stage in enumerate(g.stages):
        x = stage(x, ctx)
        if ctx.units:
            x = apply_to_stage(stage, x, ctx.units)
        if i == layer:
            feats = stage_features(stage, x)
    assert x is not None and feats is not None
    if not x.requires_grad:
        raise RecipeError(f"{g.info.name or g.info.family} ({g.who()}) gives no gradients (ONNX Runtime and "
                          f"other non-torch backends cannot be dragged; open it on torch)")
    return x, feats


def _sample(feats: Tensor, xy: Tensor, size: int) -> Tensor:
    """Features (N, C) at image pixel positions xy (N, 2), bilinear: the map upsampled to the image and
    read there (align_corners=False puts the map's cells and the image's pixels on the same edges)."""
    grid = (xy / size * 2.0 - 1.0).reshape(1, 1, -1, 2).to(feats.dtype)
    return F.grid_sample(feats, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T


def _disk(r: float, step: float = 1.0) -> Tensor:
    n = int(math.floor(r / step))
    ys, xs = torch.meshgrid(torch.arange(-n, n + 1) * step, torch.arange(-n, n + 1) * step, indexing="ij")
    off = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float()
    return off[(off ** 2).sum(1) <= r * r + 1e-6]


def _square(r: float, step: float = 0.5) -> Tensor:
    n = int(math.floor(r / step))
    ys, xs = torch.meshgrid(torch.arange(-n, n + 1) * step, torch.arange(-n, n + 1) * step, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float()


def _check_points(points: Sequence[DragPoint], size: int) -> tuple[DragPoint, ...]:
    pts = tuple(points)
    if not pts:
        raise RecipeError("add at least one handle and target to drag")
    for p in pts:
        for v in (*p.handle, *p.target):
            if not 0.0 <= v <= size:
                raise RecipeError(f"drag point {p.handle} -> {p.target} lies outside the {size} px image")
    return pts


# -- the job ----------------------------------------------------------------------------------------------
def drag_job(g: Generator, recipe: Recipe, points: Sequence[DragPoint], mask: Any = None,
             settings: DragSettings = DragSettings(), control: DragControl | None = None,
             ) -> Iterator[DragProgress]:
    """Drag `recipe`'s image: each step yields a DragProgress; returns a DragResult when every handle is
    within `settings.tolerance` of its target, after `settings.steps` steps, or once `control` is stopped.
    `mask` (a UnitMask or an H x W array, 1 = may change) is the flexible region; None leaves all free."""
    space = drag_space(g)
    size = g.info.resolution
    pts = _check_points(points, size)
    names = [str(getattr(s, "name", i)) for i, s in enumerate(g.stages)]
    layer = settings.layer or default_layer(g)
    if layer not in names:
        raise RecipeError(f"this model has no layer {layer!r} (layers: {', '.join(names)})")
    li = names.index(layer)
    r1 = _scaled(settings.r1, R1, size)
    r2 = _scaled(settings.r2, R2, size)
    ctx = g.recipe_context([recipe])
    k = 0
    if space == "w+":
        if ctx.ws is None:
            raise RecipeError(f"{g.info.family} gave no style inputs for this recipe")
        k = min(g.info.num_ws, settings.rows or default_rows(g))
        start = ctx.ws.detach().float().clone()
        free = start[:, :k].clone().requires_grad_(True)
        fixed = start[:, k:]
        lr = settings.lr or LR_W
    else:
        if ctx.z is None:
            raise RecipeError(f"{g.info.family} gave no z for this recipe")
        start = ctx.z.detach().float().clone()
        free = start.clone().requires_grad_(True)
        fixed = start[:, :0]
        lr = settings.lr or LR_Z
    uniform = space == "z" and g.info.prior == "uniform"
    started = time.perf_counter()
    handles = torch.tensor([p.handle for p in pts], dtype=torch.float32)
    targets = torch.tensor([p.target for p in pts], dtype=torch.float32)
    disk, window = _disk(r1), _square(r2)
    control = control or DragControl()

    def latent_now() -> Tensor:
        return torch.cat([free, fixed], 1) if space == "w+" else free

    def context(lat: Tensor) -> StageContext:
        return replace(ctx, ws=lat) if space == "w+" else replace(ctx, z=lat)

    trajectory = [latent_now().detach()[0].cpu().numpy().copy()]
    opt = torch.optim.Adam([free], lr=lr)
    feats0 = m_out = f0 = None
    ended, done, img = "steps", 0, None
    with frozen(g):
        while True:
            img, feats = _forward(g, context(latent_now()), li)
            dev = feats.device
            if feats0 is None:  # the first image: what tracking looks for and what the mask keeps
                feats0 = feats.detach()
                f0 = [_sample(feats0, (handles[j] + disk).to(dev), size) for j in range(len(pts))]
                m = mask_weights(mask, feats.shape[-2], feats.shape[-1])
                m_out = None if m is None else (1.0 - m).to(dev)[None, None]
            else:  # point tracking on the features of the latent after the last step
                with torch.no_grad():
                    for j in range(len(pts)):
                        cand = handles[j] + window
                        at = (cand[:, None, :] + disk[None]).reshape(-1, 2)
                        got = _sample(feats.detach(), at.to(dev), size).reshape(len(cand), len(disk), -1)
                        best = int((got - f0[j][None]).abs().sum((1, 2)).argmin())
                        handles[j] = cand[best].clamp(0.0, float(size))
            dist = (targets - handles).norm(dim=1)
            if bool((dist <= settings.tolerance).all()):
                ended = "reached"
                break
            if done >= settings.steps:
                break
            if control.stopped:
                ended = "stopped"
                break
            loss = feats.new_zeros(())
            for j in range(len(pts)):
                if float(dist[j]) <= settings.tolerance:
                    continue
                d = (targets[j] - handles[j]) / dist[j]
                here = handles[j] + disk
                src = _sample(feats, here.to(dev), size).detach()
                dst = _sample(feats, (here + d).to(dev), size)
                loss = loss + F.l1_loss(dst, src)
            if m_out is not None and settings.mask_weight > 0:
                loss = loss + settings.mask_weight * ((feats - feats0).abs() * m_out).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if uniform:
                with torch.no_grad():
                    free.clamp_(-1, 1)
            done += 1
            lat = latent_now().detach()[0].cpu().numpy().copy()
            trajectory.append(lat)
            yield DragProgress(done, settings.steps, tuple((float(x), float(y)) for x, y in handles.tolist()),
                               float(dist.max()), float(loss.detach()), img.detach().float().cpu(),
                               _latent_of(trajectory[-2] if len(trajectory) > 1 else lat, space))
    assert img is not None
    final = trajectory[-1]
    ends = tuple((float(x), float(y)) for x, y in handles.tolist())
    return DragResult(_latent_of(final, space), space, pts, ends,
                      img.detach().float().cpu(), done, time.perf_counter() - started, ended, layer, k,
                      np.stack(trajectory))


def drag(g: Generator, recipe: Recipe, points: Sequence[DragPoint], mask: Any = None,
         settings: DragSettings = DragSettings(), progress: Any = None) -> DragResult:
    """Run a drag to the end on the calling thread (scripts, the bench, tests); `progress` is called with
    each DragProgress."""
    return run_to_end(drag_job(g, recipe, points, mask, settings), progress)

"""Projection: find the latent whose image best matches a photo, by gradient descent through the generator.

It is what lets a user edit their own picture: the answer is an ordinary recipe latent (a WLatent for W /
W+, a VectorLatent for z), so every tool applies to it. The job is a generator function, like the studio's
other jobs: each step yields a `ProjectionProgress` carrying the current estimate (a live preview), closing it
cancels, and the `ProjectionResult` is its return value.

The schedule follows the NVlabs StyleGAN2 projector's published recipe (Karras et al. 2020, appendix): start
at the mean w, Adam with a learning rate that ramps up over the first 5 % of steps and down (cosine) over
the last 25 %, and Gaussian noise added to w whose scale (5 % of W's spread) decays quadratically to zero by
75 % of the steps. W+ continues from the W answer with every style input free. z models start from the best
of a few seeds and keep z near the prior's typical norm (a penalty), so edits on the answer stay meaningful.

The loss is a multi-scale pixel + image-gradient loss: no perceptual network (VGG / LPIPS) can be downloaded
here, and no bundled checkpoint carries its discriminator (the demos store G alone), so a D-feature loss has
nothing to run on. With `noise=True` a StyleGAN2's per-pixel noise maps are optimised too, as the official
projector does: they start from the stored constant noise, an autocorrelation penalty at every scale keeps
them noise (not a copy of the photo), and each step renormalises them to zero mean and unit variance. The
answer keeps them as data (a NoiseMaps edit), so re-rendering the recipe gives the same pixels.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from studio.core.arithmetic import typical_norm
from studio.core.recipe import ModelRef, Recipe, VectorLatent
from studio.core.style_edits import NoiseMaps, with_noise_maps
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.api import Generator, StageContext
from studio.render.align import prepare_photo
from studio.render.projection_options import DEFAULT_STEPS, LOSSES, SPACES  # noqa: F401  (re-exported)

START_SEEDS = 8      # seeds tried (besides the mean w) as starting points
W_STD_SAMPLES = 1000  # mapped seeds measuring W's spread (the official projector uses 10 000)
# the official projector's schedule
LR_W = 0.1
LR_Z = 0.05
LR_RAMPUP = 0.05
LR_RAMPDOWN = 0.25
NOISE_FACTOR = 0.05
NOISE_RAMP = 0.75
W_PLUS_SHARE = 0.5   # of the steps for W+, the share spent in plain W first
PRIOR_WEIGHT = 0.05  # z: weight of the (|z| / typical norm - 1)^2 penalty
GRAD_WEIGHT = 0.5    # image-gradient term beside the pixel term, per scale
SCALES = 4           # 64 px: 64, 32, 16, 8
SINGLE_THREAD_UP_TO = 128  # CPU projections of models this small run on one thread (see `frozen`)
NOISE_REG_WEIGHT = 1e5  # the official projector's weight of the noise maps' autocorrelation penalty
NOISE_REG_DOWN_TO = 8   # the penalty is taken at every scale of a map down to 8 x 8


@dataclass(frozen=True)
class ProjectionProgress:
    """One optimisation step: `done` / `total` (what the status bar's task area reads), the loss, the PSNR of
    the current estimate and the estimate itself (1, C, H, W) in [-1, 1] on the CPU."""

    done: int
    total: int
    loss: float
    psnr: float
    image: Tensor
    phase: str = ""  # "w", "w+" or "z"


@dataclass(frozen=True)
class ProjectionResult:
    """The answer as a recipe latent (in `space`), its image and how well it matches."""

    latent: WLatent | VectorLatent
    space: str
    image: Tensor
    psnr: float
    loss: float
    steps: int
    seconds: float
    loss_name: str = "pixel"
    noise: NoiseMaps | None = None  # the optimised noise maps (projections with noise=True)
    target: Tensor | None = None  # the photo as it was matched (aligned, resized): (1, C, H, W) in [-1, 1]

    def recipe(self, g: Generator, path: str | Path = "", condition: Sequence[float] = ()) -> Recipe:
        """A recipe rendering the answer (constant noise, or the optimised maps, as it was optimised), for g's
        checkpoint `path`."""
        r = Recipe(ModelRef(str(path), g.model_id), self.latent, condition=tuple(float(v) for v in condition))
        return with_noise_maps(r, self.noise)


# -- inputs ------------------------------------------------------------------------------------------------
def target_tensor(image: Any, resolution: int, channels: int = 3) -> Tensor:
    """The photo as the generator's output would be: (1, C, R, R) float32 in [-1, 1].

    `image`: a path, a PIL image (centred square crop, then resized as photos are everywhere in the studio),
    a uint8 array (H, W, 3) or a tensor (1 or no batch, C, H, W) already in [-1, 1]."""
    from studio.core.photo import DEFAULT_CROP, open_photo, photo_tensor

    if isinstance(image, (str, Path)):
        image = open_photo(image)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3, 4):
            raise RecipeError(f"a photo array must be uint8 (H, W, 3), not {image.dtype} {image.shape}")
        from PIL import Image

        image = Image.fromarray(image[..., :3] if image.shape[2] != 1 else image[..., 0]).convert("RGB")
    if hasattr(image, "convert") and hasattr(image, "crop"):  # a PIL image
        x = photo_tensor(image.convert("RGB"), DEFAULT_CROP, resolution)
    elif torch.is_tensor(image):
        x = image.detach().float().cpu()
        x = x[None] if x.ndim == 3 else x
        if x.ndim != 4 or x.shape[0] != 1:
            raise RecipeError(f"a photo tensor must be (1, C, H, W), not {list(image.shape)}")
        if x.shape[-2:] != (resolution, resolution):
            x = F.interpolate(x, size=(resolution, resolution), mode="area" if x.shape[-1] > resolution
                              else "bilinear")
    else:
        raise RecipeError(f"cannot project a {type(image).__name__}: give a photo path, image, array or tensor")
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x[:, :1].expand(-1, channels, -1, -1)
    if not bool(torch.isfinite(x).all()):
        raise RecipeError("the photo has non-finite values")
    return x.contiguous()


def check_space(g: Generator, space: str, noise: bool = False) -> None:
    if space not in SPACES:
        raise RecipeError(f"unknown projection space {space!r} (known: {', '.join(SPACES)})")
    if space in ("w", "w+") and not g.has_w:
        raise RecipeError(f"{g.info.name or g.info.family} models have no W space; project into z")
    if space == "z" and not g.info.z_dim:
        raise RecipeError(f"{g.info.name or g.info.family} models have no z input to project into")
    if "translate" in g.info.capabilities:
        raise RecipeError("a photo translator takes the photo itself; there is no latent to project into")
    if noise and (space == "z" or not _noise_constants(g)):
        raise RecipeError("noise maps can be optimised for a StyleGAN2 in torch projected into W or W+ only "
                          f"({g.info.name or g.info.family} in {space} has no noise inputs to fit)")


def _noise_constants(g: Generator) -> list[Tensor]:
    const = getattr(g, "constant_noise", None)
    return const() if callable(const) else []


# -- the loss ----------------------------------------------------------------------------------------------
def _pyramid(x: Tensor, levels: int) -> list[Tensor]:
    out = [x]
    for _ in range(levels - 1):
        if out[-1].shape[-1] < 8:
            break
        out.append(F.avg_pool2d(out[-1], 2))
    return out


def _grads(x: Tensor) -> tuple[Tensor, Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


class PixelLoss:
    """Multi-scale pixel MSE plus L1 of image gradients: coarse scales pull the layout into place early,
    gradients keep the edges (a plain MSE answer is blurred)."""

    name = "pixel"

    def __init__(self, target: Tensor, scales: int = SCALES, grad_weight: float = GRAD_WEIGHT):
        self.targets = _pyramid(target, scales)
        self.target_grads = [_grads(t) for t in self.targets]
        self.grad_weight = grad_weight

    def __call__(self, x: Tensor) -> Tensor:
        loss = x.new_zeros(())
        for xs, ts, (tgx, tgy) in zip(_pyramid(x, len(self.targets)), self.targets, self.target_grads):
            loss = loss + F.mse_loss(xs, ts)
            gx, gy = _grads(xs)
            loss = loss + self.grad_weight * ((gx - tgx).abs().mean() + (gy - tgy).abs().mean())
        return loss


def psnr(x: Tensor, target: Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), clamped as a saved image would be."""
    mse = float(F.mse_loss(x.detach().clamp(-1, 1), target.detach().to(x.device)))
    return float("inf") if mse == 0 else 10.0 * math.log10(4.0 / mse)


# -- differentiable forward --------------------------------------------------------------------------------
def _run(g: Generator, ctx: StageContext) -> Tensor:
    """The generator's stages with autograd on (Generator.run computes in inference mode)."""
    x: Tensor | None = None
    for stage in g.stages:
        x = stage(x, ctx)
    assert x is not None
    if torch.is_grad_enabled() and not x.requires_grad:
        raise RecipeError(f"{g.info.name or g.info.family} ({g.who()}) gives no gradients (ONNX Runtime and other "
                          f"non-torch backends cannot be projected into; open it on torch)")
    return x


def _condition(g: Generator, condition: Sequence[float]) -> Tensor | None:
    if not g.info.c_dim:
        if condition:
            raise RecipeError("this model is not conditional; it takes no condition")
        return None
    if len(condition) != g.info.c_dim:
        raise RecipeError(f"this model takes {g.info.c_dim} condition values to project with, "
                          f"not {len(condition)}")
    return torch.tensor([list(condition)], dtype=torch.float32, device=g.device)


def _synth_ws(g: Generator, ws: Tensor, maps: Sequence[Tensor] | None = None) -> Tensor:
    ctx = g._ws_context(ws, "const")  # type: ignore[attr-defined]  # WSpaceRecipes families
    if maps is not None:
        ctx.extras["noise_maps"] = tuple(m[None] for m in maps)
        ctx.cacheable = False
    return _run(g, ctx)


def noise_penalty(maps: Sequence[Tensor]) -> Tensor:
    """Squared autocorrelation of each map with itself shifted one pixel across and down, at every scale
    down to NOISE_REG_DOWN_TO: zero for white noise, large once a map starts to draw the photo."""
    total = maps[0].new_zeros(())
    for m in maps:
        x = m[None, None]
        while True:
            total = total + (x * x.roll(1, dims=3)).mean() ** 2 + (x * x.roll(1, dims=2)).mean() ** 2
            if x.shape[-1] <= NOISE_REG_DOWN_TO:
                break
            x = F.avg_pool2d(x, 2)
    return total


def _renormalise(maps: Sequence[Tensor]) -> None:
    with torch.no_grad():
        for m in maps:
            m.sub_(m.mean()).div_(m.square().mean().sqrt().clamp_min(1e-8))


def _synth_z(g: Generator, z: Tensor, c: Tensor | None) -> Tensor:
    return _run(g, StageContext(z=z, c=c))


def learning_rate(t: float, base: float) -> float:
    """The official schedule at t = step / steps: linear ramp-up over LR_RAMPUP, cosine ramp-down over the
    last LR_RAMPDOWN."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return base * ramp * min(1.0, t / LR_RAMPUP)


def latent_noise(t: float, std: float) -> float:
    """The scale of the noise added to the latent at t: NOISE_FACTOR of its spread, to 0 at NOISE_RAMP."""
    return std * NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2


# -- the job -----------------------------------------------------------------------------------------------
def projection_job(g: Generator, image: Any, space: str = "w+", steps: int = DEFAULT_STEPS,
                   seeds: int = START_SEEDS, condition: Sequence[float] = (), seed: int = 0,
                   loss: str = "pixel", noise: bool = False,
                   align: bool | None = None) -> Iterator[ProjectionProgress]:
    """Project `image` into g's `space` ("w", "w+" or "z") in `steps` Adam steps; yields one
    ProjectionProgress per step and returns a ProjectionResult. `seeds` starting points are tried besides
    the mean w (z: seeds alone); `seed` draws the schedule's noise, so a run is reproducible; `noise`
    optimises a StyleGAN2's noise maps too (see the module docstring); `align` turns, scales and shifts a face
    photo to the model's framing first (studio.render.align.prepare_photo: None aligns photos of face
    domains, True also tensors, False never)."""
    check_space(g, space, noise)
    if loss not in LOSSES:
        raise RecipeError(f"unknown projection loss {loss!r} (known: {', '.join(LOSSES)})")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise RecipeError(f"projection steps must be a positive whole number, not {steps!r}")
    started = time.perf_counter()
    image = prepare_photo(image, g.info, align)[0]
    target = target_tensor(image, g.info.resolution, g.info.channels).to(g.device)
    c = _condition(g, condition)
    measure = PixelLoss(target)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with frozen(g):
        if space == "z":
            return (yield from _project_z(g, target, measure, steps, seeds, c, gen, started))
        return (yield from _project_w(g, target, measure, steps, seeds, c, gen, started, space == "w+", noise))


@contextmanager
def frozen(g: Generator) -> Iterator[None]:
    """The generator's weights without gradients while projecting (only the latent is optimised; with
    weight gradients on, a 64 px StyleGAN2 step costs several times more), restored afterwards.

    A small model on the CPU also runs on one thread meanwhile: the backward pass of a 64 px StyleGAN2 took
    2 s a step with torch's two threads on this shared 2-core machine and 0.025 s on one (its thread team
    waits on itself far longer than the tiny convolutions take)."""
    params = [p for m in g._modules for p in m.parameters()]
    was = [p.requires_grad for p in params]
    threads = torch.get_num_threads()
    single = g.device.type == "cpu" and g.info.resolution <= SINGLE_THREAD_UP_TO
    for p in params:
        p.requires_grad_(False)
    if single:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        for p, flag in zip(params, was):
            p.requires_grad_(flag)
        if single:
            torch.set_num_threads(threads)


def _project_w(g: Generator, target: Tensor, measure: PixelLoss, steps: int, seeds: int, c: Tensor | None,
               gen: torch.Generator, started: float, plus: bool,
               fit_noise: bool = False) -> Iterator[ProjectionProgress]:
    info = g.info
    with torch.no_grad():
        z = torch.randn(W_STD_SAMPLES, info.z_dim, generator=gen).to(g.device)
        cc = None if c is None else c.expand(len(z), -1)
        w_samples = torch.from_numpy(g.map(z, cc)[:, 0].float().cpu().numpy())
    w_avg = torch.from_numpy(np.asarray(g.w_avg.detach().cpu().float().numpy(), np.float32)).reshape(1, -1)
    w_std = float(((w_samples - w_avg) ** 2).sum(1).mean().sqrt())
    # the start: the mean w, or a seed's w pulled halfway to it when that matches better
    starts = torch.cat([w_avg, w_avg + 0.5 * (w_samples[:seeds] - w_avg)])
    with torch.no_grad():
        errs = [float(measure(_synth_ws(g, s.to(g.device).reshape(1, 1, -1).expand(1, info.num_ws, -1))))
                for s in starts]
    w = starts[int(np.argmin(errs))].reshape(1, 1, -1).clone().to(g.device)
    maps = [c.detach().float().clone().requires_grad_(True) for c in _noise_constants(g)] if fit_noise else []
    _renormalise(maps)
    w_steps = steps - int(round(steps * W_PLUS_SHARE)) if plus else steps
    phases = [("w", w_steps)] + ([("w+", steps - w_steps)] if plus and steps - w_steps > 0 else [])
    done, last = 0, (float("nan"), target)
    for phase, n in phases:
        if phase == "w+":
            w = w.detach().expand(1, info.num_ws, -1).clone()
        w = w.detach().requires_grad_(True)
        opt = torch.optim.Adam([w, *maps], lr=LR_W, betas=(0.9, 0.999))
        for i in range(n):
            t = i / n
            for group in opt.param_groups:
                group["lr"] = learning_rate(t, LR_W)
            sigma = latent_noise(t, w_std)
            noise = torch.randn(w.shape, generator=gen).to(g.device) * sigma
            img = _synth_ws(g, (w + noise).expand(1, info.num_ws, -1), maps or None)
            value = measure(img)
            objective = value + NOISE_REG_WEIGHT * noise_penalty(maps) if maps else value
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            _renormalise(maps)
            done += 1
            last = (float(value.detach()), img)
            yield ProjectionProgress(done, steps, last[0], psnr(img, target), img.detach().float().cpu(), phase)
    rows = w.detach().expand(1, info.num_ws, -1)[0]
    stored = NoiseMaps.of([m.detach().float().cpu().numpy() for m in maps]) if maps else None
    with torch.no_grad():  # the image of the answer as its recipe renders it (the maps as stored)
        img = _synth_ws(g, rows[None], None if stored is None else
                        [torch.from_numpy(a).to(g.device) for a in stored.arrays()])
    latent = WLatent.of(rows.float().cpu().numpy()) if plus else \
        WLatent(tuple(float(v) for v in rows[0].float().cpu().numpy()))
    return ProjectionResult(latent, "w+" if plus else "w", img.detach().float().cpu(), psnr(img, target),
                            float(measure(img)) if math.isnan(last[0]) else last[0], steps,
                            time.perf_counter() - started, measure.name, stored, target.detach().float().cpu())


def _project_z(g: Generator, target: Tensor, measure: PixelLoss, steps: int, seeds: int, c: Tensor | None,
               gen: torch.Generator, started: float) -> Iterator[ProjectionProgress]:
    info = g.info
    norm = typical_norm(info.z_dim, info.prior)
    starts = g.latents(list(range(max(1, seeds)))).float()
    with torch.no_grad():
        errs = [float(measure(_synth_z(g, s[None], c))) for s in starts]
    z = starts[int(np.argmin(errs))][None].clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=LR_Z, betas=(0.9, 0.999))
    spread = norm / math.sqrt(info.z_dim)
    value = torch.zeros(())
    for i in range(steps):
        t = i / steps
        for group in opt.param_groups:
            group["lr"] = learning_rate(t, LR_Z)
        noise = torch.randn(z.shape, generator=gen).to(g.device) * latent_noise(t, spread)
        zi = z + noise
        if info.prior == "uniform":
            zi = zi.clamp(-1, 1)
        img = _synth_z(g, zi, c)
        fit = measure(img)
        value = fit + PRIOR_WEIGHT * (z.norm() / norm - 1.0) ** 2
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        if info.prior == "uniform":
            with torch.no_grad():
                z.clamp_(-1, 1)
        yield ProjectionProgress(i + 1, steps, float(fit.detach()), psnr(img, target), img.detach().float().cpu(), "z")
    with torch.no_grad():
        img = _synth_z(g, z.detach(), c)
    latent = VectorLatent(tuple(float(v) for v in z.detach()[0].float().cpu().numpy()))
    return ProjectionResult(latent, "z", img.detach().float().cpu(), psnr(img, target), float(measure(img)),
                            steps, time.perf_counter() - started, measure.name, None, target.detach().float().cpu())


def project(g: Generator, image: Any, space: str | None = None, steps: int = DEFAULT_STEPS,
            progress: Any = None, **options: Any) -> ProjectionResult:
    """Run a projection to the end (the scripting entry point `studio.project`); `progress`, when given, is
    called with each ProjectionProgress. `space` defaults to W+ for models with a W space, else z."""
    return run_to_end(projection_job(g, image, space or ("w+" if g.has_w else "z"), steps, **options), progress)


def run_to_end(job: Iterator[Any], progress: Any = None) -> Any:
    """Step an optimisation job (projection, drag) on the calling thread; its return value is the result."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(p)

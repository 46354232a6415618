"""Timelines: keyframe recipes and how to move between them, turned into one recipe per frame.

A segment interpolates the *edited* latents of its two keyframes (truncation and z-space walks already
applied) by lerp or slerp, with an easing curve on time, and yields VectorLatent recipes; edits that are
not baked into z (W-space walks, attribute labels) are blended by label. Keyframes that share their
latent (the same seed, say) keep it and blend only their edits, so a StarGAN photo or a single face with
a moving slider works too. `space="w"` interpolates the keyframes' style inputs after the mapping
network (with their W walks and mixes baked in, so per-layer edits interpolate as W+) and yields
WLatent recipes, for generators with a W space.

A noise loop (`Timeline.noise`) adds a circle through latent space whose period is the whole sequence,
so the last frame flows into the first: with one keyframe it is the classic GAN loop around that face,
with several it makes a looping keyframe path drift.

This module is the maths only: where each keyframe sits in z or W comes from a `LatentPoints` the caller
passes (studio.model.spaces.frame_recipes supplies one for a loaded generator), so no model runs here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from studio.core.latents import lerp, random_orthonormal, slerp
from studio.core.recipe import Recipe, SeedLatent, VectorLatent, Walk
from studio.core.style_edits import Mix
from studio.core.wspace import WLatent
from studio.errors import RecipeError

TIMELINE_SCHEMA = 1
INTERPOLATIONS = ("slerp", "lerp")
SPACES = ("z", "w")


class LatentPoints(Protocol):
    """Where recipes sit in a model's latent spaces: all that interpolation reads of the model."""

    def z_mean(self) -> np.ndarray:
        """The centre of z (what truncation pulls toward)."""

    def edited_z(self, recipe: Recipe) -> np.ndarray:
        """The recipe's z after truncation and z walks (z_dim,)."""

    def style_inputs(self, recipes: Sequence[Recipe]) -> np.ndarray:
        """Each recipe's style inputs (N, num_ws, w_dim) after truncation, W walks and mixes, i.e. what its
        image is rendered from; a RecipeError for a model without a W space."""


def _ease_in_out_cubic(t: float) -> float:
    return 4 * t ** 3 if t < 0.5 else 1 - (-2 * t + 2) ** 3 / 2


EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "ease-in-out": lambda t: 0.5 - 0.5 * math.cos(math.pi * t),   # sine: gentle start and stop
    "ease-in": lambda t: 1 - math.cos(math.pi * t / 2),
    "ease-out": lambda t: math.sin(math.pi * t / 2),
    "cubic": _ease_in_out_cubic,                                  # stronger hold at the keyframes
    "smoothstep": lambda t: t * t * (3 - 2 * t),
}


def ease(name: str, t: float) -> float:
    """Eased time in [0, 1] for t in [0, 1]; every curve maps 0 to 0 and 1 to 1 and never goes back."""
    fn = EASINGS.get(name)
    if fn is None:
        raise RecipeError(f"unknown easing {name!r} (known: {', '.join(EASINGS)})")
    return float(fn(min(max(t, 0.0), 1.0)))


@dataclass(frozen=True)
class Segment:
    """How to go from one keyframe to the next: `frames` frames, the first being the start keyframe."""

    frames: int = 24
    interpolation: str = "slerp"
    easing: str = "linear"
    space: str = "z"

    def __post_init__(self) -> None:
        if not isinstance(self.frames, int) or isinstance(self.frames, bool) or not 1 <= self.frames <= 100_000:
            raise RecipeError(f"a segment needs 1 to 100000 frames, not {self.frames!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise RecipeError(f"unknown interpolation {self.interpolation!r} (known: {', '.join(INTERPOLATIONS)})")
        if self.easing not in EASINGS:
            raise RecipeError(f"unknown easing {self.easing!r} (known: {', '.join(EASINGS)})")
        if self.space not in SPACES:
            raise RecipeError(f"unknown latent space {self.space!r} (known: {', '.join(SPACES)})")


@dataclass(frozen=True)
class NoiseLoop:
    """A periodic motion whose period is the whole sequence, zero at frame 0 (the first keyframe shows as
    it is). a, b are orthonormal directions drawn from `seed`; t = 2π frame / length.

    In Z every frame is rotated by t in a plane near the first frame's latent, which runs round a small
    circle on its sphere: lengths are kept, so samples stay typical; radius 1 is a great circle.
    In W every style input moves by r*s*((cos t - 1) a + sin t b), s being the first frame's distance
    from w_avg. Either way the far side of the loop is about 2 * radius of that length away."""

    radius: float = 0.3
    seed: int = 0
    space: str = "z"

    def __post_init__(self) -> None:
        if not _number(self.radius) or not 0 < self.radius <= 1:
            raise RecipeError(f"noise loop radius must be above 0 and at most 1, not {self.radius!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise RecipeError(f"noise loop seed must be a non-negative integer, not {self.seed!r}")
        if self.space not in SPACES:
            raise RecipeError(f"unknown latent space {self.space!r} (known: {', '.join(SPACES)})")


@dataclass(frozen=True)
class Timeline:
    """Keyframes with one segment after each (the last one only matters when the timeline loops).

    With a noise loop the timeline always loops, and a single keyframe makes `segments[0].frames` frames."""

    keyframes: tuple[Recipe, ...] = ()
    segments: tuple[Segment, ...] = ()
    loop: bool = False
    fps: float = 24.0
    noise: NoiseLoop | None = None

    def __post_init__(self) -> None:
        if len(self.segments) != len(self.keyframes):
            segs = tuple(self.segments[:len(self.keyframes)])
            segs += (segs[-1] if segs else Segment(),) * (len(self.keyframes) - len(segs))
            object.__setattr__(self, "segments", segs)
        if not (0 < float(self.fps) <= 240):
            raise RecipeError(f"fps must be between 0 and 240, not {self.fps!r}")

    # -- editing -----------------------------------------------------------------------------------
    def add(self, recipe: Recipe, segment: Segment | None = None) -> "Timeline":
        seg = segment or (self.segments[-1] if self.segments else Segment())
        return replace(self, keyframes=self.keyframes + (recipe,), segments=self.segments + (seg,))

    def remove(self, i: int) -> "Timeline":
        return replace(self, keyframes=self.keyframes[:i] + self.keyframes[i + 1:],
                       segments=self.segments[:i] + self.segments[i + 1:])

    def move(self, i: int, j: int) -> "Timeline":
        k, s = list(self.keyframes), list(self.segments)
        k.insert(j, k.pop(i))
        s.insert(j, s.pop(i))
        return replace(self, keyframes=tuple(k), segments=tuple(s))

    def with_segment(self, i: int, **changes: Any) -> "Timeline":
        segs = list(self.segments)
        segs[i] = replace(segs[i], **changes)
        return replace(self, segments=tuple(segs))

    def with_all_segments(self, **changes: Any) -> "Timeline":
        return replace(self, segments=tuple(replace(s, **changes) for s in self.segments))

    # -- frames ------------------------------------------------------------------------------------
    @property
    def looping(self) -> bool:
        return self.loop or self.noise is not None

    def active_segments(self) -> tuple[Segment, ...]:
        """The segments that produce frames: all of them in a loop, else all but the last."""
        return self.segments if self.looping else self.segments[:-1]

    def frame_count(self) -> int:
        if not self.keyframes:
            return 0
        if len(self.keyframes) == 1 and self.noise is None:
            return 1
        n = sum(s.frames for s in self.active_segments())
        return n if self.looping else n + 1  # a loop does not repeat its first frame at the end

    def keyframe_frames(self) -> list[int]:
        """The frame index of each keyframe."""
        out, at = [], 0
        for s in self.segments:
            out.append(at)
            at += s.frames
        return out

    def duration_s(self) -> float:
        return self.frame_count() / float(self.fps)

    def recipes(self, points: LatentPoints) -> list[Recipe]:
        """One recipe per frame; `points` places the keyframes in z or W (see LatentPoints)."""
        keys = self.keyframes
        if not keys:
            return []
        if len(keys) == 1 and self.noise is None:
            return [keys[0]]
        self.check_frames()
        out: list[Recipe] = []
        n = len(keys)
        for i, seg in enumerate(self.active_segments()):
            a, b = keys[i], keys[(i + 1) % n]
            if a == b:  # a single keyframe looping: it stays put (the noise loop moves it)
                out.extend([a] * seg.frames)
                continue
            interp = SegmentInterpolator(points, a, b, seg)
            out.extend(interp(k / seg.frames) for k in range(seg.frames))
        if not self.looping:
            out.append(keys[-1])
        return noise_loop(points, out, self.noise) if self.noise is not None else out

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {"schema": TIMELINE_SCHEMA, "fps": self.fps, "loop": self.loop,
             "keyframes": [r.to_dict() for r in self.keyframes],
             "segments": [_plain_fields(s) for s in self.segments]}
        if self.noise is not None:
            d["noise"] = _plain_fields(self.noise)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "Timeline":
        if not isinstance(d, dict):
            raise RecipeError("timeline must be a JSON object")
        if isinstance(d.get("schema"), int) and d["schema"] > TIMELINE_SCHEMA:
            raise RecipeError(f"timeline schema {d['schema']} is newer than this Latent Studio understands")
        try:
            keys = tuple(Recipe.from_dict(r) for r in d.get("keyframes", []))
            segs = tuple(Segment(**s) for s in d.get("segments", []))
            noise = NoiseLoop(**d["noise"]) if d.get("noise") is not None else None
            timeline = cls(keys, segs, bool(d.get("loop", False)), float(d.get("fps", 24.0)), noise)
        except (TypeError, ValueError, OverflowError) as exc:
            raise RecipeError(f"malformed timeline: {exc}") from None
        timeline.check_frames()
        return timeline

    def check_frames(self) -> None:
        """Refuse a timeline longer than max_frames (each frame becomes a recipe and an image), before
        anything is expanded: a small project can claim millions of frames."""
        from studio import budgets

        n, limit = self.frame_count(), budgets.current().max_frames
        if n > limit:
            raise budgets.refuse(RecipeError, "the timeline", f"{n:,} frames", f"{limit:,}", "max_frames")


def _plain_fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


class SegmentInterpolator:
    """The recipe at eased time t between keyframes a and b (precomputes their latents once)."""

    def __init__(self, points: LatentPoints, a: Recipe, b: Recipe, seg: Segment):
        self.a, self.b, self.seg = a, b, seg
        self.same_latent = a.latent == b.latent and a.truncation == b.truncation
        if self.same_latent and seg.space == "z":
            return  # nothing to interpolate in z: blend the edits (walk amounts) only
        if seg.space == "w":
            wa, wb = points.style_inputs([a, b])
            self.centre = w_centre(points, a)
            self.za, self.zb = (wa - self.centre).ravel(), (wb - self.centre).ravel()
            self.make_latent = lambda v: WLatent.of(v.reshape(self.centre.shape) + self.centre)
        else:
            self.za, self.zb = points.edited_z(a), points.edited_z(b)
            self.make_latent = lambda v: VectorLatent(tuple(float(x) for x in v))
            # a model that also feeds truncation to its forward (BigGAN) keeps it: the frames carry the blend
            # of the keyframes' truncations and the latents with it divided out (z = t * latent)
            forward = bool(getattr(points, "truncation_in_forward", False))
            self.keep_truncation = forward and a.truncation > 0 and b.truncation > 0
            if self.keep_truncation:
                self.za, self.zb = self.za / a.truncation, self.zb / b.truncation

    def __call__(self, t: float) -> Recipe:
        if t <= 0.0:
            return self.a
        e = ease(self.seg.easing, t)
        if self.same_latent and self.seg.space == "z":
            return replace(self.a, edits=_blend_edits(self.a.edits, self.b.edits, e, keep_z=True),
                           condition=_blend_values(self.a.condition, self.b.condition, e))
        mix = slerp if self.seg.interpolation == "slerp" else lerp
        v = mix(self.za, self.zb, e)
        keep = getattr(self, "keep_truncation", False)
        psi = (1 - e) * self.a.truncation + e * self.b.truncation if keep else 1.0
        return replace(self.a, latent=self.make_latent(v), truncation=psi,
                       edits=_blend_edits(self.a.edits, self.b.edits, e, keep_z=False,
                                          drop_w=self.seg.space == "w"),
                       condition=_blend_values(self.a.condition, self.b.condition, e))


def w_centre(points: LatentPoints, r: Recipe) -> np.ndarray:
    """w_avg per style input (truncation 0 pulls every w onto it), for slerp and loop radii in W."""
    return points.style_inputs([replace(r, latent=SeedLatent(0), truncation=0.0, edits=())])[0]


def _rotate_on_small_circle(x: np.ndarray, loop: NoiseLoop, theta: np.ndarray) -> np.ndarray:
    """Rows x[k] rotated by theta[k] about an axis n near x[0]: x[0] runs round the circle of angular
    radius asin(radius) about n that passes through it. A rotation keeps every length, so Gaussian
    latents stay typical, and the speed along the circle is even."""
    d = x.shape[1]
    if d < 3:
        raise RecipeError("a noise loop needs a latent of at least 3 values")
    u0 = x[0] / (np.linalg.norm(x[0]) or 1.0)
    a, b = random_orthonormal(2, d, loop.seed).astype(np.float64)
    a -= (a @ u0) * u0                       # a, b orthonormal and orthogonal to u0
    a /= np.linalg.norm(a)
    b -= (b @ u0) * u0 + (b @ a) * a
    b /= np.linalg.norm(b)
    beta = math.asin(min(loop.radius, 1.0))
    m = math.sin(beta) * u0 - math.cos(beta) * a  # with n = cos β u0 + sin β a: u0 = cos β n + sin β m
    pm, pb = x @ m, x @ b
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    out = x + (c - 1) * (pm[:, None] * m + pb[:, None] * b) + s * (pm[:, None] * b - pb[:, None] * m)
    return out.astype(np.float32)


def noise_loop(points: LatentPoints, frames: Sequence[Recipe], loop: NoiseLoop) -> list[Recipe]:
    """`frames` with loop's circle added; its period is len(frames), so the sequence wraps seamlessly."""
    n = len(frames)
    t = 2 * np.pi * np.arange(n) / n
    wave = np.stack([np.cos(t) - 1, np.sin(t)], axis=1).astype(np.float32)  # (n, 2), zero at frame 0
    if loop.space == "w":
        ws = points.style_inputs(frames)
        centre = w_centre(points, frames[0])
        scale = loop.radius * float(np.linalg.norm(ws[0] - centre, axis=1).mean())
        ab = random_orthonormal(2, ws.shape[2], loop.seed)
        moved = ws + scale * (wave @ ab)[:, None, :]
        return [replace(r, latent=WLatent.of(v), truncation=1.0,
                        edits=_blend_edits(r.edits, r.edits, 0.0, keep_z=False, drop_w=True))
                for r, v in zip(frames, moved)]
    mean = np.asarray(points.z_mean(), np.float32)
    x = np.stack([points.edited_z(r) for r in frames]) - mean
    moved = mean + _rotate_on_small_circle(x, loop, t)
    keep = bool(getattr(points, "truncation_in_forward", False)) and all(r.truncation > 0 for r in frames)
    return [replace(r, latent=VectorLatent(tuple(float(x) for x in (v / r.truncation if keep else v))),
                    truncation=r.truncation if keep else 1.0,
                    edits=_blend_edits(r.edits, r.edits, 0.0, keep_z=False))
            for r, v in zip(frames, moved)]


def _edit_key(e: Any, i: int) -> tuple[str, str]:
    return (e.kind, getattr(e, "label", None) or str(i))


def _blend_edits(a: Sequence[Any], b: Sequence[Any], t: float, keep_z: bool,
                 drop_w: bool = False) -> tuple[Any, ...]:
    """Edits at time t: the same edit in both keyframes is blended field by field; one present in only
    one keyframe fades in or out when it has an amount, else switches at the midpoint. Z-space walks
    are dropped unless `keep_z` (they are already inside an interpolated z); W walks and mixes are
    dropped when `drop_w` (they are inside an interpolated w)."""
    def keep(e: Any) -> bool:
        if isinstance(e, Walk):
            return keep_z if e.space == "z" else not drop_w
        return not (drop_w and isinstance(e, Mix))

    ea = {_edit_key(e, i): e for i, e in enumerate(a) if keep(e)}
    eb = {_edit_key(e, i): e for i, e in enumerate(b) if keep(e)}
    out = []
    for key in list(ea) + [k for k in eb if k not in ea]:
        x, y = ea.get(key), eb.get(key)
        if x is not None and y is not None:
            out.append(_blend_fields(x, y, t))
        else:
            only = x if x is not None else y
            weight = (1 - t) if x is not None else t
            if isinstance(only, Walk):
                if weight > 0:
                    out.append(replace(only, amount=only.amount * weight))
            elif (x is not None) == (t < 0.5):
                out.append(only)
    return tuple(out)


def _blend_fields(x: Any, y: Any, t: float) -> Any:
    if x == y or type(x) is not type(y):
        return x if t < 0.5 else y
    changes = {}
    for f in fields(x):
        u, v = getattr(x, f.name), getattr(y, f.name)
        if u == v:
            continue
        if _number(u) and _number(v):
            changes[f.name] = (1 - t) * u + t * v
        elif isinstance(u, tuple) and isinstance(v, tuple) and len(u) == len(v) and all(map(_number, u + v)):
            changes[f.name] = _blend_values(u, v, t)
        else:
            return x if t < 0.5 else y  # not blendable (another direction, other layers): switch halfway
    return replace(x, **changes)


def _blend_values(u: tuple[float, ...], v: tuple[float, ...], t: float) -> tuple[float, ...]:
    if u == v or len(u) != len(v):
        return u if t < 0.5 else v
    return tuple((1 - t) * p + t * q for p, q in zip(u, v))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- walks and playback ------------------------------------------------------------------------------
def ping_pong_walk(recipe: Recipe, label: str, direction: Sequence[float], amplitude: float, frames: int,
                   space: str = "z") -> list[Recipe]:
    """A seamless loop along one direction: 0 -> +amplitude -> 0 -> -amplitude -> (back to 0).

    The amount follows a sine, so the motion slows at the turning points instead of bouncing.
    """
    if frames < 2:
        raise RecipeError("a walk needs at least 2 frames")
    base = recipe.walk_amount(label)
    d = tuple(float(v) for v in direction)
    return [recipe.with_walk(label, d, base + amplitude * math.sin(2 * math.pi * k / frames), space)
            for k in range(frames)]


def due_frame(elapsed_s: float, fps: float, frames: int, loop: bool) -> int | None:
    """The frame that should be on screen `elapsed_s` into playback (None: playback is over)."""
    if frames <= 0:
        return None
    i = int(math.floor(elapsed_s * fps + 1e-9))
    if loop:
        return i % frames
    return i if i < frames else None


class Playback:
    """Real-time playback that drops frames rather than slowing down.

    Call `next_frame(now)` whenever the previous frame has arrived: it returns the frame due now (frames
    whose time passed while rendering are skipped and counted in `dropped`), the same frame again as
    None (wait), or raises StopIteration at the end. Pure: the clock is passed in, so it is testable.
    """

    def __init__(self, fps: float, frames: int, loop: bool = False):
        self.fps, self.frames, self.loop = float(fps), frames, loop
        self.start: float | None = None
        self.last: int | None = None  # absolute frame number (not wrapped) of the last frame requested
        self.shown = 0
        self.dropped = 0

    def next_frame(self, now: float) -> int | None:
        if self.start is None:
            self.start = now
        absolute = int(math.floor((now - self.start) * self.fps + 1e-9))
        if not self.loop and absolute >= self.frames:
            if self.last is not None and self.last < self.frames - 1:
                self.dropped += self.frames - 1 - self.last
                self.last = self.frames - 1
            raise StopIteration
        if self.last is not None and absolute <= self.last:
            return None
        if self.last is not None:
            self.dropped += absolute - self.last - 1
        else:
            self.dropped += absolute
        self.last = absolute
        self.shown += 1
        return absolute % self.frames if self.loop else absolute


def simulate_playback(render_s: Callable[[int], float], fps: float, frames: int,
                      loop: bool = False, until_s: float | None = None) -> list[int]:
    """The frames a viewer sees when each frame takes render_s(i) seconds to render (for tests/benches)."""
    p = Playback(fps, frames, loop)
    now, shown = 0.0, []
    end = until_s if until_s is not None else frames / fps
    while now < end:
        try:
            i = p.next_frame(now)
        except StopIteration:
            break
        if i is None:
            now = (p.last + 1) / fps + (p.start or 0.0)  # sleep until the next frame is due
            continue
        now += render_s(i)
        shown.append(i)
    return shown

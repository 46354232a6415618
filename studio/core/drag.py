"""A finished drag as data: its points, mask and settings kept beside the latent it left in the recipe.

The drag itself (studio.render.drag) answers with a recipe latent; this is what the workspace keeps with it
(as the "drag" panel setting, so it is part of the same undo step and saved with the project) so the drag
can be continued from where its handles ended or redone from the start, and how its trajectory becomes
timeline keyframes. Plain data and JSON values only.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

from studio.core.recipe import Recipe, latent_to_dict
from studio.core.timeline import Segment, Timeline
from studio.core.units import UnitMask
from studio.core.wspace import WLatent
from studio.errors import RecipeError

PANEL_KEY = "drag"
Point = tuple[float, float]


def _point(v: Any, what: str) -> Point:
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
        raise RecipeError(f"drag record: {what} must be two finite numbers, not {v!r:.60}")
    return float(v[0]), float(v[1])


@dataclass(frozen=True)
class DragRecord:
    """What a drag was asked (handles -> targets, the flexible region, layer, rows, steps) and where its
    handles ended (`ended_at`), so the next drag can continue from there."""

    handles: tuple[Point, ...]
    targets: tuple[Point, ...]
    ended_at: tuple[Point, ...] = ()
    mask: UnitMask | None = None
    layer: str = ""
    rows: int = 0
    steps: int = 0
    ended: str = ""
    made: str = ""  # latent_key of the latent the drag left: the record describes that image only

    def __post_init__(self) -> None:
        if len(self.handles) != len(self.targets):
            raise RecipeError("drag record: every handle needs a target")
        if self.ended_at and len(self.ended_at) != len(self.handles):
            raise RecipeError("drag record: every handle needs an end position")

    def continued(self) -> "DragRecord":
        """The same targets, the handles where the drag left them (what "Start" after a Stop resumes)."""
        return replace(self, handles=self.ended_at or self.handles, ended_at=())

    def to_dict(self) -> dict[str, Any]:
        return {"handles": [list(p) for p in self.handles], "targets": [list(p) for p in self.targets],
                "ended_at": [list(p) for p in self.ended_at],
                "mask": None if self.mask is None else list(self.mask),
                "layer": self.layer, "rows": self.rows, "steps": self.steps, "ended": self.ended,
                "made": self.made}

    @classmethod
    def from_dict(cls, d: Any) -> "DragRecord":
        if not isinstance(d, dict):
            raise RecipeError("a drag record must be a JSON object")
        try:
            pts = {k: tuple(_point(p, k) for p in d.get(k, ())) for k in ("handles", "targets", "ended_at")}
            mask = d.get("mask")
            return cls(pts["handles"], pts["targets"], pts["ended_at"],
                       None if mask is None else UnitMask(mask), str(d.get("layer", "")),
                       int(d.get("rows", 0)), int(d.get("steps", 0)), str(d.get("ended", "")),
                       str(d.get("made", "")))
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"malformed drag record: {exc}") from None


def latent_key(latent: Any) -> str:
    """A short fingerprint of a recipe latent (which image a record's points were on)."""
    text = json.dumps(latent_to_dict(latent), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_for(panels_value: Any, latent: Any) -> DragRecord | None:
    """The stored record when it describes `latent`'s image (None after an edit changed the latent: a new
    seed, another drag undone past), else None."""
    record = read_record(panels_value)
    return record if record is not None and record.made == latent_key(latent) else None


def read_record(panels_value: Any) -> DragRecord | None:
    """The record stored under PANEL_KEY (None when there is none or it cannot be read: a damaged record
    never stops the workspace from opening)."""
    if panels_value is None:
        return None
    try:
        return DragRecord.from_dict(panels_value)
    except RecipeError:
        return None


def trajectory_timeline(timeline: Timeline, base: Recipe, latents: Sequence[Any], frames: int = 12,
                        fps: float | None = None) -> Timeline:
    """`timeline` with its keyframes replaced by the drag's trajectory (`latents`, start first, each the
    recipe latent of one point along it), each segment `frames` frames of linear interpolation in the
    latents' own space (W for W / W+ latents, z otherwise), so the export plays the drag."""
    if len(latents) < 2:
        raise RecipeError("a drag trajectory needs at least its start and its end")
    space = "w" if isinstance(latents[0], WLatent) else "z"
    seg = Segment(frames=frames, interpolation="lerp", easing="linear", space=space)
    keys = tuple(replace(base, latent=lat) for lat in latents)
    return replace(timeline, keyframes=keys, segments=(seg,) * len(keys), loop=False, noise=None,
                   fps=timeline.fps if fps is None else fps)

"""The workspace: everything the user made with one model, as one immutable value.

Before this, the recipe was data but the timeline, concept bins, fitted directions, masks and unit
selections lived in widgets, so undo skipped them and switching models left them behind as if they applied
to the new model. A Workspace holds all of it for one model; every user action is a transition
`ws -> replace(ws, ...)`, undo is a history of workspaces (studio/core/history.py), and a project file is
the workspaces of the models worked on (studio/core/project.py). Views read it; nothing here knows Qt.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

import numpy as np

from studio.core.arithmetic import ConceptBin, NamedLatent
from studio.core.direction_library import SavedDirection
from studio.core.directions import DirectionSet
from studio.core.recipe import ModelRef, Recipe
from studio.core.timeline import Timeline
from studio.core.units import UnitMask
from studio.core.vector_table import VectorTable
from studio.errors import RecipeError

DEFAULT_BIN_NAMES = ("A", "B", "C")  # the paper's A - B + C
DEFAULT_BIN_WEIGHTS = (1.0, -1.0, 1.0)


def default_bins() -> tuple[ConceptBin, ...]:
    return tuple(ConceptBin(n, (), w) for n, w in zip(DEFAULT_BIN_NAMES, DEFAULT_BIN_WEIGHTS))


@dataclass(frozen=True)
class UnitSelection:
    """The feature units picked in one layer of the Features panel (what a unit edit will apply to)."""

    layer: str = ""
    units: frozenset[int] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "units": sorted(self.units)}

    @classmethod
    def from_dict(cls, d: Any) -> "UnitSelection":
        if not isinstance(d, dict):
            raise RecipeError("a unit selection must be a JSON object")
        units = d.get("units", [])
        if not isinstance(units, list) or not all(isinstance(u, int) and not isinstance(u, bool) and u >= 0
                                                  for u in units):
            raise RecipeError("unit selection: units must be non-negative integers")
        return cls(str(d.get("layer", "")), frozenset(units))


@dataclass(frozen=True)
class Workspace:
    """One model's session. `recipe.model` says which model; everything else belongs to that model too."""

    recipe: Recipe
    timeline: Timeline = field(default_factory=Timeline)
    bins: tuple[ConceptBin, ...] = field(default_factory=default_bins)  # arithmetic bins (weights inside)
    latents: tuple[NamedLatent, ...] = ()             # latents the user saved by name
    directions: tuple[SavedDirection, ...] = ()       # fitted / imported directions kept with the work
    sliders: tuple[str, ...] = ()                     # names of `directions` (or library entries) walked
    mask: UnitMask | None = None                      # the painted region unit edits apply inside
    units: UnitSelection = field(default_factory=UnitSelection)
    panels: tuple[tuple[str, Any], ...] = ()          # view-independent panel settings (JSON values)
    pca: DirectionSet | None = field(default=None, compare=False)  # derived from the model: not an edit

    @property
    def model(self) -> ModelRef:
        return self.recipe.model

    # -- transitions ---------------------------------------------------------------------------------
    def with_(self, **changes: Any) -> "Workspace":
        return replace(self, **changes)

    def panel(self, key: str, default: Any = None) -> Any:
        return dict(self.panels).get(key, default)

    def with_panel(self, key: str, value: Any) -> "Workspace":
        kept = tuple((k, v) for k, v in self.panels if k != key)
        return replace(self, panels=kept + ((key, value),))

    def relocated(self, old: str, ref: ModelRef) -> "Workspace":
        """The same work pointing at a moved checkpoint (every recipe inside, keyframes included)."""
        def fix(r: Recipe) -> Recipe:
            return replace(r, model=ref) if r.model.path in (old, "") else r

        tl = self.timeline
        return replace(self, recipe=fix(self.recipe), timeline=replace(tl, keyframes=tuple(fix(r) for r in tl.keyframes)))


# -- JSON: component by component, so a history stores only what changed from the state before -------------
def pca_to_dict(d: DirectionSet | None) -> Any:
    if d is None:
        return None
    return {"kind": d.kind, "space": d.space, "vectors": np.asarray(d.vectors).tolist(),
            "stddev": None if d.stddev is None else np.asarray(d.stddev).tolist(),
            "explained": None if d.explained is None else np.asarray(d.explained).tolist(),
            **({"mean": np.asarray(d.mean).tolist()} if d.mean is not None else {}),
            **({"layer": d.layer} if d.layer else {})}


def pca_from_dict(x: Any) -> DirectionSet | None:
    if x is None:
        return None

    def arr(v: Any) -> np.ndarray | None:
        return None if v is None else np.asarray(v, np.float32)

    vectors = np.asarray(x["vectors"], np.float32)
    if vectors.ndim != 2:
        raise ValueError("direction vectors must be a list of rows")
    return DirectionSet(str(x["kind"]), str(x["space"]), vectors, arr(x.get("stddev")), arr(x.get("explained")),
                        arr(x.get("mean")), str(x.get("layer", "")))


def _panels_from(x: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(x, dict):
        raise RecipeError("panel settings must be a JSON object")
    return tuple((str(k), _frozen(v)) for k, v in x.items())


def _frozen(v: Any) -> Any:
    return tuple(_frozen(x) for x in v) if isinstance(v, list) else v


_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "recipe": (lambda r: r.to_dict(), Recipe.from_dict),  # packed through _pack_recipe
    "timeline": (lambda t: t.to_dict(), Timeline.from_dict),
    "bins": (lambda bs: [b.to_dict() for b in bs], lambda x: tuple(ConceptBin.from_dict(b) for b in x)),
    "latents": (lambda ls: [x.to_dict() for x in ls], lambda x: tuple(NamedLatent.from_dict(v) for v in x)),
    "directions": (lambda ds: [d.to_dict() for d in ds], lambda x: tuple(SavedDirection.from_dict(d) for d in x)),
    "sliders": (list, lambda x: tuple(str(s) for s in x)),
    "mask": (lambda m: None if m is None else list(m), lambda x: None if x is None else UnitMask(x)),
    "units": (lambda u: u.to_dict(), UnitSelection.from_dict),
    "panels": (lambda p: {k: list(v) if isinstance(v, tuple) else v for k, v in p}, _panels_from),
    "pca": (pca_to_dict, pca_from_dict),
}
COMPONENTS = tuple(f.name for f in fields(Workspace))
assert set(COMPONENTS) == set(_CODECS), "every Workspace field needs a codec"


def workspace_to_dict(ws: Workspace, table: VectorTable, prev: Workspace | None = None,
                      found: list[str] | None = None) -> dict[str, Any]:
    """`ws` as JSON with long vectors in `table`; with `prev`, only the components that differ from it
    (compared by identity first: an edit replaces one component and keeps the others' objects)."""
    out: dict[str, Any] = {}
    for name in COMPONENTS:
        value = getattr(ws, name)
        if prev is not None:
            old = getattr(prev, name)
            if old is value or (name != "pca" and _same(old, value)):
                continue
        out[name] = _pack_recipe(value, table, found) if name == "recipe" \
            else table.pack(_CODECS[name][0](value), found)
    return out


_EDIT_MEMO: dict[int, tuple[Any, Any, dict[str, list[float]]]] = {}
_EDIT_MEMO_MAX = 512  # edits of recent states (~32 kB each for a 512-d walk): bounded memory


def _pack_recipe(r: Recipe, table: VectorTable, found: list[str] | None) -> dict[str, Any]:
    """A recipe packed edit by edit, each edit once per object: a slider drag makes a new recipe on every move,
    but only the dragged walk is a new edit, so only its direction is converted and hashed again."""
    d = replace(r, edits=()).to_dict()
    packed_edits = []
    for e in r.edits:
        hit = _EDIT_MEMO.get(id(e))
        if hit is None or hit[0] is not e:
            hashes: list[str] = []
            tree = table.pack(replace(r, edits=(e,)).to_dict()["edits"][0], hashes)
            hit = (e, tree, {h: table.vectors[h] for h in hashes})
            if len(_EDIT_MEMO) >= _EDIT_MEMO_MAX:
                _EDIT_MEMO.clear()
            _EDIT_MEMO[id(e)] = hit
        for h, v in hit[2].items():
            table.vectors.setdefault(h, v)
            if found is not None:
                found.append(h)
        packed_edits.append(hit[1])
    d["edits"] = packed_edits
    return table.pack(d, found)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # arrays inside: only identity counts
        return False


def workspace_from_dict(d: Any, table: VectorTable, prev: Workspace | None = None) -> Workspace:
    """The inverse of workspace_to_dict: missing components come from `prev` (a history's state before)."""
    if not isinstance(d, dict):
        raise RecipeError("a workspace must be a JSON object")
    unknown = set(d) - set(COMPONENTS)
    if unknown:
        raise RecipeError(f"a workspace has unknown parts: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name in COMPONENTS:
        if name in d:
            values[name] = _CODECS[name][1](table.unpack(d[name]))
        elif prev is not None:
            values[name] = getattr(prev, name)
    if "recipe" not in values:
        raise RecipeError("a workspace has no recipe")
    return Workspace(**values)


def nbytes(tree: Any) -> int:
    """What a packed JSON tree costs on disk (compact separators, as autosave writes it)."""
    return len(json.dumps(tree, separators=(",", ":")))

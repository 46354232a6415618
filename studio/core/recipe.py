"""Recipes: the immutable description of one image.

Everything the user does yields a new Recipe; rendering is a pure function of it. That single idea gives
undo (a stack of recipes), project files and CLI re-rendering (recipes as JSON) and caching (equal
recipes, equal pixels). Recipes hold their direction vectors inline so a saved file renders anywhere.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Union

from studio.core import safe_json
from studio.errors import RecipeError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelRef:
    """Which checkpoint: its path and (when known) the sha256 of its bytes, to detect a moved/changed file."""

    path: str
    sha256: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not isinstance(self.sha256, str):
            raise RecipeError(f"the model must be named by a text path and sha256, not path={self.path!r:.60} "
                              f"sha256={self.sha256!r:.60}")

    @property
    def picks(self) -> dict[str, str]:
        """The settings the model was opened with when it is a variant of its file (Generator.choose: a
        progressive GAN's scale, an activation the file cannot record), as its model_id records them after
        the file's hash ("<sha256>#activation=LeakyReLU(0.2)"); {} for a plain open."""
        _, sep, rest = self.sha256.partition("#")
        return {k: v for k, _, v in (p.partition("=") for p in rest.split(",")) if k and v} if sep else {}


@dataclass(frozen=True)
class SeedLatent:
    """A latent drawn from the model's prior with a seed (reproducible across platforms)."""

    kind: ClassVar[str] = "seed"
    seed: int

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise RecipeError(f"seed must be a non-negative integer, not {self.seed!r}")


@dataclass(frozen=True)
class VectorLatent:
    """An explicit latent vector (a picked, averaged or interpolated point)."""

    kind: ClassVar[str] = "vector"
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.values, tuple) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values):
            raise RecipeError("latent vector must be a list of numbers")


LatentSpec = Union[SeedLatent, VectorLatent]


@dataclass(frozen=True)
class Walk:
    """Move along a unit direction by `amount` in latent space `space` ("z" or "w").

    `label` identifies the slider that owns this walk (e.g. "pca:3"), so moving the slider again replaces
    it; `layers` restricts a W-space walk to style inputs [start, stop) for StyleGAN-like models.
    """

    kind: ClassVar[str] = "walk"
    label: str
    direction: tuple[float, ...]
    amount: float
    space: str = "z"
    layers: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.direction, tuple) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.direction):
            raise RecipeError(f"walk {self.label!r}: direction must be a list of numbers")
        if not isinstance(self.amount, (int, float)) or isinstance(self.amount, bool):
            raise RecipeError(f"walk {self.label!r}: amount must be a number")
        if self.layers is not None and (len(self.layers) != 2 or not all(isinstance(v, int) for v in self.layers)):
            raise RecipeError(f"walk {self.label!r}: layers must be [start, stop]")


Edit = Walk  # later families widen this union (Mix, Attributes, DropUnits)

_LATENTS: dict[str, type] = {c.kind: c for c in (SeedLatent, VectorLatent)}
_EDITS: dict[str, type] = {c.kind: c for c in (Walk,)}


def register_edit_type(cls: type) -> type:
    """Let a module add an edit type (with a unique ClassVar `kind`) to the JSON schema."""
    _EDITS[cls.kind] = cls
    return cls


def register_latent_type(cls: type) -> type:
    """Let a module add a latent kind (with a unique ClassVar `kind`) to the JSON schema."""
    _LATENTS[cls.kind] = cls
    return cls


def class_condition(index: int, c_dim: int) -> tuple[float, ...]:
    """The one-hot condition that selects class `index` of a model with `c_dim` classes.

    The convention of the NVlabs conditional StyleGANs and of most cGANs; an all-zero condition is no class
    at all (the model's behaviour there is undefined), so the CLI and the class box say which one they mean.
    """
    if not c_dim:
        raise RecipeError("this model is not class-conditional")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < c_dim:
        raise RecipeError(f"class {index!r} is out of range: this model has {c_dim} classes (0-{c_dim - 1})")
    return tuple(1.0 if k == index else 0.0 for k in range(c_dim))


@dataclass(frozen=True)
class Recipe:
    model: ModelRef
    latent: LatentSpec
    truncation: float = 1.0
    edits: tuple[Edit, ...] = ()
    noise: str = "const"
    condition: tuple[float, ...] = field(default=())
    noise_seed: int = 0  # draws noise="random" (StyleGAN's per-pixel noise), so a saved recipe re-renders

    def __post_init__(self) -> None:
        if not isinstance(self.noise_seed, int) or isinstance(self.noise_seed, bool) or self.noise_seed < 0:
            raise RecipeError(f"noise seed must be a non-negative integer, not {self.noise_seed!r}")

    # -- editing -------------------------------------------------------------------------------
    def with_seed(self, seed: int) -> "Recipe":
        return replace(self, latent=SeedLatent(int(seed)))

    def with_truncation(self, psi: float) -> "Recipe":
        return replace(self, truncation=float(psi))

    def with_walk(self, label: str, direction: tuple[float, ...], amount: float, space: str = "z",
                  layers: tuple[int, int] | None = None) -> "Recipe":
        """Set the walk owned by `label`; amount 0 removes it so a reset slider leaves no trace."""
        kept = tuple(e for e in self.edits if not (isinstance(e, Walk) and e.label == label))
        if amount == 0:
            return replace(self, edits=kept)
        walk = Walk(label, tuple(float(v) for v in direction), float(amount), space, layers)
        return replace(self, edits=kept + (walk,))

    def walk_amount(self, label: str) -> float:
        return next((e.amount for e in self.edits if isinstance(e, Walk) and e.label == label), 0.0)

    def without_walks(self) -> "Recipe":
        return replace(self, edits=tuple(e for e in self.edits if not isinstance(e, Walk)))

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "model": asdict(self.model),
            "latent": latent_to_dict(self.latent),
            "truncation": self.truncation,
            "edits": [{"type": e.kind, **_plain(e)} for e in self.edits],
            "noise": self.noise,
            "condition": list(self.condition),
            **({"noise_seed": self.noise_seed} if self.noise_seed else {}),  # absent: 0, as in older files
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Any) -> "Recipe":
        if not isinstance(d, dict):
            raise RecipeError("recipe must be a JSON object")
        version = d.get("schema")
        if not isinstance(version, int):
            raise RecipeError("recipe has no schema version")
        if version > SCHEMA_VERSION:
            raise RecipeError(f"recipe schema {version} is newer than this Latent Studio understands "
                              f"(up to {SCHEMA_VERSION}); please update Latent Studio")
        try:
            model = ModelRef(**d["model"])
            latent = latent_from_dict(d["latent"])
            edits = tuple(_build(_EDITS, e, "edit") for e in d.get("edits", ()))
            return cls(model=model, latent=latent, truncation=float(d.get("truncation", 1.0)),
                       edits=edits, noise=str(d.get("noise", "const")),
                       condition=tuple(float(v) for v in d.get("condition", ())),
                       noise_seed=_whole(d.get("noise_seed", 0), "noise seed"))
        except RecipeError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise RecipeError(f"malformed recipe: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        return cls.from_dict(safe_json.loads(text, "recipe"))


def _whole(v: Any, what: str) -> int:
    """An integer from JSON (7 or 7.0), or a RecipeError naming `what`."""
    whole = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
    if isinstance(v, bool) or not whole:
        raise RecipeError(f"{what} must be a whole number, not {v!r}")
    return int(v)


def _plain(obj: Any) -> dict[str, Any]:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def latent_to_dict(latent: Any) -> dict[str, Any]:
    """A latent of any registered kind as JSON (how recipes, bins and saved latents store one)."""
    return {"type": latent.kind, **_plain(latent)}


def latent_from_dict(d: Any) -> Any:
    return _build(_LATENTS, d, "latent")


def _build(table: dict[str, type], d: Any, what: str) -> Any:
    if not isinstance(d, dict) or "type" not in d:
        raise RecipeError(f"malformed {what}: expected an object with a 'type'")
    kind = d["type"]
    cls = table.get(kind)
    if cls is None:
        raise RecipeError(f"unknown {what} type {kind!r} (known: {', '.join(sorted(table))})")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k != "type"}
    return cls(**kwargs)


# Types defined beside the features that use them (an input photo, attribute labels) register themselves;
# importing them here lets any recipe file parse before the plugin that renders it has been loaded.
from studio.core import attributes as _attributes, photo as _photo, style_edits as _style_edits  # noqa: E402,F401
from studio.core import wspace as _wspace  # noqa: E402,F401
from studio.core import units as _units  # noqa: E402,F401
from studio.core import class_edits as _class_edits  # noqa: E402,F401

"""Project files and autosave: the whole session as versioned JSON, written atomically.

A project holds the model (path + sha256), the current recipe, the undo history as a list of recipes,
the direction sets and the timeline. Autosave writes the same format to the user data folder every few
seconds; a clean exit leaves a marker, so an autosave without one means the last session crashed and
its state is offered back on the next launch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.direction_library import SavedDirection
from studio.core.arithmetic import ConceptBin, NamedLatent
from studio.core.directions import DirectionSet
from studio.core.recipe import ModelRef, Recipe
from studio.core.timeline import Timeline
from studio.errors import RecipeError, StudioError

PROJECT_FORMAT = "latent-studio-project"
PROJECT_SCHEMA = 1
PROJECT_EXT = ".lsproj"
AUTOSAVE_NAME = "autosave" + PROJECT_EXT
CLEAN_EXIT_NAME = "clean-exit"


class ModelMissing(StudioError):
    """The project's checkpoint is not where the project says: ask the user where it went."""

    def __init__(self, path: str):
        super().__init__(f"the project's model {path} is missing (moved or deleted); choose where it is now")
        self.path = path


@dataclass(frozen=True)
class Project:
    model: ModelRef
    recipe: Recipe | None = None
    history: tuple[Recipe, ...] = ()   # undo stack states, oldest first; `history_index` is the current one
    history_index: int = 0
    directions: tuple[DirectionSet, ...] = ()
    timeline: Timeline = field(default_factory=Timeline)
    bins: tuple[ConceptBin, ...] = ()      # vector-arithmetic concept bins
    latents: tuple[NamedLatent, ...] = ()  # latents the user saved by name (arithmetic results)
    saved_directions: tuple[SavedDirection, ...] = ()  # named directions (fitted, imported) kept with the work

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROJECT_FORMAT, "schema": PROJECT_SCHEMA,
            "model": {"path": self.model.path, "sha256": self.model.sha256},
            "recipe": self.recipe.to_dict() if self.recipe is not None else None,
            "history": [r.to_dict() for r in self.history], "history_index": self.history_index,
            "directions": [_direction_dict(d) for d in self.directions],
            "saved_directions": [d.to_dict() for d in self.saved_directions],
            "timeline": self.timeline.to_dict(),
            "bins": [b.to_dict() for b in self.bins], "latents": [x.to_dict() for x in self.latents],
        }

    @classmethod
    def from_dict(cls, d: Any, name: str = "project") -> "Project":
        if not isinstance(d, dict) or d.get("format") != PROJECT_FORMAT:
            raise RecipeError(f"{name} is not a Latent Studio project")
        schema = d.get("schema")
        if not isinstance(schema, int):
            raise RecipeError(f"{name} has no schema version")
        if schema > PROJECT_SCHEMA:
            raise RecipeError(f"{name} was saved by a newer Latent Studio (project schema {schema}; this one "
                              f"reads up to {PROJECT_SCHEMA}); please update Latent Studio")
        try:
            m = d["model"]
            history = tuple(Recipe.from_dict(r) for r in d.get("history", []))
            index = int(d.get("history_index", max(len(history) - 1, 0)))
            if history and not 0 <= index < len(history):
                raise RecipeError(f"history index {index} is outside the {len(history)} saved states")
            return cls(model=ModelRef(str(m["path"]), str(m.get("sha256", ""))),
                       recipe=Recipe.from_dict(d["recipe"]) if d.get("recipe") is not None else None,
                       history=history, history_index=index,
                       directions=tuple(_direction_from(x) for x in d.get("directions", [])),
                       saved_directions=tuple(SavedDirection.from_dict(x) for x in d.get("saved_directions", [])),
                       timeline=Timeline.from_dict(d.get("timeline", {})),
                       bins=tuple(ConceptBin.from_dict(x) for x in d.get("bins", [])),
                       latents=tuple(NamedLatent.from_dict(x) for x in d.get("latents", [])))
        except RecipeError as exc:
            raise RecipeError(f"{name}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise RecipeError(f"{name} is damaged ({type(exc).__name__}: {exc})") from None

    # -- model location ----------------------------------------------------------------------------
    def check_model(self, base: Path | None = None) -> Path:
        """The checkpoint's path, or ModelMissing naming where it was expected."""
        p = Path(self.model.path).expanduser()
        if not p.is_absolute() and base is not None and (base / p).exists():
            p = base / p
        if not p.is_file():
            raise ModelMissing(self.model.path)
        return p

    def relocated(self, new_path: str | Path) -> "Project":
        """The same project pointing at the checkpoint's new location (every recipe included)."""
        old = self.model.path
        ref = replace(self.model, path=str(new_path))

        def fix(r: Recipe) -> Recipe:
            return replace(r, model=ref) if r.model.path in (old, "") else r

        tl = self.timeline
        return replace(self, model=ref, recipe=fix(self.recipe) if self.recipe else None,
                       history=tuple(fix(r) for r in self.history),
                       timeline=replace(tl, keyframes=tuple(fix(r) for r in tl.keyframes)))


def save_project(project: Project, path: Path) -> None:
    """Atomic: the previous file stays intact until the new one is complete on disk."""
    write_text_atomic(Path(path), json.dumps(project.to_dict(), indent=1) + "\n")


def load_project(path: Path) -> Project:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"no such project file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read {path.name}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path.name} is damaged: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return Project.from_dict(data, path.name)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _direction_dict(d: DirectionSet) -> dict[str, Any]:
    return {"kind": d.kind, "space": d.space, "vectors": np.asarray(d.vectors).tolist(),
            "stddev": None if d.stddev is None else np.asarray(d.stddev).tolist(),
            "explained": None if d.explained is None else np.asarray(d.explained).tolist()}


def _direction_from(x: dict[str, Any]) -> DirectionSet:
    def arr(v: Any) -> np.ndarray | None:
        return None if v is None else np.asarray(v, np.float32)

    vectors = np.asarray(x["vectors"], np.float32)
    if vectors.ndim != 2:
        raise ValueError("direction vectors must be a list of rows")
    return DirectionSet(str(x["kind"]), str(x["space"]), vectors, arr(x.get("stddev")), arr(x.get("explained")))


# -- autosave -----------------------------------------------------------------------------------------
def default_autosave_dir() -> Path:
    """Under the user data folder ($LATENT_STUDIO_DATA overrides it, e.g. for tests)."""
    override = os.environ.get("LATENT_STUDIO_DATA")
    if override:
        return Path(override) / "autosave"
    import platformdirs

    return Path(platformdirs.user_data_dir("latent-studio", "latent-studio")) / "autosave"


class Autosave:
    """The autosave file and the clean-exit marker that tells a crash from a normal quit."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else default_autosave_dir()
        self.path = self.folder / AUTOSAVE_NAME
        self.marker = self.folder / CLEAN_EXIT_NAME
        self._last_text: str | None = None

    def pending_recovery(self) -> Project | None:
        """The last session's state when it ended without a clean exit (None if it did, or nothing saved).

        A damaged autosave is not offered (RecipeError says why); the caller decides what to tell the user.
        """
        if not self.path.is_file() or self.marker.exists():
            return None
        return load_project(self.path)

    def begin(self) -> None:
        """A session starts: from now on a missing marker means it did not end cleanly."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.unlink(missing_ok=True)

    def save(self, project: Project) -> bool:
        """Write the project if it changed since the last save; True when written."""
        text = json.dumps(project.to_dict(), indent=1) + "\n"
        if text == self._last_text:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, text)
        self._last_text = text
        return True

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self._last_text = None

    def clean_exit(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.write_text("")

"""Project files and autosave: every workspace of the session as versioned JSON, written atomically.

A project holds one saved workspace per model worked on (studio/core/workspaces.py): each is the states of
its undo history, stored as the components that changed from the state before, with long vectors (walk
directions, latents) kept once in a table keyed by content hash. Schema 1 files (one model, a history of
recipes beside one timeline, bins and directions) still open. Autosave writes the same format to the user
data folder whenever the session changed, serialising on a thread of its own; a clean exit leaves a
marker, so an autosave without one means the last session crashed and its state is offered back. An
autosave that cannot be read, or a crashed session that is not restored, is renamed aside in the same
folder (kept byte for byte, never overwritten), so one bad file never stops a launch or loses a session.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from studio.atomic import write_atomic
from studio.files import regular_file
from studio.core import safe_json
from studio.core.arithmetic import ConceptBin, NamedLatent
from studio.core.direction_library import SavedDirection
from studio.core.recipe import ModelRef, Recipe
from studio.core.timeline import Timeline
from studio.core.vector_table import VectorTable
from studio.core.workspace import (Workspace, default_bins, pca_from_dict, workspace_from_dict,
                                   workspace_to_dict)
from studio.core.workspaces import SavedWorkspace
from studio.errors import RecipeError, StudioError

PROJECT_FORMAT = "latent-studio-project"
PROJECT_SCHEMA = 2
PROJECT_EXT = ".lsproj"
AUTOSAVE_NAME = "autosave" + PROJECT_EXT
CLEAN_EXIT_NAME = "clean-exit"


class ModelMissing(StudioError):
    """The project's checkpoint is not where the project says: ask the user where it went."""

    def __init__(self, path: str):
        super().__init__(f"the project's model {path} is missing (moved or deleted); choose where it is now")
        self.path = path


class DamagedAutosave(RecipeError):
    """The autosave could not be read; `kept` is where it was moved (None when it could not be moved)."""

    def __init__(self, reason: str, kept: Path | None, problem: str = ""):
        where = (f"it was moved to {kept}; a new session starts" if kept is not None
                 else f"it could not be moved aside ({problem}), so autosave is off for this session")
        super().__init__(f"The autosaved session could not be read ({reason}); {where}.")
        self.reason, self.kept = reason, kept


# load_project turns damage into RecipeError (safe_json's depth and number limits, from_dict's checks);
# these are caught too because an autosave is read at every launch: nothing in it may stop the app
_DAMAGE = (RecipeError, RecursionError, ValueError, OverflowError, TypeError, KeyError, AttributeError,
           IndexError, MemoryError)


@dataclass(frozen=True)
class Project:
    """The saved workspaces and which one was active (the model the project opens with)."""

    workspaces: tuple[SavedWorkspace, ...]
    active: int = 0

    def __post_init__(self) -> None:
        if not self.workspaces:
            raise RecipeError("a project needs at least one workspace")
        if not 0 <= self.active < len(self.workspaces):
            raise RecipeError(f"the active workspace {self.active} is outside the "
                              f"{len(self.workspaces)} saved")

    @classmethod
    def of(cls, workspace: Workspace, history: tuple[Workspace, ...] = (), index: int = 0) -> "Project":
        """A project of one model's workspace (with its history, when there is one)."""
        states = history or (workspace,)
        return cls((SavedWorkspace(tuple(states), index if history else 0),))

    # -- the active workspace (what the CLI and the opening window read) ----------------------------
    @property
    def current(self) -> SavedWorkspace:
        return self.workspaces[self.active]

    @property
    def workspace(self) -> Workspace:
        return self.current.present

    @property
    def model(self) -> ModelRef:
        return self.workspace.model

    @property
    def recipe(self) -> Recipe:
        return self.workspace.recipe

    @property
    def timeline(self) -> Timeline:
        return self.workspace.timeline

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        table = VectorTable()
        saved = []
        for w in self.workspaces:
            steps, prev = [], None
            for state, text in zip(w.states, list(w.texts) + [""] * len(w.states)):
                steps.append({"text": text, "state": workspace_to_dict(state, table, prev)})
                prev = state
            saved.append({"model": {"path": w.model.path, "sha256": w.model.sha256}, "index": w.index,
                          "steps": steps})
        return {"format": PROJECT_FORMAT, "schema": PROJECT_SCHEMA, "active": self.active,
                "workspaces": saved, "vectors": table.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, name: str = "project") -> "Project":
        if not isinstance(d, dict) or d.get("format") != PROJECT_FORMAT:
            raise RecipeError(f"{name} is not a Latent Studio project")
        schema = d.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise RecipeError(f"{name} has no schema version")
        if schema > PROJECT_SCHEMA:
            raise RecipeError(f"{name} was saved by a newer Latent Studio (project schema {schema}; this one "
                              f"reads up to {PROJECT_SCHEMA}); please update Latent Studio")
        try:
            return _from_schema1(d) if schema < 2 else _from_schema2(d)
        except RecipeError as exc:
            raise RecipeError(f"{name}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
            raise RecipeError(f"{name} is damaged ({type(exc).__name__}: {exc})") from None

    # -- model location ----------------------------------------------------------------------------
    def check_model(self, base: Path | None = None) -> Path:
        """The active checkpoint's path, or ModelMissing naming where it was expected."""
        p = Path(self.model.path).expanduser()
        if not p.is_absolute() and base is not None and (base / p).exists():
            p = base / p
        if not p.is_file():
            raise ModelMissing(self.model.path)
        return p

    def relocated(self, new_path: str | Path) -> "Project":
        """The same project with the active workspace pointing at the checkpoint's new location."""
        ref = replace(self.model, path=str(new_path))
        ws = list(self.workspaces)
        ws[self.active] = ws[self.active].relocated(ref)
        return replace(self, workspaces=tuple(ws))


def _from_schema2(d: dict[str, Any]) -> Project:
    table = VectorTable.from_dict(d.get("vectors"))
    saved = []
    for w in d["workspaces"]:
        states, texts, prev = [], [], None
        for step in w["steps"]:
            prev = workspace_from_dict(step["state"], table, prev)
            states.append(prev)
            texts.append(str(step.get("text", "")))
        index = w.get("index", len(states) - 1)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(states):
            raise RecipeError(f"history index {index!r} is outside the {len(states)} saved states")
        saved.append(SavedWorkspace(tuple(states), index, tuple(texts)))
    active = d.get("active", 0)
    if not isinstance(active, int) or isinstance(active, bool):
        raise RecipeError("the active workspace must be a number")
    return Project(tuple(saved), active)


def _from_schema1(d: dict[str, Any]) -> Project:
    """One model: recipes in the history, and one timeline, bins, directions and PCA beside them."""
    history = tuple(Recipe.from_dict(r) for r in d.get("history", []))
    index = d.get("history_index", max(len(history) - 1, 0))
    if not isinstance(index, int) or isinstance(index, bool) or (history and not 0 <= index < len(history)):
        raise RecipeError(f"history index {index} is outside the {len(history)} saved states")
    recipe = Recipe.from_dict(d["recipe"]) if d.get("recipe") is not None else None
    if not history:
        if recipe is None:
            m = d["model"]
            raise RecipeError(f"the project for {m.get('path', '?')} holds no image")
        history, index = (recipe,), 0
    pca = [pca_from_dict(x) for x in d.get("directions", [])]
    bins = tuple(ConceptBin.from_dict(x) for x in d.get("bins", []))
    base = Workspace(history[0], Timeline.from_dict(d.get("timeline", {})), bins or default_bins(),
                     tuple(NamedLatent.from_dict(x) for x in d.get("latents", [])),
                     tuple(SavedDirection.from_dict(x) for x in d.get("saved_directions", [])),
                     pca=pca[0] if pca else None)
    states = tuple(replace(base, recipe=r) for r in history)
    return Project((SavedWorkspace(states, index),))


def save_project(project: Project, path: Path) -> None:
    """Atomic: the previous file stays intact until the new one is complete on disk."""
    write_atomic(Path(path), json.dumps(project.to_dict(), indent=1) + "\n")


def load_project(path: Path) -> Project:
    path = regular_file(path, "project", RecipeError)  # a FIFO named .lsproj would block the read forever
    data = safe_json.load(path)  # size checked before reading; depth and number limits; one RecipeError
    return Project.from_dict(data, path.name)


# -- autosave -----------------------------------------------------------------------------------------
def default_autosave_dir() -> Path:
    """Under the user data folder ($LATENT_STUDIO_DATA overrides it, e.g. for tests)."""
    override = os.environ.get("LATENT_STUDIO_DATA")
    if override:
        return Path(override) / "autosave"
    import platformdirs

    return Path(platformdirs.user_data_dir("latent-studio", "latent-studio")) / "autosave"


class Autosave:
    """The autosave file and the clean-exit marker that tells a crash from a normal quit.

    `save_soon` is what the GUI calls on its timer: it compares a revision number (nothing changed, nothing
    done) and hands an immutable snapshot to a writer thread, so serialising a long history never holds up
    the GUI thread. The newest snapshot wins when several wait."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else default_autosave_dir()
        self.path = self.folder / AUTOSAVE_NAME
        self.marker = self.folder / CLEAN_EXIT_NAME
        self.error: OSError | None = None  # the writer thread's last failure, for the GUI to report
        self._last_text: str | None = None
        self._revision: int | None = None
        self._pending: Project | None = None
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._held = False  # the file holds a crashed session being restored: never write over it
        self.kept: Path | None = None  # where the last file moved aside went

    def set_aside(self, why: str) -> Path:
        """Rename the autosave file to `autosave-WHY-TIMESTAMP.lsproj` beside it (its bytes untouched) and
        return the new path; OSError when it cannot be renamed."""
        with self._cond:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for n in range(1000):
                dest = self.folder / f"autosave-{why}-{stamp}{f'-{n}' if n else ''}{PROJECT_EXT}"
                if not dest.exists() and not dest.is_symlink():
                    break
            os.rename(self.path, dest)
            self._held = False
            self._last_text = None
            self.kept = dest
            return dest

    def hold(self) -> None:
        """The crashed session in the file is being restored: until `release()`, nothing overwrites it (a
        write, or a clean exit, first moves it aside as `autosave-unrecovered-...`)."""
        self._held = True

    def release(self) -> None:
        """The crashed session was restored: from now on the session saved is that one."""
        self._held = False

    def keep_unrecovered(self) -> Path | None:
        """A held crashed session was not restored: move it aside now; where it is (None: nothing held)."""
        with self._cond:
            if not self._held:
                return None
            if not self.path.exists():
                self._held = False
                return None
            return self.set_aside("unrecovered")

    def pending_recovery(self) -> Project | None:
        """The last session's state when it ended without a clean exit (None if it did, or nothing saved).

        A damaged autosave is moved aside (kept, never parsed again at start) and DamagedAutosave names
        where it went; the caller tells the user and starts a new session.
        """
        if self.marker.exists() or not (self.path.exists() or self.path.is_symlink()):
            return None
        if not self.path.is_file():  # a folder, FIFO or device under the autosave's name: never opened
            raise self._damaged("it is not a regular file")
        try:
            return load_project(self.path)
        except RecipeError as exc:
            raise self._damaged(str(exc)) from None
        except _DAMAGE as exc:  # whatever the bytes make the parsers raise: one message, a clean start
            raise self._damaged(f"{self.path.name} is damaged: {type(exc).__name__}") from None

    def _damaged(self, reason: str) -> DamagedAutosave:
        try:
            return DamagedAutosave(reason, self.set_aside("damaged"))
        except OSError as exc:
            self._held = True  # not moved: the session must not write over it either
            return DamagedAutosave(reason, None, exc.strerror or str(exc))

    def begin(self) -> None:
        """A session starts: from now on a missing marker means it did not end cleanly."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.unlink(missing_ok=True)

    def save(self, project: Project) -> bool:
        """Write the project now if it changed since the last save; True when written."""
        text = json.dumps(project.to_dict(), separators=(",", ":")) + "\n"
        with self._cond:
            if text == self._last_text:
                return False
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._held and self.path.exists():  # a crashed session not (yet) restored: keep it
                self.set_aside("unrecovered")
            write_atomic(self.path, text)
            self._last_text = text
        return True

    def save_soon(self, revision: int, snapshot: Callable[[], Project | None]) -> bool:
        """Queue a write of `snapshot()` unless `revision` was already saved; True when queued."""
        if revision == self._revision:
            return False
        project = snapshot()
        if project is None:
            return False
        self._revision = revision
        with self._cond:
            self._pending = project
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="autosave", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until queued snapshots are on disk; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None)
                project, self._pending = self._pending, None
                self._busy = True
            try:
                self.save(project)
            except OSError as exc:
                self.error = exc
                self._revision = None  # try again on the next change
            except Exception as exc:  # a bug must not kill the thread silently: say it like a write error
                self.error = OSError(f"{type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def discard(self) -> None:
        self.flush(5.0)
        self.path.unlink(missing_ok=True)
        self._last_text = None
        self._revision = None

    def clean_exit(self) -> None:
        self.flush(10.0)
        self.keep_unrecovered()  # quitting mid-recovery: the marker must not make it look finished
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.write_text("")

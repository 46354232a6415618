"""The editing session: a thin Qt adapter over the workspaces (studio/core/workspaces.py).

All session state is plain, immutable data in `self.workspaces` (one workspace and undo history per model);
this class turns user actions into workspace transitions, emits signals when the workspace changes, and
bridges to the render worker. The worker calls back on its own thread; those calls are re-emitted through
signals, which Qt queues onto the GUI thread, so slots (and any QImage) live on the GUI thread.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from PySide6.QtCore import QObject, Signal

from studio.core.photo import ImageLatent
from studio.core.project import Project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.workspace import Workspace
from studio.core.workspaces import Workspaces
from studio.errors import StudioError, users_interrupt
from studio.model.api import Generator, describe_failure
from studio.model.photo_input import awaits_photo
from studio.render.engine import Frame, ModelCache, Renderer
from studio.render.worker import JobHandle
from studio.ui.tasks import Tasks

if TYPE_CHECKING:
    import torch

    from studio.core.history import History

log = logging.getLogger(__name__)

MAIN_VIEW = "main"


class Worker(Protocol):
    """What the session needs of RenderWorker / SyncWorker."""

    renderer: Renderer

    def submit(self, view: str, generator: Generator, recipe: Recipe, callback: Callable[[Frame], None],
               progressive: bool = False) -> int: ...

    def submit_job(self, job: Iterator[Any], on_done: Callable[[Any], None] | None = None,
                   on_error: Callable[[str], None] | None = None,
                   on_progress: Callable[[Any], None] | None = None, key: str | None = None) -> JobHandle: ...

    def submit_load(self, job: Iterator[Any], on_done: Callable[[Any], None] | None = None,
                    on_error: Callable[[str], None] | None = None) -> JobHandle: ...


class _JobBridge(QObject):
    """Carries one background job's callbacks from the worker thread to the GUI thread."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)


class Session(QObject):
    """The current generator and recipe, with undo, rendering and background jobs."""

    frameReady = Signal(object)      # Frame, on the GUI thread
    modelChanged = Signal(object)    # Generator
    recipeChanged = Signal(object)   # Recipe: the workspace's recipe changed (edit, undo, redo, model)
    workspaceChanged = Signal(object)  # Workspace: anything in it changed (after modelChanged on a switch)
    historyChanged = Signal()        # what undo / redo would do changed
    error = Signal(str)              # a message for the user; never a traceback
    loadingChanged = Signal(bool)    # a checkpoint is being opened
    message = Signal(str)            # transient status text
    runtimeChanged = Signal(object)  # Generator: the same model, now run by another backend
    projectRestored = Signal(object)  # Project: its workspaces now apply to the model it names
    projectNotRestored = Signal(object, str)  # Project, why: its model did not open, is another, or was superseded
    pluginProblems = Signal(list)    # problems of plugins (failed to load, sniff abandoned) not told before

    _frameArrived = Signal(object, int)  # internal: (frame, model token) from the worker thread

    def __init__(self, worker: Worker, models: ModelCache | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = worker
        self.models = models or ModelCache()
        self.workspaces = Workspaces()
        self.generator: Generator | None = None
        self.model_path: Path | None = None
        self.last_frame: Frame | None = None
        self.loading = False
        self._model_token = 0   # bumps on every model change; results for older models are dropped
        self._load_token = 0    # bumps on every open; only the newest open may take effect
        self._pending_project: Project | None = None  # to restore once the newest open has loaded
        self._gesture = 0
        self._notes_shown = 0   # backend notes from self.models already shown
        self._problems_told: set[str] = set()  # plugin and labeller problems already reported (pluginProblems)
        self._bridges: set[_JobBridge] = set()
        self.tasks = Tasks(self)  # long jobs the user waits for (run_job(task=...)), shown in the status bar
        self._model_jobs: list[JobHandle] = []
        # AutoConnection: queued when emitted from the worker thread, direct with a SyncWorker (tests).
        self._frameArrived.connect(self._on_frame)

    @property
    def workspace(self) -> Workspace | None:
        """The open model's workspace (None before a model is open)."""
        return self.workspaces.present if self.generator is not None else None

    @property
    def recipe(self) -> Recipe | None:
        ws = self.workspace
        return ws.recipe if ws is not None else None

    @property
    def history(self) -> "History | None":
        """The open model's undo history."""
        return self.workspaces.history

    @property
    def renderer(self) -> Renderer:
        return self.worker.renderer

    @property
    def device(self) -> "torch.device":
        """Where models open (and so where frames render)."""
        return self.models.device

    # -- models --------------------------------------------------------------------------------------
    def open_model(self, path: str | Path, project: Project | None = None) -> None:
        """Load a checkpoint in the background; on failure emit `error` and keep the current model.

        With `project`, its workspaces replace the session's once the model has opened (so a project whose
        model fails to open leaves the current work as it was)."""
        path = Path(path).expanduser()
        self._load_token += 1
        token = self._load_token
        dropped, self._pending_project = self._pending_project, project  # a newer open supersedes the load
        if dropped is not None and dropped is not project:
            self.projectNotRestored.emit(dropped, f"{path.name} was opened before it finished")
        if not self.loading:  # a second open while one runs supersedes it: still one busy period
            self.loading = True
            self.loadingChanged.emit(True)
        self.message.emit(f"Opening {path.name}…")
        # a project saved with a variant of its file (a picked scale or activation) opens as that variant
        target = ModelRef(str(path), project.model.sha256) if project is not None and project.model.picks else path
        self._run_load(self._load_job(target), lambda result: self._on_loaded(token, path, result))

    def _load_job(self, target: Path | ModelRef) -> Iterator[float]:
        path = Path(target.path) if isinstance(target, ModelRef) else target
        yield 0.0
        try:
            return self.models.get(target), None
        except StudioError as exc:
            return None, str(exc)
        except BaseException as exc:  # a plugin bug (SystemExit too) still becomes one line for the user
            if users_interrupt(exc):
                raise
            log.error("opening %s failed", path, exc_info=exc)
            return None, f"{path.name} could not be opened: {describe_failure(exc)}"

    def _run_load(self, job: Iterator[Any], on_done: Callable[[Any], None]) -> JobHandle:
        """Run a load on a thread of its own (worker.submit_load), never the render thread: a load stuck
        in a plugin leaves frames of the open model and the next open unaffected. Callbacks on the GUI
        thread; a load that fails past its own handlers (a plugin's SystemExit) ends as a message."""
        bridge = _JobBridge()
        self._bridges.add(bridge)

        def finish(callback: Callable[[Any], None], value: Any) -> None:
            self._bridges.discard(bridge)
            bridge.deleteLater()
            callback(value)
            self._report_plugin_problems()  # plugins are discovered, and sniffs abandoned, during loads

        bridge.done.connect(lambda value: finish(on_done, value))
        bridge.failed.connect(lambda msg: finish(on_done, (None, f"opening failed: {msg}")))
        return self.worker.submit_load(job, on_done=bridge.done.emit, on_error=bridge.failed.emit)

    def _report_plugin_problems(self) -> None:
        """Emit `pluginProblems` with the registry's and the labellers' problems not reported yet: each is
        told once (labellers are discovered when a model opens, so their problems come with its load)."""
        from studio.model.labellers import discovered_labellers
        from studio.model.registry import discovered_registry

        reg, labs = discovered_registry(), discovered_labellers()
        problems = [*(reg.problems if reg is not None else []), *(labs.problems if labs is not None else [])]
        new = [p for p in dict.fromkeys(problems) if p not in self._problems_told]
        self._problems_told.update(new)
        if new:
            self.pluginProblems.emit(new)

    def _on_loaded(self, token: int, path: Path, result: tuple[Generator | None, str | None]) -> None:
        if token != self._load_token:
            return  # a newer open superseded this one
        self.loading = False
        self.loadingChanged.emit(False)
        g, err = result
        pending, self._pending_project = self._pending_project, None
        if g is None:
            self.error.emit(err or f"{path.name} could not be opened")
            if pending is not None:
                self.projectNotRestored.emit(pending, err or f"{path.name} could not be opened")
            return
        if pending is not None and pending.model.sha256 and g.model_id and pending.model.sha256 != g.model_id:
            why = (f"{path.name} is not the model the project was saved with (its contents differ), so the "
                   f"project was not applied to it")
            self.error.emit(why)  # the current work stays as it was
            self.projectNotRestored.emit(pending, why)
            return
        if pending is not None:
            self.workspaces.load(pending.workspaces)
        self.set_generator(g, path)
        if pending is not None:
            self.projectRestored.emit(pending)
        notes = self.models.notes[self._notes_shown:]
        self._notes_shown = len(self.models.notes)
        if pending is not None:
            notes = ["Restored the saved session", *notes]
        if notes:  # stayed on torch, or another ONNX Runtime provider took over: say so, once
            self.message.emit("; ".join(notes))

    def set_generator(self, g: Generator, path: str | Path) -> None:
        """Make `g` current with its own workspace: the one it had earlier in this session (or in a restored
        project), else a fresh one at the seed shown now. Nothing of the previous model comes along."""
        for handle in self._model_jobs:
            handle.cancel()
        self._model_jobs.clear()
        self._model_token += 1
        previous = self.recipe
        ref = ModelRef(str(path), g.model_id)

        def fresh() -> Workspace:
            seed = previous.latent.seed if previous is not None and isinstance(previous.latent, SeedLatent) else 0
            latent: Any = SeedLatent(seed)
            if "translate" in g.info.capabilities and previous is not None \
                    and isinstance(previous.latent, ImageLatent):
                latent = previous.latent  # another translator: keep the user's photo and crop
            return Workspace(Recipe(ref, latent))

        self.generator = g
        self.model_path = Path(path)
        self.last_frame = None
        ws = self.workspaces.activate(ref, fresh)
        self.modelChanged.emit(g)
        self.recipeChanged.emit(ws.recipe)
        self.workspaceChanged.emit(ws)
        self.historyChanged.emit()
        assumed = [f"{(c.label or c.name).lower()} assumed: {c.value}" for c in g.info.choices
                   if c.source.startswith("assumed")]  # no silent assumption: said on opening, set in Model
        self.message.emit(f"Opened {Path(path).name}" + (f"; {', '.join(assumed)} (change it under Model)"
                                                         if assumed else ""))
        self.render()

    def set_backend(self, backend: str) -> None:
        """Run the open model (and later ones) on `backend` ("torch", "onnx" or "auto"), keeping the recipe
        and the undo history: only the runtime changes. Exporting a twin and timing take a moment, so the
        switch happens in the background; a backend that cannot run the model leaves it on torch with a
        message, never an error."""
        self.models.set_backend(backend)  # a bad name raises here, before anything changes
        if self.model_path is None or self.generator is None:
            return
        path, token = self.model_path, self._model_token
        self.message.emit(f"Switching to {backend}…")

        def job() -> Iterator[float]:
            yield 0.0
            return self.models.get(path)

        def done(g: Generator) -> None:
            if token != self._model_token:
                return  # another model opened meanwhile
            notes = self.models.notes[self._notes_shown:]
            self._notes_shown = len(self.models.notes)
            if g is not self.generator:
                self.generator = g
                self.runtimeChanged.emit(g)
                self.render()
            self.message.emit("; ".join(notes) if notes else f"Rendering with {backend}")

        self.run_job(job(), on_done=done)

    def set_precision(self, precision: str) -> None:
        """What interactive frames compute in ("auto", "fp32", "bf16", "fp16"; studio.render.precision).
        Exports keep their own (fp32 unless chosen), so this never changes a saved file's pixels."""
        from studio.model.numerics import check_precision

        self.renderer.precision = check_precision(precision, self.device)  # fp16 off CUDA raises here
        self.render()

    def runtime_for(self, batch: int) -> Generator | None:
        """The open model on the runtime chosen for batches of `batch` (exports); may export and time the
        model for "auto", so call it on the worker. Falls back to the interactive generator."""
        if self.model_path is None or self.generator is None or self.models.backend == "torch":
            return self.generator
        try:
            return self.models.get(self.model_path, batch)
        except Exception:  # the model opened before; a runtime that fails now must not fail the export
            log.exception("choosing a runtime for batches of %d failed", batch)
            return self.generator

    # -- editing: every user action is one workspace transition ----------------------------------------
    def commit(self, ws: Workspace, text: str, merge_key: str | None = None) -> bool:
        """Make `ws` current as one undo step; steps with the same merge_key merge until end_gesture()."""
        old = self.workspace
        if old is None or not self.workspaces.push(ws, text, merge_key, self._gesture):
            return False
        self._show(old, self.workspaces.present)
        return True

    def update(self, text: str, merge_key: str | None = None, **changes: Any) -> bool:
        """One undo step changing the named workspace components (timeline=..., bins=..., ...)."""
        ws = self.workspace
        return ws is not None and self.commit(ws.with_(**changes), text, merge_key)

    def edit(self, recipe: Recipe, text: str, merge_key: str | None = None) -> None:
        """Make `recipe` current as one undo step (the rest of the workspace stays)."""
        ws = self.workspace
        if ws is not None and recipe != ws.recipe:
            self.commit(ws.with_(recipe=recipe), text, merge_key)

    def set_derived(self, **changes: Any) -> None:
        """Store data computed from the model (a PCA) in the workspace without an undo step."""
        old = self.workspace
        if old is None:
            return
        self.workspaces.set_derived(**changes)
        self._show(old, self.workspaces.present)

    def end_gesture(self) -> None:
        """Close the current gesture (slider released): the next edit starts a new undo step."""
        self._gesture += 1

    def undo(self) -> None:
        self._step(self.workspaces.undo)

    def redo(self) -> None:
        self._step(self.workspaces.redo)

    def _step(self, move: Callable[[], Workspace | None]) -> None:
        old = self.workspace
        if old is None:
            return
        self.end_gesture()
        new = move()
        if new is not None:
            self._show(old, new)

    def _show(self, old: Workspace, new: Workspace) -> None:
        """Tell the views; render only when the image can have changed."""
        recipe_changed = new.recipe is not old.recipe and new.recipe != old.recipe
        if recipe_changed:
            self.recipeChanged.emit(new.recipe)
        self.workspaceChanged.emit(new)
        self.historyChanged.emit()
        if recipe_changed:
            self.render()

    # -- the whole session as data (projects, autosave) ----------------------------------------------
    def project(self) -> Project | None:
        """Every workspace of the session, the open model's active (None before a model is open)."""
        if self.generator is None:
            return None
        saved, active = self.workspaces.saved()
        return Project(saved, active) if active >= 0 else None

    # -- rendering -----------------------------------------------------------------------------------
    def render(self) -> None:
        """Ask the worker for the current recipe; newer requests replace older ones in its slot."""
        if self.generator is None or self.recipe is None:
            return
        if awaits_photo(self.generator.info, self.recipe):
            return  # its view says "open a photo" rather than showing an error
        token = self._model_token
        self.worker.submit(MAIN_VIEW, self.generator, self.recipe,
                           lambda frame: self._frameArrived.emit(frame, token), progressive=True)

    def _on_frame(self, frame: Frame, token: int) -> None:
        if token != self._model_token:
            return  # rendered for a model that is no longer open
        if not frame.ok:
            self.error.emit(frame.error or "rendering failed")
            return
        if not frame.preview:  # a preview is shown, never saved or keyframed: the full frame follows
            self.last_frame = frame
        self.frameReady.emit(frame)

    # -- background jobs -------------------------------------------------------------------------------
    def run_job(self, job: Iterator[Any], on_done: Callable[[Any], None],
                on_progress: Callable[[Any], None] | None = None,
                on_error: Callable[[str], None] | None = None, bound_to_model: bool = True,
                key: str | None = None, task: str | None = None) -> JobHandle:
        """Run a worker job (a generator yielding progress, a stage or chunk per step); callbacks run on the
        GUI thread. A job bound to the model is cancelled, and its late results dropped, when another model
        opens; a job with the same `key` as one still running replaces it (newest wins). With `task` (its
        title) the job is long work the user waits for: it shows in `self.tasks` (progress, time left,
        Cancel) until it ends.
        """
        bridge = _JobBridge()
        self._bridges.add(bridge)
        token = self._model_token

        def current() -> bool:
            return not bound_to_model or token == self._model_token

        handles: list[JobHandle] = []

        tracked = self.tasks.start(task, lambda: [h.cancel() for h in handles]) if task else None

        def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
            if tracked is not None:
                self.tasks.end(tracked)
            self._bridges.discard(bridge)
            bridge.deleteLater()
            for h in handles:
                if h in self._model_jobs:
                    self._model_jobs.remove(h)
            if callback is not None and current():
                callback(value)

        bridge.done.connect(lambda value: finish(on_done, value))
        bridge.failed.connect(lambda msg: finish(on_error or self._job_failed, msg))
        if on_progress is not None:
            bridge.progress.connect(lambda p: on_progress(p) if current() else None)
        if tracked is not None:
            bridge.progress.connect(lambda p: self.tasks.report(tracked, p))
        handle = self.worker.submit_job(job, on_done=bridge.done.emit, on_error=bridge.failed.emit,
                                        on_progress=bridge.progress.emit, key=key)
        if bridge in self._bridges:  # still running (a SyncWorker has already finished)
            handles.append(handle)
            if bound_to_model:
                self._model_jobs.append(handle)
        return handle

    def _job_failed(self, msg: str) -> None:
        if msg != "cancelled":
            self.error.emit(f"background task failed: {msg}")

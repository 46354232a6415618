"""The render worker: one thread per device, where the newest request per view always wins.

`submit(view, ...)` overwrites that view's single pending slot, so a dragged slider never builds a
backlog. A render superseded by a newer request for its view is abandoned at its next stage boundary,
unless the view has already waited longer than one render time for a fresh frame: then the render in
flight is finished and shown first. So a quick change of mind costs no wasted work, a continuous drag
still shows a steady stream of frames (instead of cancelling every one until the slider stops), and any
request is on screen within about two render times. Background jobs (direction fitting, seed grids, exports)
are generators stepped one chunk at a time between interactive frames, so they never hold up editing.

A progressive request (the main view) of a slow generator also gets a low-resolution preview Frame as soon
as the generator has one (StyleGAN's skip image), then the full frame; a preview is dropped once a newer
request for its view is waiting, so latest-wins still holds.

Plugin code cannot stop the thread: whatever a render, a job or a callback raises, BaseException included
(a plugin's SystemExit or KeyboardInterrupt), becomes that request's error, and should the thread die
anyway the next request starts a new one. Opening a model (`submit_load`) runs on a thread of its own, so
a load stuck in a plugin never holds up frames of the model on screen or the next open.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator as PyGenerator

from studio.core.recipe import Recipe
from studio.errors import Cancelled
from studio.model.api import Generator, describe_failure
from studio.render.engine import Frame, Renderer

log = logging.getLogger(__name__)

FrameCallback = Callable[[Frame], None]
Job = PyGenerator[Any, None, Any]  # yields progress (any value), returns the result


@dataclass
class _Request:
    id: int
    view: str
    generator: Generator
    recipe: Recipe
    callback: FrameCallback
    submitted: float = 0.0
    progressive: bool = False


@dataclass
class JobHandle:
    """A background job: `cancel()` stops it before its next step."""

    id: int
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class _JobEntry:
    handle: JobHandle
    job: Job
    on_progress: Callable[[Any], None] | None
    on_done: Callable[[Any], None] | None
    on_error: Callable[[str], None] | None


class RenderWorker:
    """A daemon thread rendering for all views of one device. Callbacks run on the worker thread."""

    DEFAULT_RENDER_S = 0.05  # staleness budget before a view's first frame tells us its real render time
    PREVIEW_MIN_S = 0.1  # progressive previews only for views whose full render takes at least this long

    def __init__(self, renderer: Renderer | None = None, name: str = "render-worker",
                 clock: Callable[[], float] = time.monotonic, preview_min_s: float = PREVIEW_MIN_S):
        self.renderer = renderer or Renderer()
        self._clock = clock
        self.preview_min_s = preview_min_s
        self._pending: dict[str, _Request] = {}
        self._waiting_since: dict[str, float] = {}  # view -> submit time of its oldest request not yet shown
        self._render_s: dict[str, float] = {}       # view -> moving average of a full render's duration
        self._keyed: dict[str, JobHandle] = {}      # job key -> the newest job submitted with it
        self._waiting_after: dict[str, float] = {}  # view -> first submit time since its render in flight began
        self._jobs: deque[_JobEntry] = deque()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._stopped = False
        self.rendered = 0   # frames completed (for coalescing figures)
        self.cancelled = 0  # renders abandoned because a newer request arrived
        self.restarts = 0   # times the thread had died and a new one was started
        self._name = name
        self._loads = itertools.count(1)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    # -- API ---------------------------------------------------------------------------------------
    def submit(self, view: str, generator: Generator, recipe: Recipe, callback: FrameCallback,
               progressive: bool = False) -> int:
        """Render `recipe` for `view`, replacing its pending request. `progressive`: when the view's
        renders are slow, also call back with a preview Frame (preview=True) before the full frame."""
        with self._cond:
            self._ensure_thread()
            rid = next(self._ids)
            now = self._clock()
            self._pending[view] = _Request(rid, view, generator, recipe, callback, now, progressive)
            self._waiting_since.setdefault(view, now)
            self._waiting_after.setdefault(view, now)
            self._cond.notify()
            return rid

    def submit_job(self, job: Job, on_done: Callable[[Any], None] | None = None,
                   on_error: Callable[[str], None] | None = None,
                   on_progress: Callable[[Any], None] | None = None, key: str | None = None) -> JobHandle:
        """Queue a job; a job with the same `key` as an earlier one still running cancels that one (the
        newest seed grid, preview or fit wins, as the newest frame of a view does)."""
        with self._cond:
            handle = JobHandle(next(self._ids))
            if key is not None:
                old = self._keyed.get(key)
                if old is not None:
                    old.cancel()
                self._keyed[key] = handle
            self._jobs.append(_JobEntry(handle, job, on_progress, on_done, on_error))
            self._ensure_thread()
            self._cond.notify()
            return handle

    def submit_load(self, job: Job, on_done: Callable[[Any], None] | None = None,
                    on_error: Callable[[str], None] | None = None) -> JobHandle:
        """Run `job` (opening a model) to the end on a daemon thread of its own, never the render thread.

        A load stuck in a plugin (a hanging `load`, a graph that never ends) then holds only its own thread:
        frames of the model on screen keep coming and the next open starts at once on another thread. The
        caller drops results of opens a newer one superseded; `cancel()` stops a load between its steps. A
        load stuck for good keeps its thread and what it holds until the process ends (threads cannot be
        killed), a cost paid only by the broken plugin's file."""
        handle = JobHandle(next(self._ids))

        def run() -> None:
            try:
                while True:
                    if handle.cancelled:
                        job.close()
                        if on_error:
                            _safe_call(on_error, "cancelled")
                        return
                    next(job)
            except StopIteration as stop:
                if on_done:
                    _safe_call(on_done, stop.value)
            except BaseException as exc:  # noqa: BLE001 - a plugin's SystemExit must not end anything
                log.error("opening a model failed: %s", describe_failure(exc))
                if on_error:
                    _safe_call(on_error, describe_failure(exc))

        threading.Thread(target=run, name=f"model-loader-{next(self._loads)}", daemon=True).start()
        return handle

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._jobs and not self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle():
                return True
            time.sleep(0.002)
        return False

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def alive(self) -> bool:
        """Whether the render thread is running (it is restarted on the next request if not)."""
        return self._thread.is_alive()

    def _ensure_thread(self) -> None:
        """Start a new render thread when the current one has died (called holding the lock)."""
        if self._stopped or self._thread.is_alive():
            return
        log.error("the render thread had stopped; starting a new one")
        self.restarts += 1
        self._busy = False
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()

    # -- loop --------------------------------------------------------------------------------------
    _busy = False

    def _should_abandon(self, req: _Request) -> bool:
        """Superseded, and the view has not yet waited a render time for a fresh frame."""
        nxt = self._pending.get(req.view)  # dict reads are atomic; no lock needed for a poll
        if nxt is None or nxt.id <= req.id:
            return False
        waited = self._clock() - self._waiting_since.get(req.view, nxt.submitted)
        return waited < self._render_s.get(req.view, self.DEFAULT_RENDER_S)

    def _serve(self) -> None:
        """The thread's body: the loop, resumed whenever something escapes it (nothing should)."""
        while not self._stopped:
            try:
                self._loop()
                return
            except BaseException:  # noqa: BLE001 - the render thread outlives any plugin
                log.exception("the render loop failed; resuming")
                with self._cond:
                    self._busy = False

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._pending and not self._jobs:
                    self._cond.wait()
                if self._stopped:
                    return
                self._busy = True
                req = None
                if self._pending:
                    view = next(iter(self._pending))
                    req = self._pending.pop(view)
                    self._waiting_after.pop(view, None)
                    entry = None
                else:
                    entry = self._jobs.popleft()
            try:
                if req is not None:
                    self._render(req)
                elif entry is not None:
                    self._step(entry)
            except BaseException as exc:  # noqa: BLE001 - reported as that request's error; the loop goes on
                log.error("a render or job failed past its handlers: %s", describe_failure(exc))
                if req is not None:
                    _safe_call(req.callback, Frame(req.recipe, error=f"rendering failed: {describe_failure(exc)}",
                                                   view=req.view, request_id=req.id))
                elif entry is not None and entry.on_error:
                    _safe_call(entry.on_error, describe_failure(exc))
            finally:
                with self._cond:
                    self._busy = False

    def _render(self, req: _Request) -> None:
        t0 = self._clock()
        slow = self._render_s.get(req.view, float("inf")) >= self.preview_min_s  # unknown pace counts as slow
        sink = self._preview_sink(req) if req.progressive and slow else None
        try:
            frame = self.renderer.render(req.generator, req.recipe, cancel=lambda: self._should_abandon(req),
                                         view=req.view, request_id=req.id, on_preview=sink)
        except Cancelled:
            self.cancelled += 1
            return
        self.rendered += 1
        if frame.stages_run == len(req.generator.stages):  # a full render: learn this view's pace
            took = self._clock() - t0
            prev = self._render_s.get(req.view)
            self._render_s[req.view] = took if prev is None else 0.7 * prev + 0.3 * took
        with self._cond:
            nxt = self._pending.get(req.view)
            if nxt is None:
                self._waiting_since.pop(req.view, None)
            else:  # still behind: the user has been waiting since the first request after this one began
                self._waiting_since[req.view] = self._waiting_after.get(req.view, nxt.submitted)
        _safe_call(req.callback, frame)

    def _preview_sink(self, req: _Request) -> FrameCallback:
        """Delivers a preview at once, unless a newer request for the view already supersedes it."""
        def deliver(frame: Frame) -> None:
            nxt = self._pending.get(req.view)
            if nxt is None or nxt.id <= req.id:
                _safe_call(req.callback, frame)
        return deliver

    def _step(self, e: _JobEntry) -> None:
        """Advance a job by one step, then requeue it behind any interactive work."""
        if e.handle.cancelled:
            e.job.close()
            if e.on_error:
                _safe_call(e.on_error, "cancelled")
            return
        try:
            progress = next(e.job)
        except StopIteration as stop:
            if e.on_done:
                _safe_call(e.on_done, stop.value)
            return
        except BaseException as exc:  # noqa: BLE001 - a plugin's SystemExit in a job is that job's error
            log.error("background job failed: %s", describe_failure(exc), exc_info=isinstance(exc, Exception))
            if e.on_error:
                _safe_call(e.on_error, f"{type(exc).__name__}: {exc}" if isinstance(exc, Exception)
                           else describe_failure(exc))
            return
        if e.on_progress:
            _safe_call(e.on_progress, progress)
        with self._cond:
            self._jobs.append(e)


def _safe_call(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except BaseException:  # noqa: BLE001 - a broken listener must not stop the worker
        log.exception("render callback failed")


class SyncWorker:
    """The worker's API, run at once on the calling thread: deterministic tests and the CLI."""

    def __init__(self, renderer: Renderer | None = None):
        self.renderer = renderer or Renderer()
        self.rendered = 0
        self.cancelled = 0
        self._ids = itertools.count(1)

    def submit(self, view: str, generator: Generator, recipe: Recipe, callback: FrameCallback,
               progressive: bool = False) -> int:
        rid = next(self._ids)
        self.rendered += 1
        callback(self.renderer.render(generator, recipe, view=view, request_id=rid,
                                      on_preview=callback if progressive else None))
        return rid

    def submit_job(self, job: Job, on_done=None, on_error=None, on_progress=None,
                   key: str | None = None) -> JobHandle:
        handle = JobHandle(next(self._ids))
        try:
            while True:
                p = next(job)
                if on_progress:
                    on_progress(p)
        except StopIteration as stop:
            if on_done:
                on_done(stop.value)
        except Exception as exc:
            if on_error:
                on_error(f"{type(exc).__name__}: {exc}")
        return handle

    def submit_load(self, job: Job, on_done=None, on_error=None) -> JobHandle:
        """A load as a job (at once here; a stepped test worker steps it like any other job)."""
        return self.submit_job(job, on_done=on_done, on_error=on_error)

    def idle(self) -> bool:
        return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return True

    def stop(self) -> None:
        pass

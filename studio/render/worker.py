"""The render worker: one thread per device, where the newest request per view always wins.

`submit(view, ...)` overwrites that view's single pending slot, so a dragged slider never builds a
backlog; the render in flight is abandoned at its next stage boundary once a newer request for its view
arrives. Background jobs (direction fitting, seed grids, exports) are generators stepped one chunk at a
time between interactive frames, so they never hold up editing.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator as PyGenerator

from studio.core.recipe import Recipe
from studio.errors import Cancelled
from studio.model.api import Generator
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

    def __init__(self, renderer: Renderer | None = None, name: str = "render-worker"):
        self.renderer = renderer or Renderer()
        self._pending: dict[str, _Request] = {}
        self._jobs: deque[_JobEntry] = deque()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._stopped = False
        self.rendered = 0   # frames completed (for coalescing figures)
        self.cancelled = 0  # renders abandoned because a newer request arrived
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- API ---------------------------------------------------------------------------------------
    def submit(self, view: str, generator: Generator, recipe: Recipe, callback: FrameCallback) -> int:
        with self._cond:
            rid = next(self._ids)
            self._pending[view] = _Request(rid, view, generator, recipe, callback)
            self._cond.notify()
            return rid

    def submit_job(self, job: Job, on_done: Callable[[Any], None] | None = None,
                   on_error: Callable[[str], None] | None = None,
                   on_progress: Callable[[Any], None] | None = None) -> JobHandle:
        with self._cond:
            handle = JobHandle(next(self._ids))
            self._jobs.append(_JobEntry(handle, job, on_progress, on_done, on_error))
            self._cond.notify()
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

    # -- loop --------------------------------------------------------------------------------------
    _busy = False

    def _superseded(self, req: _Request) -> bool:
        nxt = self._pending.get(req.view)  # dict read is atomic; no lock needed for a poll
        return nxt is not None and nxt.id > req.id

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
                    entry = None
                else:
                    entry = self._jobs.popleft()
            try:
                if req is not None:
                    self._render(req)
                elif entry is not None:
                    self._step(entry)
            finally:
                with self._cond:
                    self._busy = False

    def _render(self, req: _Request) -> None:
        try:
            frame = self.renderer.render(req.generator, req.recipe, cancel=lambda: self._superseded(req),
                                         view=req.view, request_id=req.id)
        except Cancelled:
            self.cancelled += 1
            return
        self.rendered += 1
        _safe_call(req.callback, frame)

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
        except Exception as exc:
            log.exception("background job failed")
            if e.on_error:
                _safe_call(e.on_error, f"{type(exc).__name__}: {exc}")
            return
        if e.on_progress:
            _safe_call(e.on_progress, progress)
        with self._cond:
            self._jobs.append(e)


def _safe_call(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # a broken listener must not stop the worker
        log.exception("render callback failed")


class SyncWorker:
    """The worker's API, run at once on the calling thread: deterministic tests and the CLI."""

    def __init__(self, renderer: Renderer | None = None):
        self.renderer = renderer or Renderer()
        self.rendered = 0
        self.cancelled = 0
        self._ids = itertools.count(1)

    def submit(self, view: str, generator: Generator, recipe: Recipe, callback: FrameCallback) -> int:
        rid = next(self._ids)
        self.rendered += 1
        callback(self.renderer.render(generator, recipe, view=view, request_id=rid))
        return rid

    def submit_job(self, job: Job, on_done=None, on_error=None, on_progress=None) -> JobHandle:
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

    def idle(self) -> bool:
        return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return True

    def stop(self) -> None:
        pass

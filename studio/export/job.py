"""An export as a background job: render batches, encode on a writer thread, rename at the end.

`export_job` is a Python generator, the job shape RenderWorker.submit_job steps one piece at a time
between interactive frames (each piece is one stage of one batch, or a short wait on the encoder), so
an export never blocks editing. The CLI drives the same generator with `drive`. Closing the generator
(a cancel) or any failure deletes the temporaries: nothing ever appears under the final name but a
finished export.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator as PyGenerator, Iterator, Sequence

import numpy as np

from studio.core.recipe import Recipe
from studio.export import safe
from studio.export.safe import ExportError
from studio.export.sidecar import sidecar_path, sidecar_text
from studio.export.writers import ExportOptions, FrameWriter, format_of, open_writer, upscale
from studio.model.api import Generator
from studio.render.engine import Renderer

# bench/export.py on a loaded 2-core CPU: in the studio, batches of 8 keep editing latency under 2x idle
# (a job yields the worker between stages, so an interactive frame waits for one stage of a batch; at 16
# it waits too long). Alone (the CLI) nothing waits, and 16 renders about 2.2x the frames/s of one by one.
DEFAULT_BATCH = 8
ALONE_BATCH = 16
# A batch's convolutions sum in another order than a single frame's, so about 1 value in 100,000 comes out
# 1 level apart. A PNG sequence is lossless, so by default it renders one frame at a time and matches the
# studio's frames bit for bit; lossy formats batch (the codec's error is far larger).
EXACT_BATCH = 1
_WAIT_S = 0.005     # longest a job step blocks on the encoder before handing the worker back


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float
    phase: str = "rendering"  # rendering | finishing

    @property
    def eta_s(self) -> float | None:
        """Seconds left, from the pace so far (None until a frame is done)."""
        if self.done == 0:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path | None
    frames: int
    seconds: float


ExportJob = PyGenerator[Progress, None, ExportResult]
# Where frames come from: (generator, recipes, batch size, precision) -> each batch's (N, H, W, 3) frames in
# order, None between them while waiting. Locally the renderer; studio.distributed.frames.RayFrames: a cluster.
FrameSource = Callable[[Generator, Sequence[Recipe], int, str], Iterator["np.ndarray | None"]]


def local_frames(renderer: Renderer) -> FrameSource:
    """Frames rendered here, one stage of one batch per step (None after each stage but the last)."""
    def frames(g: Generator, recipes: Sequence[Recipe], batch: int, precision: str) -> Iterator[np.ndarray | None]:
        for i in range(0, len(recipes), batch):
            yield from renderer.iter_batch(g, recipes[i:i + batch], precision=precision)

    return frames


def default_batch(target: Path, alone: bool = False) -> int:
    """Frames per batch for `target`: exact single frames for PNG sequences, else what keeps editing
    responsive in the studio (or, `alone`, what renders fastest)."""
    return EXACT_BATCH if format_of(Path(target)) == "" else ALONE_BATCH if alone else DEFAULT_BATCH


def export_job(g: Generator, recipes: Sequence[Recipe], target: Path, options: ExportOptions = ExportOptions(),
               *, renderer: Renderer | None = None, force: bool = False, confirmed: bool = False,
               batch_size: int | None = None, sidecar: bool = True, alone: bool = False,
               runtime: Callable[[int], Generator] | None = None,
               frames: FrameSource | None = None) -> ExportJob:
    """Render `recipes` with `g` into `target` (format by extension; no extension: a folder of PNGs).

    Checks the target at once (so a bad path fails before any rendering), then returns the job.
    `confirmed`: the user agreed to replace `target` in a save dialog (see safe.check_target).
    `batch_size` None: EXACT_BATCH for a PNG sequence; for the lossy formats DEFAULT_BATCH, or
    ALONE_BATCH when `alone` (nothing interactive shares the thread: the CLI). `runtime(batch_size)`, when
    given, returns the generator to render with (the backend chosen for that batch size); it is called
    inside the job, on the worker, since choosing may export and time the model. `frames` renders
    elsewhere (a Ray cluster: studio.distributed.frames.RayFrames) instead of with `renderer` here.
    """
    target = Path(target).expanduser()
    fmt = format_of(target)
    if batch_size is None:
        batch_size = default_batch(target, alone)
    if not recipes:
        raise ExportError("nothing to export: the sequence has no frames")
    if batch_size < 1:
        raise ExportError("batch size must be at least 1")
    safe.check_target(target, force, confirmed)
    side = sidecar_path(target) if sidecar else None
    if side is not None and fmt != "":
        safe.check_target(side, force)
    source = frames or local_frames(renderer or Renderer())
    return _run(g, list(recipes), target, fmt, options, source, force, batch_size, side, runtime)


def _run(g: Generator, recipes: list[Recipe], target: Path, fmt: str, options: ExportOptions,
         source: FrameSource, force: bool, batch_size: int, side: Path | None,
         runtime: Callable[[int], Generator] | None = None) -> ExportJob:
    safe.sweep_stale(target)
    t0 = time.perf_counter()
    total = len(recipes)
    tmp = safe.temp_path(target)
    side_tmp = side.with_name(tmp.name + ".json") if side is not None and fmt != "" else None
    sink: _WriterThread | None = None
    finished = False
    try:
        sink = _WriterThread(open_writer(fmt, tmp, options, total))
        done = 0
        yield Progress(0, total, 0.0)
        if runtime is not None:
            g = runtime(batch_size)
        stream = source(g, recipes, batch_size, options.precision)
        try:
            for out in stream:
                if out is None:
                    yield Progress(done, total, time.perf_counter() - t0)
                    continue
                frames = upscale(out, options.scale, options.smooth)
                while not sink.put(frames, _WAIT_S):
                    yield Progress(done, total, time.perf_counter() - t0)
                done += len(frames)
                yield Progress(done, total, time.perf_counter() - t0)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a cancelled job stops the source now (a cluster's queued chunks), not when collected
        sink.finish()
        while not sink.join(_WAIT_S):
            yield Progress(done, total, time.perf_counter() - t0, "finishing")
        if side is not None:
            text = sidecar_text(recipes, options, target, None if fmt == "" else tmp.stat().st_size).encode()
            dest = tmp / side.name if fmt == "" else side_tmp
            assert dest is not None
            dest.write_bytes(text)  # a temporary itself: commit flushes it before the rename
        if side_tmp is not None and side is not None:
            safe.commit(side_tmp, side, force)
        try:
            safe.commit(tmp, target, force)
        except BaseException:
            if side is not None and fmt != "":
                safe.discard(side)  # no sidecar without its export
            raise
        finished = True
        return ExportResult(target, side, total, time.perf_counter() - t0)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if not finished:
            if sink is not None:
                sink.abort()
            safe.discard(tmp)
            if side_tmp is not None:
                safe.discard(side_tmp)


def drive(job: ExportJob, cancel: Callable[[], bool] | None = None,
          on_progress: Callable[[Progress], None] | None = None) -> ExportResult | None:
    """Run a job on this thread (the CLI); None when `cancel` said stop (the job has cleaned up)."""
    try:
        while True:
            if cancel is not None and cancel():
                job.close()
                return None
            p = next(job)
            if on_progress is not None:
                on_progress(p)
    except StopIteration as stop:
        return stop.value
    except BaseException:  # Ctrl+C between steps: clean up now, not whenever the job is collected
        job.close()
        raise


class _WriterThread:
    """Encodes on its own thread so encoding overlaps rendering (Pillow and ffmpeg release the GIL)."""

    _END = object()

    def __init__(self, writer: FrameWriter, depth: int = 4):
        self.writer = writer
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._aborted = False
        self._thread = threading.Thread(target=self._loop, name="export-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while True:
                item = self._q.get()
                if item is self._END:
                    if not self._aborted:
                        self.writer.close()
                    return
                if not self._aborted:
                    self.writer.write(item)
        except BaseException as exc:  # reported on the job's thread by put/join
            self._error = exc
            self._aborted = True
            while True:  # drain so a blocked put() wakes up
                try:
                    if self._q.get_nowait() is self._END:
                        return
                except queue.Empty:
                    return

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            if isinstance(err, (ExportError, OSError)):
                raise err
            raise ExportError(f"encoding failed: {type(err).__name__}: {err}") from err

    def put(self, frames: np.ndarray, timeout: float) -> bool:
        self._raise()
        try:
            self._q.put(frames, timeout=timeout)
        except queue.Full:
            return False
        return True

    def finish(self) -> None:
        while True:
            self._raise()
            try:
                self._q.put(self._END, timeout=0.05)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise()
                    return

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        self._raise()
        return not self._thread.is_alive()

    def abort(self) -> None:
        self._aborted = True
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        try:
            self._q.put_nowait(self._END)
        except queue.Full:
            pass
        self._thread.join(timeout=10)
        try:
            self.writer.abort()
        except Exception:
            pass

"""ONNX Runtime sessions: the fastest installed provider (TensorRT > CUDA > CPU), falling back to CPU.

Every run can be ended: sessions come wrapped in GuardedSession, whose runs carry RunOptions that a
watchdog thread sets to `terminate` once the run has taken longer than the time limit, so a graph that
never finishes (an endless Loop) ends as a StudioError instead of holding its thread forever.
"""
from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import torch

from studio.errors import CheckpointError, StudioError, clipped

log = logging.getLogger(__name__)

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
RUN_LIMIT_ENV = "LATENT_STUDIO_ONNX_RUN_LIMIT_S"
RUN_LIMIT_S = 120.0  # one run of one graph: minutes of CPU for a large batch of a large model at most


def run_limit_s() -> float:
    """Seconds one run may take: $LATENT_STUDIO_ONNX_RUN_LIMIT_S, else RUN_LIMIT_S (read at every run)."""
    try:
        value = float(os.environ.get(RUN_LIMIT_ENV, RUN_LIMIT_S))
    except ValueError:
        return RUN_LIMIT_S
    return value if value > 0 else RUN_LIMIT_S


class RunStopped(StudioError):
    """onnxruntime ended a run that overran the time limit (or was terminated)."""


class _Watchdog:
    """One daemon thread for all sessions: sets `terminate` on the RunOptions of runs past their deadline.

    A shared thread with a heap of deadlines costs a lock and a notify per run, instead of a timer thread
    per run (interactive frames run a graph per stage per frame)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Any]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, opts: Any, limit_s: float) -> int:
        with self._cond:
            token = next(self._ids)
            heapq.heappush(self._heap, (time.monotonic() + limit_s, token, opts))
            self._live.add(token)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="onnx-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return token

    def done(self, token: int) -> None:
        with self._cond:
            self._live.discard(token)

    def _loop(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, token, opts = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(token)
                opts.terminate = True


_watchdog = _Watchdog()


class GuardedSession:
    """An InferenceSession whose `run` is ended after `run_limit_s()` (see the module docstring); every
    other attribute is the session's own. `terminate()` ends the runs in progress at once."""

    def __init__(self, session: Any, name: str):
        self._session = session
        self._name = name
        self._running: set[Any] = set()
        self._lock = threading.Lock()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._session, attr)

    def run(self, output_names: Any, feeds: Any, run_options: Any = None) -> Any:
        ort = require_ort()
        opts = run_options if run_options is not None else ort.RunOptions()
        opts.log_severity_level = 4  # the refusal below says it once; no ORT error line on stderr first
        limit = run_limit_s()
        token = _watchdog.watch(opts, limit)
        with self._lock:
            self._running.add(opts)
        t0 = time.monotonic()
        try:
            return self._session.run(output_names, feeds, opts)
        except Exception as exc:
            if not opts.terminate:
                raise
            took = time.monotonic() - t0
            why = (f"it ran past the {limit:g} s limit (a Loop that never ends?); "
                   f"${RUN_LIMIT_ENV} raises the limit") if took >= limit * 0.99 else "it was stopped"
            raise RunStopped(f"onnxruntime stopped {self._name} after {took:.1f} s: {why}") from exc
        finally:
            _watchdog.done(token)
            with self._lock:
                self._running.discard(opts)

    def terminate(self) -> None:
        with self._lock:
            for opts in self._running:
                opts.terminate = True


def require_ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("running ONNX models needs onnxruntime: pip install 'latent-studio[onnx]' "
                              "(or the [gpu] extra; not both)") from None
    return onnxruntime


def preferred_providers() -> list[str]:
    available = set(require_ort().get_available_providers())
    return [p for p in PROVIDER_ORDER if p in available]


def open_session(path: Path, notes: list[str] | None = None) -> Any:
    """An InferenceSession on the best provider; a provider that fails to start is noted and skipped.

    Threads follow torch's setting, so `torch.set_num_threads(1)` limits both runtimes alike.
    """
    ort = require_ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    providers = preferred_providers()
    while providers:
        try:
            # a graph ORT rejects makes it print an "EP Error" banner on stdout before retrying on the CPU
            # provider itself; this loop does the falling back, and the CLI's error must be its only line
            with contextlib.redirect_stdout(io.StringIO()):
                session = ort.InferenceSession(str(path), opts, providers=providers)
            return GuardedSession(session, path.name)
        except Exception as exc:
            if providers == ["CPUExecutionProvider"]:
                raise CheckpointError(f"onnxruntime cannot run {path.name}: {_first_line(exc)}") from None
            msg = f"{providers[0]} failed for {path.name} ({_first_line(exc)}); falling back"
            log.warning(msg)
            if notes is not None:
                notes.append(msg)
            providers = providers[1:]
    raise CheckpointError("onnxruntime has no usable execution provider")


def _first_line(exc: BaseException) -> str:
    return clipped(str(exc).strip() or type(exc).__name__, 300)

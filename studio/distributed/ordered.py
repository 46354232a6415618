"""Ray tasks submitted a window at a time and their results taken back in submission order.

The one way every sharded command collects its work: it keeps at most `window` tasks in flight (so the
object store holds a few chunks, not the whole video), yields None while the next result in order is not
ready (a job step hands the thread back, see studio.export.job), and turns Ray's failures into one
ClusterError sentence. A task whose worker process dies is retried by Ray itself (`max_retries`); an error
the task raises (a model that will not load, a plugin failing) is not retried and ends the work. Closing
the iterator (Cancel, Ctrl+C, a failure downstream) raises the work's Stop flag (studio.distributed.stop):
the tasks still queued end before they start and the running ones at their next batch.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterator

from studio.distributed.cluster import ClusterError
from studio.distributed.stop import Stop, new_stop, stoppable
from studio.errors import StudioError, clipped

RETRIES = 3          # a chunk is re-run this many times when its worker process or node dies
WAIT_S = 0.02        # longest one step waits for the next result before yielding None

_remotes: dict[tuple[Any, ...], Any] = {}


def remote(fn: Callable[..., Any], gpus: float = 0.0) -> Any:
    """Task body `fn(..., stop)` as a Ray remote function that skips cancelled work (stop.stoppable); made once
    per function and resources."""
    key = (fn, gpus)
    if key not in _remotes:
        import ray

        _remotes[key] = ray.remote(num_cpus=0 if gpus else 1, num_gpus=gpus, max_retries=RETRIES,
                                   retry_exceptions=False)(stoppable(fn))
    return _remotes[key]


def in_order(submit: Callable[[int, Stop], Any], count: int, window: int,
             what: Callable[[int], str]) -> Iterator[Any]:
    """Results of `submit(0, stop) ... submit(count - 1, stop)` (each returns an ObjectRef of a task that is
    given `stop`) in that order, with None between them while waiting; `what(i)` names item i in messages
    ('frames 64-95')."""
    import ray

    pending: deque[tuple[int, Any]] = deque()
    stop = new_stop()
    nxt = 0
    try:
        while nxt < count or pending:
            while nxt < count and len(pending) < max(1, window):
                pending.append((nxt, submit(nxt, stop)))
                nxt += 1
            i, ref = pending[0]
            ready, _ = ray.wait([ref], timeout=WAIT_S)
            if not ready:
                yield None
                continue
            result = fetch(ref, what(i))
            pending.popleft()
            yield result
    finally:
        if pending:  # cancelled, failed or abandoned: the rest end early (never ray.cancel: see stop.py)
            try:
                stop.request()
            except Exception:  # the cluster is gone
                pass


def fetch(ref: Any, what: str) -> Any:
    """ray.get(ref), its failures as ClusterError: the task's own message (it names the worker), or what
    killed it after the retries."""
    import ray
    from ray import exceptions as rx

    try:
        return ray.get(ref)
    except rx.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, StudioError):
            raise ClusterError(str(cause)) from None
        name = type(cause).__name__ if cause is not None else "error"
        why = clipped(str(cause or exc), 300)
        raise ClusterError(f"{what} failed on the cluster: {name}: {why}") from None
    except rx.TaskCancelledError:
        raise ClusterError(f"{what} was cancelled on the cluster") from None
    except rx.RayError as exc:  # a worker or node died more often than RETRIES, an object was lost
        first = clipped(str(exc), 300)
        raise ClusterError(f"{what} failed on the cluster after {RETRIES} retries: {type(exc).__name__}: "
                           f"{first}") from None

"""Cancel on the cluster as a flag the tasks read, not `ray.cancel`.

`ray.cancel` races with a task that is finishing: Ray 2.60's driver then aborts on an internal check
("Tried to complete task that was not pending", ray-project/ray#54846), which would take the studio down with
it. So a job's tasks carry a `Stop`: the driver raises it when the work is cancelled or fails, and each task
looks at it before it starts and between its batches (or every few optimisation steps), ending early with an
empty result nobody collects. A worker process is never interrupted mid-task, so nothing leaks into the next
task it runs either. The flags live in one small actor per driver (no CPU of its own).
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any, Callable

BOARD = "latent-studio-stop-board"
KEEP = 4096  # flags the board remembers (one per cancelled job; the oldest are forgotten)


class StopBoard:
    """The raised flags of this driver's cancelled jobs."""

    def __init__(self) -> None:
        self._raised: dict[str, None] = {}

    def raise_flag(self, token: str) -> None:
        self._raised[token] = None
        while len(self._raised) > KEEP:
            self._raised.pop(next(iter(self._raised)))

    def is_raised(self, token: str) -> bool:
        return token in self._raised


class Stopped(Exception):
    """Raised inside a task body when its job was cancelled; the task returns early."""


@dataclass(frozen=True)
class Stop:
    """One job's flag: made on the driver, sent with each of its tasks."""

    token: str
    board: Any  # the StopBoard actor's handle

    def requested(self) -> bool:
        import ray
        from ray.exceptions import RayActorError

        try:
            return bool(ray.get(self.board.is_raised.remote(self.token)))
        except RayActorError:  # the driver that made the board has gone: nobody waits for this work
            return True

    def check(self) -> None:
        if self.requested():
            raise Stopped(self.token)

    def request(self) -> None:
        """Raise the flag (asynchronously: the driver does not wait for the board)."""
        self.board.raise_flag.remote(self.token)


def stoppable(body: Callable[..., Any]) -> Callable[..., Any]:
    """A task body `body(..., stop)` that returns None without starting when its job's flag is up, and when
    it raises Stopped on a later `stop.check()` (between its batches)."""

    @functools.wraps(body)
    def task(*args: Any) -> Any:
        if args[-1].requested():
            return None
        try:
            return body(*args)
        except Stopped:
            return None

    return task


_boards: dict[tuple[str, str], Any] = {}  # (job id, node id) -> this driver's board; the handle keeps the
# actor alive. Both ids: a driver that left one local cluster and started another gets job 01000000 again,
# and serialising a handle from the old cluster aborts the process.


def new_stop() -> Stop:
    """A fresh flag on this driver's board (made on first use, and again after the cluster was left)."""
    import ray

    ctx = ray.get_runtime_context()
    key = (ctx.get_job_id(), ctx.get_node_id())
    if key not in _boards:
        _boards.clear()
        _boards[key] = ray.remote(num_cpus=0)(StopBoard).options(name=BOARD, get_if_exists=True).remote()
    return Stop(uuid.uuid4().hex, _boards[key])

"""The render worker: latest request wins, stale renders stop early, errors and jobs never block it."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.model.api import Generator, ModelInfo, StageContext
from studio.render.engine import Frame
from studio.render.worker import RenderWorker, SyncWorker

Z = 4


class ToyStage:
    """One stage of a toy generator that records its calls; it can block on a gate or fail on demand."""

    def __init__(self, name: str, log: list, gate: threading.Event | None = None,
                 started: threading.Event | None = None):
        self.name, self.log, self.gate, self.started = name, log, gate, started

    def inputs(self, ctx: StageContext) -> bytes:
        return b""

    def __call__(self, x, ctx: StageContext):
        z0 = float(ctx.z[0, 0])
        self.log.append((self.name, z0))
        if z0 >= 1000:
            raise ValueError(f"toy stage {self.name} cannot handle {z0}")
        if self.gate is not None and not self.gate.is_set():
            self.started.set()
            assert self.gate.wait(10), "test gate never opened"
        if x is None:
            x = ctx.z.reshape(-1, Z, 1, 1)[:, :3].expand(-1, 3, 4, 4)
        return torch.tanh(x * 1.5)


def toy_generator(n_stages: int = 4, gate: threading.Event | None = None,
                  started: threading.Event | None = None) -> tuple[Generator, list]:
    log: list = []
    stages = [ToyStage(f"s{i}", log, gate if i == 0 else None, started) for i in range(n_stages)]
    info = ModelInfo(family="toy", format="test", resolution=4, z_dim=Z)
    return Generator(info, stages, model_id="toy"), log


def vec(v: float) -> Recipe:
    return Recipe(ModelRef("toy"), VectorLatent((v, 0.1, -0.2, 0.3)))


@pytest.fixture
def worker():
    w = RenderWorker()
    yield w
    w.stop()


class FakeClock:
    """Time that moves only when the test says, so the worker's staleness rule is deterministic."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_latest_request_wins_and_stale_render_stops_at_the_next_stage():
    worker = RenderWorker(clock=FakeClock())  # frozen time: the view never waits past a render time
    try:
        _latest_wins_and_stops(worker)
    finally:
        worker.stop()


def test_a_view_that_waited_a_render_time_sees_the_render_in_flight_first():
    """A continuous drag must show frames: once the view has waited longer than a render takes, the
    superseded render in flight is finished and shown, then the newest request."""
    clock = FakeClock()
    worker = RenderWorker(clock=clock)
    try:
        gate, started = threading.Event(), threading.Event()
        g, log = toy_generator(4, gate, started)
        frames: list[Frame] = []
        worker.submit("main", g, vec(0.0), frames.append)
        assert started.wait(10)
        clock.now = 10 * RenderWorker.DEFAULT_RENDER_S
        for i in range(1, 20):
            worker.submit("main", g, vec(i / 100), frames.append)
        gate.set()
        assert worker.wait_idle(10)
        assert [f.recipe for f in frames] == [vec(0.0), vec(0.19)]
        assert worker.cancelled == 0 and worker.rendered == 2
    finally:
        worker.stop()


def _latest_wins_and_stops(worker: RenderWorker) -> None:
    gate, started = threading.Event(), threading.Event()
    g, log = toy_generator(4, gate, started)
    frames: list[Frame] = []
    worker.submit("main", g, vec(0.0), frames.append)
    assert started.wait(10)  # request 0 is inside its first stage
    ids = [worker.submit("main", g, vec(i / 100), frames.append) for i in range(1, 20)]
    gate.set()
    assert worker.wait_idle(10)
    assert [f.recipe for f in frames] == [vec(0.19)] and frames[0].request_id == ids[-1]
    assert frames[0].ok and frames[0].stages_run == 4
    assert worker.rendered == 1 and worker.cancelled == 1  # 20 submissions, one render
    # The superseded render ran its first stage only; requests 1..18 never started.
    assert [name for name, _ in log] == ["s0", "s0", "s1", "s2", "s3"]
    assert [z for _, z in log][0] == 0.0 and all(abs(z - 0.19) < 1e-6 for _, z in log[1:])


def test_views_are_independent(worker):
    gate, started = threading.Event(), threading.Event()
    g, _ = toy_generator(2, gate, started)
    frames: list[Frame] = []
    worker.submit("main", g, vec(0.0), frames.append)
    assert started.wait(10)
    worker.submit("thumb", g, vec(0.5), frames.append)  # another view does not supersede "main"
    gate.set()
    assert worker.wait_idle(10)
    assert sorted((f.view, f.recipe.latent.values[0]) for f in frames) == [("main", 0.0), ("thumb", 0.5)]
    assert worker.cancelled == 0


def test_errors_come_back_as_frames_and_the_worker_keeps_serving(worker):
    g, _ = toy_generator(3)
    frames: list[Frame] = []
    done = threading.Event()

    def collect(f: Frame) -> None:
        frames.append(f)
        if len(frames) == 3:
            done.set()

    worker.submit("main", g, vec(5000.0), collect)          # a stage raises
    assert worker.wait_idle(10)
    worker.submit("main", g, Recipe(ModelRef("toy"), VectorLatent((1.0,))), collect)  # wrong z size
    assert worker.wait_idle(10)
    worker.submit("main", g, vec(0.3), collect)
    assert done.wait(10)
    assert frames[0].error == ("rendering failed in plugin 'toy', stage 's0': "
                               "ValueError: toy stage s0 cannot handle 5000.0")
    assert frames[1].error == "latent vector has 1 values but this model's z has 4"
    assert frames[2].ok and frames[2].image.shape == (4, 4, 3)


def test_a_raising_callback_does_not_stop_the_worker(worker):
    g, _ = toy_generator(1)
    got: list[Frame] = []
    worker.submit("a", g, vec(0.1), lambda f: 1 / 0)
    assert worker.wait_idle(10)
    worker.submit("a", g, vec(0.2), got.append)
    assert worker.wait_idle(10) and len(got) == 1 and got[0].ok


def test_interactive_frames_are_not_delayed_by_a_long_job(worker):
    g, _ = toy_generator(2)
    steps: list[int] = []

    def long_job():
        for i in range(60):
            time.sleep(0.01)
            steps.append(i)
            yield i / 60
        return "finished"

    results: list = []
    progress: list = []
    worker.submit_job(long_job(), on_done=results.append, on_progress=progress.append)
    deadline = time.monotonic() + 10
    while len(steps) < 3 and time.monotonic() < deadline:
        time.sleep(0.002)
    seen_at_frame: list[int] = []
    worker.submit("main", g, vec(0.4), lambda f: seen_at_frame.append(len(steps)))
    at_submit = len(steps)
    assert worker.wait_idle(20)
    assert len(seen_at_frame) == 1
    assert seen_at_frame[0] - at_submit <= 1  # at most the step already in flight ran first
    assert results == ["finished"] and len(steps) == 60
    assert progress == pytest.approx([(i) / 60 for i in range(60)])


def test_a_cancelled_job_stops_before_its_next_step(worker):
    steps: list[int] = []
    closed = threading.Event()
    started = threading.Event()
    release = threading.Event()

    def job():
        try:
            for i in range(100):
                steps.append(i)
                started.set()
                release.wait(10)
                yield i
        finally:
            closed.set()

    errors: list[str] = []
    done: list = []
    handle = worker.submit_job(job(), on_done=done.append, on_error=errors.append)
    assert started.wait(10)
    handle.cancel()
    release.set()
    assert worker.wait_idle(10)
    assert errors == ["cancelled"] and done == [] and closed.is_set() and len(steps) == 1


def test_a_job_with_the_key_of_a_running_one_replaces_it(worker):
    """Newest wins per job key: a second seed grid cancels the first at its next step; other keys run on."""
    started = threading.Event()
    release = threading.Event()

    def job(name: str, steps: int):
        started.set()
        for _ in range(steps):
            release.wait(10)
            yield name
        return name

    done: list[str] = []
    errors: list[str] = []
    worker.submit_job(job("old grid", 5), on_done=done.append, on_error=errors.append, key="seed-grid")
    assert started.wait(10)
    worker.submit_job(job("other", 2), on_done=done.append, on_error=errors.append, key="pca")
    worker.submit_job(job("new grid", 2), on_done=done.append, on_error=errors.append, key="seed-grid")
    release.set()
    assert worker.wait_idle(10)
    assert sorted(done) == ["new grid", "other"] and errors == ["cancelled"]


def test_a_failing_job_reports_its_error(worker):
    def job():
        yield 0.5
        raise RuntimeError("out of samples")

    errors: list[str] = []
    worker.submit_job(job(), on_error=errors.append)
    assert worker.wait_idle(10)
    assert errors == ["RuntimeError: out of samples"]


def test_sync_worker_renders_at_once_with_the_same_api():
    g, log = toy_generator(2)
    sw = SyncWorker()
    frames: list[Frame] = []
    rid = sw.submit("main", g, vec(0.2), frames.append)
    assert len(frames) == 1 and frames[0].ok and frames[0].request_id == rid
    assert sw.submit("main", g, vec(0.2), frames.append) == rid + 1
    assert frames[1].stages_run == 0 and np.array_equal(frames[0].image, frames[1].image)
    results, errors = [], []
    sw.submit_job(iter_job(), on_done=results.append, on_error=errors.append)
    assert results == [6] and errors == []


def iter_job():
    total = 0
    for i in range(4):
        total += i
        yield i
    return total

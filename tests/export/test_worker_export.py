"""Exports as worker jobs between interactive frames, and the `walk` / `export` commands."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lively import save_lively_dcgan
from studio.cli import main
from studio.core.workspace import Workspace
from studio.core.project import Project, save_project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.export.job import export_job
from studio.model.spaces import GeneratorPoints
from studio.render.engine import ModelCache
from studio.render.worker import RenderWorker


@pytest.fixture
def tiny_dcgan_safetensors(tmp_path: Path) -> Path:
    return save_lively_dcgan(tmp_path / "tiny.safetensors")


@pytest.fixture
def g(tiny_dcgan_safetensors):
    return ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors)


def _recipes(g, n):
    ref = ModelRef("m", g.model_id)
    return Timeline((Recipe(ref, SeedLatent(1)), Recipe(ref, SeedLatent(2))), (Segment(n - 1),)).recipes(GeneratorPoints(g))


def test_interactive_frames_interleave_with_an_export(g, tmp_path):
    worker = RenderWorker()
    try:
        done = threading.Event()
        progress, result = [], []
        job = export_job(g, _recipes(g, 240), tmp_path / "walk.gif", batch_size=8)
        worker.submit_job(job, on_done=lambda r: (result.append(r), done.set()),
                          on_progress=progress.append, on_error=lambda m: (result.append(m), done.set()))
        shown = []
        while not done.is_set():
            got = threading.Event()
            worker.submit("main", g, Recipe(ModelRef("m", g.model_id), SeedLatent(len(shown))),
                          lambda f: (shown.append(progress[-1].done if progress else 0), got.set()))
            assert got.wait(5)
            time.sleep(0.002)
        assert result and result[0].frames == 240, result
        # frames arrived while the export was at many different points, not only before or after it
        during = {d for d in shown if 0 < d < 240}
        assert len(during) >= 5, shown
        assert progress[-1].fraction == 1.0 and progress[-1].eta_s == 0.0
        etas = [p.eta_s for p in progress if p.eta_s is not None and p.done < 240]
        assert etas and all(e >= 0 for e in etas)
    finally:
        worker.stop()


def test_cancelling_the_worker_job_leaves_nothing(g, tmp_path):
    worker = RenderWorker()
    try:
        ended = threading.Event()
        errors = []
        progress = []
        handle = worker.submit_job(export_job(g, _recipes(g, 2000), tmp_path / "walk.mp4"),
                                   on_progress=progress.append, on_done=lambda r: ended.set(),
                                   on_error=lambda m: (errors.append(m), ended.set()))
        deadline = time.monotonic() + 20
        while not (progress and progress[-1].done >= 40 and any(".partial" in p.name for p in tmp_path.iterdir())):
            assert time.monotonic() < deadline and not ended.is_set()
            time.sleep(0.005)
        handle.cancel()
        assert ended.wait(10) and errors == ["cancelled"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]
    finally:
        worker.stop()


def test_walk_command_writes_frames_and_refuses_to_overwrite(tiny_dcgan_safetensors, tmp_path, capsys):
    out = tmp_path / "walk"
    argv = ["walk", str(tiny_dcgan_safetensors), "--from-seed", "1", "--to-seed", "2", "--frames", "10",
            "--fps", "12", "--lerp", "--ease", "ease-in-out", "--loop", "--scale", "2", "--out", str(out)]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 10 and Image.open(pngs[0]).size == (64, 64)
    first = np.asarray(Image.open(pngs[0]))
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().endswith("already exists (use --force to overwrite)")
    assert main(argv + ["--force", "--frames", "4"]) == 0
    assert len(list(out.glob("*.png"))) == 4 and np.array_equal(np.asarray(Image.open(pngs[0])), first)


@pytest.mark.parametrize("argv, message", [
    (["--frames", "1"], "must be at least 2"),
    (["--fps", "0"], "must be between 0 and 240"),
    (["--quality", "101"], "must be between 1 and 100"),
    (["--ease", "wobble"], "invalid choice"),
])
def test_walk_command_bad_options_are_one_line(tiny_dcgan_safetensors, tmp_path, capsys, argv, message):
    base = ["walk", str(tiny_dcgan_safetensors), "--from-seed", "1", "--to-seed", "2",
            "--out", str(tmp_path / "a.gif")]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "a.gif").exists()


def test_export_command_renders_a_project_and_asks_for_a_moved_model(tiny_dcgan_safetensors, tmp_path, capsys,
                                                                       g):
    ref = ModelRef(str(tiny_dcgan_safetensors), g.model_id)
    keys = (Recipe(ref, SeedLatent(1)), Recipe(ref, SeedLatent(2)), Recipe(ref, SeedLatent(3)))
    tl = Timeline(keys, (Segment(5), Segment(5), Segment(5)), loop=True, fps=10)
    proj = tmp_path / "p.lsproj"
    save_project(Project.of(Workspace(keys[0], timeline=tl)), proj)
    assert main(["export", str(proj), "--out", str(tmp_path / "p.webp")]) == 0
    with Image.open(tmp_path / "p.webp") as im:
        im.seek(1)
        im.load()
        assert im.n_frames == 15 and im.info["duration"] == 100
    moved = tmp_path / "moved.safetensors"
    tiny_dcgan_safetensors.rename(moved)
    assert main(["export", str(proj), "--out", str(tmp_path / "q.gif")]) == 2
    err = capsys.readouterr().err
    assert "tiny.safetensors is missing" in err and "--model" in err
    assert main(["export", str(proj), "--model", str(moved), "--out", str(tmp_path / "q.gif")]) == 0
    assert Image.open(tmp_path / "q.gif").n_frames == 15

"""Exports on a Ray cluster the tests start themselves (2 CPUs, small object store, shut down afterwards):
byte-identical to a local export, complete after a worker is killed mid-export, nothing left by Cancel, and
one clear sentence naming the worker when it cannot load the model. Skipped without the `ray` extra."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch

ray = pytest.importorskip("ray")

from conftest import run_cli  # noqa: E402
from studio.bundled import resolve_demo  # noqa: E402
from studio.core.project import Project, save_project  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.core.timeline import Segment, Timeline  # noqa: E402
from studio.core.workspace import Workspace  # noqa: E402
from studio.distributed import models  # noqa: E402
from studio.distributed.cluster import ClusterError, connected  # noqa: E402
from studio.distributed.frames import RayFrames  # noqa: E402
from studio.distributed.models import model_source  # noqa: E402
from studio.export.job import drive, export_job  # noqa: E402
from studio.export.writers import ExportOptions  # noqa: E402
from studio.model.spaces import frame_recipes  # noqa: E402
from studio.render.engine import ModelCache  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module; `connected` joins it (and leaves it running) like any other."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 << 20, logging_level=logging.ERROR,
             log_to_driver=False)
    try:
        with connected("auto") as info:
            yield info
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def sg2():
    path = resolve_demo("demo:stylegan2")  # 64 px
    return path, ModelCache(torch.device("cpu")).get(path)


def _recipes(g, path: Path, frames: int) -> list[Recipe]:
    ref = ModelRef(str(path), g.model_id)
    keys = (Recipe(ref, SeedLatent(1)), Recipe(ref, SeedLatent(2)))
    return frame_recipes(g, Timeline(keys, (Segment(frames - 1), Segment(1))))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_walk_and_export_on_the_cluster_equal_the_local_files_byte_for_byte(cluster, sg2, tmp_path, capsys):
    path, g = sg2
    walk = ["walk", path, "--from-seed", 3, "--to-seed", 4, "--frames", 24, "--space", "w"]
    assert run_cli(capsys, *walk, "--out", tmp_path / "local.mp4")[0] == 0
    code, out, err = run_cli(capsys, *walk, "--out", tmp_path / "ray.mp4", "--ray", "auto")
    assert code == 0, err
    assert "rendering on the Ray cluster" in err and "2 CPUs" in err
    assert (tmp_path / "ray.mp4").read_bytes() == (tmp_path / "local.mp4").read_bytes()
    local_side = json.loads((tmp_path / "local.mp4.json").read_text())
    ray_side = json.loads((tmp_path / "ray.mp4.json").read_text())
    assert ray_side["recipes"] == local_side["recipes"] and ray_side["bytes"] == local_side["bytes"]

    ref = ModelRef(str(path), g.model_id)
    keys = (Recipe(ref, SeedLatent(5)), Recipe(ref, SeedLatent(6)))
    proj = tmp_path / "p.lsproj"
    timeline = Timeline(keys, (Segment(6), Segment(6)), loop=True)
    save_project(Project.of(Workspace(keys[0], timeline=timeline)), proj)
    for name, extra in (("local", ()), ("ray", ("--ray", "auto"))):  # a PNG sequence: frames one at a time
        code, _, err = run_cli(capsys, "export", proj, "--out", tmp_path / name, "--scale", 2, *extra)
        assert code == 0, err
    frames = _names(tmp_path / "local")
    assert len(frames) == 13 and _names(tmp_path / "ray") == frames  # 12 frames and recipes.json
    for f in frames:
        if f.endswith(".png"):
            assert (tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes(), f


def test_model_from_the_object_store_is_loaded_once_per_worker(cluster, tiny_dcgan_safetensors, tmp_path):
    # a model no other test sends to the workers (they keep what they loaded by hash, in memory)
    path = tiny_dcgan_safetensors
    g = ModelCache(torch.device("cpu")).get(path)
    recipes = _recipes(g, path, 40)
    drive(export_job(g, recipes, tmp_path / "local.gif", ExportOptions(), batch_size=8))
    src = replace(model_source(g, path, ship=True), path=str(tmp_path / "not-on-this-node.safetensors"))
    copy = models.cache_dir() / src.sha256
    shutil.rmtree(copy, ignore_errors=True)
    frames = RayFrames(src, cluster, chunk=8)
    try:
        drive(export_job(g, recipes, tmp_path / "ray.gif", ExportOptions(), batch_size=8, frames=frames))
        assert (copy / path.name).read_bytes() == path.read_bytes()  # what the workers wrote from the store
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert (tmp_path / "ray.gif").read_bytes() == (tmp_path / "local.gif").read_bytes()
    assert [s.frames for s in frames.stats] == [8] * 5
    by_pid: dict[int, list[float]] = {}
    for s in frames.stats:
        by_pid.setdefault(s.pid, []).append(s.loaded_s)
    for loaded in by_pid.values():  # each worker process opened it for its first chunk at most, then reused
        assert all(t == 0.0 for t in loaded[1:])


def test_a_worker_killed_mid_export_is_retried_and_the_file_is_complete(cluster, sg2, tmp_path):
    path, g = sg2
    recipes = _recipes(g, path, 96)
    drive(export_job(g, recipes, tmp_path / "local.mp4", ExportOptions(), alone=True))
    frames = RayFrames(model_source(g, path, ship=False), cluster, chunk=16)
    killed: list[int] = []

    def kill_once(p) -> None:
        if frames.stats and not killed:  # the worker that sent chunk 0 is busy with a queued chunk now
            killed.append(frames.stats[0].pid)
            os.kill(killed[0], signal.SIGKILL)

    result = drive(export_job(g, recipes, tmp_path / "ray.mp4", ExportOptions(), alone=True, frames=frames),
                   on_progress=kill_once)
    assert result is not None and result.frames == 96
    assert (tmp_path / "ray.mp4").read_bytes() == (tmp_path / "local.mp4").read_bytes()
    assert killed and sum(s.frames for s in frames.stats) == 96
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)


def test_cancel_on_the_cluster_leaves_nothing_under_the_final_name(cluster, sg2, tmp_path):
    path, g = sg2
    frames = RayFrames(model_source(g, path, ship=False), cluster, chunk=8)
    job = export_job(g, _recipes(g, path, 96), tmp_path / "walk.mp4", ExportOptions(), alone=True,
                     frames=frames)
    assert drive(job, cancel=lambda: bool(frames.stats)) is None
    assert 0 < len(frames.stats) < 12
    assert _names(tmp_path) == []  # no video, no sidecar, no temporary


def test_a_raised_stop_flag_ends_queued_and_running_tasks_without_ray_cancel(cluster, sg2):
    from studio.distributed.frames import render_chunk
    from studio.distributed.ordered import remote
    from studio.distributed.stop import new_stop

    path, g = sg2
    task = remote(render_chunk)
    src = model_source(g, path, ship=False)
    go, halt = new_stop(), new_stop()
    halt.request()
    recipes = _recipes(g, path, 8)
    done = ray.get(task.remote(src, recipes, 4, "fp32", go))
    assert done is not None and done.frames.shape == (8, 64, 64, 3)
    assert ray.get(task.remote(src, recipes, 4, "fp32", halt)) is None  # queued after the flag: never renders
    assert not go.requested() and halt.requested()


def test_cancelling_exports_at_any_moment_leaves_the_driver_and_the_next_export_whole(cluster, sg2, tmp_path):
    """ray.cancel racing a finishing task aborted the whole driver process (Ray 2.60): cancel over and over,
    at the first chunk, mid-way and near the end, then export in full."""
    path, g = sg2
    recipes = _recipes(g, path, 48)
    for after in (1, 2, 4, 5, 1, 3):
        frames = RayFrames(model_source(g, path, ship=False), cluster, chunk=8)
        job = export_job(g, recipes, tmp_path / "walk.gif", ExportOptions(), frames=frames)
        assert drive(job, cancel=lambda: len(frames.stats) >= after) is None
    drive(export_job(g, recipes, tmp_path / "local.gif", ExportOptions()))
    frames = RayFrames(model_source(g, path, ship=False), cluster, chunk=8)
    drive(export_job(g, recipes, tmp_path / "walk.gif", ExportOptions(), frames=frames))
    assert (tmp_path / "walk.gif").read_bytes() == (tmp_path / "local.gif").read_bytes()


def test_a_worker_that_cannot_load_the_model_fails_the_export_naming_itself_and_the_cause(cluster, sg2,
                                                                                          tmp_path):
    path, g = sg2
    junk = tmp_path / "broken.safetensors"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    src = replace(model_source(g, junk, ship=False), model_id=g.model_id)
    frames = RayFrames(src, cluster)
    job = export_job(g, _recipes(g, path, 8), tmp_path / "walk.gif", ExportOptions(), frames=frames)
    with pytest.raises(ClusterError) as err:
        drive(job)
    msg = str(err.value)
    assert msg.startswith("Ray worker ") and " pid " in msg and "cannot load broken.safetensors" in msg
    assert "could not be loaded" in msg or "no known format" in msg or "safetensors" in msg.split(":", 1)[1]
    assert "\n" not in msg and _names(tmp_path) == ["broken.safetensors"]

    # the file at the path is not the one the driver opened (a model no worker holds yet: they keep by hash)
    dcgan = resolve_demo("demo:dcgan")
    gd = ModelCache(torch.device("cpu")).get(dcgan)
    changed = tmp_path / "changed.safetensors"
    changed.write_bytes(dcgan.read_bytes()[:-1] + b"\0")
    src = replace(model_source(gd, dcgan, ship=False), path=str(changed))
    job = export_job(gd, _recipes(gd, dcgan, 8), tmp_path / "walk.gif", ExportOptions(),
                     frames=RayFrames(src, cluster))
    with pytest.raises(ClusterError, match=r"Ray worker .* pid \d+ cannot load .*has other contents"):
        drive(job)


def test_contact_sheet_on_the_cluster_equals_the_local_one(cluster, sg2, tmp_path, capsys):
    path, _ = sg2
    sheet = ["render", path, "--seeds", "0-19", "--grid", "5x4"]
    assert run_cli(capsys, *sheet, "--out", tmp_path / "local.png")[0] == 0
    code, _, err = run_cli(capsys, *sheet, "--out", tmp_path / "ray.png", "--ray", "auto")
    assert code == 0, err
    assert (tmp_path / "ray.png").read_bytes() == (tmp_path / "local.png").read_bytes()


def test_translate_on_the_cluster_writes_the_local_results_and_skips_the_same_photos(cluster, tmp_path,
                                                                                     capsys):
    import numpy as np
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i in range(11):
        Image.fromarray(rng.integers(0, 256, (48 + i, 56, 3), dtype=np.uint8)).save(photos / f"p{i:02d}.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    model = resolve_demo("demo:stargan")
    base = ["translate", photos, "--model", model, "--set", "Smiling=1", "--no-align"]
    code, out, err = run_cli(capsys, *base, "--out", tmp_path / "local")
    assert code == 0, err
    code, out_ray, err = run_cli(capsys, *base, "--out", tmp_path / "ray", "--ray", "auto")
    assert code == 0, err
    assert "skipped broken.jpg" in err and out_ray.replace("ray", "local") == out
    names = _names(tmp_path / "local")
    assert len(names) == 11 and _names(tmp_path / "ray") == names
    for n in names:
        assert (tmp_path / "ray" / n).read_bytes() == (tmp_path / "local" / n).read_bytes(), n


def test_project_a_folder_on_the_cluster_gives_the_local_recipes(cluster, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(4)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photos / f"f{i}.png")
    (photos / "broken.png").write_bytes(b"\x89PNG but no more")
    base = ["project", photos, "--model", resolve_demo("demo:dcgan"), "--steps", 3, "--no-align", "--quiet"]
    code, out, err = run_cli(capsys, *base, "--out", tmp_path / "local")
    assert code == 0, err
    assert "projected 3 photos" in out and "skipped 1" in out and "skipped broken.png" in err
    code, out_ray, err = run_cli(capsys, *base, "--out", tmp_path / "ray", "--ray", "auto")
    assert code == 0, err
    assert out_ray.replace("ray", "local") == out
    assert _names(tmp_path / "ray") == _names(tmp_path / "local") == ["f0.json", "f1.json", "f2.json"]
    for n in _names(tmp_path / "local"):
        assert (tmp_path / "ray" / n).read_text() == (tmp_path / "local" / n).read_text(), n


def test_fitting_from_a_labeller_on_the_cluster_gives_the_local_direction(cluster, tmp_path, capsys):
    from studio.core.direction_library import load_direction

    base = ["directions", "fit", "demo:dcgan", "--attribute", "Eyeglasses", "--n", 300, "--evaluate-seeds", 0,
            "--json"]
    code, out, err = run_cli(capsys, *base, "--out", tmp_path / "local.lsdir")
    assert code == 0, err
    code, out_ray, err = run_cli(capsys, *base, "--out", tmp_path / "ray.lsdir", "--ray", "auto")
    assert code == 0, err
    assert "rendering on the Ray cluster" in err
    assert json.loads(out_ray) == json.loads(out)  # held-out accuracy and all: the same labels
    a, b = load_direction(tmp_path / "local.lsdir"), load_direction(tmp_path / "ray.lsdir")
    assert a.vectors.tobytes() == b.vectors.tobytes() and a.stddev.tobytes() == b.stddev.tobytes()


def test_sampling_images_on_the_cluster_writes_the_local_samples(cluster, tmp_path, capsys):
    base = ["directions", "sample", "demo:dcgan", "--n", 150]
    assert run_cli(capsys, *base, "--out", tmp_path / "local")[0] == 0
    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "ray", "--ray", "auto")
    assert code == 0 and "rendering on the Ray cluster" in err, err
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert len(local) == 152  # 150 images, latents.npy, samples.json
    for rel in local:
        assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel


def test_the_studios_cluster_job_connects_renders_and_cancels_cleanly(cluster, sg2, tmp_path):
    from studio.distributed.export import cluster_export_job

    path, g = sg2
    recipes = _recipes(g, path, 24)
    phases: list[str] = []
    result = drive(cluster_export_job("auto", g, path, recipes, tmp_path / "a.gif", ExportOptions()),
                   on_progress=lambda p: phases.append(p.phase))
    assert result is not None and result.frames == 24 and phases[0] == "connecting"
    drive(export_job(g, recipes, tmp_path / "local.gif", ExportOptions()))
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "local.gif").read_bytes()
    seen: list[int] = []
    job = cluster_export_job("auto", g, path, _recipes(g, path, 200), tmp_path / "b.mp4", ExportOptions(),
                             batch_size=8)
    assert drive(job, cancel=lambda: bool(seen), on_progress=lambda p: p.done and seen.append(p.done)) is None
    assert not any(p.name.startswith((".b", "b.")) for p in tmp_path.iterdir())
    assert ray.is_initialized()  # the test's cluster: joined, used and left running

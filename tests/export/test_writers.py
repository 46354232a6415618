"""Writers and safe writes on real renders of a tiny DCGAN: MP4/PNG fidelity, cancel, failure, SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from lively import save_lively_dcgan
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.export.job import ExportOptions, drive, export_job
from studio.export.safe import ExportError
from studio.export.sidecar import read_sidecar
from studio.export.writers import frame_name
from studio.model.spaces import frame_recipes
from studio.render.engine import ModelCache, Renderer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_dcgan_safetensors(tmp_path: Path) -> Path:
    return save_lively_dcgan(tmp_path / "tiny.safetensors")


@pytest.fixture
def model(tiny_dcgan_safetensors: Path):
    return ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors)


def _walk(g, path: Path, frames: int = 48) -> list[Recipe]:
    ref = ModelRef(str(path), g.model_id)
    t = Timeline((Recipe(ref, SeedLatent(1)), Recipe(ref, SeedLatent(2))), (Segment(frames - 1, "slerp"),))
    return frame_recipes(g, t)


def _one_by_one(g, recipes: list[Recipe]) -> np.ndarray:
    r = Renderer()
    frames = [r.render(g, rec) for rec in recipes]
    assert all(f.ok for f in frames)
    return np.stack([f.image for f in frames])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".old"))


def test_mp4_decodes_to_the_frames_rendered_one_by_one(model, tiny_dcgan_safetensors, tmp_path):
    recipes = _walk(model, tiny_dcgan_safetensors)
    expected = _one_by_one(model, recipes).astype(np.float32)
    out = tmp_path / "walk.mp4"
    result = drive(export_job(model, recipes, out, ExportOptions(fps=24, quality=100, chroma="444")))
    assert result is not None and result.frames == 48 and out.is_file()
    decoded = np.stack(list(iio.imiter(out, plugin="FFMPEG"))).astype(np.float32)
    assert decoded.shape == expected.shape  # 48 frames, 32x32x3
    err = np.abs(decoded - expected).mean(axis=(1, 2, 3))
    assert err.max() < 2.5, err  # of 255
    # frames are in order: a shift by a few frames would be much further off than the codec error
    assert np.abs(decoded[4:] - expected[:-4]).mean() > 3 * err.mean()
    assert _leftovers(tmp_path) == []


def test_default_mp4_is_4_2_0_h264_at_the_rate(model, tiny_dcgan_safetensors, tmp_path):
    """The default plays everywhere (yuv420p); on 4x upscaled frames chroma subsampling costs little."""
    recipes = _walk(model, tiny_dcgan_safetensors, frames=24)
    expected = _one_by_one(model, recipes).astype(np.float32)
    out = tmp_path / "walk.mp4"
    drive(export_job(model, recipes, out, ExportOptions(fps=12, scale=4)))
    meta = iio.immeta(out, plugin="FFMPEG")
    assert meta["codec"] == "h264" and meta["fps"] == 12 and meta["size"] == (128, 128)
    assert "yuv420p" in meta.get("pix_fmt", "yuv420p")
    decoded = np.stack(list(iio.imiter(out, plugin="FFMPEG"))).astype(np.float32)
    assert decoded.shape == (24, 128, 128, 3)
    small = decoded.reshape(24, 32, 4, 32, 4, 3).mean(axis=(2, 4))
    assert np.abs(small - expected).mean() < 8.0


def test_png_sequence_is_bit_exact_and_sidecar_rerenders(model, tiny_dcgan_safetensors, tmp_path):
    recipes = _walk(model, tiny_dcgan_safetensors)
    expected = _one_by_one(model, recipes)
    out = tmp_path / "frames"
    drive(export_job(model, recipes, out))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([frame_name(i, 48) for i in range(48)] + ["recipes.json"])
    assert names[0] == "frame_0000.png"
    got = np.stack([np.asarray(Image.open(out / frame_name(i, 48)).convert("RGB")) for i in range(48)])
    assert np.array_equal(got, expected)
    settings, again = read_sidecar(out / "recipes.json")
    assert settings["frames"] == 48 and again == recipes
    assert np.array_equal(Renderer().render(model, again[17]).image, expected[17])
    assert _leftovers(tmp_path) == []


def test_batched_png_sequence_is_within_one_level(model, tiny_dcgan_safetensors, tmp_path):
    """Batches sum in another order: at most 1 level apart, in a tiny fraction of values."""
    recipes = _walk(model, tiny_dcgan_safetensors)
    expected = _one_by_one(model, recipes).astype(int)
    drive(export_job(model, recipes, tmp_path / "frames", batch_size=8))
    got = np.stack([np.asarray(Image.open(tmp_path / "frames" / frame_name(i, 48))) for i in range(48)])
    diff = np.abs(got.astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_animations_have_every_frame_at_the_rate(model, tiny_dcgan_safetensors, tmp_path, ext):
    recipes = _walk(model, tiny_dcgan_safetensors, frames=12)
    expected = _one_by_one(model, recipes)
    out = tmp_path / f"walk{ext}"
    drive(export_job(model, recipes, out, ExportOptions(fps=12.5, scale=2, quality=100)))
    with Image.open(out) as im:
        assert im.n_frames == 12 and im.size == (64, 64)
        im.seek(5)
        frame = np.asarray(im.convert("RGB"))
        assert im.info["duration"] == 80
    err = np.abs(frame.astype(np.int16) - expected[5].repeat(2, 0).repeat(2, 1).astype(np.int16)).mean()
    assert err < (12 if ext == ".gif" else 1.0), err  # GIF: 256-colour palette; WebP q100: lossless
    side = json.loads((tmp_path / f"walk{ext}.json").read_text())
    assert side["frames"] == 12 and side["fps"] == 12.5


def test_upscale_nearest_and_smooth(model, tiny_dcgan_safetensors, tmp_path):
    recipes = _walk(model, tiny_dcgan_safetensors, frames=3)
    expected = _one_by_one(model, recipes)
    drive(export_job(model, recipes, tmp_path / "near", ExportOptions(scale=3)))
    drive(export_job(model, recipes, tmp_path / "soft", ExportOptions(scale=3, smooth=True)))
    near = np.asarray(Image.open(tmp_path / "near" / frame_name(1, 3)))
    soft = np.asarray(Image.open(tmp_path / "soft" / frame_name(1, 3)))
    assert near.shape == soft.shape == (96, 96, 3)
    assert np.array_equal(near, expected[1].repeat(3, 0).repeat(3, 1))
    assert not np.array_equal(soft, near)
    assert np.abs(soft.astype(int) - near.astype(int)).mean() < 25  # same picture, smoother edges


@pytest.mark.parametrize("name", ["walk.mp4", "walk.gif", "frames"])
def test_cancel_midway_leaves_nothing(model, tiny_dcgan_safetensors, tmp_path, name):
    recipes = _walk(model, tiny_dcgan_safetensors)
    seen = []
    result = drive(export_job(model, recipes, tmp_path / name, batch_size=4),
                   cancel=lambda: bool(seen) and seen[-1].done >= 20, on_progress=seen.append)
    assert result is None and 20 <= seen[-1].done < 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]


def test_never_overwrites_without_force(model, tiny_dcgan_safetensors, tmp_path):
    recipes = _walk(model, tiny_dcgan_safetensors, frames=4)
    out = tmp_path / "walk.gif"
    out.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists.*--force"):
        export_job(model, recipes, out)
    assert out.read_bytes() == b"precious"
    # --force replaces only what the studio wrote: this file has no sidecar naming it
    with pytest.raises(ExportError, match="refusing to overwrite .*walk.gif"):
        export_job(model, recipes, out, force=True)
    assert out.read_bytes() == b"precious"
    out = tmp_path / "walk2.gif"
    drive(export_job(model, recipes[:2], out))
    drive(export_job(model, recipes, out, force=True))  # its sidecar proves it is the studio's
    assert Image.open(out).n_frames == 4
    # a folder that is not an earlier export is never replaced, even with force
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ExportError, match="refusing.*notes.txt"):
        export_job(model, recipes, tmp_path / "mine", force=True)
    # an earlier PNG export is
    drive(export_job(model, recipes, tmp_path / "seq"))
    drive(export_job(model, recipes[:2], tmp_path / "seq", force=True))
    assert len(list((tmp_path / "seq").glob("*.png"))) == 2
    assert _leftovers(tmp_path) == []


def test_failure_while_encoding_leaves_nothing(model, tiny_dcgan_safetensors, tmp_path):
    """Frames of an odd size make the MP4 encoder fail mid-export (after the temporary exists)."""
    class Cropping(Renderer):
        def iter_batch(self, g, recipes, cancel=None, precision=None):
            for out in super().iter_batch(g, recipes, cancel, precision):
                yield None if out is None else out[:, :31, :31]

    recipes = _walk(model, tiny_dcgan_safetensors, frames=4)
    with pytest.raises(ExportError, match="even frame sizes"):
        drive(export_job(model, recipes, tmp_path / "odd.mp4", renderer=Cropping()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]


def test_bad_targets_fail_before_rendering(model, tiny_dcgan_safetensors, tmp_path):
    recipes = _walk(model, tiny_dcgan_safetensors, frames=2)
    with pytest.raises(ExportError, match="folder .* does not exist"):
        export_job(model, recipes, tmp_path / "nope" / "a.mp4")
    with pytest.raises(ExportError, match="use .mp4, .gif, .webp"):
        export_job(model, recipes, tmp_path / "a.avi")
    with pytest.raises(ExportError, match="without an extension"):
        export_job(model, recipes, tmp_path / "a.png")


def test_sigkill_mid_export_leaves_nothing_under_the_final_name(tiny_dcgan_safetensors, tmp_path):
    out = tmp_path / "walk.mp4"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "studio", "walk", str(tiny_dcgan_safetensors), "--from-seed",
                             "1", "--to-seed", "2", "--frames", "20000", "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180  # a shared, loaded machine may take a while to get there
        while not any(".partial" in p.name for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the export never started"
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists() and not (tmp_path / "walk.mp4.json").exists()
    assert _leftovers(tmp_path)  # the killed process could not clean up; the next export sweeps it
    recipes = _walk(ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors), tiny_dcgan_safetensors, 4)
    time.sleep(0.2)  # let the orphaned ffmpeg finish with the temporary
    drive(export_job(ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors), recipes, out))
    assert out.is_file() and _leftovers(tmp_path) == []

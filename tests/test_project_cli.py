"""`latent-studio project` and `latent-studio latent import|export`: a recipe out, a progress bar on stderr,
one-line errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.recipe import Recipe
from studio.core.wspace import WLatent
from studio.demo import toyfaces
from conftest import run_cli as run



@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "face.png"
    Image.fromarray(toyfaces.sample(1, [990_017, 8]).images[0]).save(path)
    return path


def test_project_writes_a_w_plus_recipe_with_a_progress_bar(capsys, photo, tmp_path):
    out = tmp_path / "me.json"
    code, stdout, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--steps", "40", "--out", out)
    assert code == 0, err
    assert "40/40" in err and "PSNR" in stdout
    recipe = Recipe.from_json(out.read_text())
    assert isinstance(recipe.latent, WLatent) and len(recipe.latent.values) == 10 * 128
    code, _, err = run(capsys, "latent", "export", out, "--model", "demo:stylegan2", "--out", tmp_path / "w.npz")
    assert code == 0, err
    assert np.load(tmp_path / "w.npz")["w"].shape == (1, 10, 128)
    code, _, err = run(capsys, "latent", "import", tmp_path / "w.npz", "--model", "demo:stylegan2",
                       "--out", tmp_path / "back.json")
    assert code == 0, err
    back = Recipe.from_json((tmp_path / "back.json").read_text())
    np.testing.assert_allclose(back.latent.values, recipe.latent.values, rtol=1e-5)


def test_project_errors_are_one_line(capsys, photo, tmp_path):
    code, _, err = run(capsys, "project", photo, "--model", "demo:dcgan", "--space", "w", "--out", tmp_path / "a.json")
    assert code == 2 and err.count("\n") == 1 and "no W space" in err
    code, _, err = run(capsys, "project", tmp_path / "none.png", "--model", "demo:dcgan", "--out", tmp_path / "a.json")
    assert code == 2 and "no such photo" in err
    code, _, err = run(capsys, "project", photo, "--model", "demo:dcgan", "--out", tmp_path / "a.txt")
    assert code == 2 and ".json" in err
    (tmp_path / "v.npy").write_bytes(b"")
    np.save(tmp_path / "v.npy", np.zeros(128, np.float32))
    code, _, err = run(capsys, "latent", "import", tmp_path / "v.npy", "--model", "demo:stylegan2",
                       "--out", tmp_path / "b.json")
    assert code == 2 and err.count("\n") == 1 and "say which space" in err


def test_project_writes_the_optimisation_as_a_video(capsys, photo, tmp_path):
    import imageio_ffmpeg

    out, video = tmp_path / "me.json", tmp_path / "steps.mp4"
    code, stdout, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--steps", "12", "--noise",
                            "--video", video, "--out", out, "--quiet")
    assert code == 0, err
    assert "noise maps" in stdout and "12 frames" in stdout
    frames = imageio_ffmpeg.read_frames(str(video))
    meta = next(frames)
    assert meta["size"] == (4 * (64 + 2 + 64), 4 * 64) and sum(1 for _ in frames) == 12
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    assert any(e["type"] == "noise_maps" for e in Recipe.from_json(out.read_text()).to_dict()["edits"])


def test_project_video_and_noise_errors_are_one_line_before_any_step(capsys, photo, tmp_path):
    code, _, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--video", tmp_path / "v.avi",
                       "--out", tmp_path / "a.json")
    assert code == 2 and err.count("\n") == 1 and "v.avi" in err
    code, _, err = run(capsys, "project", photo, "--model", "demo:dcgan", "--noise", "--out", tmp_path / "a.json")
    assert code == 2 and err.count("\n") == 1 and "noise maps" in err
    assert not (tmp_path / "a.json").exists()


def test_project_with_pti_writes_the_tuned_model_and_a_recipe_naming_it(capsys, photo, tmp_path):
    import hashlib

    out, tuned = tmp_path / "me.json", tmp_path / "me.safetensors"
    code, stdout, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--steps", "20", "--pti", "10",
                            "--tuned", tuned, "--out", out, "--quiet")
    assert code == 0, err
    assert "tuned model" in stdout
    recipe = Recipe.from_json(out.read_text())
    assert recipe.model.path == str(tuned) and recipe.model.sha256 == hashlib.sha256(tuned.read_bytes()).hexdigest()
    code, _, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--pti", "5", "--tuned", tuned,
                       "--out", tmp_path / "again.json")
    assert code == 2 and "already exists" in err and not (tmp_path / "again.json").exists()
    code, _, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--pti", "5", "--out", out, "--force")
    assert code == 2 and err.count("\n") == 1 and "--tuned" in err

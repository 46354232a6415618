"""`latent-studio translate`: a folder of photos through a small StarGAN v1 of our own."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1
from studio.core.photo import DEFAULT_CROP, open_photo, photo_tensor
from studio.render.engine import ModelCache, to_uint8
from conftest import run_cli as run

NAMES = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]



def one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("latent-studio: error: ") and "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = StarGANv1(StarGANConfig(8, 5, 2))
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save(net.state_dict(), folder / "1000-G.ckpt")
    (folder / "attributes.json").write_text(json.dumps({"attributes": NAMES, "image_size": 32}))
    return folder / "1000-G.ckpt"


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    rng = np.random.default_rng(1)
    for name, (w, h) in {"a.png": (40, 48), "b.jpg": (64, 64), "c.webp": (50, 36)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(d / name)
    return d


def expected(model: Path, photo: Path, labels) -> np.ndarray:
    g = ModelCache(torch.device("cpu")).get(model)
    return to_uint8(g.translate(photo_tensor(open_photo(photo), DEFAULT_CROP, 32), labels))[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_translates_every_photo_to_the_labels_set(capsys, model, photos, tmp_path):
    before = snapshot(photos)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "translate", photos, "--model", model, "--set", "Black_Hair=1",
                            "--set", "Blond_Hair=1", "--set", "Young=0.5", "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    for name in ("a.png", "b.jpg", "c.webp"):  # Blond_Hair after Black_Hair clears it: hair is exclusive
        got = np.asarray(Image.open(out / f"{Path(name).stem}.png").convert("RGB"))
        assert np.abs(got.astype(int) - expected(model, photos / name, [0, 1, 0, 0, 0.5]).astype(int)).max() <= 1
    assert "translated 3 photos" in stdout and "skipped 0" in stdout and "Blond_Hair=1" in stdout
    assert snapshot(photos) == before


def test_unreadable_photos_are_skipped_with_a_line_each(capsys, model, photos, tmp_path):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = (photos / "a.png").read_bytes()
    (photos / "half.png").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (20, 20)).save(photos / "tiny.png")
    (photos / "notes.txt").write_text("not a photo")
    code, stdout, err = run(capsys, "translate", photos, "--model", model, "--set", "Male=1",
                            "--out", tmp_path / "out")
    assert code == 0
    skipped = [ln for ln in err.splitlines() if ln.startswith("skipped ")]
    assert sorted(ln.split(":")[0] for ln in skipped) == ["skipped broken.jpg", "skipped half.png",
                                                          "skipped tiny.png"]
    assert "translated 3 photos" in stdout and "skipped 3" in stdout and "1 other file ignored" in stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


def test_never_overwrites_inputs_or_outputs_without_force(capsys, model, photos, tmp_path):
    before = snapshot(photos)
    one_line_error(*run(capsys, "translate", photos, "--model", model, "--out", photos)[::2],
                   "input folder")
    link = tmp_path / "link"
    link.symlink_to(photos)
    one_line_error(*run(capsys, "translate", photos, "--model", model, "--out", link)[::2], "input folder")
    assert snapshot(photos) == before

    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"mine")
    one_line_error(*run(capsys, "translate", photos, "--model", model, "--out", out)[::2],
                   "b.png", "already exists", "--force")
    assert (out / "b.png").read_bytes() == b"mine" and len(list(out.iterdir())) == 1  # no work was done
    # --force replaces earlier results only, never a file of the user's: refused, named, kept
    one_line_error(*run(capsys, "translate", photos, "--model", model, "--out", out, "--force")[::2],
                   "refusing to overwrite", "b.png")
    assert (out / "b.png").read_bytes() == b"mine" and len(list(out.iterdir())) == 1
    (out / "b.png").unlink()
    assert run(capsys, "translate", photos, "--model", model, "--out", out)[0] == 0
    first = (out / "b.png").read_bytes()
    code, stdout, err = run(capsys, "translate", photos, "--model", model, "--set", "Young=1", "--out", out,
                            "--force")
    assert code == 0, err
    assert (out / "b.png").read_bytes() != first
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


def test_a_subfolder_of_the_input_is_a_fine_output(capsys, model, photos):
    code, stdout, _ = run(capsys, "translate", photos, "--model", model, "--set", "Young=1",
                          "--out", photos / "young")
    assert code == 0 and len(list((photos / "young").iterdir())) == 3


@pytest.mark.parametrize("args, fragments", [
    (["--set", "Blnd_Hair=1"], ["unknown attribute 'Blnd_Hair'", "Black_Hair, Blond_Hair, Brown_Hair, Male, Young"]),
    (["--set", "Blond_Hair"], ["NAME=VALUE"]),
    (["--set", "Blond_Hair=lots"], ["expected a number"]),
    (["--set", "Male=nan"], ["finite"]),
])
def test_bad_settings_are_one_line(capsys, model, photos, tmp_path, args, fragments):
    code, _, err = run(capsys, "translate", photos, "--model", model, *args, "--out", tmp_path / "out")
    one_line_error(code, err, *fragments)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_bad_folders_and_models_are_one_line(capsys, model, photos, tmp_path, tiny_dcgan_path):
    one_line_error(*run(capsys, "translate", tmp_path / "nope", "--model", model, "--out", tmp_path / "o")[::2],
                   "no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(*run(capsys, "translate", empty, "--model", model, "--out", tmp_path / "o")[::2],
                   "holds no photos")
    one_line_error(*run(capsys, "translate", photos, "--model", tiny_dcgan_path, "--out", tmp_path / "o")[::2],
                   "dcgan", "StarGAN")


def test_a_bundled_demo_is_named_as_in_every_other_command(capsys, photos, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "translate", photos, "--model", "demo:stargan", "--set", "Smiling=1",
                            "--no-align", "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    code, _, err = run(capsys, "translate", photos, "--model", "demo:nothing", "--out", tmp_path / "o2")
    assert code == 2 and "demo" in err and "Traceback" not in err

"""--force replaces only what the studio wrote (issue 26 item 5); an empty folder is a fine output (issue 27).

Each case puts the user's own files where an output goes, runs the real command with --force, and checks
the refusal names them and that every byte is still there; then the studio's own earlier output is
replaced as before.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.project import Project, save_project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.core.workspace import Workspace
from conftest import run_cli as run



def refused(code: int, err: str, *names: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert "refusing" in err and "Latent Studio did not write" in err, err
    for n in names:
        assert n in err, (n, err)


def photos(folder: Path, n: int) -> dict[str, str]:
    """n real PNG photos of the user's (no studio mark), and their hashes."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(folder / f"IMG_{i:04d}.png")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def walk(ckpt: Path, out: Path, *extra: object) -> list[object]:
    return ["walk", ckpt, "--from-seed", "1", "--to-seed", "2", "--frames", "4", "--out", out, *extra]


def test_walk_force_over_a_folder_of_photos_refuses_and_names_them(capsys, tiny_dcgan_path, tmp_path):
    out = tmp_path / "holiday"
    before = photos(out, 8)
    code, _, err = run(capsys, *walk(tiny_dcgan_path, out, "--force"))
    refused(code, err, "IMG_0000.png", "IMG_0004.png", "and 3 more")
    assert "IMG_0005.png" not in err  # the first few, then a count
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holiday", tiny_dcgan_path.name]  # no temporaries


def test_walk_force_replaces_its_own_frames_but_not_a_file_added_to_them(capsys, tiny_dcgan_path, tmp_path):
    out = tmp_path / "frames"
    assert run(capsys, *walk(tiny_dcgan_path, out))[0] == 0
    own = snapshot(out)
    assert "recipes.json" in own and len(own) == 5
    # the studio's own frames and sidecar: replaced
    code, _, err = run(capsys, *walk(tiny_dcgan_path, out, "--force", "--frames", "6"))
    assert code == 0, err
    assert len(list(out.glob("frame_*.png"))) == 6
    # one file of the user's among them: nothing is replaced, and it is named
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    code, _, err = run(capsys, *walk(tiny_dcgan_path, out, "--force"))
    refused(code, err, "notes.txt")
    assert "frame_0000.png" not in err
    assert snapshot(out) == before


def test_frames_without_a_sidecar_are_still_the_studios(capsys, tiny_dcgan_path, tmp_path):
    out = tmp_path / "frames"
    assert run(capsys, *walk(tiny_dcgan_path, out, "--no-sidecar"))[0] == 0
    assert not (out / "recipes.json").exists()
    code, _, err = run(capsys, *walk(tiny_dcgan_path, out, "--no-sidecar", "--force", "--frames", "2"))
    assert code == 0, err  # each frame carries the studio's mark
    assert len(list(out.iterdir())) == 2


def test_walk_force_over_a_foreign_animation_refuses(capsys, tiny_dcgan_path, tmp_path):
    gif = tmp_path / "party.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    before = gif.read_bytes()
    code, _, err = run(capsys, *walk(tiny_dcgan_path, gif, "--force"))
    assert code == 2 and "refusing to overwrite" in err and "party.gif" in err, err
    assert gif.read_bytes() == before
    # a user's file given the studio's sidecar name of another file proves nothing either
    mine = tmp_path / "walk.gif"
    assert run(capsys, *walk(tiny_dcgan_path, mine))[0] == 0
    (tmp_path / "walk.gif.json").rename(tmp_path / "party.gif.json")  # names walk.gif, not party.gif
    code, _, err = run(capsys, *walk(tiny_dcgan_path, gif, "--force"))
    assert code == 2 and gif.read_bytes() == before
    # the studio's own animation, its sidecar beside it: replaced
    (tmp_path / "party.gif.json").rename(tmp_path / "walk.gif.json")
    code, _, err = run(capsys, *walk(tiny_dcgan_path, mine, "--force", "--frames", "6"))
    assert code == 0, err
    assert Image.open(mine).n_frames == 6


def test_an_animation_edited_after_export_is_not_replaced(capsys, tiny_dcgan_path, tmp_path):
    out = tmp_path / "walk.gif"
    assert run(capsys, *walk(tiny_dcgan_path, out))[0] == 0
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    frames[0].save(out, save_all=True, append_images=frames[1:])  # the user's own GIF under that name now
    before = out.read_bytes()
    code, _, err = run(capsys, *walk(tiny_dcgan_path, out, "--force"))
    assert code == 2 and "refusing to overwrite" in err, err  # the sidecar records another size
    assert out.read_bytes() == before


def test_render_force_over_a_users_photo_refuses(capsys, tiny_dcgan_path, tmp_path):
    photo = tmp_path / "me.png"
    Image.new("RGB", (20, 20), "orange").save(photo)
    before = photo.read_bytes()
    code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", "1", "--out", photo, "--force")
    assert code == 2 and "refusing to overwrite" in err and "me.png" in err, err
    assert len(err.strip().splitlines()) == 1 and photo.read_bytes() == before
    for ext in ("png", "jpg", "webp"):  # what render wrote it may replace, in every format it marks
        out = tmp_path / f"r.{ext}"
        assert run(capsys, "render", tiny_dcgan_path, "--seed", "1", "--out", out)[0] == 0
        code, _, err = run(capsys, "render", tiny_dcgan_path, "--seed", "2", "--out", out, "--force")
        assert code == 0, (ext, err)


def test_export_force_over_foreign_files_refuses(capsys, tiny_dcgan_path, tmp_path):
    ref = ModelRef(str(tiny_dcgan_path))
    keys = (Recipe(ref, SeedLatent(1)), Recipe(ref, SeedLatent(2)))
    ws = Workspace(keys[0], Timeline(keys, (Segment(frames=2), Segment(frames=2))))
    project = tmp_path / "p.lsproj"
    save_project(Project.of(ws), project)
    out = tmp_path / "frames"
    before = photos(out, 2)
    (out / "readme.txt").write_text("mine")
    before = snapshot(out)
    code, _, err = run(capsys, "export", project, "--out", out, "--force")
    refused(code, err, "IMG_0000.png", "IMG_0001.png", "readme.txt")
    assert snapshot(out) == before
    for p in out.iterdir():
        p.unlink()
    code, _, err = run(capsys, "export", project, "--out", out)  # empty now: fine without --force
    assert code == 0, err
    listed = json.loads((out / "recipes.json").read_text())["frames"]
    assert listed >= 2 and len(list(out.glob("frame_*.png"))) == listed


def test_an_empty_existing_folder_needs_no_force(capsys, tiny_dcgan_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, *walk(tiny_dcgan_path, str(out) + "/"))
    assert code == 0, err
    assert len(list(out.glob("frame_*.png"))) == 4 and (out / "recipes.json").is_file()
    # a non-empty one still needs --force
    code, _, err = run(capsys, *walk(tiny_dcgan_path, out))
    assert code == 2 and "already exists" in err and "--force" in err


def test_convert_force_never_removes_a_folder_with_foreign_files(capsys, tiny_dcgan_path, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    out.mkdir()
    code, _, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out)  # empty: fine
    assert code == 0, err
    assert (out / "manifest.json").is_file()
    # the user keeps a checkpoint and a readme in it: --force names them and removes nothing
    (out / "netG.pth").write_bytes(tiny_dcgan_path.read_bytes())
    (out / "README.md").write_text("my notes")
    before = snapshot(out)
    code, _, err = run(capsys, "convert", tiny_dcgan_path, "--to", "onnx", "--out", out, "--force")
    refused(code, err, "README.md", "netG.pth")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["onnx", tiny_dcgan_path.name])

"""--align on the command line: `project` and `translate` align a moved ToyFaces photo for the demos (the
summary says so), --no-align leaves it, and a model of another domain is not aligned and says so."""
from __future__ import annotations

import numpy as np
from PIL import Image

from conftest import run_cli as run
from studio.core.photo import image_latent, open_photo, photo_tensor
from studio.demo import toyfaces
from studio.render.align import TOYFACES, align_face, align_latent, framing_for


def moved_photo(path, dx=7, dy=-5, angle=13.0):
    image = toyfaces.sample(1, [990_017, 31]).images[0]
    border = tuple(int(v) for v in np.concatenate([image[0], image[-1]]).mean(0))
    Image.fromarray(image).rotate(angle, Image.Resampling.BICUBIC, translate=(dx, dy), fillcolor=border).save(path)
    return path


def test_project_aligns_for_a_face_model_and_not_when_told(capsys, tmp_path):
    photo = moved_photo(tmp_path / "me.png")
    code, out, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--steps", "3", "--quiet",
                         "--out", tmp_path / "a.json")
    assert code == 0, err
    assert "aligned to the ToyFaces framing (turned +" in out
    code, out, err = run(capsys, "project", photo, "--model", "demo:stylegan2", "--steps", "3", "--quiet",
                         "--no-align", "--out", tmp_path / "b.json")
    assert code == 0, err
    assert "aligned to" not in out and "alignment" not in out


def test_project_on_a_non_face_model_says_alignment_was_skipped(capsys, tmp_path, tiny_dcgan_path):
    photo = moved_photo(tmp_path / "me.png")
    code, out, err = run(capsys, "project", photo, "--model", tiny_dcgan_path, "--steps", "2", "--quiet",
                         "--align", "--out", tmp_path / "a.json")
    assert code == 0, err
    assert "alignment skipped:" in out and "not trained on faces" in out


def test_translate_aligns_each_face_photo(capsys, tmp_path):
    import studio
    from studio.bundled import resolve_demo

    model = resolve_demo("demo:stargan")
    src = tmp_path / "in"
    src.mkdir()
    photo = moved_photo(src / "a.png")
    code, out, err = run(capsys, "translate", src, "--model", model, "--set", "Smiling=1",
                         "--out", tmp_path / "out")
    assert code == 0, err
    assert "1 face aligned" in out
    g = studio.load(str(model), "cpu")
    latent, result, _ = align_latent(image_latent(photo), g.info)
    assert result.found and latent.crop == align_face(open_photo(photo), 64, framing_for(g.info)).crop
    x = photo_tensor(open_photo(photo), latent.crop, 64)
    unaligned = photo_tensor(open_photo(photo), (0.5, 0.5, 1.0), 64)
    assert not np.allclose(x.numpy(), unaligned.numpy())
    code, out, err = run(capsys, "translate", src, "--model", model, "--no-align", "--set", "Smiling=1",
                         "--out", tmp_path / "out2")
    assert code == 0, err
    assert "aligned" not in out.split(": ", 1)[-1]
    a = np.asarray(Image.open(tmp_path / "out" / "a.png"), np.int16)
    b = np.asarray(Image.open(tmp_path / "out2" / "a.png"), np.int16)
    assert np.abs(a - b).mean() > 5  # the aligned input gives another translation
    assert TOYFACES is framing_for(g.info)

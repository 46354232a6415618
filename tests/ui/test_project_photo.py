"""File ▸ Project photo with a StyleGAN open: progress and the live estimate show, Cancel keeps the recipe,
a finished projection is one undo step and is saved with the project."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from studio.bundled import demo_checkpoints
from studio.core.project import Project
from studio.core.recipe import SeedLatent
from studio.core.wspace import WLatent
from studio.demo import toyfaces
from studio.render.engine import ModelCache
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

from .helpers import SteppedWorker

STYLEGAN = next(p for p in demo_checkpoints() if p.stem.startswith("stylegan2"))
STEPS = 30


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "me.png"
    Image.fromarray(toyfaces.sample(1, [990_017, 21]).images[0]).save(path)
    return path


@pytest.fixture
def setup(qtbot, tmp_path):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    w = MainWindow(s, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   checkpoints=tmp_path / "none", pca_samples=200)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    s.open_model(STYLEGAN)
    worker.step()  # the load
    while worker.jobs:  # the PCA the latent panel starts, so only the projection runs below
        worker.step()
    QApplication.processEvents()
    s.edit(s.recipe.with_seed(5), "Seed 5")
    s.end_gesture()
    w.projector.steps = STEPS
    return worker, s, w


def _step_until(worker, s, done: int) -> None:
    for _ in range(10 * done):
        t = s.tasks.running[0] if s.tasks.running else None
        if t is not None and t.fraction * STEPS >= done:
            return
        worker.step()
        QApplication.processEvents()


def test_cancel_keeps_the_previous_recipe(setup, photo):
    worker, s, w = setup
    before, shown = s.recipe, w.canvas._image.copy()
    assert w.projector.start(photo)
    _step_until(worker, s, 10)
    area = w.task_area
    assert area.isVisible() and area.title.text().startswith("Projecting me.png")
    assert 0 < area.bar.value() < area.bar.maximum()
    preview = w.canvas._image
    assert preview.shape == shown.shape and not np.array_equal(preview, shown)  # the live estimate
    assert w.render_label.text().startswith("projecting: step ") and " dB" in w.render_label.text()
    area.cancel.click()
    worker.run_all()
    QApplication.processEvents()
    assert s.recipe == before and isinstance(s.recipe.latent, SeedLatent)
    assert not s.tasks.running and not area.isVisible()
    assert np.array_equal(w.canvas._image, shown)  # the recipe shown again, not the last estimate


def test_a_finished_projection_is_one_undo_step_saved_in_the_project(setup, photo, tmp_path):
    worker, s, w = setup
    before, before_image = s.recipe, w.canvas._image.astype(np.float32)
    target = np.asarray(Image.open(photo).convert("RGB"), np.float32)
    assert w.projector.start(photo)
    aligned = w.projector.alignment  # a ToyFaces photo on a ToyFaces model is aligned first: that is the target
    assert aligned is not None and aligned.found
    target = aligned.image.astype(np.float32)
    worker.run_all()
    QApplication.processEvents()
    r = s.recipe
    assert isinstance(r.latent, WLatent) and len(r.latent.values) == 10 * 128
    assert r.model == before.model and not s.tasks.running
    err = np.abs(w.canvas._image.astype(np.float32) - target).mean()
    seed_err = np.abs(w.canvas._image.astype(np.float32) - before_image).mean()
    assert err < 0.5 * seed_err  # the canvas shows the projection, closer to the photo than the seed was
    assert w.projector.last is not None and w.projector.last.psnr > 18
    s.undo()
    assert s.recipe == before
    s.redo()
    assert s.recipe == r
    assert w.save_project(tmp_path / "p.lsproj")
    back = Project.from_dict(json.loads((tmp_path / "p.lsproj").read_text()))
    assert back.recipe.latent == r.latent


def test_a_photo_that_cannot_be_read_is_a_message(setup, tmp_path):
    worker, s, w = setup
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    errors: list[str] = []
    s.error.connect(errors.append)
    assert not w.projector.start(bad)
    assert errors and "broken.png" in errors[0] and "\n" not in errors[0]
    assert not s.tasks.running


def test_import_and_export_latent_files(setup, tmp_path):
    worker, s, w = setup
    before = s.recipe
    ws = np.random.default_rng(1).normal(size=(1, 10, 128)).astype(np.float32)
    np.savez(tmp_path / "projected_w.npz", w=ws)
    assert w.projector.import_latent(tmp_path / "projected_w.npz")
    assert isinstance(s.recipe.latent, WLatent)
    np.testing.assert_allclose(s.recipe.latent.rows(10, 128), ws[0], rtol=1e-6)
    s.undo()
    assert s.recipe == before
    np.save(tmp_path / "v.npy", np.ones(128, np.float32))  # 128 values: the demo's z or its w
    asked: list[list[str]] = []
    assert not w.projector.import_latent(tmp_path / "v.npy", ask=lambda o: asked.append(o) or None)
    assert asked == [["z", "w"]] and s.recipe == before  # declined: nothing changed
    assert w.projector.import_latent(tmp_path / "v.npy", ask=lambda o: "w")
    assert s.recipe.latent == WLatent((1.0,) * 128)
    assert w.projector.export_latent(tmp_path / "out.npz")
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["w"][0], np.ones((10, 128)), rtol=1e-6)
    errors: list[str] = []
    s.error.connect(errors.append)
    (tmp_path / "bad.npy").write_bytes(b"junk")
    assert not w.projector.import_latent(tmp_path / "bad.npy")
    assert errors and "bad.npy" in errors[-1]


def test_the_options_offer_what_the_model_supports_and_noise_maps_land_in_the_recipe(setup, photo, qtbot, tmp_path):
    import hashlib

    from studio.core.projection_record import record_for
    from studio.core.style_edits import noise_maps
    from studio.ui.projection_options_dialog import ProjectionOptionsDialog

    worker, s, w = setup
    before = s.recipe
    d = ProjectionOptionsDialog(s.generator, photo.name, w.projector.options(), w)
    qtbot.addWidget(d)
    assert [d.space.itemData(i) for i in range(d.space.count())] == ["w+", "w", "z"]
    assert d.space.currentData() == "w+" and d.steps.value() == STEPS
    assert d.loss.count() == 1 and "discriminator" in d.loss.toolTip()  # the loss is shown, and why alone
    d.space.setCurrentIndex(d.space.findData("z"))
    assert not d.noise.isEnabled() and not d.noise.isChecked()  # z has no noise inputs to fit
    d.space.setCurrentIndex(d.space.findData("w+"))
    assert d.noise.isEnabled()
    d.noise.setChecked(True)
    w.projector.set_options(d.options())
    assert w.projector.start(photo)
    worker.run_all()
    QApplication.processEvents()
    maps = noise_maps(s.recipe)
    assert isinstance(s.recipe.latent, WLatent) and maps is not None
    assert len(maps.maps) == len(s.generator.noise_layers())
    record = record_for(s.workspace.panel("projection"), s.recipe.latent)  # what made it, beside it
    assert record is not None and (record.photo, record.space, record.steps, record.loss, record.noise) == \
        ("me.png", "w+", STEPS, "pixel", True)
    assert record.photo_sha256 == hashlib.sha256(photo.read_bytes()).hexdigest() and record.psnr > 15
    assert w.save_project(tmp_path / "p.lsproj")
    back = Project.from_dict(json.loads((tmp_path / "p.lsproj").read_text()))
    assert record_for(back.workspace.panel("projection"), back.recipe.latent) == record
    s.undo()
    assert s.recipe == before and record_for(s.workspace.panel("projection"), s.recipe.latent) is None

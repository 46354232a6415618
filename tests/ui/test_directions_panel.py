"""Directions dock: fitting (attribute model and hand labels), library operations and refusals, on a tiny DCGAN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.direction_library import DirectionLibrary, SavedDirection, load_direction, save_direction
from studio.core.latents import seeds_to_z
from studio.core.project import load_project
from studio.core.recipe import Walk
from studio.render.engine import ModelCache, Renderer
from studio.render.worker import SyncWorker
from studio.ui.panels.directions_panel import ATTRIBUTE_MODEL, SCORE_AMOUNTS, DirectionsPanel, HandLabelDialog
from studio.ui.session import Session

from .helpers import drag_slider, drop_files


@pytest.fixture
def panel(qtbot, tmp_path: Path, tiny_dcgan_path: Path) -> DirectionsPanel:
    s = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    p = DirectionsPanel(s, DirectionLibrary(tmp_path / "library"), fit_samples=120)
    qtbot.addWidget(p)
    errors: list[str] = []
    s.error.connect(errors.append)
    p.errors = errors  # type: ignore[attr-defined]
    with qtbot.waitSignal(s.modelChanged, timeout=10000):
        s.open_model(tiny_dcgan_path)
    return p


def _direction(panel, name="Planted", dim=16, sha=None, model_name="tiny") -> SavedDirection:
    v = np.random.default_rng(5).normal(size=(1, dim))
    return SavedDirection(name, v, "z", "user", sha if sha is not None else panel.session.generator.model_id,
                          model_name)


DEMO = Path(__file__).resolve().parents[2] / "checkpoints" / "dcgan_toyfaces.safetensors"


def test_fit_on_one_class_says_why(qtbot, panel):
    """The untrained tiny DCGAN's noise reads as 'smiling' every time: no direction, a clear reason."""
    if not ATTRIBUTE_MODEL.is_file():
        pytest.skip("needs the bundled ToyFaces attribute model")
    panel.fit_btn.click()
    assert panel.errors and "need at least two positive and two negative samples" in panel.errors[-1]
    assert "LabelError" not in panel.errors[-1] and "Traceback" not in panel.errors[-1]
    assert panel.project_directions == [] and panel.fit_btn.isEnabled()


@pytest.mark.skipif(not (ATTRIBUTE_MODEL.is_file() and DEMO.is_file()), reason="needs the bundled demo models")
def test_fit_from_attribute_model_gives_a_slider_and_a_score_plot(qtbot, panel):
    s = panel.session
    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(DEMO)
    from studio.demo import attributes

    faces = Renderer().render_batch(s.generator, [s.recipe.with_seed(i) for i in range(20)])
    seed = int(np.argmax(attributes.predict(attributes.load(ATTRIBUTE_MODEL), faces)["Smiling"] < 0.3))
    s.edit(s.recipe.with_seed(seed), "seed")  # a face that is not smiling yet, so the walk has room to rise
    panel.attribute.setCurrentText("Smiling")
    with qtbot.waitSignal(panel.fitted, timeout=60000) as fitted:
        panel.fit_btn.click()
    result = fitted.args[0]
    d = result.direction
    assert d.source == "fitted:Smiling" and d.model_sha256 == s.generator.model_id and d.space == "z"
    assert panel.project_directions == [d] and "held-out accuracy" in panel.fit_status.text()
    assert d.label() in panel.active
    row = panel.active[d.label()][2]
    steps = s.history.count
    drag_slider(row, [0.5, 1.5])
    walk = next(e for e in s.recipe.edits if isinstance(e, Walk))
    assert walk.label == "dir:Smiling" and walk.amount == pytest.approx(1.5 * float(d.stddev[0]), rel=1e-3)
    np.testing.assert_allclose(walk.direction, d.vectors[0], rtol=1e-6)
    assert s.history.count == steps + 1  # one drag, one undo step
    assert np.array_equal(s.last_frame.image, Renderer().render(s.generator, s.recipe).image)
    amounts, scores = panel.last_scores
    assert np.array_equal(amounts, SCORE_AMOUNTS) and scores.shape == (13,) and ((0 <= scores) & (scores <= 1)).all()
    assert scores[0] < 0.3 < scores[-1]  # walking toward 'smiling' makes this face smile
    x, y = panel.score_curve.getData()
    assert np.allclose(y, scores)


def test_hand_labels_recover_a_planted_direction(qtbot, panel):
    v = np.random.default_rng(7).normal(size=16)
    v /= np.linalg.norm(v)
    seeds = list(range(300))
    labels = list(seeds_to_z(seeds, 16) @ v > 0.2)
    result = panel.fit_labels(seeds, labels, "Planted")
    assert float(result.direction.vectors[0] @ v) > 0.9
    assert result.direction.source == "fitted:Planted" and "Planted" in panel.fit_status.text()

    dialog = HandLabelDialog(panel.session.generator, panel.session.recipe)
    qtbot.addWidget(dialog)
    assert all(not b.icon().isNull() for b in dialog.buttons)
    dialog.buttons[0].click()                 # positive
    dialog.buttons[1].click()
    dialog.buttons[1].click()                 # negative
    dialog.buttons[2].click()
    dialog.buttons[2].click()
    dialog.buttons[2].click()                 # cleared again
    assert dialog.result()[:2] == ([0, 1], [True, False]) and dialog.count.text() == "1 positive, 1 negative"
    dialog.more.click()
    assert dialog.seeds()[0] == 16 and dialog.result()[0] == [0, 1]  # labels survive paging


def test_import_export_rename_delete_and_refusals(qtbot, panel, tmp_path: Path):
    s = panel.session
    np.save(tmp_path / "boundary.npy", np.random.default_rng(1).normal(size=(1, 16)).astype(np.float32))
    d = panel.import_path(tmp_path / "boundary.npy", "interfacegan")
    assert d is not None and d.model_sha256 == s.generator.model_id
    assert panel.tree.topLevelItemCount() == 1 and panel.tree.topLevelItem(0).text(3) == "✓ this model"
    assert panel.use_selected() and "dir:boundary" in panel.active

    out = tmp_path / "exported.lsdir"
    assert panel.export_selected(out)
    np.testing.assert_allclose(load_direction(out).vectors, d.vectors)
    panel.rename_selected("Lighting")
    assert [x.name for _, x in panel.library.entries()] == ["Lighting"]

    panel.import_path(tmp_path / "missing.npy", "interfacegan")
    assert "Cannot import missing.npy" in panel.errors[-1]

    wrong_size = _direction(panel, "Wide", dim=8)
    assert not panel.activate(wrong_size)
    assert "has 8 values but this model's Z has 16" in panel.errors[-1]

    other = _direction(panel, "Foreign", sha="f" * 64, model_name="stylish.safetensors")
    save_direction(other, panel.library.folder / "foreign.lsdir")
    panel.refresh()
    assert panel.select("Foreign") and panel.tree.currentItem().text(3) == "other model"
    asked: list[str] = []
    panel.confirm_other_model = lambda msg: asked.append(msg) or False
    assert not panel.use_selected()
    assert "stylish.safetensors" in asked[0] and "netG_epoch_3.pth" in asked[0] and "stylish.safetensors" in panel.errors[-1]
    panel.confirm_other_model = lambda msg: True  # the explicit override
    assert panel.use_selected() and "dir:Foreign" in panel.active

    panel.select("Lighting")
    panel.delete_selected()
    assert [x.name for _, x in panel.library.entries()] == ["Foreign"]


def test_main_window_dock_saves_fitted_directions_in_the_project(qtbot, window, tiny_dcgan_path, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path / "data"))
    panel = window.directions_panel
    panel.library = DirectionLibrary(tmp_path / "lib")
    with qtbot.waitSignal(window.walk_panel.pcaReady, timeout=20000):
        drop_files(window, [tiny_dcgan_path])
    assert window.docks["directions"].isVisibleTo(window) or window.docks["directions"].toggleViewAction().isChecked()
    assert panel.pca_bars is not None  # the Walk panel's PCA feeds the explained-variance plot
    heights = panel.pca_bars.opts["height"]
    np.testing.assert_allclose(heights, 100 * window.walk_panel.pca_directions.explained, rtol=1e-6)
    seeds = list(range(40))
    panel.fit_labels(seeds, [i % 2 == 0 for i in seeds], "Even")
    path = tmp_path / "p.lsproj"
    assert window.save_project(path)
    saved = load_project(path).saved_directions
    assert [x.name for x in saved] == ["Even"] and saved[0].model_sha256 == window.session.generator.model_id
    assert panel.save_selected() is not None and panel.project_directions == []
    assert [x.name for _, x in panel.library.entries()] == ["Even"]

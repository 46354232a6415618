"""Directions dock: fitting (attribute model and hand labels), library operations and refusals, on a tiny DCGAN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QWidget

from studio.core.direction_library import DirectionLibrary, SavedDirection, load_direction, save_direction
from studio.core.latents import seeds_to_z
from studio.core.library_journal import journal
from studio.core.project import Project, load_project
from studio.core.recipe import Walk
from studio.render.engine import ModelCache, Renderer
from studio.render.worker import SyncWorker
from studio.ui.panels.directions_panel import ATTRIBUTE_MODEL, SCORE_AMOUNTS, DirectionsPanel, HandLabelDialog
from studio.ui.session import Session

from .helpers import SteppedWorker, drag_slider, drop_files


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


def test_a_model_not_trained_on_toyfaces_is_offered_hand_labels_not_the_toyfaces_labeller(qtbot, panel):
    """The tiny DCGAN draws noise, not ToyFaces: the ToyFaces attribute model would score it with confidence."""
    assert panel.labellers == [] and not panel.fit_btn.isEnabled() and panel.hand_btn.isEnabled()
    assert panel.labeller_box.currentText() == "none for this model" and not panel.labeller_box.isEnabled()
    assert "only models trained on ToyFaces" in panel.labeller_note.text()
    panel.fit_from_attribute()  # the menu item: a message, no fit
    assert panel.errors and "fit from hand labels" in panel.errors[-1]


def test_fit_on_one_class_says_why(qtbot, panel):
    """A plugin's labeller that reads every sample as positive: no direction, a clear reason."""
    from studio.model import labellers

    saved = list(labellers._registered)
    labellers.register_labeller(labellers.Labeller(
        "Always yes", ("Yes",), lambda images: {"Yes": np.ones(len(images), np.float32)},
        lambda info: info.resolution == 32))
    try:
        panel.on_model(panel.session.generator)
        assert panel.labeller_box.currentText() == "Always yes" and panel.attribute.currentText() == "Yes"
        panel.fit_btn.click()
    finally:
        labellers._registered[:] = saved
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
    assert panel.project_directions == [d] and panel.labeller_box.currentText() == "ToyFaces attribute model"
    fit = result.fit
    line = panel.accuracy_line.text()  # what was held out, and chance beside it
    assert f"{fit.test_accuracy:.1%} right on {fit.n_test} of 120 samples held out" in line and "chance" in line
    assert panel.accuracy_line.isVisibleTo(panel) and panel.walk_line.isVisibleTo(panel)
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
    walk = panel.walk_line.text()  # how far the walk moves the score, next to the accuracy
    assert f"P(Smiling) {scores[0]:.2f} to {scores[-1]:.2f}" in walk and "ToyFaces attribute model" in walk


def test_hand_labels_recover_a_planted_direction(qtbot, panel):
    v = np.random.default_rng(7).normal(size=16)
    v /= np.linalg.norm(v)
    seeds = list(range(300))
    labels = list(seeds_to_z(seeds, 16) @ v > 0.2)
    result = panel.fit_labels(seeds, labels, "Planted")
    assert float(result.direction.vectors[0] @ v) > 0.9
    assert result.direction.source == "fitted:Planted" and "Planted" in panel.fit_status.text()

    dialog = HandLabelDialog(panel.session)
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
    saved = load_project(path).workspace
    assert [x.name for x in saved.directions] == ["Even"] and saved.sliders == ("Even",)
    assert saved.directions[0].model_sha256 == window.session.generator.model_id
    assert saved.pca is not None and np.allclose(saved.pca.vectors, window.walk_panel.pca_directions.vectors)
    assert panel.save_selected() is not None and panel.project_directions == []
    assert [x.name for _, x in panel.library.entries()] == ["Even"]
    assert "dir:Even" in panel.active  # the slider now walks the library's copy


def _files(panel) -> list[str]:
    return sorted(p.name for p in panel.library.folder.glob("*.lsdir"))


def _tree_names(panel) -> list[str]:
    return [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]


def test_using_renaming_stopping_and_removing_a_project_direction_are_undo_steps(qtbot, panel):
    s = panel.session
    d = _direction(panel, "Planted")
    assert panel.activate(d)  # a direction from neither project nor library is kept with the work
    assert s.workspace.directions == (d,) and s.workspace.sliders == ("Planted",) and s.history.count == 1
    assert _tree_names(panel) == ["Planted (project)"] and list(panel.active) == ["dir:Planted"]
    drag_slider(panel.active["dir:Planted"][2], [0.5, 1.0])
    amount = s.recipe.walk_amount("dir:Planted")
    assert amount != 0.0

    assert panel.select("Planted")
    panel.rename_selected("Renamed")
    assert s.workspace.directions[0].name == "Renamed" and s.workspace.sliders == ("Renamed",)
    assert list(panel.active) == ["dir:Renamed"] and s.recipe.walk_amount("dir:Renamed") == amount
    assert panel.active["dir:Renamed"][2].value() == pytest.approx(1.0)  # the walk followed the name
    s.undo()
    assert _tree_names(panel) == ["Planted (project)"] and list(panel.active) == ["dir:Planted"]
    assert panel.active["dir:Planted"][2].value() == pytest.approx(1.0)
    s.redo()
    assert _tree_names(panel) == ["Renamed (project)"]

    panel.active["dir:Renamed"][2].stop.click()  # stop using: slider and walk go, the direction stays
    assert s.workspace.sliders == () and panel.active == {} and s.recipe.edits == ()
    assert _tree_names(panel) == ["Renamed (project)"] and panel.section.placeholder.text()
    s.undo()
    assert list(panel.active) == ["dir:Renamed"] and s.recipe.walk_amount("dir:Renamed") == amount

    steps = s.history.index
    assert panel.select("Renamed")
    panel.delete_selected()
    assert s.workspace.directions == () and panel.tree.topLevelItemCount() == 0 and panel.active == {}
    assert s.history.index == steps + 1 and s.recipe.edits == ()
    s.undo()
    assert _tree_names(panel) == ["Renamed (project)"] and list(panel.active) == ["dir:Renamed"]
    assert panel.active["dir:Renamed"][2].value() == pytest.approx(1.0)
    assert panel.errors == []


def test_library_changes_are_undo_steps_that_write_the_folder_back(qtbot, panel, tmp_path: Path):
    s = panel.session
    np.save(tmp_path / "boundary.npy", np.random.default_rng(1).normal(size=(1, 16)).astype(np.float32))
    d = panel.import_path(tmp_path / "boundary.npy", "interfacegan")
    assert _files(panel) == ["boundary.lsdir"] and s.history.count == 1
    s.undo()
    assert _files(panel) == [] and panel.tree.topLevelItemCount() == 0
    s.redo()
    assert _files(panel) == ["boundary.lsdir"] and _tree_names(panel) == ["boundary"]

    assert panel.select("boundary") and panel.use_selected()
    assert s.workspace.sliders == ("boundary",) and s.workspace.directions == ()  # a library entry in use
    drag_slider(panel.active["dir:boundary"][2], [2.0])
    panel.select("boundary")
    panel.delete_selected()  # the file goes, and the slider and walk with it
    assert _files(panel) == [] and panel.active == {} and s.recipe.edits == ()
    s.undo()  # the undo step kept the direction: the file is written back
    assert _files(panel) == ["boundary.lsdir"]
    np.testing.assert_allclose(load_direction(panel.library.folder / "boundary.lsdir").vectors, d.vectors)
    assert panel.active["dir:boundary"][2].value() == pytest.approx(2.0)
    s.redo()
    assert _files(panel) == [] and panel.active == {}
    s.undo()

    panel.select("boundary")
    panel.rename_selected("Light")
    assert [x.name for _, x in panel.library.entries()] == ["Light"] and list(panel.active) == ["dir:Light"]
    assert s.recipe.walk_amount("dir:Light") != 0.0
    s.undo()
    assert [x.name for _, x in panel.library.entries()] == ["boundary"]
    assert list(panel.active) == ["dir:boundary"]

    panel.select("boundary")
    panel.delete_selected()
    save_direction(_direction(panel, "Someone else's"), panel.library.folder / "boundary.lsdir")
    s.undo()  # a file another hand put under that name is kept; the direction comes back beside it
    assert sorted(x.name for _, x in panel.library.entries()) == ["Someone else's", "boundary"]
    assert panel.errors == []


def test_directions_and_sliders_are_saved_with_the_project(qtbot, panel, tmp_path: Path):
    s = panel.session
    seeds = list(range(40))
    fitted = panel.fit_labels(seeds, [i % 2 == 0 for i in seeds], "Even").direction
    np.save(tmp_path / "boundary.npy", np.random.default_rng(1).normal(size=(1, 16)).astype(np.float32))
    panel.import_path(tmp_path / "boundary.npy", "interfacegan")
    panel.select("boundary")
    panel.use_selected()
    drag_slider(panel.active["dir:Even"][2], [1.5])
    back = Project.from_dict(s.project().to_dict())
    ws = back.workspace
    assert [x.name for x in ws.directions] == ["Even"] and ws.sliders == ("Even", "boundary")
    np.testing.assert_allclose(ws.directions[0].vectors, fitted.vectors)
    assert journal(ws) == journal(s.workspace) and list(journal(ws)) == ["boundary.lsdir"]

    s2 = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    p2 = DirectionsPanel(s2, panel.library)
    qtbot.addWidget(p2)
    with qtbot.waitSignal(s2.modelChanged, timeout=10000):
        s2.open_model(s.model_path, project=back)
    assert list(p2.active) == ["dir:Even", "dir:boundary"]
    assert p2.active["dir:Even"][2].value() == pytest.approx(1.5)
    for _ in range(3):  # the drag, the use, the import
        s2.undo()  # the restored history reaches the library too
    assert _files(p2) == [] and list(p2.active) == ["dir:Even"]


@pytest.mark.skipif(not DEMO.is_file(), reason="needs the bundled demo models")
def test_switching_models_shows_only_the_open_models_directions(qtbot, panel):
    s = panel.session
    stylegan = DEMO.with_name("stylegan2_toyfaces.safetensors")
    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(DEMO)
    seeds = list(range(40))
    panel.fit_labels(seeds, [i % 2 == 0 for i in seeds], "Even")
    drag_slider(panel.active["dir:Even"][2], [1.0])
    assert _tree_names(panel) == ["Even (project)"]

    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(stylegan)
    assert panel.active == {} and panel.section.rows == {} and panel.project_directions == []
    assert panel.tree.topLevelItemCount() == 0 and s.workspace.sliders == ()
    assert [r for r in panel.section.findChildren(QWidget) if r.objectName() == "walkName"] == []

    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(DEMO)
    assert _tree_names(panel) == ["Even (project)"] and list(panel.active) == ["dir:Even"]
    assert panel.active["dir:Even"][2].value() == pytest.approx(1.0)
    s.undo()  # the DCGAN's history came back too
    assert panel.active["dir:Even"][2].value() == 0.0
    assert panel.errors == []


@pytest.fixture
def stepped(qtbot, tmp_path: Path):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    p = DirectionsPanel(s, DirectionLibrary(tmp_path / "library"), fit_samples=150)
    qtbot.addWidget(p)
    errors: list[str] = []
    s.error.connect(errors.append)
    p.errors = errors  # type: ignore[attr-defined]
    return worker, p


@pytest.mark.skipif(not (ATTRIBUTE_MODEL.is_file() and DEMO.is_file()),
                    reason="needs the bundled demo models")
def test_fitting_runs_a_batch_stage_per_step_and_the_newest_fit_wins(qtbot, stepped):
    worker, panel = stepped
    s = panel.session
    g = s.models.get(DEMO)
    s.set_generator(g, DEMO)
    panel.attribute.setCurrentText("Smiling")
    panel.fit_btn.click()
    for _ in range(3):
        worker.step()
    assert panel.section.progress.isVisibleTo(panel) and s.workspace.directions == ()
    panel.attribute.setCurrentText("Male")
    assert panel.fit_btn.isEnabled()
    panel.fit_btn.click()  # replaces the running fit
    worker.run_all()
    assert [d.name for d in s.workspace.directions] == ["Male"] and s.workspace.sliders == ("Male",)
    assert worker.steps >= 3 + 3 * len(g.stages)  # 150 samples: 3 batches of 64, a stage per step
    assert panel.errors == [] and panel.accuracy_line.text().startswith("Male: ")
    assert not panel.section.progress.isVisibleTo(panel)


def test_hand_label_pages_render_on_the_worker_and_the_newest_page_wins(qtbot, stepped, tiny_dcgan_path):
    worker, panel = stepped
    s = panel.session
    s.set_generator(s.models.get(tiny_dcgan_path), tiny_dcgan_path)
    dialog = HandLabelDialog(s)
    qtbot.addWidget(dialog)
    assert all(b.icon().isNull() and not b.isEnabled() for b in dialog.buttons)  # nothing rendered yet
    worker.step()
    dialog.more.click()  # a newer page before the first is done: the first is cancelled
    worker.run_all()
    assert dialog.seeds()[0] == 16 and all(not b.icon().isNull() and b.isEnabled() for b in dialog.buttons)
    assert dialog.buttons[0].toolTip() == "Seed 16" and panel.errors == []
    dialog.reject()
    assert worker.jobs == []

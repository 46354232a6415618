"""The Directions panel's fit evaluation, keep-fixed control and scores-file workflow, and Help > Plugins'
labeller list, on the bundled DCGAN demo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.direction_library import DirectionLibrary
from studio.render.engine import ModelCache
from studio.render.worker import SyncWorker
from studio.ui.panels.directions_panel import ATTRIBUTE_MODEL, DirectionsPanel
from studio.ui.session import Session

DEMO = Path(__file__).resolve().parents[2] / "checkpoints" / "dcgan_toyfaces.safetensors"
pytestmark = pytest.mark.skipif(not (ATTRIBUTE_MODEL.is_file() and DEMO.is_file()), reason="needs the demo models")


@pytest.fixture
def panel(qtbot, tmp_path: Path) -> DirectionsPanel:
    s = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    p = DirectionsPanel(s, DirectionLibrary(tmp_path / "library"), fit_samples=2000)
    p.evaluation_seeds = list(range(2_000_000_000, 2_000_000_012))
    qtbot.addWidget(p)
    errors: list[str] = []
    s.error.connect(errors.append)
    p.errors = errors  # type: ignore[attr-defined]
    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(DEMO)
    return p


def test_keeping_male_fixed_fits_a_projected_direction_and_plots_both_walks(qtbot, panel):
    panel.attribute.setCurrentText("Eyeglasses")
    keep = panel.keep_fixed
    assert "Eyeglasses" not in keep._actions and "Male" in keep._actions  # the target is not offered
    keep.set_selected(["Male"])
    assert keep.text() == "Male"
    with qtbot.waitSignal(panel.evaluated, timeout=60000) as got:
        panel.fit_btn.click()
    ev = got.args[0]
    d = panel.last_fit.direction
    assert d.info["kept_fixed"] == ["Male"] and abs(float(d.vectors[0] @ panel.last_fit.kept["Male"].direction)) < 1e-5
    assert ev.kept_fixed == ("Male",) and ev.plain is not None and ev.n_seeds == 12
    assert set(ev.others()) == {"Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Smiling"}
    assert ev.walk.change("Eyeglasses") > 0.3
    shown = panel.evaluation
    assert shown.isVisibleTo(panel) and shown.shown is ev
    names = shown.names
    assert len(shown.plot.plotItem.listDataItems()) == len(names) == 6 + 2
    assert names[0] == "Eyeglasses" and "Male (kept)" in names and "Male, before keeping fixed" in names
    assert "Male" in shown.text.text() and "(was" in shown.text.text()
    assert "chance" in panel.accuracy_line.text()


def test_exported_samples_scored_outside_fit_from_the_scores_file(qtbot, panel, tmp_path):
    from PIL import Image

    from studio.demo import attributes

    folder = tmp_path / "samples"
    panel.export_samples(folder, 80)
    assert (folder / "samples.json").is_file() and len(list((folder / "images").glob("*.png"))) == 80
    images = np.stack([np.asarray(Image.open(p)) for p in sorted((folder / "images").glob("*.png"))])
    p = attributes.predict(attributes.load(ATTRIBUTE_MODEL), images)
    csv = tmp_path / "scores.csv"
    csv.write_text("Smiling,Male\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in zip(p["Smiling"], p["Male"])))
    with qtbot.waitSignal(panel.evaluated, timeout=60000):
        result = panel.fit_scores(folder, csv, "Smiling")
    assert result is not None and result.direction.info["labels"] == "scores file scores.csv"
    assert any(d.name == "Smiling" for d in panel.project_directions)
    bad = tmp_path / "short.csv"
    bad.write_text("Smiling\n0.5\n")
    assert panel.fit_scores(folder, bad, "Smiling") is None
    assert panel.errors[-1].startswith("Cannot fit from short.csv:") and "samples number 80" in panel.errors[-1]


def test_help_plugins_lists_the_labellers(qtbot):
    from studio.model.labellers import default_labellers
    from studio.model.registry import default_registry
    from studio.ui.plugins_dialog import PluginsDialog

    default_registry()
    default_labellers()
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    rows = [dialog.labellers.item(r, 0).text() for r in range(dialog.labellers.rowCount())]
    assert "ToyFaces attribute model" in rows
    assert "Eyeglasses" in dialog.labellers.item(rows.index("ToyFaces attribute model"), 1).text()


def test_a_hand_labelled_fit_no_labeller_scores_shows_its_accuracy_but_no_walk_plot(qtbot, panel):
    seeds = list(range(24))
    with qtbot.waitSignal(panel.evaluated, timeout=20000) as got:
        panel.fit_labels(seeds, [s % 2 == 0 for s in seeds], "Even seeds")
    assert got.args[0].walk is None and not panel.evaluation.isVisibleTo(panel)
    assert "Even seeds" in panel.accuracy_line.text()


def test_a_broken_labeller_drop_in_is_told_once_when_a_model_opens(qtbot, tmp_path, monkeypatch):
    from studio.model import labellers, registry

    (tmp_path / "bad_labeller.py").write_text("labeller = 'not a Labeller'\n")
    monkeypatch.setenv(registry.PLUGIN_PATH_ENV, str(tmp_path))
    registry.reset_default_registry()
    labellers.reset_labellers()
    try:
        s = Session(SyncWorker(), ModelCache(torch.device("cpu")))
        told: list[list[str]] = []
        s.pluginProblems.connect(told.append)
        p = DirectionsPanel(s, DirectionLibrary(tmp_path / "library"))
        qtbot.addWidget(p)
        for _ in range(2):
            with qtbot.waitSignal(s.modelChanged, timeout=20000):
                s.open_model(DEMO)
    finally:
        registry.reset_default_registry()
        labellers.reset_labellers()
    assert len(told) == 1 and len(told[0]) == 1 and "bad_labeller.py" in told[0][0]
    assert "not a studio.model.labellers.Labeller" in told[0][0]
    assert [x.name for x in p.labellers] == ["ToyFaces attribute model"]  # the others still work

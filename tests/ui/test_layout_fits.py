"""The window as a user sees it: at 1280x800 and 1920x1080, with each bundled demo, a conditional StyleGAN and
a StarGAN translator open, every panel is shown in turn and no interactive control in it is cut (its visible
region is its whole rect once scrolled to, vertically), no dock scrolls sideways, every tab is reachable
without scroll arrows; the model's headline tool is in front; an export shows progress, time left and
Cancel in the status bar whatever panel is in front, and a finished export offers its file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractScrollArea, QAbstractSlider,
                               QAbstractSpinBox, QApplication, QComboBox, QDockWidget, QLineEdit, QScrollArea,
                               QScrollBar, QTabBar, QWidget)

from studio.bundled import checkpoints_dir, demo_checkpoints
from studio.render.engine import ModelCache
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

from tests.conftest import shared_path
from .helpers import SteppedWorker

SIZES = [(1280, 800), (1920, 1080)]
DEMOS = {p.stem.split("_")[0]: p for p in demo_checkpoints()}
CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox, QAbstractSlider, QLineEdit, QAbstractItemView)


def conditional_stylegan() -> Path:
    folder = shared_path("fixtures", "stylegan2ada_nvlabs")
    manifest = json.loads((folder / "manifest.json").read_text())
    cond = manifest["variants"]["cond"]
    assert cond["G_ema"]["c_dim"] > 0  # conditioned on a class label
    return folder / cond["checkpoint"]["file"]


MODELS = {
    "dcgan": lambda: DEMOS["dcgan"],
    "stylegan2": lambda: DEMOS["stylegan2"],
    "stargan": lambda: DEMOS["stargan"],
    "stylegan2ada-cond": conditional_stylegan,
    "stargan-yunjey": lambda: shared_path("fixtures", "stargan_yunjey", "1000-G.ckpt"),
}
HEADLINE = {"dcgan": "walk", "stylegan2": "style_mix", "stargan": "attributes",
            "stylegan2ada-cond": "style_mix", "stargan-yunjey": "attributes"}


def settle(worker: SteppedWorker, rounds: int = 3) -> None:
    """Let jobs (thumbnails, PCA, statistics) finish and the layout follow, as time does for a user."""
    for _ in range(rounds):
        worker.run_all()
        QApplication.processEvents()


def open_window(qtbot, tmp_path: Path, size: tuple[int, int], path: Path) -> MainWindow:
    worker = SteppedWorker()
    session = Session(worker, ModelCache(torch.device("cpu")))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session, settings, checkpoints=checkpoints_dir(), pca_samples=200)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    session.open_model(path)
    settle(worker)
    assert session.generator is not None, f"{path.name} did not open"
    return w


def is_control(w: QWidget) -> bool:
    if not isinstance(w, CONTROLS) or isinstance(w, QScrollBar):
        return False
    p = w.parentWidget()
    while p is not None:  # a spin box's line edit, a combo's view, an index widget: part of another control
        if isinstance(p, (QAbstractSpinBox, QComboBox, QAbstractItemView)):
            return False
        p = p.parentWidget()
    return True


def scroll_to(w: QWidget) -> None:
    """What a user does to see a control below the fold: scroll each enclosing area to it (vertically)."""
    p = w.parentWidget()
    while p is not None:
        if isinstance(p, QScrollArea) and p.widget() is not None and p.widget().isAncestorOf(w):
            # the whole widget (ensureWidgetVisible only brings an input's text cursor into view)
            centre = w.mapTo(p.widget(), w.rect().center())
            p.ensureVisible(centre.x(), centre.y(), w.width() // 2 + 1, w.height() // 2 + 1)
        p = p.parentWidget()
    QApplication.processEvents()


def clipped_controls(root: QWidget) -> list[str]:
    cut = []
    for w in root.findChildren(QWidget):
        if not (is_control(w) and w.isVisible() and w.isEnabled()):
            continue
        scroll_to(w)
        seen = w.visibleRegion().boundingRect()
        if seen != w.rect():
            label = getattr(w, "text", lambda: "")() if not isinstance(w, QComboBox) else w.currentText()
            cut.append(f"{type(w).__name__} {w.objectName() or label!r}: {seen.width()}x{seen.height()} of "
                       f"{w.width()}x{w.height()}")
    return cut


def sideways_scrollers(root: QWidget) -> list[str]:
    """Scroll areas showing a horizontal scroll bar (strips that scroll only sideways by design excepted)."""
    out = []
    for a in root.findChildren(QAbstractScrollArea):
        if a.isVisible() and a.verticalScrollBarPolicy() != a.verticalScrollBarPolicy().ScrollBarAlwaysOff \
                and a.horizontalScrollBar().isVisible():
            out.append(f"{type(a).__name__} {a.objectName()}")
    return out


def tab_problems(w: MainWindow) -> list[str]:
    out = []
    for bar in w.findChildren(QTabBar):
        if not bar.isVisible():
            continue
        for i in range(bar.count()):
            if not bar.rect().contains(bar.tabRect(i)):
                out.append(f"tab {bar.tabText(i)!r} is not wholly in its bar")
            if bar.tabText(i).endswith("…"):
                out.append(f"tab {bar.tabText(i)!r} is elided")
    return out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("model", list(MODELS))
def test_every_panel_fits(qtbot, tmp_path, model, size):
    path = MODELS[model]()
    w = open_window(qtbot, tmp_path, size, path)
    assert (w.width(), w.height()) == size, "the panels' minimum sizes push the window past the screen"
    shown = {k: d for k, d in w.docks.items() if not d.isHidden()}
    assert HEADLINE[model] in shown and shown[HEADLINE[model]].isVisible(), "the headline tool is in front"
    if model.startswith("stargan"):  # the photo and its attributes; no seed tools, no empty Features first
        assert w.stack.currentWidget() is w.photo_view
        assert not {"seeds", "latent", "walk", "timeline"} & set(shown)
    problems = []
    for key, dock in shown.items():
        dock.raise_()
        settle(w.session.worker, 2)
        assert dock.isVisible(), f"{key} could not be brought to the front"
        problems += [f"{key}: {p}" for p in clipped_controls(dock) + sideways_scrollers(dock)]
    problems += tab_problems(w)
    problems += [f"status bar: {p}" for p in clipped_controls(w.statusBar())]
    assert not problems, f"{model} at {size}:\n" + "\n".join(problems)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_export_progress_and_cancel_are_in_view_during_an_export(qtbot, tmp_path, size):
    w = open_window(qtbot, tmp_path, size, DEMOS["dcgan"])
    s, panel, area = w.session, w.timeline_panel, w.task_area
    for seed in (1, 2):
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        panel.add_button.click()
    settle(s.worker)
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(40)
    w.docks["features"].raise_()  # whatever is in front, the export shows in the status bar
    out = tmp_path / "walk.gif"
    assert panel.export_to(out)
    for _ in range(200):  # the walk is expanded, then frames render, a stage per step
        s.worker.step()
        if area.bar.value() > 0:
            break
    QApplication.processEvents()
    for part in (area.title, area.bar, area.eta, area.cancel):
        assert part.isVisible() and part.visibleRegion().boundingRect() == part.rect(), part
    assert area.title.text() == "Exporting walk.gif" and 0 < area.bar.value() < area.bar.maximum()
    assert "/41" in area.eta.text()
    assert (w.width(), w.height()) == size, (f"the export's progress widgets widen the window: status bar "
                                            f"{w.statusBar().minimumSizeHint()}, timeline "
                                            f"{w.docks['timeline'].minimumSizeHint()}")
    assert not clipped_controls(w.statusBar()) and not clipped_controls(w.docks["timeline"])
    area.cancel.click()
    settle(s.worker)
    assert not area.isVisible() and not out.exists() and not panel.exporting
    # exported to the end: the status bar offers the file
    revealed: list[Path] = []
    area.reveal_fn = revealed.append
    assert panel.export_to(out)
    settle(s.worker)
    assert out.is_file() and area.isVisible() and area.reveal.isVisible() and not area.cancel.isVisible()
    assert area.reveal.visibleRegion().boundingRect() == area.reveal.rect()
    area.reveal.click()
    assert revealed == [out]
    area.dismiss.click()
    assert not area.isVisible()


def test_the_status_bar_shows_only_the_open_models_figures(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, SIZES[0], DEMOS["dcgan"])
    assert w.zoom_label.text().endswith("%") and w.render_label.text().startswith("render")
    w.session.open_model(DEMOS["stargan"])  # a translator waiting for a photo: no zoom, no render time yet
    settle(w.session.worker)
    assert w.zoom_label.text() == "" and w.render_label.text() == ""
    w.session.open_model(DEMOS["stylegan2"])
    settle(w.session.worker)
    assert w.zoom_label.text() == f"{w.canvas.zoom() * 100:.0f}%"
    assert w.render_label.text().startswith("render") and "fps" not in w.render_label.text()


def right_tabs(w: MainWindow) -> list[str]:
    """The titles of the right column's tab bar, in order."""
    tools = {w.docks[k].windowTitle() for k in ("walk", "attributes", "style_mix", "features")}
    for bar in w.findChildren(QTabBar):
        titles = [bar.tabText(i) for i in range(bar.count())]
        if bar.isVisible() and tools & set(titles):
            return titles
    return []


def test_switching_models_reorders_the_tools_and_keeps_the_window_size(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, SIZES[0], DEMOS["dcgan"])
    assert right_tabs(w) == ["Walk", "Directions", "Arithmetic", "Features"]
    for name, tabs in (("stargan", ["Attributes", "Features"]),
                       ("stylegan2", ["Mixing", "Walk", "Noise", "Directions", "Arithmetic", "Features"]),
                       ("dcgan", ["Walk", "Directions", "Arithmetic", "Features"])):
        w.session.open_model(DEMOS[name])
        settle(w.session.worker)
        assert right_tabs(w) == tabs, name
        assert w.docks[HEADLINE[name]].isVisible() and (w.width(), w.height()) == SIZES[0]
        assert not tab_problems(w)

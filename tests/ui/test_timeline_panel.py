"""The timeline dock: keyframes from the canvas, segment settings, preview, export; projects and autosave."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings

from studio.core.project import Autosave, load_project
from studio.core.recipe import SeedLatent
from studio.export.writers import frame_name
from studio.render.engine import ModelCache, Renderer
from studio.render.worker import SyncWorker
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

from .test_main_window import open_by_drop


def _add_keys(window, seeds):
    s = window.session
    for seed in seeds:
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        window.timeline_panel.add_button.click()


def _new_window(qtbot, tmp_path: Path, name: str) -> MainWindow:
    """What a fresh launch builds: a new session and window (same settings folder)."""
    session = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    settings = QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session, settings, checkpoints=tmp_path / "none", pca_samples=200)
    qtbot.addWidget(w)
    w.show()
    return w


def test_keyframes_segments_and_summary(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [3, 5, 9])
    t = panel.timeline
    assert [k.latent for k in t.keyframes] == [SeedLatent(3), SeedLatent(5), SeedLatent(9)]
    assert panel.keys.count() == 3
    assert not panel.keys.item(0).icon().isNull()  # a thumbnail of the keyframe
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(10)
    panel.easing.setCurrentText("ease-in-out")
    assert t != panel.timeline and panel.timeline.segments[0].frames == 10
    assert panel.timeline.segments[0].easing == "ease-in-out" and panel.timeline.segments[1].frames == 24
    assert panel.timeline.frame_count() == 10 + 24 + 1
    assert "3 keys · 35 frames" in panel.summary.text()
    panel.loop.setChecked(True)
    assert panel.timeline.loop and panel.timeline.frame_count() == 10 + 24 + 24
    panel.keys.setCurrentRow(2)
    panel.remove.click()
    assert len(panel.timeline.keyframes) == 2
    # double-click a keyframe: edit from there (one undo step)
    panel._edit_from(panel.keys.item(0))
    assert window.session.recipe.latent == SeedLatent(3)


def test_export_from_the_panel_writes_the_frames(qtbot, window, tiny_dcgan_path, tmp_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [1, 2])
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(6)
    panel.scale.setValue(2)
    out = tmp_path / "frames"
    assert panel.export_to(out)
    assert not panel.exporting and panel.progress.value() == 7
    g = window.session.generator
    expected = [Renderer().render(g, r).image for r in panel.timeline.recipes(g)]
    got = [np.asarray(Image.open(out / frame_name(i, 7))) for i in range(7)]
    assert all(np.array_equal(a, b.repeat(2, 0).repeat(2, 1)) for a, b in zip(got, expected))
    # exporting again to the same name is refused with a message, not a crash or an overwrite
    errors = []
    window.session.error.connect(errors.append)
    assert not panel.export_to(out)
    assert errors and "already exists" in errors[0]


def test_preview_plays_frames_of_the_sequence(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [1, 2])
    panel.play.click()
    assert panel.play.text() == "Stop"
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None and not panel.preview.pixmap().isNull(),
                    timeout=5000)
    panel.play.click()
    assert panel.play.text() == "Play" and not panel.timer.isActive()


def test_autosave_writes_and_the_next_launch_recovers(qtbot, window, tiny_dcgan_path, tmp_path):
    store = tmp_path / "auto"
    assert not window.start_autosave(Autosave(store), ask=lambda: pytest.fail("nothing to recover yet"))
    open_by_drop(qtbot, window, tiny_dcgan_path)
    _add_keys(window, [4, 8])
    s = window.session
    s.edit(s.recipe.with_seed(11).with_truncation(0.6), "seed 11")
    assert window.autosave_now()
    saved = load_project(store / "autosave.lsproj")
    assert saved.recipe == s.recipe and len(saved.timeline.keyframes) == 2
    # the process dies here: no closeEvent, no clean-exit marker

    asked = []
    w2 = _new_window(qtbot, tmp_path, "second")
    assert w2.start_autosave(Autosave(store), ask=lambda: asked.append(1) or True)
    assert asked == [1]
    assert w2.session.recipe == saved.recipe
    assert w2.timeline_panel.timeline == saved.timeline
    assert w2.canvas.image() is not None
    assert np.array_equal(w2.canvas.image(), Renderer().render(w2.session.generator, saved.recipe).image)
    w2.session.undo()  # the history came back too
    assert w2.session.recipe.latent == SeedLatent(8)
    w2.close()  # a clean exit: the launch after it offers nothing
    w3 = _new_window(qtbot, tmp_path, "third")
    assert not w3.start_autosave(Autosave(store), ask=lambda: pytest.fail("clean exit: nothing to offer"))


def test_project_with_a_moved_checkpoint_asks_where_it_went(qtbot, window, tiny_dcgan_path, tmp_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    _add_keys(window, [6, 7])
    proj = tmp_path / "p.lsproj"
    assert window.save_project(proj)
    moved = tmp_path / "moved" / tiny_dcgan_path.name
    moved.parent.mkdir()
    tiny_dcgan_path.rename(moved)
    w2 = _new_window(qtbot, tmp_path, "second")
    asked = []
    assert w2.open_project(proj, relocate=lambda missing: asked.append(missing) or moved)
    assert asked == [str(tiny_dcgan_path)]
    assert w2.session.model_path == moved and w2.session.recipe.latent == SeedLatent(7)
    assert len(w2.timeline_panel.timeline.keyframes) == 2
    # a damaged project file is a message in the window, not a crash
    (tmp_path / "bad.lsproj").write_text("{ nope")
    assert not w2.open_project(tmp_path / "bad.lsproj")
    assert "damaged" in w2.statusBar().currentMessage()

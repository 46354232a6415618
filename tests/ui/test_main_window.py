"""The main window driven as a user would: drop a checkpoint, walk, undo, open bad files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.render.engine import Renderer
from studio.ui.gui_text import gui_text
from .helpers import drag_slider, drop_files


def open_by_drop(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        entered, dropped = drop_files(window, [path])
    assert entered and dropped


def test_drop_walk_undo_restores_the_exact_frame(qtbot, window, tiny_dcgan_path):
    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    assert s.generator is not None and s.generator.info.resolution == 32
    assert window.stack.currentWidget() is window.canvas
    before = window.canvas.image().copy()
    assert before.shape == (32, 32, 3)

    label, row = next(iter(window.walk_panel.sliders().items()))
    drag_slider(row, [0.5, 1.5, 2.5])
    after = window.canvas.image()
    assert s.recipe.walk_amount(label) == pytest.approx(2.5)
    assert not np.array_equal(after, before), "walking along a direction must change the image"
    # what is on screen is what the renderer makes for the current recipe
    assert np.array_equal(after, Renderer().render(s.generator, s.recipe).image)

    window.actions_by_name["undo"].trigger()
    assert np.array_equal(window.canvas.image(), before)
    assert s.recipe.walk_amount(label) == 0.0
    assert row.value() == 0.0, "the slider follows the undone recipe"
    window.actions_by_name["redo"].trigger()
    assert np.array_equal(window.canvas.image(), after)


def test_one_slider_drag_is_one_undo_step(qtbot, window, tiny_dcgan_path):
    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    rows = list(window.walk_panel.sliders().values())
    drag_slider(rows[0], np.linspace(0.1, 2.0, 25))
    assert s.history.count == 1
    drag_slider(rows[0], [1.0, -1.0])  # a second drag of the same slider is a second step
    assert s.history.count == 2
    drag_slider(window.latent_panel.truncation, [0.9, 0.7, 0.5])
    assert s.history.count == 3
    assert s.recipe.truncation == pytest.approx(0.5)
    s.undo()
    assert s.recipe.truncation == 1.0 and window.latent_panel.truncation.value() == 1.0
    s.undo()
    assert s.recipe.walk_amount(next(iter(window.walk_panel.sliders()))) == pytest.approx(2.0)
    # dragging away and back to the start leaves no step at all
    drag_slider(rows[1], [1.0, 0.0])
    assert s.history.count == s.history.index


def _text_file(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "notes.txt"
    p.write_text("not a checkpoint\n")
    return p


def _truncated(tmp_path: Path, good: Path) -> Path:
    data = good.read_bytes()
    p = tmp_path / "netG_truncated.pth"
    p.write_bytes(data[: len(data) // 2])
    return p


def _unknown_architecture(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "encoder.pth"
    torch.save({"encoder.0.weight": torch.randn(8, 3, 3, 3), "encoder.0.bias": torch.randn(8),
                "head.weight": torch.randn(2, 8)}, p)
    return p


def _directory(tmp_path: Path, good: Path) -> Path:
    d = tmp_path / "a_folder"
    d.mkdir()
    return d


def _missing(tmp_path: Path, good: Path) -> Path:
    return tmp_path / "gone.pth"


@pytest.mark.parametrize("make_bad, expected", [
    (_text_file, "not a generator checkpoint"),
    (_truncated, "truncated or corrupt"),
    (_unknown_architecture, "architecture no plugin recognises"),
    (_directory, "folder"),
    (_missing, "no such file"),
], ids=["text", "truncated", "unknown-arch", "directory", "missing"])
def test_bad_file_gives_one_message_and_keeps_the_model(qtbot, window, tiny_dcgan_path, tmp_path,
                                                        make_bad, expected):
    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    drag_slider(next(iter(window.walk_panel.sliders().values())), [1.0])
    g, recipe, frame = s.generator, s.recipe, window.canvas.image().copy()
    undo_steps = s.history.count
    bad = make_bad(tmp_path, tiny_dcgan_path)

    errors: list[str] = []
    s.error.connect(errors.append)
    with qtbot.waitSignal(s.error, timeout=10000):
        drop_files(window, [bad])
    assert len(errors) == 1
    assert expected in errors[0]
    assert "Traceback" not in errors[0]
    assert window.banner.text() == gui_text(errors[0]) and window.banner.isVisible()  # CLI advice said for the GUI
    assert expected in window.statusBar().currentMessage()
    # nothing the user had is lost
    assert s.generator is g and s.recipe == recipe and s.history.count == undo_steps
    assert np.array_equal(window.canvas.image(), frame)
    assert str(bad) not in [str(p) for p in window.recent.paths()]

    window.banner.close_button.click()
    assert not window.banner.isVisible()


def test_empty_state_without_a_model(qtbot, window, tmp_path):
    assert window.session.generator is None
    assert window.stack.currentWidget() is window.empty
    assert window.empty.isVisible()
    text = window.empty.text()
    assert "Open a checkpoint (Ctrl+O) or drop one here" in text
    assert "Demo models" not in text  # this window's checkpoints folder has none
    assert window.empty.open_button.isVisible()
    assert not window.actions_by_name["save"].isEnabled()
    assert not window.actions_by_name["undo"].isEnabled()


def test_empty_state_mentions_demo_models_when_there_are_some(qtbot, session, settings, tmp_path):
    from latent_studio_plugins.dcgan.save import save_dcgan
    from studio.ui.main_window import MainWindow
    from conftest import make_dcgan

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_dcgan(folder / "dcgan_demo.safetensors", make_dcgan(), name="demo")
    w = MainWindow(session, settings, checkpoints=folder, pca_samples=50)
    qtbot.addWidget(w)
    w.show()
    assert "Demo models" in w.empty.text()
    w._fill_demo_menu()
    names = [a.text() for a in w.demo_menu.actions()]
    assert names == ["dcgan_demo"]
    with qtbot.waitSignal(session.frameReady, timeout=10000):
        w.demo_menu.actions()[0].trigger()
    assert session.model_path == folder / "dcgan_demo.safetensors"


def test_opening_another_model_replaces_the_first(qtbot, window, tiny_dcgan_path, tiny_dcgan_safetensors):
    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    first = window.canvas.image().copy()
    drag_slider(next(iter(window.walk_panel.sliders().values())), [2.0])
    open_by_drop(qtbot, window, tiny_dcgan_safetensors)
    assert s.model_path == tiny_dcgan_safetensors
    assert s.recipe.edits == () and s.history.count == 0
    assert not np.array_equal(window.canvas.image(), first)
    assert window.model_panel.fields["name"].text() == "tiny"
    assert window.model_panel.fields["format"].text() == "Latent Studio safetensors"
    assert window.model_panel.fields["resolution"].text().startswith("32 × 32")
    assert window.model_panel.fields["z_dim"].text().startswith("16")
    assert "CPU" in window.model_panel.fields["device"].text()
    assert window.recent.paths()[:2] == [tiny_dcgan_safetensors.resolve(), tiny_dcgan_path.resolve()]


def test_recent_files_live_in_the_injected_settings(qtbot, window, settings, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    settings.sync()
    assert str(tiny_dcgan_path.resolve()) in Path(settings.fileName()).read_text()
    window._fill_recent_menu()
    act = window.recent_menu.actions()[0]
    assert act.text() == tiny_dcgan_path.name
    assert window.model_panel.recent_list.count() == 1


def test_status_bar_shows_device_and_render_time(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    assert window.device_label.text().startswith("CPU")
    assert window.render_label.text().startswith("render ") and "ms" in window.render_label.text()


def test_save_image_writes_the_frame_and_its_recipe(qtbot, window, tiny_dcgan_path, tmp_path):
    from PySide6.QtGui import QImage

    from studio.core.recipe import Recipe
    from studio.ui.main_window import RECIPE_TEXT_KEY

    open_by_drop(qtbot, window, tiny_dcgan_path)
    out = tmp_path / "frame.png"
    assert window.save_image(out, scale=1)  # x1: exactly the frame's pixels
    img = QImage(str(out)).convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, :96]
    assert np.array_equal(arr.reshape(32, 32, 3), window.session.last_frame.image)
    assert Recipe.from_json(img.text(RECIPE_TEXT_KEY)) == window.session.recipe
    assert not window.save_image(tmp_path / "no" / "such" / "dir" / "x.png")
    assert "Could not write" in window.banner.text()


def test_walk_panel_follows_capabilities(qtbot, window, tiny_dcgan_path):
    from dataclasses import replace

    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    assert window.docks["walk"].isVisible()
    g = s.generator
    g.info = replace(g.info, capabilities=frozenset({"features"}))
    s.set_generator(g, tiny_dcgan_path)
    assert not window.docks["walk"].isVisible()
    assert window.docks["latent"].isVisible()


def test_keyboard_shortcuts_undo_and_redo(qtbot, window, tiny_dcgan_path):
    from PySide6.QtCore import Qt

    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    window.activateWindow()
    first = window.canvas.image().copy()
    drag_slider(next(iter(window.walk_panel.sliders().values())), [2.0])
    walked = window.canvas.image().copy()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.canvas.image(), first)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(window.canvas.image(), walked)
    assert s.history.index == 1


def test_view_precision_changes_what_frames_compute_in(qtbot, window, tiny_dcgan_path):
    s = window.session
    open_by_drop(qtbot, window, tiny_dcgan_path)
    assert s.renderer.precision == "fp32"  # the window fixture's renderer; the app starts on auto
    exact = window.canvas.image().copy()
    with qtbot.waitSignal(s.frameReady, timeout=10000):
        window.actions_by_name["precision_bf16"].trigger()
    assert s.renderer.precision == "bf16" and window.settings.value("render/precision") == "bf16"
    assert "bf16" in window.render_label.text()
    assert np.array_equal(window.canvas.image(), Renderer(precision="bf16").render(s.generator, s.recipe).image)
    assert not np.array_equal(window.canvas.image(), exact)

    if not torch.cuda.is_available():
        fp16 = window.actions_by_name["precision_fp16"]
        assert not fp16.isEnabled()
        window.set_precision("fp16")  # as a stale setting or a script would
        assert "fp16 needs a CUDA GPU" in window.banner.text()
        assert s.renderer.precision == "bf16" and window.actions_by_name["precision_bf16"].isChecked()
    with qtbot.waitSignal(s.frameReady, timeout=10000):
        window.actions_by_name["precision_fp32"].trigger()
    assert np.array_equal(window.canvas.image(), exact) and "fp32" in window.render_label.text()

"""Starting the app, themes and demo discovery."""
from __future__ import annotations

import json

import numpy as np
import torch
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from studio.render.engine import Renderer
from studio.ui import theme
from studio.ui.main_window import MainWindow
from studio.bundled import default_demo, demo_checkpoints


def test_run_app_opens_the_given_checkpoint_with_the_threaded_worker(qtbot, qapp, settings, tiny_dcgan_path):
    from studio.ui.app import run_app

    seen: dict = {}

    def poll() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        frame = wins[0].session.last_frame if wins else None
        if frame is None:
            QTimer.singleShot(20, poll)
            return
        seen["window"], seen["frame"] = wins[0], frame
        seen["image"] = wins[0].canvas.image().copy()
        # exit(), not quit() or close(): those close windows inside exec(), and the last-window-closed
        # Quit event they post outlives this exec() and would end every later event loop of the session
        qapp.exit(0)

    QTimer.singleShot(0, poll)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: qapp.exit(1))  # never hang the suite
    guard.start(30000)
    assert run_app(["latent-studio"], str(tiny_dcgan_path), settings=settings) == 0
    guard.stop()
    w = seen["window"]
    assert w.session.model_path == tiny_dcgan_path
    # interactive frames compute in View > Precision's choice (auto: bf16 where native); the same format
    # renders the same pixels off the GUI
    used = seen["frame"].extras["precision"]
    assert w.session.renderer.precision == "auto" and used in ("fp32", "bf16")
    again = Renderer(precision=used).render(w.session.generator, seen["frame"].recipe).image
    assert np.array_equal(seen["image"], again)
    assert type(w.session.worker).__name__ == "RenderWorker"
    assert not w.session.worker._thread.is_alive(), "run_app stops its worker on exit"
    qapp.setQuitOnLastWindowClosed(False)
    try:
        w.close()
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    w.deleteLater()


def test_a_missing_cuda_device_is_a_message_in_the_window_not_a_traceback(qtbot, qapp, settings,
                                                                           tiny_dcgan_path, monkeypatch):
    import pytest

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from studio.render.device import DEVICE_ENV
    from studio.ui.app import run_app

    monkeypatch.setenv(DEVICE_ENV, "cuda")
    seen: dict = {}

    def poll() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not wins or wins[0].session.last_frame is None:
            QTimer.singleShot(20, poll)
            return
        seen["window"], seen["banner"] = wins[0], wins[0].banner.text()
        qapp.exit(0)

    QTimer.singleShot(0, poll)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: qapp.exit(1))
    guard.start(30000)
    assert run_app(["latent-studio"], str(tiny_dcgan_path), settings=settings) == 0
    guard.stop()
    w = seen["window"]
    assert f"CUDA was requested ({DEVICE_ENV}=cuda) but no CUDA device is available" in seen["banner"]
    assert "Running on CPU" in seen["banner"]
    assert w.session.generator.device.type == "cpu" and w.session.last_frame.ok  # and the model still opened
    qapp.setQuitOnLastWindowClosed(False)
    try:
        w.close()
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    w.deleteLater()


def test_dark_theme_restyles_and_retints(qtbot, window, qapp):
    button = window.model_panel.open_button
    light_icon = button.icon().pixmap(24, 24).toImage()
    window.set_theme("dark")
    try:
        assert qapp.styleSheet() == theme.stylesheet("dark") and "QDockWidget" in qapp.styleSheet()
        assert qapp.palette().window().color().lightness() < 80
        assert window.settings.value("ui/theme") == "dark"
        assert window.actions_by_name["dark"].isChecked()
        assert button.icon().pixmap(24, 24).toImage() != light_icon
    finally:
        window.set_theme("light")
    assert qapp.palette().window().color().lightness() > 200


def test_every_icon_the_ui_uses_exists_and_renders(qapp):
    from studio.bundled import resources_dir

    for name in ("open", "undo", "redo", "dice", "reset", "save", "fit", "close", "warning", "app"):
        assert (resources_dir() / "icons" / f"{name}.svg").is_file()
        img = theme.icon(name).pixmap(32, 32).toImage()
        alpha = [img.pixelColor(x, y).alpha() for x in range(32) for y in range(32)]
        assert max(alpha) > 200, f"icon {name} draws nothing"


def test_demo_discovery_prefers_dcgan_and_skips_other_files(tmp_path):
    from safetensors.torch import save_file

    from conftest import make_dcgan
    from latent_studio_plugins.dcgan.save import save_dcgan

    assert default_demo(tmp_path / "missing") is None
    save_dcgan(tmp_path / "another_model.safetensors", make_dcgan(), name="a")
    save_dcgan(tmp_path / "dcgan_faces.safetensors", make_dcgan(), name="b")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "classifier.safetensors"),
              metadata={"format": "latent-studio/toyfaces-attribute-net", "config": json.dumps({})})
    (tmp_path / "notes.safetensors").write_text("not really")
    assert [p.name for p in demo_checkpoints(tmp_path)] == ["another_model.safetensors", "dcgan_faces.safetensors"]
    assert default_demo(tmp_path).name == "dcgan_faces.safetensors"

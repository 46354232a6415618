"""The status bar names the runtime beside the device; a model that cannot run on ONNX Runtime stays on
torch with a status message, never an error dialog."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")

from studio.render.backend import BackendChooser  # noqa: E402
from studio.render.engine import ModelCache  # noqa: E402
from studio.render.worker import SyncWorker  # noqa: E402
from studio.ui.main_window import MainWindow  # noqa: E402
from studio.ui.session import Session  # noqa: E402


def make_window(qtbot, settings, tmp_path, models: ModelCache) -> MainWindow:
    w = MainWindow(Session(SyncWorker(), models), settings, checkpoints=tmp_path / "none", pca_samples=50)
    qtbot.addWidget(w)
    return w


def test_status_bar_shows_the_onnx_backend(qtbot, settings, tmp_path, tiny_dcgan_path):
    models = ModelCache(torch.device("cpu"), backend="onnx", chooser=BackendChooser(tmp_path / "twins"))
    w = make_window(qtbot, settings, tmp_path, models)
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        w.session.open_model(tiny_dcgan_path)
    assert w.device_label.text().startswith("CPU") and w.device_label.text().endswith(" · ONNX Runtime (CPU)")
    assert w.session.last_frame is not None and w.session.last_frame.error is None


def test_failing_runtime_stays_on_torch_with_a_message(qtbot, settings, tmp_path, tiny_dcgan_path):
    def broken(model, folder):
        raise RuntimeError("TensorrtExecutionProvider failed to initialise")

    models = ModelCache(torch.device("cpu"), backend="auto",
                        chooser=BackendChooser(tmp_path / "twins", make_twin=broken))
    w = make_window(qtbot, settings, tmp_path, models)
    messages: list[str] = []
    w.session.message.connect(messages.append)
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        w.session.open_model(tiny_dcgan_path)
    assert w.device_label.text().endswith(" · torch (cpu)")
    assert w.session.last_frame is not None and w.session.last_frame.error is None
    assert any("staying on torch" in m and "Tensorrt" in m for m in messages)

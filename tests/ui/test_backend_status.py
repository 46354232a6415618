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


def test_switching_backend_keeps_the_image_and_its_history(qtbot, settings, tmp_path, tiny_dcgan_path):
    models = ModelCache(torch.device("cpu"), chooser=BackendChooser(tmp_path / "twins"))
    w = make_window(qtbot, settings, tmp_path, models)
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        w.session.open_model(tiny_dcgan_path)
    s = w.session
    torch_g = s.generator
    s.edit(s.recipe.with_seed(7), "seed")
    recipe, steps, before = s.recipe, s.history.count, s.last_frame.image.copy()
    assert w.device_label.text().endswith(" · torch (cpu)")
    with qtbot.waitSignal(s.runtimeChanged, timeout=20000):
        w.actions_by_name["backend_onnx"].trigger()
    assert s.generator is not torch_g and s.generator.model_id == torch_g.model_id
    assert s.recipe == recipe and s.history.count == steps  # only the runtime changed
    assert w.device_label.text().endswith(" · ONNX Runtime (CPU)")
    assert settings.value("render/backend") == "onnx"
    assert s.last_frame is not None and s.last_frame.error is None
    assert abs(s.last_frame.image.astype(int) - before.astype(int)).max() <= 1  # same pixels, another runtime
    with qtbot.waitSignal(s.runtimeChanged, timeout=20000):
        w.actions_by_name["backend_torch"].trigger()
    assert s.generator is torch_g


def test_export_renders_on_the_runtime_chosen_for_its_batch_size(qtbot, settings, tmp_path, tiny_dcgan_path,
                                                                 monkeypatch):
    from studio.render import backend as backend_mod

    chooser = BackendChooser(tmp_path / "twins")
    models = ModelCache(torch.device("cpu"), backend="auto", chooser=chooser)
    twin = chooser.twin(models.base(tiny_dcgan_path))
    # ONNX Runtime slower for single frames, faster for the export's batches
    monkeypatch.setattr(backend_mod, "time_run",
                        lambda m, batch, repeats=5: (3.0 if batch == 1 else 1.0) if m is twin else 2.0)
    w = make_window(qtbot, settings, tmp_path, models)
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        w.session.open_model(tiny_dcgan_path)
    s, panel = w.session, w.timeline_panel
    assert s.generator is not twin  # interactive frames stay on torch
    for seed in (1, 2):
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        panel.add_button.click()
    used = []
    original = s.runtime_for
    monkeypatch.setattr(s, "runtime_for", lambda batch: used.append(original(batch)) or used[-1])
    assert panel.export_to(tmp_path / "walk.gif")
    assert used == [twin]  # the export's batches ran on ONNX Runtime
    assert (tmp_path / "walk.gif").is_file() and not panel.exporting

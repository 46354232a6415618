"""Render on cluster… in the timeline's export: the same file as a local export, the address remembered, a
cancel while connecting or rendering leaving nothing. Skipped without the `ray` extra."""
from __future__ import annotations

import logging

import pytest
from PySide6.QtWidgets import QDialogButtonBox

ray = pytest.importorskip("ray")

from studio.ui.cluster_export import ADDRESS_KEY, ClusterDialog  # noqa: E402

from .test_main_window import open_by_drop  # noqa: E402
from .test_timeline_panel import _add_keys  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 << 20, logging_level=logging.ERROR,
             log_to_driver=False)
    yield
    ray.shutdown()


# first: once the module's cluster is up, this process's Ray is used whatever the address
def test_an_unreachable_cluster_is_a_message_and_no_file(qtbot, window, tiny_dcgan_safetensors, tmp_path):
    open_by_drop(qtbot, window, tiny_dcgan_safetensors)
    _add_keys(window, [1, 2])
    errors: list[str] = []
    window.session.error.connect(errors.append)
    assert window.timeline_panel.export_to(tmp_path / "w.mp4", cluster="127.0.0.1:1")
    assert not window.timeline_panel.exporting
    assert errors and "cannot connect to the Ray cluster at 127.0.0.1:1" in errors[-1]
    assert "Traceback" not in errors[-1]
    assert not any(p.name.startswith((".w", "w.")) for p in tmp_path.iterdir())


def test_render_on_cluster_writes_the_local_exports_bytes(cluster, qtbot, window, tiny_dcgan_safetensors,
                                                          tmp_path):
    open_by_drop(qtbot, window, tiny_dcgan_safetensors)
    panel = window.timeline_panel
    assert panel.cluster_button is not None
    assert " ".join(panel.cluster_button.text().split()) == "Render on cluster…"
    _add_keys(window, [1, 2])
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(20)
    assert panel.cluster_button.isEnabled()
    messages: list[str] = []
    window.session.message.connect(messages.append)
    assert panel.export_to(tmp_path / "local.gif")
    assert panel.export_to(tmp_path / "cluster.gif", cluster="auto")
    assert not panel.exporting and panel.progress.value() == 21
    assert (tmp_path / "cluster.gif").read_bytes() == (tmp_path / "local.gif").read_bytes()
    assert any("Exported 21 frames" in m and "cluster.gif" in m for m in messages)


def test_the_cluster_address_is_remembered(qtbot, settings):
    dialog = ClusterDialog(settings, 48)
    qtbot.addWidget(dialog)
    assert dialog.edit.text() == "auto"
    dialog.edit.setText("10.0.0.5:6379")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert settings.value(ADDRESS_KEY) == "10.0.0.5:6379"
    again = ClusterDialog(settings, 48)
    qtbot.addWidget(again)
    assert again.address() == "10.0.0.5:6379"

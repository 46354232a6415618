"""The attribute panel on a model with ToyFaces labels: the source starts from the attribute model's estimate
of the opened photo, and the toggles start there; other label sets keep hand-set sources."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from studio.core.attributes import attribute_values
from studio.demo import toyfaces
from studio.train import stargan as trainer
from studio.train.loop import RunState

from .helpers import drop_files
from .test_attributes_panel import save_photo, save_tiny_stargan


def save_toyfaces_stargan(path: Path) -> Path:
    torch.manual_seed(0)
    net = trainer.build_generator(trainer.Hyper(conv_dim=4, repeat_num=1))
    trainer.export(net, path, RunState())
    return path


def face_png(path: Path, **fixed: float) -> tuple[Path, tuple[float, ...]]:
    faces = toyfaces.sample_overrides(1, 31, **fixed)
    Image.fromarray(faces.images[0]).save(path)
    return path, tuple(float(v) for v in faces.binary[0])


@pytest.fixture
def demo(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.session.modelChanged, timeout=10000):
        drop_files(window, [save_toyfaces_stargan(tmp_path / "sg.safetensors")])
    return window


def test_opened_photo_gets_the_estimated_source_and_toggles_start_there(qtbot, demo, tmp_path):
    w, panel = demo, demo.attributes_panel
    assert panel.estimate_button.isEnabled()
    photo, truth = face_png(tmp_path / "a.png", Blond_Hair=1, Eyeglasses=1, Male=0, Smiling=1)
    with qtbot.waitSignal(w.session.frameReady, timeout=10000):
        drop_files(w, [photo])
    assert panel.source == truth == (0, 1, 0, 1, 0, 1)
    assert attribute_values(w.session.recipe, 6) == truth  # the first render is the photo itself
    assert "estimated" in panel.source_label.text() and "Eyeglasses" in panel.source_label.text()
    assert [r.button.isChecked() for r in panel.rows] == [bool(v) for v in truth]

    panel.rows[3].button.click()  # remove the glasses: one attribute changes from the source
    assert attribute_values(w.session.recipe, 6) == (0, 1, 0, 0, 0, 1)
    panel.set_source_from_toggles()  # the user's word replaces the estimate...
    assert panel.source == (0, 1, 0, 0, 0, 1) and "estimated" not in panel.source_label.text()
    panel.estimate_button.click()  # ...until they ask for it again
    assert panel.source == truth and "estimated" in panel.source_label.text()

    other, truth2 = face_png(tmp_path / "b.png", Black_Hair=1, Eyeglasses=0, Male=1, Smiling=0)
    with qtbot.waitSignal(w.session.frameReady, timeout=10000):
        drop_files(w, [other])  # toggles differ from the source: the user's targets are kept
    assert panel.source == truth2 == (1, 0, 0, 0, 1, 0)
    assert attribute_values(w.session.recipe, 6) == (0, 1, 0, 0, 0, 1)
    w.session.undo()  # back to the first photo: its estimate comes back with it
    assert panel.source == truth


def test_labels_the_attribute_model_does_not_know_are_not_estimated(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.session.modelChanged, timeout=10000):
        drop_files(window, [save_tiny_stargan(tmp_path / "model")])
    panel = window.attributes_panel
    assert not panel.estimate_button.isEnabled()
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [save_photo(tmp_path / "p.png")])
    assert panel.source == (0.0,) * 5 and "estimated" not in panel.source_label.text()
    assert not panel.estimate_source() and "ToyFaces" in window.banner.text()

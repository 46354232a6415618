"""The StarGAN photo view aligns a face photo as it opens: the crop is seeded from the alignment (turned
to the face's tilt), drawn turned, still moved by hand and turned by Ctrl+wheel, and "Align face" puts it
back; the model's input is the aligned face."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from studio.bundled import demo_checkpoints
from studio.core.photo import open_photo, photo_tensor
from studio.demo import toyfaces
from studio.render.align import TOYFACES, align_face
from studio.render.engine import to_uint8

from .helpers import drop_files

STARGAN = next(p for p in demo_checkpoints() if p.stem.startswith("stargan"))
TURN, SHIFT = 12.0, (6, -4)


@pytest.fixture
def turned_photo(tmp_path):
    import dataclasses

    p = dataclasses.replace(toyfaces.sample_params(np.random.default_rng([990_017, 5]), 1)[0],
                            pos_x=0.0, pos_y=0.0, tilt=0.0)
    image = toyfaces.render_face(p)[0]
    border = tuple(int(v) for v in np.concatenate([image[0], image[-1]]).mean(0))
    turned = Image.fromarray(image).rotate(TURN, Image.Resampling.BICUBIC, translate=SHIFT, fillcolor=border)
    path = tmp_path / "tilted.png"
    turned.resize((192, 192), Image.Resampling.BICUBIC).save(path)  # a photo larger than the model's input
    return path


def _wheel(widget, notches: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * notches),
                     Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_an_opened_face_photo_is_aligned_and_the_crop_stays_adjustable(qtbot, window, turned_photo):
    w = window
    with qtbot.waitSignal(w.session.modelChanged, timeout=20000):
        drop_files(w, [STARGAN])
    with qtbot.waitSignal(w.session.frameReady, timeout=20000):
        drop_files(w, [turned_photo])
    s, panel, pane = w.session, w.attributes_panel, w.photo_view.photo
    crop = s.recipe.latent.crop
    expected = align_face(open_photo(turned_photo), 64, TOYFACES)
    assert expected.found and len(crop) == 4 and crop == pytest.approx(expected.crop)
    assert crop[3] == pytest.approx(TURN, abs=2.5)  # the square turned with the face
    assert pane.crop == crop and "ToyFaces framing" in panel.align_label.text()
    corners = pane.crop_polygon()
    assert abs(corners[0].y() - corners[1].y()) > 5  # drawn turned, not as an upright square
    # the model's input is the aligned face
    x = photo_tensor(open_photo(turned_photo), crop, 64)
    assert np.abs(to_uint8(x)[0].astype(int) - expected.image.astype(int)).mean() < 1.0
    # by hand: dragging moves it and keeps the angle; Ctrl+wheel turns it; the wheel scales it
    c = pane.crop_polygon().boundingRect().center().toPoint()
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=c)
    qtbot.mouseMove(pane, c + QPoint(15, 0))
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=c + QPoint(15, 0))
    dragged = s.recipe.latent.crop
    assert dragged[0] > crop[0] and dragged[3] == pytest.approx(crop[3]) and dragged[2] == pytest.approx(crop[2])
    _wheel(pane, 3, Qt.KeyboardModifier.ControlModifier)
    assert s.recipe.latent.crop[3] == pytest.approx(crop[3] + 3.0)
    _wheel(pane, 1)
    assert s.recipe.latent.crop[2] < crop[2] and s.recipe.latent.crop[3] == pytest.approx(crop[3] + 3.0)
    drag = panel.crop_x  # a slider changes its own value and keeps the angle
    drag.set_value(0.4)
    panel._on_crop_slider(0, 0.4, False)
    assert s.recipe.latent.crop[0] == pytest.approx(0.4) and len(s.recipe.latent.crop) == 4
    # "Align face" puts it back, one undo step
    steps = s.history.count
    panel.align_button.click()
    assert s.recipe.latent.crop == pytest.approx(crop) and s.history.count == steps + 1
    s.undo()
    assert s.recipe.latent.crop[0] == pytest.approx(0.4)


def test_project_photo_aligns_the_face_first_and_says_so(qtbot, tmp_path, turned_photo):
    import torch
    from PySide6.QtCore import QSettings

    from studio.render.engine import ModelCache
    from studio.ui.main_window import MainWindow
    from studio.ui.session import Session

    from .helpers import SteppedWorker

    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    w = MainWindow(s, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   checkpoints=tmp_path / "none", pca_samples=200)
    qtbot.addWidget(w)
    s.open_model(next(p for p in demo_checkpoints() if p.stem.startswith("stylegan2")))
    while worker.jobs:
        worker.step()
    QApplication.processEvents()
    messages: list[str] = []
    s.message.connect(messages.append)
    w.projector.steps = 3
    assert w.projector.start(turned_photo)
    result = w.projector.alignment
    assert result is not None and result.found and result.angle == pytest.approx(TURN, abs=2.5)
    worker.run_all()
    QApplication.processEvents()
    assert any(m.startswith("Aligned to the ToyFaces framing (turned +") and "Projected tilted.png" in m
               for m in messages), messages
    w.projector.align = False  # the user's choice: the photo as it is
    assert w.projector.start(turned_photo) and w.projector.alignment is None
    worker.run_all()


def test_the_projection_dialog_offers_alignment_for_face_models_only(qtbot, tmp_path, tiny_dcgan_path):
    import studio
    from studio.ui.projection_options_dialog import ProjectionOptions, ProjectionOptionsDialog

    face = studio.load(str(next(p for p in demo_checkpoints() if p.stem.startswith("stylegan2"))), "cpu")
    d = ProjectionOptionsDialog(face, "me.png", ProjectionOptions())
    qtbot.addWidget(d)
    assert d.align.isEnabled() and d.align.isChecked() and "ToyFaces framing" in d.align.text()
    d.align.setChecked(False)
    assert d.options().align is False
    other = studio.load(str(tiny_dcgan_path), "cpu")
    d2 = ProjectionOptionsDialog(other, "me.png", ProjectionOptions())
    qtbot.addWidget(d2)
    assert not d2.align.isEnabled() and not d2.align.isChecked() and "not a face model" in d2.align.text()

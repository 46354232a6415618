"""The canvas: integer zoom that fits, nearest vs smooth upscaling, zoom and back."""
from __future__ import annotations

import math

import pytest

from .helpers import drop_files, grab_rgb


@pytest.fixture
def loaded(qtbot, window, tiny_dcgan_path):
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [tiny_dcgan_path])
    qtbot.wait(20)
    return window


def test_fit_uses_the_largest_integer_zoom_and_centres(loaded):
    c = loaded.canvas
    rect = c.view.boundingRect()
    expected = math.floor(min(rect.width(), rect.height()) / 32)
    assert expected >= 2
    assert c.zoom() == pytest.approx(expected)
    (x0, x1), (y0, y1) = c.view.viewRange()
    assert (x0 + x1) / 2 == pytest.approx(16, abs=1 / expected)
    assert (y0 + y1) / 2 == pytest.approx(16, abs=1 / expected)
    c.view.scaleBy((0.37, 0.37))
    assert c.zoom() != pytest.approx(expected)
    loaded.actions_by_name["fit"].trigger()
    assert c.zoom() == pytest.approx(expected)


def test_nearest_shows_exact_pixels_and_smooth_blends_them(loaded):
    w = loaded
    frame = w.session.last_frame.image
    palette = {tuple(p) for p in frame.reshape(-1, 3)}
    w.set_smooth(False)
    crisp = grab_rgb(w.canvas)
    h, wd = crisp.shape[:2]
    centre = crisp[h // 2 - 40:h // 2 + 40, wd // 2 - 40:wd // 2 + 40].reshape(-1, 3)
    assert {tuple(p) for p in centre} <= palette, "nearest mode must show only the frame's own colours"
    w.set_smooth(True)
    soft = grab_rgb(w.canvas)
    centre = soft[h // 2 - 40:h // 2 + 40, wd // 2 - 40:wd // 2 + 40].reshape(-1, 3)
    assert len({tuple(p) for p in centre} - palette) > 100, "smooth mode interpolates between pixels"
    assert w.actions_by_name["smooth"].isChecked()
    assert w.settings.value("view/upscaling") == "smooth"

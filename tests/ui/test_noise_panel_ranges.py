"""The Noise panel on the bundled StyleGAN2: readable layer names and sliders that reach a visible change."""
from __future__ import annotations

import numpy as np

from studio.bundled import resolve_demo
from studio.core.slider_ranges import VISIBLE_CHANGE
from studio.core.style_edits import noise_strengths
from studio.render.noise_ranges import mean_change

from .helpers import drop_files


def test_noise_sliders_reach_a_visible_change_on_the_bundled_stylegan2(qtbot, window):
    s, panel = window.session, window.noise_panel
    with qtbot.waitSignal(panel.rangesReady, timeout=60000):
        with qtbot.waitSignal(s.frameReady, timeout=20000):
            drop_files(window, [resolve_demo("demo:stylegan2")])
    assert [r.name.text() for r in panel.rows[:2]] == ["4x4 · 128 ch (b4.conv1)", "8x8 · 128 ch (b8.conv0)"]
    assert panel.rows[-1].name.text() == "64x64 · 16 ch (b64.conv1)"
    assert all(r.slider.maximum() == m >= 3.0 for r, m in zip(panel.rows, panel.maxima))
    assert max(panel.maxima) > 100  # the bundled model learned little noise: far beyond the old x3
    before = window.canvas.image().copy()
    row = panel.rows[2]
    row.slider.setValue(row.slider.maximum())  # a layer at the end of its slider
    qtbot.waitUntil(lambda: s.last_frame is not None and s.last_frame.recipe == s.recipe, timeout=10000)
    assert noise_strengths(s.recipe)[2] == panel.maxima[2]
    assert mean_change(window.canvas.image(), before) >= VISIBLE_CHANGE
    s.undo()
    assert panel.rows[2].value() == 1.0
    qtbot.waitUntil(lambda: np.array_equal(window.canvas.image(), before), timeout=10000)


def test_noise_layer_titles_are_never_cut(qtbot, window):
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [resolve_demo("demo:stylegan2")])
    for row in window.noise_panel.rows:
        fm = row.name.fontMetrics()
        assert fm.horizontalAdvance(row.name.text()) <= row.name.width(), row.name.text()

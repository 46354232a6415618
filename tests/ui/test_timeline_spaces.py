"""The timeline dock's latent spaces (W only where the model has one), noise loop and frame-dropping preview."""
from __future__ import annotations

import numpy as np

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import SeedLatent
from studio.core.timeline import NoiseLoop
from studio.core.wspace import WLatent
from studio.model.spaces import frame_recipes

from .test_main_window import open_by_drop


def _add_keys(window, seeds):
    s = window.session
    for seed in seeds:
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        window.timeline_panel.add_button.click()


def _entries(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_dcgan_offers_z_only_and_a_noise_loop_in_z(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    assert _entries(panel.interp) == ["slerp in Z", "lerp in Z"]
    assert _entries(panel.noise) == ["off", "in Z"]
    _add_keys(window, [3])
    assert panel.timeline.frame_count() == 1 and not panel.radius.isEnabled()
    panel.noise.setCurrentIndex(1)
    panel.noise.activated.emit(1)
    t = panel.timeline
    assert t.noise == NoiseLoop(0.3, 0, "z") and t.frame_count() == 24
    assert panel.loop.isChecked() and not panel.loop.isEnabled()  # a noise loop always loops
    assert "noise loop in Z" in panel.summary.text()
    panel.radius.setValue(0.5)
    panel.reroll.click()
    assert panel.timeline.noise == NoiseLoop(0.5, 1, "z")
    rs = frame_recipes(window.session.generator, panel.timeline)
    assert len(rs) == 24 and len({r.latent for r in rs}) == 24
    panel.noise.setCurrentIndex(0)
    panel.noise.activated.emit(0)
    assert panel.timeline.noise is None and panel.loop.isEnabled()


def test_stylegan_offers_w_interpolation_and_w_loops(qtbot, window, tmp_path):
    ckpt = tmp_path / "sg.safetensors"
    save_stylegan(ckpt, tiny_stylegan(seed=3), name="tiny")
    open_by_drop(qtbot, window, ckpt)
    panel = window.timeline_panel
    assert _entries(panel.interp) == ["slerp in Z", "lerp in Z", "slerp in W", "lerp in W"]
    assert _entries(panel.noise) == ["off", "in Z", "in W"]
    _add_keys(window, [1, 2])
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(6)
    panel.interp.setCurrentIndex(3)
    panel.interp.activated.emit(3)
    seg = panel.timeline.segments[0]
    assert (seg.interpolation, seg.space, seg.frames) == ("lerp", "w", 6)
    assert "lerp W" in panel.keys.item(0).text()
    rs = frame_recipes(window.session.generator, panel.timeline)
    assert rs[0].latent == SeedLatent(1) and all(isinstance(r.latent, WLatent) for r in rs[1:6])
    panel.keys.setCurrentRow(1)
    panel.keys.setCurrentRow(0)  # coming back shows the segment's own setting
    assert panel.interp.currentText() == "lerp in W"
    panel.noise.setCurrentIndex(2)
    panel.noise.activated.emit(2)
    assert panel.timeline.noise is not None and panel.timeline.noise.space == "w"
    assert len(frame_recipes(window.session.generator, panel.timeline)) == panel.timeline.frame_count() == 6 + 24


def test_preview_skips_frames_it_cannot_render_in_time(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [1, 2])  # 25 frames at 24 fps
    now = [100.0]
    panel.clock = lambda: now[0]
    shown = []
    # the tests' worker is synchronous: a submitted frame arrives at once, then the clock moves on
    panel._previewArrived.connect(lambda f: shown.append(f.recipe))
    panel.timer.stop()
    panel.start()
    panel.timer.stop()  # drive the ticks by hand on the fake clock
    recipes = panel._play_recipes
    for _ in range(20):
        panel._tick()
        now[0] += 0.1  # each frame takes 2.4 frame periods to arrive
    p = panel._playback
    assert p is not None and p.dropped > 0 and p.shown == len(shown) == 20
    idx = [recipes.index(r) for r in shown]
    due = [int(np.floor(k * 0.1 * 24 + 1e-9)) % len(recipes) for k in range(20)]
    assert idx == due  # each shown frame is the one due when the previous arrived
    assert "skipped" in panel.preview.toolTip()
    fast = [100.0]
    panel.clock = lambda: fast[0]
    panel.stop()
    panel.start()
    panel.timer.stop()
    for _ in range(10):
        panel._tick()
        fast[0] += 1 / 24
    assert panel._playback.dropped == 0 and panel._playback.shown == 10

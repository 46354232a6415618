"""Both themes: the style-mixing matrix's unselected radio buttons stand out from the panel (3:1, WCAG's bar
for the parts of a control; the dark theme's were 1.19:1, the light theme's 2.08:1)."""
from __future__ import annotations

import numpy as np
import pytest

from studio.bundled import resolve_demo
from studio.ui import theme

from .helpers import drop_files, grab_rgb


def _luminance(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(float) / 255
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def ring_contrast(radio) -> float:
    """Contrast between the panel behind an unchecked radio and its most distinct pixel (the ring)."""
    img = grab_rgb(radio)
    lum = _luminance(img.reshape(-1, 3))
    back = _luminance(img[0, 0][None])[0]
    far = lum.max() if abs(lum.max() - back) > abs(lum.min() - back) else lum.min()
    a, b = max(far, back), min(far, back)
    return (a + 0.05) / (b + 0.05)


@pytest.mark.parametrize("name", ["dark", "light"])
def test_unchecked_mixing_radios_are_visible_in_both_themes(qtbot, window, name):
    with qtbot.waitSignal(window.session.frameReady, timeout=20000):
        drop_files(window, [resolve_demo("demo:stylegan2")])
    window.docks["style_mix"].show()
    window.docks["style_mix"].raise_()
    try:
        window.set_theme(name)
        qtbot.wait(20)
        panel = window.style_mix_panel
        unchecked = panel.radios[0][1]
        assert not unchecked.isChecked() and unchecked.isVisible()
        assert ring_contrast(unchecked) >= 3.0
        assert ring_contrast(panel.radios[0][0]) >= 3.0  # the checked one too
    finally:
        window.set_theme("light")
    assert theme.current_theme() == "light"

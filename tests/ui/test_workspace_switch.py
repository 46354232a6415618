"""Issue #25's acceptance walk in one window: work on the DCGAN demo in every panel, open the StyleGAN2 demo,
see nothing of the DCGAN, export StyleGAN2's own timeline, go back and find all of the DCGAN's work."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from studio.core.project import Project
from studio.core.recipe import SeedLatent
from studio.core.workspace import UnitSelection
from studio.render.engine import Renderer

from .helpers import drop_files

DEMOS = Path(__file__).resolve().parents[2] / "checkpoints"
DCGAN, STYLEGAN = DEMOS / "dcgan_toyfaces.safetensors", DEMOS / "stylegan2_toyfaces.safetensors"
pytestmark = pytest.mark.skipif(not (DCGAN.is_file() and STYLEGAN.is_file()), reason="needs the bundled demos")


def _open(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.session.frameReady, timeout=30000):
        drop_files(window, [path])
    assert window.session.model_path == path


def _key_seeds(window) -> list[int]:
    return [k.latent.seed for k in window.timeline_panel.timeline.keyframes]


def test_each_model_keeps_its_own_work_across_switches(qtbot, window, tmp_path):
    w, s = window, window.session
    _open(qtbot, w, DCGAN)
    g_a = s.generator
    # a fitted direction with its slider in use
    seeds = list(range(40))
    w.directions_panel.fit_labels(seeds, [i % 2 == 0 for i in seeds], "Even")
    # keyframes
    for seed in (3, 5):
        s.edit(s.recipe.with_seed(seed), f"Seed {seed}")
        w.timeline_panel.add_current()
    # bins
    w.arithmetic_panel.add_members(0, [SeedLatent(11), SeedLatent(12)])
    # units selected in the Features panel
    panel = w.feature_panel
    w.docks["features"].raise_()
    qtbot.mouseClick(panel.tiles, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     panel.tiles.unit_rect(4).center())
    a = s.workspace
    assert [d.name for d in a.directions] == ["Even"] and "dir:Even" in w.directions_panel.active
    assert _key_seeds(w) == [3, 5] and a.bins[0].members == (SeedLatent(11), SeedLatent(12))
    assert panel.selection == {4}

    _open(qtbot, w, STYLEGAN)
    g_b = s.generator
    b = s.workspace
    assert b.model.sha256 == g_b.model_id != g_a.model_id
    assert w.directions_panel.active == {} and w.directions_panel.project_directions == []
    assert w.timeline_panel.keys.count() == 0 and _key_seeds(w) == []
    assert all(bin_.members == () for bin_ in w.arithmetic_panel.bins)
    assert panel.selection == set() and b.units.units == frozenset()
    assert not s.history.can_undo()  # StyleGAN2's history holds nothing of the DCGAN's

    # the timeline exported with StyleGAN2 open is StyleGAN2's own
    for seed in (7, 8):
        s.edit(s.recipe.with_seed(seed), f"Seed {seed}")
        w.timeline_panel.add_current()
    tl_b = w.timeline_panel.timeline
    out = tmp_path / "frames"
    assert w.timeline_panel.export_to(out)
    frames = sorted(out.glob("*.png"))
    assert len(frames) == tl_b.frame_count() > 2
    first = np.asarray(Image.open(frames[0]))[..., :3]
    from studio.export.writers import upscale
    # a 64 px model exports at x4 by default, smooth as the view
    assert np.array_equal(first, upscale(Renderer().render(g_b, tl_b.keyframes[0]).image[None], 4, True)[0])
    assert all(k.model.sha256 == g_b.model_id for k in tl_b.keyframes)

    _open(qtbot, w, DCGAN)
    back = s.workspace
    assert back.recipe == a.recipe and back.timeline is a.timeline and back.bins is a.bins
    assert [d.name for d in back.directions] == ["Even"] and "dir:Even" in w.directions_panel.active
    assert _key_seeds(w) == [3, 5] and w.timeline_panel.keys.count() == 2
    assert w.arithmetic_panel.bins[0].members == (SeedLatent(11), SeedLatent(12))
    assert panel.selection == {4} and back.units == UnitSelection(panel.layer, frozenset({4}))
    s.undo()  # the unit click was the last DCGAN step
    assert panel.selection == set()
    s.redo()

    # the project keeps both workspaces, each with its own model
    p = Project.from_dict(s.project().to_dict())
    assert len(p.workspaces) == 2 and p.model.sha256 == g_a.model_id
    assert {w_.model.sha256 for w_ in p.workspaces} == {g_a.model_id, g_b.model_id}

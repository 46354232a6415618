"""The arithmetic panel in the real main window: checked against the core and renderer, as a view of the
workspace (every edit one undo step, saved with the project, per model), with jobs a stage per step."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.arithmetic import Expression, NamedLatent, neighbourhood, result_recipe
from studio.core.project import Project
from studio.core.recipe import SeedLatent, VectorLatent
from studio.model.spaces import model_space
from studio.render.engine import ModelCache, Renderer
from studio.render.worker import JobHandle, SyncWorker
from studio.ui.panels import arithmetic_panel as ap
from studio.ui.panels.arithmetic_panel import ArithmeticPanel
from studio.ui.session import Session

from .helpers import drop_files
from .test_main_window import open_by_drop

DEMOS = Path(__file__).resolve().parents[2] / "checkpoints"
DCGAN, STYLEGAN = DEMOS / "dcgan_toyfaces.safetensors", DEMOS / "stylegan2_toyfaces.safetensors"


@pytest.fixture
def loaded(qtbot, window, tiny_dcgan_safetensors: Path):
    with qtbot.waitSignal(window.session.frameReady, timeout=10000):
        drop_files(window, [tiny_dcgan_safetensors])
    return window


def fill(panel, seeds=("1,2,3", "4,5,6", "7,8,9")):
    for i, text in enumerate(seeds):
        assert panel.add_seeds(i, text)


def shown(p) -> dict:
    """What the panel's widgets show, to compare with what the workspace holds."""
    return {"bins": [(w.name.text(), w.weight.value(), len(w.member_buttons)) for w in p.bin_widgets],
            "saved": [p.saved_list.item(i).text() for i in range(p.saved_list.count())],
            "space": p.space.currentData(), "rescale": p.rescale.isChecked(), "noise": p.noise.value(),
            "seed": p.noise_seed.value()}


def expected(ws, space: str) -> dict:
    """What the widgets should show for workspace `ws`."""
    return {"bins": [(b.name, ap.bin_weight(b, i), len(b.members)) for i, b in enumerate(ws.bins)],
            "saved": [f"{n.name}  ({n.latent.kind})" for n in ws.latents],
            "space": ws.panel(ap.SPACE_KEY, space), "rescale": ws.panel(ap.RESCALE_KEY, False),
            "noise": ws.panel(ap.NOISE_KEY, ap.DEFAULT_NOISE), "seed": ws.panel(ap.NOISE_SEED_KEY, 0)}


def test_panel_starts_with_a_minus_b_plus_c_and_says_what_is_missing(loaded):
    p = loaded.arithmetic_panel
    assert loaded.docks["arithmetic"].isVisibleTo(loaded) and p.isEnabled()
    assert [b.name for b in p.bins] == ["A", "B", "C"] and p.weights() == [1.0, -1.0, 1.0]
    assert p.bins is loaded.session.workspace.bins
    assert p.message.text() == "bin 'A' is empty: add images to it first"
    assert not p.use.isEnabled()
    assert p.current_space() == "z" and not p.space.model().item(1).isEnabled()  # DCGAN: no W space
    assert p.add_seeds(0, "3-x") is False and "bad seed list" in p.message.text()


def test_result_matches_the_core_and_renders_its_neighbourhood(loaded):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    fill(p)
    assert [b.members for b in p.bins][2] == (SeedLatent(7), SeedLatent(8), SeedLatent(9))
    want = Expression((("A", 1.0), ("B", -1.0), ("C", 1.0))).evaluate(p.bins, model_space(s.generator, "z"))
    assert np.allclose(p.result.vector, want)
    assert p.result.latents == neighbourhood(want, model_space(s.generator, "z"), 0.25, 0)
    renders = Renderer().render_batch(s.generator, [result_recipe(s.recipe, v) for v in p.result.latents])
    assert np.array_equal(p.result.grid, renders)
    assert all(m is not None for m in p.result.means) and p.use.isEnabled()
    assert all(not t.icon().isNull() for bw in p.bin_widgets for t in bw.member_buttons)
    # a different noise seed moves the neighbours but not the centre
    centre = p.result.grid[4].copy()
    p.noise_seed.setValue(5)
    assert np.array_equal(p.result.grid[4], centre) and not np.array_equal(p.result.grid[0], renders[0])
    # weights are live: B at 0 drops it from the sum
    p.bin_widgets[1].weight.setValue(0.0)
    no_b = Expression((("A", 1.0), ("C", 1.0))).evaluate(p.bins, model_space(s.generator, "z"))
    assert np.allclose(p.result.vector, no_b)


def test_use_as_current_is_one_undo_step(loaded):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    fill(p)
    before = s.recipe
    p.use.click()
    assert s.recipe.latent == p.result.latents[4] and isinstance(s.recipe.latent, VectorLatent)
    assert np.array_equal(w.canvas.image(), p.result.grid[4])
    s.undo()
    assert s.recipe == before


def test_seed_grid_menu_and_current_image_fill_bins(loaded):
    from PySide6.QtWidgets import QMenu

    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    menu = QMenu()
    for hook in w.seed_grid.menu_hooks:
        hook(menu, w.seed_grid.seeds[5])
    sub = menu.actions()[0].menu()
    assert [a.text() for a in sub.actions()] == ["A", "B", "C"]
    sub.actions()[1].trigger()
    assert p.bins[1].members == (SeedLatent(w.seed_grid.seeds[5]),)
    s.undo()  # the menu's addition is one step too
    assert p.bins[1].members == () and len(p.bin_widgets[1].member_buttons) == 0
    s.edit(s.recipe.with_truncation(0.5), "psi")
    p.add_current(0)
    assert np.allclose(p.bins[0].members[0].values, s.generator.edited_z(s.recipe))


def test_rename_remove_and_clear_messages(loaded):
    p = loaded.arithmetic_panel
    p.rename_bin(0, "B")
    assert p.bins[0].name == "A" and "already a bin named 'B'" in p.message.text()
    p.rename_bin(0, "glasses")
    assert p.bins[0].name == "glasses" and p.dir_to.itemText(0) == "glasses"
    p.add_bin("extra", 2.0)
    assert [b.name for b in p.bins][-1] == "extra" and p.weights()[-1] == 2.0
    p.remove_bin(1)
    assert [b.name for b in p.bins] == ["glasses", "C", "extra"] and p.weights() == [1.0, 1.0, 2.0]
    p.add_members(0, [VectorLatent(tuple(range(100)))])  # a latent of another model
    assert "bin 'glasses': latent vector has 100 values but this model's z has 16" in p.message.text()
    assert p._thumb(p.bins[0].members[0]) is None  # no thumbnail, and the other members still render


def test_every_edit_is_one_undo_step_and_undo_shows_the_state_before(loaded):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    states = [s.workspace]

    def step(action) -> None:
        n = s.history.index
        action()
        s.end_gesture()
        assert s.history.index == n + 1, "one action, one undo step"
        states.append(s.workspace)
        assert shown(p) == expected(s.workspace, "z")

    step(lambda: p.add_seeds(0, "1,2"))
    step(lambda: p.add_seeds(1, "3"))
    step(lambda: p.add_seeds(2, "4"))
    step(lambda: p.remove_member(0, 1))
    step(lambda: p.add_bin("D", 0.5))
    step(lambda: p.remove_bin(3))

    def rename() -> None:
        p.bin_widgets[1].name.setText("smiling")
        p.bin_widgets[1].name.editingFinished.emit()  # what Enter or leaving the field does
    step(rename)

    def drag_weight() -> None:  # a spin box drag: one step, however many values it passes
        for v in (-0.5, 0.0, 0.5, 2.0):
            p.bin_widgets[2].weight.setValue(v)
        p.bin_widgets[2].weight.editingFinished.emit()
    step(drag_weight)
    step(lambda: p.rescale.setChecked(True))

    def drag_noise() -> None:
        for v in (0.3, 0.4, 0.5):
            p.noise.setValue(v)
        p.noise.editingFinished.emit()
    step(drag_noise)
    step(lambda: p.noise_seed.setValue(7))
    step(lambda: p.save_result("woman"))
    step(lambda: p.save_result("another"))
    step(lambda: p.remove_saved(0))
    assert [n.name for n in p.saved] == ["another"] and p.weights() == [1.0, -1.0, 2.0]
    assert [b.name for b in p.bins] == ["A", "smiling", "C"] and p.settings == ap.Settings("z", True, 0.5, 7)

    for ws in reversed(states[:-1]):
        s.undo()
        assert s.workspace == ws and shown(p) == expected(ws, "z")
    assert p.bins == states[0].bins and p.message.text() == "bin 'A' is empty: add images to it first"
    for ws in states[1:]:
        s.redo()
        assert s.workspace == ws and shown(p) == expected(ws, "z")
    # the preview follows: after redo it is the sum of the redone bins
    got = Expression(tuple(zip([b.name for b in p.bins], p.weights())), rescale=True).evaluate(
        p.bins, model_space(s.generator, "z"))
    assert np.allclose(p.result.vector, got)


def test_bins_saved_latents_and_settings_are_saved_with_the_project(qtbot, loaded, tiny_dcgan_safetensors):
    w, s = loaded, loaded.session
    p = w.arithmetic_panel
    fill(p)
    assert p.save_result("woman with glasses")
    result = p.result.latents[4]
    for widget, weight in zip(p.bin_widgets, (1.0, -0.5, 2.0)):
        widget.weight.setValue(weight)
        widget.weight.editingFinished.emit()
    p.noise.setValue(0.5)
    p.noise_seed.setValue(3)
    p.rescale.setChecked(True)
    back = Project.from_dict(json.loads(json.dumps(s.project().to_dict())))
    ws = back.workspace
    assert ws.bins == p.bins and [b.weight for b in ws.bins] == [1.0, -0.5, 2.0]
    assert ws.latents == p.saved and ws.latents[0] == NamedLatent("woman with glasses", result)
    assert (ws.panel(ap.NOISE_KEY), ws.panel(ap.NOISE_SEED_KEY), ws.panel(ap.RESCALE_KEY)) == (0.5, 3, True)
    # a fresh session restores it all into its panel, history included
    other = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    view = ArithmeticPanel(other)
    qtbot.addWidget(view)
    other.open_model(tiny_dcgan_safetensors, project=back)
    assert view.bins == ws.bins and shown(view) == shown(p) and view.result is not None
    assert np.allclose(view.result.vector, p.result.vector)
    other.undo()  # rescale off again
    assert not view.rescale.isChecked() and not other.workspace.panel(ap.RESCALE_KEY, False)


def test_switching_models_shows_each_models_own_bins_rendered_by_that_model(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QMenu

    from .test_timeline_panel import _RenderSpy

    s, p = window.session, window.arithmetic_panel
    spy = _RenderSpy(s.renderer, monkeypatch)
    open_by_drop(qtbot, window, DCGAN)
    g_a = s.generator
    fill(p, ("1,2", "3", "4"))
    p.rename_bin(0, "smiling")
    p.bin_widgets[1].weight.setValue(-2.0)
    p.noise_seed.setValue(9)
    assert p.save_result("dcgan result")
    ws_a, shown_a, vector_a = s.workspace, shown(p), p.result.vector.copy()

    open_by_drop(qtbot, window, STYLEGAN)
    g_b = s.generator
    assert g_b.model_id != g_a.model_id and p.isEnabled()
    # nothing of the DCGAN: the default empty bins, no saved latent, its own space and settings, no result
    assert [b.name for b in p.bins] == ["A", "B", "C"] and all(not b.members for b in p.bins)
    assert shown(p) == expected(s.workspace, "w") and p.saved_list.count() == 0
    assert p.current_space() == "w" and p.space.model().item(1).isEnabled() and p.noise_seed.value() == 0
    assert p.result is not None and p.result.grid is None and not p.use.isEnabled()
    assert all(w.mean.pixmap().isNull() for w in p.bin_widgets)
    menu = QMenu()
    p.fill_seed_menu(menu, 1)  # the seed grid offers this model's bins
    assert [a.text() for a in menu.actions()[0].menu().actions()] == ["A", "B", "C"]
    fill(p, ("1", "5", "6"))  # seed 1 in both models' bins: each drawn by its own model
    assert p.result.grid is not None and p.result.vector.shape == (g_b.info.w_dim,)
    assert (g_a.model_id, SeedLatent(1)) in p._pix and (g_b.model_id, SeedLatent(1)) in p._pix
    ws_b, shown_b = s.workspace, shown(p)

    open_by_drop(qtbot, window, DCGAN)
    assert s.workspace is ws_a and shown(p) == shown_a  # all of it again
    assert all(not t.icon().isNull() for w in p.bin_widgets for t in w.member_buttons)
    assert np.allclose(p.result.vector, vector_a) and p.current_space() == "z"
    s.undo()  # the DCGAN's history came back too
    assert p.saved_list.count() == 0
    s.redo()
    open_by_drop(qtbot, window, STYLEGAN)
    assert s.workspace is ws_b and shown(p) == shown_b
    assert spy.wrong_model() == []  # nothing was ever rendered by another model than its own


class _DeferredJobs:
    """A worker whose jobs wait until the test steps them, as on the render thread."""

    def __init__(self, worker: SyncWorker):
        self.entries: list[dict] = []
        self.worker = worker

    def submit_job(self, job, on_done=None, on_error=None, on_progress=None, key=None) -> JobHandle:
        handle = JobHandle(len(self.entries) + 1000)
        for e in self.entries:
            if key is not None and e["key"] == key:
                e["handle"].cancel()  # newest wins per key, as RenderWorker does
        self.entries.append(dict(job=job, done=on_done, error=on_error, progress=on_progress, key=key,
                                 handle=handle, steps=0))
        return handle

    def run(self, e: dict) -> None:
        while True:
            if e["handle"].cancelled:
                e["job"].close()
                e["error"]("cancelled")
                return
            try:
                p = next(e["job"])
            except StopIteration as stop:
                e["done"](stop.value)
                return
            e["steps"] += 1
            if e["progress"]:
                e["progress"](p)


def test_jobs_run_a_stage_per_step_and_the_newest_preview_wins(loaded, monkeypatch):
    s, p = loaded.session, loaded.arithmetic_panel
    g = s.generator
    fill(p)
    # the jobs themselves: a step per bin mean and per stage of each batch, never one step for all
    job = ap.preview_job(s.renderer, g, s.recipe, p.bins, p.expression(), "z", 0.25, 0)
    steps = 0
    try:
        while True:
            next(job)
            steps += 1
    except StopIteration as stop:
        assert np.array_equal(stop.value.grid, p.result.grid)
    assert steps >= len(g.stages) + len(p.bins)
    members = [SeedLatent(i) for i in range(ap.CHUNK + 2)]  # two chunks, each delivered when drawn
    parts = [x for x in ap.thumbs_job(s.renderer, g, s.recipe, members) if x]
    assert [len(x) for x in parts] == [ap.CHUNK, 2] and all(img is not None for x in parts for _, img in x)

    deferred = _DeferredJobs(s.worker)
    monkeypatch.setattr(s.worker, "submit_job", deferred.submit_job)
    p.add_seeds(0, "40")          # asks for a thumbnail and a preview
    p.noise_seed.setValue(4)      # asks for another preview: the first is cancelled
    previews = [e for e in deferred.entries if e["key"] == ap.PREVIEW_JOB]
    thumbs = [e for e in deferred.entries if e["key"] == ap.THUMBS_JOB]
    assert len(previews) == 2 and previews[0]["handle"].cancelled and not previews[1]["handle"].cancelled
    assert len(thumbs) == 1  # the second ask found seed 40 already being drawn
    old_grid = p.result.grid
    deferred.run(previews[0])
    assert p.result.grid is old_grid and previews[0]["steps"] == 0  # cancelled before its first step
    deferred.run(thumbs[0])
    assert p._thumb(SeedLatent(40)) is not None
    deferred.run(previews[1])
    assert p.result.latents == neighbourhood(p.result.vector, model_space(g, "z"), 0.25, 4)
    assert previews[1]["steps"] >= len(g.stages)


def test_placeholders_stand_where_thumbnails_and_means_will_appear(loaded, monkeypatch):
    """While the worker draws them, bins show placeholders, not blank areas (they were blank for seconds)."""
    s, p = loaded.session, loaded.arithmetic_panel
    deferred = _DeferredJobs(s.worker)
    monkeypatch.setattr(s.worker, "submit_job", deferred.submit_job)
    p.add_seeds(0, "11,12")
    w = p.bin_widgets[0]
    icons = [t.icon().pixmap(ap.MEMBER_THUMB, ap.MEMBER_THUMB).toImage() for t in w.member_buttons]
    assert len(icons) == 2 and all(not im.isNull() for im in icons)  # placeholders, before any render
    assert not w.mean.pixmap().isNull() and all(not c.icon().isNull() for c in p.cells)
    pending = icons[0].copy()
    for e in [e for e in deferred.entries if e["key"] == ap.THUMBS_JOB]:
        deferred.run(e)
    drawn = w.member_buttons[0].icon().pixmap(ap.MEMBER_THUMB, ap.MEMBER_THUMB).toImage()
    assert drawn != pending  # the rendered thumbnail replaced the placeholder

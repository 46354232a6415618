"""The timeline dock: keyframes from the canvas, segment settings, preview, export; projects and autosave."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings

from studio.core.project import Autosave, Project, load_project
from studio.core.recipe import Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.export.writers import frame_name
from studio.model.spaces import frame_recipes
from studio.render.engine import ModelCache, Renderer
from studio.render.worker import SyncWorker
from studio.ui.main_window import MainWindow
from studio.ui.panels import timeline_panel as tp
from studio.ui.panels.timeline_panel import TimelinePanel
from studio.ui.session import Session

from .helpers import drop_files
from .test_main_window import open_by_drop


def _add_keys(window, seeds):
    s = window.session
    for seed in seeds:
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        window.timeline_panel.add_button.click()


def _new_window(qtbot, tmp_path: Path, name: str) -> MainWindow:
    """What a fresh launch builds: a new session and window (same settings folder)."""
    session = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    settings = QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session, settings, checkpoints=tmp_path / "none", pca_samples=200)
    qtbot.addWidget(w)
    w.show()
    return w


def test_keyframes_segments_and_summary(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [3, 5, 9])
    t = panel.timeline
    assert [k.latent for k in t.keyframes] == [SeedLatent(3), SeedLatent(5), SeedLatent(9)]
    assert panel.keys.count() == 3
    assert not panel.keys.item(0).icon().isNull()  # a thumbnail of the keyframe
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(10)
    panel.easing.setCurrentText("ease-in-out")
    assert t != panel.timeline and panel.timeline.segments[0].frames == 10
    assert panel.timeline.segments[0].easing == "ease-in-out" and panel.timeline.segments[1].frames == 24
    assert panel.timeline.frame_count() == 10 + 24 + 1
    assert "3 keys · 35 frames" in panel.summary.text()
    panel.loop.setChecked(True)
    assert panel.timeline.loop and panel.timeline.frame_count() == 10 + 24 + 24
    panel.keys.setCurrentRow(2)
    panel.remove.click()
    assert len(panel.timeline.keyframes) == 2
    # double-click a keyframe: edit from there (one undo step)
    panel._edit_from(panel.keys.item(0))
    assert window.session.recipe.latent == SeedLatent(3)


def test_export_from_the_panel_writes_the_frames(qtbot, window, tiny_dcgan_path, tmp_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [1, 2])
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(6)
    panel.scale.setValue(2)
    window.set_smooth(False)  # View > Upscaling > Nearest: exported frames are exact pixel repeats
    out = tmp_path / "frames"
    assert panel.export_to(out)
    assert not panel.exporting and panel.progress.value() == 7
    g = window.session.generator
    expected = [Renderer().render(g, r).image for r in frame_recipes(g, panel.timeline)]
    got = [np.asarray(Image.open(out / frame_name(i, 7))) for i in range(7)]
    assert all(np.array_equal(a, b.repeat(2, 0).repeat(2, 1)) for a, b in zip(got, expected))
    # exporting again to the same name is refused with a message, not a crash or an overwrite
    errors = []
    window.session.error.connect(errors.append)
    assert not panel.export_to(out)
    assert errors and "already exists" in errors[0]


def test_preview_plays_frames_of_the_sequence(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [1, 2])
    panel.play.click()
    assert panel.play.text() == "Stop"
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None and not panel.preview.pixmap().isNull(),
                    timeout=5000)
    panel.play.click()
    assert panel.play.text() == "Play" and not panel.timer.isActive()


def test_autosave_writes_and_the_next_launch_recovers(qtbot, window, tiny_dcgan_path, tmp_path):
    store = tmp_path / "auto"
    assert not window.start_autosave(Autosave(store), ask=lambda: pytest.fail("nothing to recover yet"))
    open_by_drop(qtbot, window, tiny_dcgan_path)
    _add_keys(window, [4, 8])
    s = window.session
    s.edit(s.recipe.with_seed(11).with_truncation(0.6), "seed 11")
    assert window.autosave_now() and window.autosave.flush(10)  # written on the autosave thread
    saved = load_project(store / "autosave.lsproj")
    assert saved.recipe == s.recipe and len(saved.timeline.keyframes) == 2
    # the process dies here: no closeEvent, no clean-exit marker

    asked = []
    w2 = _new_window(qtbot, tmp_path, "second")
    assert w2.start_autosave(Autosave(store), ask=lambda: asked.append(1) or True)
    assert asked == [1]
    assert w2.session.recipe == saved.recipe
    assert w2.timeline_panel.timeline == saved.timeline
    assert w2.canvas.image() is not None
    assert np.array_equal(w2.canvas.image(), Renderer().render(w2.session.generator, saved.recipe).image)
    w2.session.undo()  # the history came back too
    assert w2.session.recipe.latent == SeedLatent(8)
    w2.close()  # a clean exit: the launch after it offers nothing
    w3 = _new_window(qtbot, tmp_path, "third")
    assert not w3.start_autosave(Autosave(store), ask=lambda: pytest.fail("clean exit: nothing to offer"))


def test_project_with_a_moved_checkpoint_asks_where_it_went(qtbot, window, tiny_dcgan_path, tmp_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    _add_keys(window, [6, 7])
    proj = tmp_path / "p.lsproj"
    assert window.save_project(proj)
    moved = tmp_path / "moved" / tiny_dcgan_path.name
    moved.parent.mkdir()
    tiny_dcgan_path.rename(moved)
    w2 = _new_window(qtbot, tmp_path, "second")
    asked = []
    assert w2.open_project(proj, relocate=lambda missing: asked.append(missing) or moved)
    assert asked == [str(tiny_dcgan_path)]
    assert w2.session.model_path == moved and w2.session.recipe.latent == SeedLatent(7)
    assert len(w2.timeline_panel.timeline.keyframes) == 2
    # a damaged project file is a message in the window, not a crash
    (tmp_path / "bad.lsproj").write_text("{ nope")
    assert not w2.open_project(tmp_path / "bad.lsproj")
    assert "damaged" in w2.statusBar().currentMessage()


# -- the panel as a view of the workspace -------------------------------------------------------------
DEMOS = Path(__file__).resolve().parents[2] / "checkpoints"


def _shows(panel, t, scale: int = 4) -> None:
    """The widgets show timeline `t` (and export size `scale`, x4 by default for these <= 128 px models),
    whatever the panel showed before."""
    assert panel.timeline == t
    assert panel.keys.count() == len(t.keyframes)
    assert [panel.keys.item(i).text().split(" · ")[0] for i in range(panel.keys.count())] == \
        [str(i + 1) for i in range(len(t.keyframes))]
    assert panel.fps.value() == t.fps and panel.loop.isChecked() == t.looping
    assert panel.scale.value() == scale
    assert panel.radius.isEnabled() == (t.noise is not None)
    row = panel.keys.currentRow()
    if 0 <= row < len(t.segments):
        assert panel.frames.value() == t.segments[row].frames
        assert panel.easing.currentText() == t.segments[row].easing


class _RenderSpy:
    """Records which model rendered which recipes (frames, thumbnails, exports) through the renderer."""

    def __init__(self, renderer, monkeypatch):
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []  # (how, model id, the recipes' models)

        render, iter_batch = renderer.render, renderer.iter_batch

        def spy_render(g, recipe, *a, **k):
            self.calls.append(("frame", g.model_id, (recipe.model.sha256,)))
            return render(g, recipe, *a, **k)

        def spy_iter(g, recipes, *a, **k):
            self.calls.append(("batch", g.model_id, tuple(r.model.sha256 for r in recipes)))
            return iter_batch(g, recipes, *a, **k)

        monkeypatch.setattr(renderer, "render", spy_render)
        monkeypatch.setattr(renderer, "iter_batch", spy_iter)

    def wrong_model(self) -> list:
        return [c for c in self.calls if any(sha and sha != c[1] for sha in c[2])]


def test_every_timeline_edit_is_one_undo_step_and_undo_shows_the_state_before(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    s, panel = window.session, window.timeline_panel
    states = [(panel.timeline, 4)]  # x4: the default export size of a <= 128 px model

    def step(action) -> None:
        before = s.history.index
        action()
        assert s.history.index == before + 1, "one undo step per edit"
        states.append((panel.timeline, panel.scale.value()))
        assert s.workspace.timeline is panel.timeline  # the state is the workspace's

    for seed in (3, 5, 9):
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        states.append((panel.timeline, 4))
        step(panel.add_button.click)
    panel.keys.setCurrentRow(0)

    def frames_typed() -> None:  # typing 1, 12 then leaving the box: one step
        panel.frames.setValue(1)
        panel.frames.setValue(12)
        panel.frames.editingFinished.emit()

    def scale_typed() -> None:
        panel.scale.setValue(2)
        panel.scale.setValue(3)
        panel.scale.editingFinished.emit()

    def fps_typed() -> None:
        panel.fps.setValue(30)
        panel.fps.setValue(12)
        panel.fps.editingFinished.emit()

    def noise_on() -> None:
        panel.noise.setCurrentIndex(1)
        panel.noise.activated.emit(1)

    def radius_typed() -> None:
        panel.radius.setValue(0.4)
        panel.radius.setValue(0.5)
        panel.radius.editingFinished.emit()

    def noise_off() -> None:
        panel.noise.setCurrentIndex(0)
        panel.noise.activated.emit(0)

    def interp_lerp() -> None:
        panel.interp.setCurrentIndex(1)
        panel.interp.activated.emit(1)

    for action in (frames_typed, lambda: panel.easing.setCurrentText("cubic"), interp_lerp,
                   lambda: panel.loop.setChecked(True), fps_typed, scale_typed, noise_on, radius_typed,
                   panel.reroll.click, noise_off, panel.down.click, panel.up.click, panel.remove.click):
        step(action)
    t = panel.timeline
    assert t.fps == 12 and t.loop and t.noise is None
    assert states[-2][0].segments[0] == Segment(12, "lerp", "cubic")  # before the remove
    assert [k.latent for k in t.keyframes] == [SeedLatent(5), SeedLatent(9)]
    assert s.workspace.panel("timeline.scale") == 3
    # undo all the way: the panel shows each earlier state; redo all the way back
    for want, scale in reversed(states[:-1]):
        s.undo()
        _shows(panel, want, scale)
    assert not panel.timeline.keyframes and panel.summary.text().startswith("Add the canvas image")
    for want, scale in states[1:]:
        s.redo()
        _shows(panel, want, scale)


def test_the_timeline_and_export_size_are_saved_with_the_project(qtbot, window, tiny_dcgan_path):
    open_by_drop(qtbot, window, tiny_dcgan_path)
    s, panel = window.session, window.timeline_panel
    _add_keys(window, [2, 4])
    panel.keys.setCurrentRow(1)
    panel.frames.setValue(7)
    panel.loop.setChecked(True)
    panel.scale.setValue(3)
    back = Project.from_dict(s.project().to_dict())
    assert back.workspace.timeline == panel.timeline and back.workspace.panel("timeline.scale") == 3
    # a fresh session restores it into its panel
    other = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    view = TimelinePanel(other)
    qtbot.addWidget(view)
    other.open_model(tiny_dcgan_path, project=back)
    _shows(view, back.workspace.timeline, 3)
    assert all(not view.keys.item(i).icon().isNull() for i in range(2))
    other.undo()  # the history came along: the export size goes back
    assert view.scale.value() == 4 and view.timeline == back.workspace.timeline  # the model's default


def test_switching_models_shows_each_models_own_timeline_rendered_by_that_model(qtbot, window, tmp_path,
                                                                                monkeypatch):
    s, panel = window.session, window.timeline_panel
    spy = _RenderSpy(s.renderer, monkeypatch)
    thumbs: list = []  # (the model that rendered a thumbnail, its keyframe)
    job = panel._thumb_job
    monkeypatch.setattr(panel, "_thumb_job", lambda g, r: thumbs.append((g.model_id, r)) or job(g, r))
    dcgan, stylegan = DEMOS / "dcgan_toyfaces.safetensors", DEMOS / "stylegan2_toyfaces.safetensors"
    open_by_drop(qtbot, window, dcgan)
    g_a = s.generator
    _add_keys(window, [3, 5])
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(5)
    panel.scale.setValue(2)
    tl_a = panel.timeline
    assert all(not panel.keys.item(i).icon().isNull() for i in range(2))

    open_by_drop(qtbot, window, stylegan)
    g_b = s.generator
    assert g_b.model_id != g_a.model_id
    _shows(panel, Timeline())  # nothing of the DCGAN's timeline, and the default size
    assert panel.keys.count() == 0 and not panel.export_button.isEnabled() and not panel.play.isEnabled()
    _add_keys(window, [7, 8])
    panel.keys.setCurrentRow(0)
    panel.frames.setValue(3)
    tl_b = panel.timeline
    assert all(k.model.sha256 == g_b.model_id for k in tl_b.keyframes)
    assert all(not panel.keys.item(i).icon().isNull() for i in range(2))
    out = tmp_path / "b_frames"
    assert panel.export_to(out)  # exporting with StyleGAN2 open renders only StyleGAN2's timeline
    assert not panel.exporting
    got = sorted(out.glob("*.png"))
    assert len(got) == tl_b.frame_count() == 4
    expected = Renderer().render(g_b, tl_b.keyframes[0]).image
    from studio.export.writers import upscale
    # the 64 px model's default export: x4 (256 px), smooth as the view
    assert np.array_equal(np.asarray(Image.open(got[0]))[..., :3], upscale(expected[None], 4, True)[0])

    for key in [k for k in panel._thumbs if k[0] == g_a.model_id]:
        del panel._thumbs[key]  # as if evicted: the DCGAN's thumbnails must be drawn again, by the DCGAN
    assert thumbs == []  # so far every thumbnail came from the canvas frame
    open_by_drop(qtbot, window, dcgan)
    _shows(panel, tl_a, 2)  # all of it again
    assert all(not panel.keys.item(i).icon().isNull() for i in range(2))
    assert thumbs == [(g_a.model_id, k) for k in tl_a.keyframes]  # rendered by the DCGAN, never by StyleGAN2
    assert spy.wrong_model() == []  # nothing was ever rendered by another model than its own
    s.undo()  # the DCGAN's history came back too
    assert panel.scale.value() == 4 and panel.timeline == tl_a
    open_by_drop(qtbot, window, stylegan)
    _shows(panel, tl_b)
    assert all(not panel.keys.item(i).icon().isNull() for i in range(2))
    assert len(thumbs) == 2  # StyleGAN2's from its own cache: not rendered again


def test_keyframes_of_another_model_are_refused_until_re_rendered_with_the_open_one(
        qtbot, window, tiny_dcgan_path, tiny_dcgan_safetensors, tmp_path, monkeypatch):
    s, panel = window.session, window.timeline_panel
    open_by_drop(qtbot, window, tiny_dcgan_path)
    ref_a = s.recipe.model
    open_by_drop(qtbot, window, tiny_dcgan_safetensors)
    spy = _RenderSpy(s.renderer, monkeypatch)
    # the timeline of an old project: keyframes that were made with the first model
    old = Timeline(tuple(Recipe(ref_a, SeedLatent(k)) for k in (1, 2)), (Segment(4), Segment(4)))
    assert s.update("Open old project", timeline=old)
    errors: list[str] = []
    s.error.connect(errors.append)
    assert panel.adopt.isVisibleTo(panel)
    assert all(panel.keys.item(i).text().startswith("⚠") and panel.keys.item(i).icon().isNull()
               for i in range(2))
    assert tiny_dcgan_path.name in panel.keys.item(0).toolTip()
    panel.play.click()
    assert panel.play.text() == "Play" and panel._playback is None
    assert errors and tiny_dcgan_path.name in errors[-1] and tiny_dcgan_safetensors.name in errors[-1]
    out = tmp_path / "never.gif"
    assert not panel.export_to(out)
    assert "Cannot export" in errors[-1] and tiny_dcgan_path.name in errors[-1] and not out.exists()
    assert spy.calls == []  # not one frame of the first model's keyframes rendered by this one

    steps = s.history.index
    panel.adopt.click()  # the user asks: one undo step, re-rendered visibly by the open model
    assert s.history.index == steps + 1 and not panel.adopt.isVisibleTo(panel)
    assert all(k.model == s.recipe.model for k in panel.timeline.keyframes)
    assert all(not panel.keys.item(i).icon().isNull() for i in range(2)) and spy.wrong_model() == []
    assert panel.export_to(out) and out.is_file()
    s.undo()
    assert panel.timeline == old and panel.adopt.isVisibleTo(panel)
    # double-clicking a keyframe of the old model edits from it with the open model (visibly, on the canvas)
    panel._edit_from(panel.keys.item(1))
    assert s.recipe == replace(old.keyframes[1], model=s.recipe.model)


def test_play_and_export_expand_the_timeline_on_the_worker(qtbot, threaded_window, tmp_path, tiny_dcgan_path,
                                                          tiny_dcgan_safetensors, monkeypatch):
    """On the real worker: the recipe expansion runs off the GUI thread, editing and switching models
    during an export leave it exporting what it started with, and a cancel leaves no file."""
    threads: list[str] = []
    expand = tp._frame_recipes
    monkeypatch.setattr(tp, "_frame_recipes", lambda t, g: threads.append(threading.current_thread().name)
                        or expand(t, g))
    w = threaded_window
    s, worker = w.session, w.session.worker
    messages: list[str] = []
    s.message.connect(messages.append)
    try:
        panel = w.timeline_panel
        open_by_drop(qtbot, w, tiny_dcgan_path)
        _add_keys(w, [1, 2])
        panel.play.click()
        qtbot.waitUntil(lambda: panel.preview.pixmap() is not None and not panel.preview.pixmap().isNull(),
                        timeout=10000)
        panel.play.click()
        assert threads and threading.main_thread().name not in threads

        panel.keys.setCurrentRow(0)
        panel.frames.setValue(150)
        started = panel.timeline
        out = tmp_path / "walk.gif"
        assert panel.export_to(out)
        _add_keys(w, [3])  # editing goes on; the export renders the timeline it started with
        with qtbot.waitSignal(s.modelChanged, timeout=20000):
            drop_files(w, [tiny_dcgan_safetensors])  # and so does opening another model
        qtbot.waitUntil(lambda: not panel.exporting, timeout=60000)
        assert any(f"Exported {started.frame_count()} frames" in m for m in messages), messages
        assert Image.open(out).n_frames == started.frame_count()

        _add_keys(w, [4, 5])
        panel.keys.setCurrentRow(0)
        panel.frames.setValue(3000)
        folder = tmp_path / "cancelled"
        folder.mkdir()
        assert panel.export_to(folder / "long.gif")
        qtbot.waitUntil(lambda: panel.progress.value() > 10, timeout=30000)
        panel.cancel.click()
        qtbot.waitUntil(lambda: not panel.exporting, timeout=20000)
        assert list(folder.iterdir()) == [] and "cancelled" in messages[-1]
    finally:
        worker.stop()


def test_a_file_the_user_agreed_to_replace_is_replaced_a_folder_of_theirs_is_not(qtbot, window, tiny_dcgan_path,
                                                                                 tmp_path):
    """The save dialog's "replace?" is consent for that file; it says nothing of the files inside a folder."""
    open_by_drop(qtbot, window, tiny_dcgan_path)
    panel = window.timeline_panel
    _add_keys(window, [1, 2])
    panel.frames.setValue(3)
    theirs = tmp_path / "holiday.gif"
    Image.new("RGB", (8, 8), "red").save(theirs)
    errors = []
    window.session.error.connect(errors.append)
    assert not panel.export_to(theirs, force=True)  # --force semantics: not the studio's file, refused
    assert errors and "holiday.gif" in errors[-1]
    assert panel.export_to(theirs, force=True, confirmed=True)  # what export_dialog does after "replace?"
    frames = window.session.workspace.timeline.frame_count()
    assert Image.open(theirs).n_frames == frames > 1 and Image.open(theirs).size == (32 * panel.scale.value(),) * 2

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "me.jpg").write_bytes(b"a photo")
    assert not panel.export_to(folder, force=True, confirmed=folder.is_file())
    assert (folder / "me.jpg").read_bytes() == b"a photo"

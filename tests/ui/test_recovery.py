"""Recovery never loses a session (issue 26 item 4), through the real window and the real app start.

A damaged autosave of each kind is moved aside (kept byte for byte, named in the window) and the app starts
clean; a restore that cannot complete (checkpoint moved and the dialog cancelled, checkpoint no longer
loading, another model under the name) keeps the crashed autosave untouched past the autosave interval; a
recovered project is never applied to another model.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from studio.core.project import Autosave, Project, load_project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.workspace import Workspace
from studio.render.engine import ModelCache
from studio.render.worker import SyncWorker
from studio.ui.main_window import AUTOSAVE_MS, MainWindow
from studio.ui.session import Session
from tests.conftest import make_dcgan


def _schema1_with_infinity(model: str) -> str:
    recipe = Recipe(ModelRef(model), SeedLatent(3)).to_dict()
    text = json.dumps({"format": "latent-studio-project", "schema": 1, "model": {"path": model},
                       "recipe": recipe, "history": [recipe], "history_index": 0})
    return text.replace('"history_index": 0', '"history_index": Infinity')


# name -> how to damage a good autosave text (compact JSON, as Autosave writes it)
DAMAGE = {
    "deep nesting": lambda good: good[:-2] + ',"x":' + "[" * 100_000 + "]" * 100_000 + "}\n",
    "a 400-digit integer": lambda good: good.replace('"active":0', '"active":' + "9" * 400, 1),
    "history_index Infinity": lambda good: _schema1_with_infinity("/models/netG.pth"),
    "truncated": lambda good: good[: len(good) // 2],
    "wrong types": lambda good: good.replace('"workspaces":[', '"workspaces":[7,', 1),
    "a model path that is not text": lambda good: good.replace('"path":"', '"path":5,"was":"'),
}


def _good_autosave(folder: Path, model: Path) -> str:
    store = Autosave(folder)
    store.begin()
    assert store.save(Project.of(Workspace(Recipe(ModelRef(str(model)), SeedLatent(5)))))
    return store.path.read_text()


def _damaged(folder: Path, kind: str, model: Path) -> bytes:
    good = _good_autosave(folder, model)
    bad = DAMAGE[kind](good)
    assert bad != good
    (folder / "autosave.lsproj").write_text(bad)
    return bad.encode()


def _kept(folder: Path, why: str) -> Path:
    kept = sorted(folder.glob(f"autosave-{why}-*.lsproj"))
    assert len(kept) == 1, sorted(p.name for p in folder.iterdir())
    return kept[0]


def _window(qtbot, tmp_path: Path, name: str) -> MainWindow:
    """What a fresh launch builds: a new session and window."""
    session = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    w = MainWindow(session, QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat),
                   checkpoints=tmp_path / "none", pca_samples=50)
    qtbot.addWidget(w)
    w.show()
    return w


def _open(qtbot, w: MainWindow, path: Path) -> None:
    w.session.open_model(path)
    qtbot.waitUntil(lambda: w.session.model_path == path and w.session.last_frame is not None, timeout=20000)


def _crash_with_a_session(qtbot, tmp_path: Path, model: Path, folder: Path, seed: int = 9) -> bytes:
    """A session on `model` at `seed`, autosaved, then the process dies (no close, no marker)."""
    w = _window(qtbot, tmp_path, "crashed")
    assert not w.start_autosave(Autosave(folder), ask=lambda: pytest.fail("nothing to recover yet"))
    _open(qtbot, w, model)
    w.session.edit(w.session.recipe.with_seed(seed), f"seed {seed}")
    assert w.autosave_now() and w.autosave.flush(10)
    w.autosave_timer.stop()
    w.autosave = None  # the process is gone: its window never writes again
    return (folder / "autosave.lsproj").read_bytes()


def _other_model(tmp_path: Path) -> Path:
    path = tmp_path / "other" / "netG_other.pth"
    path.parent.mkdir(exist_ok=True)
    torch.save({f"main.{k}": v for k, v in make_dcgan(seed=7).state_dict().items()}, path)
    return path


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_autosave_is_moved_aside_and_the_app_starts(kind, qtbot, qapp, settings, tiny_dcgan_path,
                                                             tmp_path):
    """The real start (run_app, as `latent-studio CKPT` runs it): a message, no traceback, exit 0."""
    from studio.ui.app import run_app

    folder = Path(settings.fileName()).parent / "autosave"
    damaged = _damaged(folder, kind, tiny_dcgan_path)
    seen: dict = {}

    def poll() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not wins or wins[0].session.last_frame is None:
            QTimer.singleShot(20, poll)
            return
        seen["window"], seen["banner"] = wins[0], wins[0].banner.text()
        qapp.exit(0)

    QTimer.singleShot(0, poll)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: qapp.exit(1))  # never hang the suite
    guard.start(30000)
    assert run_app(["latent-studio"], str(tiny_dcgan_path), settings=settings) == 0
    guard.stop()
    kept = _kept(folder, "damaged")
    assert kept.read_bytes() == damaged  # kept as it was
    assert "could not be read" in seen["banner"] and str(kept) in seen["banner"]  # says where it went
    w = seen["window"]
    assert w.session.model_path == tiny_dcgan_path and w.session.last_frame.ok  # and started clean
    assert w.session.recipe.latent == SeedLatent(0)
    qapp.setQuitOnLastWindowClosed(False)
    try:
        w.close()  # a clean exit: the next launch offers nothing and reads nothing damaged
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    w.deleteLater()
    assert Autosave(folder).pending_recovery() is None
    assert kept.read_bytes() == damaged


def test_a_damaged_autosave_stays_kept_while_the_new_session_autosaves(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    damaged = _damaged(folder, "a 400-digit integer", tiny_dcgan_path)
    w = _window(qtbot, tmp_path, "w")
    assert not w.start_autosave(Autosave(folder), ask=lambda: pytest.fail("a damaged autosave is not offered"))
    kept = _kept(folder, "damaged")
    assert str(kept) in w.banner.text()
    _open(qtbot, w, tiny_dcgan_path)
    assert str(kept) in w.banner.text()  # opening the model does not hide it unread
    assert w.autosave_now() and w.autosave.flush(10)
    assert load_project(folder / "autosave.lsproj").model.path == str(tiny_dcgan_path)
    assert kept.read_bytes() == damaged


def test_a_folder_under_the_autosave_name_is_moved_aside(qtbot, tmp_path):
    folder = tmp_path / "auto"
    (folder / "autosave.lsproj").mkdir(parents=True)
    (folder / "autosave.lsproj" / "inside.txt").write_text("x")
    w = _window(qtbot, tmp_path, "w")
    assert not w.start_autosave(Autosave(folder), ask=lambda: pytest.fail("nothing to offer"))
    kept = _kept(folder, "damaged")
    assert (kept / "inside.txt").read_text() == "x" and "not a regular file" in w.banner.text()


def test_restore_then_cancel_keeps_the_crashed_autosave(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    crashed = _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder)
    moved = tmp_path / "moved" / tiny_dcgan_path.name
    moved.parent.mkdir()
    tiny_dcgan_path.rename(moved)

    w = _window(qtbot, tmp_path, "second")
    asked: list[str] = []
    w._ask_relocate = lambda missing: asked.append(missing) or None  # the user cancels "where is it?"
    assert not w.start_autosave(Autosave(folder), ask=lambda: True)  # Restore
    assert asked == [str(tiny_dcgan_path)]
    kept = _kept(folder, "unrecovered")
    assert kept.read_bytes() == crashed
    assert "not restored" in w.banner.text() and str(kept) in w.banner.text()
    # the app goes on (run_app opens the default demo): another model, edited; autosave runs on its timer
    other = _other_model(tmp_path)
    _open(qtbot, w, other)
    w.session.edit(w.session.recipe.with_seed(3), "seed 3")
    qtbot.wait(AUTOSAVE_MS + 700)
    assert w.autosave.flush(10)
    assert load_project(folder / "autosave.lsproj").recipe.latent == SeedLatent(3)  # the new session is saved
    assert kept.read_bytes() == crashed  # and the crashed one untouched beside it
    assert str(kept) in w.banner.text()
    # the kept file still brings the crashed session back, once its checkpoint is found
    assert w.open_project(kept, relocate=lambda missing: moved)
    qtbot.waitUntil(lambda: w.session.model_path == moved, timeout=20000)
    assert w.session.recipe.latent == SeedLatent(9)


def test_a_checkpoint_that_no_longer_loads_keeps_the_session(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    crashed = _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder)
    good = tiny_dcgan_path.read_bytes()
    tiny_dcgan_path.write_bytes(good[: len(good) // 3])  # damaged since: it no longer opens

    w = _window(qtbot, tmp_path, "second")
    w.start_autosave(Autosave(folder), ask=lambda: True)
    qtbot.waitUntil(lambda: w.recovery.state == "kept", timeout=20000)
    kept = _kept(folder, "unrecovered")
    assert kept.read_bytes() == crashed and str(kept) in w.banner.text()
    assert w.session.generator is None
    # the next model the user opens gets its own fresh workspace, not the crashed session's
    other = _other_model(tmp_path)
    _open(qtbot, w, other)
    assert w.session.recipe.latent == SeedLatent(0) and w.session.recipe.model.path == str(other)
    assert len(w.session.workspaces.saved()[0]) == 1
    assert w.autosave_now() and w.autosave.flush(10)
    assert kept.read_bytes() == crashed


def test_a_recovered_project_is_never_applied_to_another_model(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    crashed = _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder)
    other = _other_model(tmp_path)
    tiny_dcgan_path.write_bytes(other.read_bytes())  # another model under the project's file name

    w = _window(qtbot, tmp_path, "second")
    w.start_autosave(Autosave(folder), ask=lambda: True)
    qtbot.waitUntil(lambda: w.recovery.state == "kept", timeout=20000)
    assert w.session.generator is None  # nothing applied to the other model
    assert "not the model the project was saved with" in w.banner.text()
    kept = _kept(folder, "unrecovered")
    assert kept.read_bytes() == crashed and str(kept) in w.banner.text()


def test_pointing_the_recovery_at_another_model_is_refused(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    crashed = _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder)
    tiny_dcgan_path.unlink()
    other = _other_model(tmp_path)

    w = _window(qtbot, tmp_path, "second")
    w._ask_relocate = lambda missing: other  # the user picks a different checkpoint
    w.start_autosave(Autosave(folder), ask=lambda: True)
    qtbot.waitUntil(lambda: w.recovery.state == "kept", timeout=20000)
    assert w.session.generator is None
    assert _kept(folder, "unrecovered").read_bytes() == crashed


def test_keep_for_later_and_discard(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    crashed = _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder)
    w = _window(qtbot, tmp_path, "later")
    assert not w.start_autosave(Autosave(folder), ask=lambda: None)  # the box closed without a choice
    assert _kept(folder, "unrecovered").read_bytes() == crashed
    # Discard is the one choice that lets the new session's autosave replace the crashed one
    folder2 = tmp_path / "auto2"
    _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder2)
    w2 = _window(qtbot, tmp_path, "discard")
    assert not w2.start_autosave(Autosave(folder2), ask=lambda: False)
    _open(qtbot, w2, tiny_dcgan_path)
    assert w2.autosave_now() and w2.autosave.flush(10)
    assert load_project(folder2 / "autosave.lsproj").recipe.latent == SeedLatent(0)
    assert not list(folder2.glob("autosave-*"))


def test_a_successful_restore_autosaves_over_the_crashed_file(qtbot, tiny_dcgan_path, tmp_path):
    folder = tmp_path / "auto"
    _crash_with_a_session(qtbot, tmp_path, tiny_dcgan_path, folder)
    w = _window(qtbot, tmp_path, "second")
    w.start_autosave(Autosave(folder), ask=lambda: True)
    qtbot.waitUntil(lambda: w.recovery.state == "restored", timeout=20000)
    assert w.session.recipe.latent == SeedLatent(9)
    w.session.edit(w.session.recipe.with_seed(10), "seed 10")
    assert w.autosave_now() and w.autosave.flush(10)
    assert load_project(folder / "autosave.lsproj").recipe.latent == SeedLatent(10)
    assert not list(folder.glob("autosave-*"))  # nothing set aside: it is the same session

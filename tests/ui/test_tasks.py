"""Long work in the status bar: a job run as a task shows its title, progress and time left, Cancel stops
it, and the panel that started it says it stopped; the time left comes from the pace so far."""
from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from studio.bundled import demo_checkpoints
from studio.render.engine import ModelCache
from studio.ui.main_window import MainWindow
from studio.ui.session import Session
from studio.ui.tasks import Task, Tasks

from .helpers import SteppedWorker

DCGAN = next(p for p in demo_checkpoints() if p.stem.startswith("dcgan"))


def test_the_time_left_follows_the_pace_so_far():
    now = [100.0]
    task = Task("Fitting Smiling", cancel=None, clock=lambda: now[0])
    now[0] += 0.5
    task.report(0.1)
    assert task.eta_s is None  # too early to tell
    now[0] += 1.5
    task.report(0.25)  # a quarter in 2 s: 6 s to go
    assert abs(task.eta_s - 6.0) < 1e-9 and not task.can_cancel
    from studio.export.job import Progress

    task.report(Progress(30, 120, 3.0))  # an export says its own pace
    assert task.detail == "30/120" and abs(task.eta_s - 9.0) < 1e-9 and task.fraction == 0.25


def test_a_pca_runs_as_a_task_that_cancel_stops(qtbot, tmp_path: Path):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    w = MainWindow(s, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   checkpoints=tmp_path / "none", pca_samples=400)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    s.open_model(DCGAN)
    worker.step()  # the load
    area = w.task_area
    for _ in range(50):
        if area.isVisible() and area.bar.value() > 0:
            break
        worker.step()
        QApplication.processEvents()
    assert area.title.text().startswith("Finding PCA directions")
    assert 0 < area.bar.value() < area.bar.maximum()
    assert area.cancel.isVisible() and area.cancel.isEnabled()
    area.cancel.click()
    assert not area.cancel.isEnabled() and "cancelling" in area.eta.text()
    worker.run_all()
    QApplication.processEvents()
    assert [t.title for t in s.tasks.running] == [] and not area.isVisible() and s.workspace.pca is None
    assert "Stopped" in w.walk_panel.pca.placeholder.text()


def test_tasks_list_the_newest_in_front_and_offer_a_file_until_dismissed(qtbot, tmp_path):
    from studio.ui.tasks import TaskArea

    from PySide6.QtWidgets import QWidget

    tasks = Tasks()
    bar = QWidget()  # the status bar it sits in
    area = TaskArea(tasks, bar, reveal=lambda p: shown.append(p))
    qtbot.addWidget(bar)
    bar.show()
    shown: list[Path] = []
    assert not area.isVisible()
    a, b = tasks.start("Exporting a.gif"), tasks.start("Finding units", cancel=lambda: None)
    assert area.title.text() == "Finding units (+1)" and area.cancel.isEnabled()
    tasks.end(b)
    assert area.title.text() == "Exporting a.gif" and not area.cancel.isEnabled()
    tasks.end(a)
    tasks.offer_file(tmp_path / "a.gif", "Exported a.gif")
    assert area.isVisible() and not area.cancel.isVisible() and area.done_label.text() == "Exported a.gif"
    area.reveal.click()
    assert shown == [tmp_path / "a.gif"]
    area.dismiss.click()
    assert not area.isVisible()


def test_a_model_switch_ends_the_previous_models_tasks(qtbot, tmp_path: Path):
    worker = SteppedWorker()
    s = Session(worker, ModelCache(torch.device("cpu")))
    w = MainWindow(s, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   checkpoints=tmp_path / "none", pca_samples=400)
    qtbot.addWidget(w)
    w.show()
    s.open_model(DCGAN)
    for _ in range(5):
        worker.step()
    assert [t.title for t in s.tasks.running] == ["Finding PCA directions"]
    s.open_model(next(p for p in demo_checkpoints() if p.stem.startswith("stargan")))
    worker.run_all()
    QApplication.processEvents()
    assert s.tasks.running == [] and not w.task_area.isVisible()

"""GUI fixtures: a main window on a synchronous worker, settings in a temporary ini file, file drops."""
from __future__ import annotations

from pathlib import Path
import pytest
import torch
from PySide6.QtCore import QSettings

from studio.render.engine import ModelCache
from studio.render.worker import RenderWorker, SyncWorker
from studio.ui.main_window import MainWindow
from studio.ui.session import Session

PCA_SAMPLES = 200  # enough for 10 components of a tiny model, fast on a shared CPU


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A settings store of our own, so tests never read or write the user's settings."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def session(qtbot) -> Session:
    return Session(SyncWorker(), ModelCache(torch.device("cpu")))


@pytest.fixture
def window(qtbot, session: Session, settings: QSettings, tmp_path: Path) -> MainWindow:
    w = MainWindow(session, settings, checkpoints=tmp_path / "no_checkpoints", pca_samples=PCA_SAMPLES)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def threaded_window(qtbot, settings: QSettings, tmp_path: Path):
    """A main window on the real RenderWorker thread, as the app runs (the worker stops after the test)."""
    session = Session(RenderWorker(), ModelCache(torch.device("cpu")))
    w = MainWindow(session, settings, checkpoints=tmp_path / "no_checkpoints", pca_samples=50)
    qtbot.addWidget(w)
    w.show()
    yield w
    session.worker.stop()

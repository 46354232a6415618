"""Starting the GUI: `latent-studio [CKPT]` calls `run_app(sys.argv, path)`."""
from __future__ import annotations

import logging
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QSettings, QSocketNotifier, Qt
from PySide6.QtWidgets import QApplication, QWidget

from studio.bundled import default_demo
from studio.ui import theme

log = logging.getLogger(__name__)


def _system_theme(app: QApplication) -> str:
    hints = app.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return "dark" if scheme is not None and scheme() == Qt.ColorScheme.Dark else "light"


def close_on_signals(app: QApplication, window: QWidget) -> Callable[[], None]:
    """Ctrl+C (SIGINT) and SIGTERM close the window as its close button does: a final autosave and the
    clean-exit marker, no traceback, status 0. Returns the function that puts the old handlers back.

    Python runs signal handlers only between bytecodes, and Qt's event loop is C++: the signal's byte on a
    socket (signal.set_wakeup_fd) wakes a QSocketNotifier, whose slot is where the handler gets to run.
    Without this, Ctrl+C raised KeyboardInterrupt inside whatever slot ran next (an autosave tick).
    """
    if sys.platform == "win32":  # no wakeup socket semantics worth relying on there; keep Python's default
        return lambda: None
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)
    closing = (signal.SIGINT, signal.SIGTERM)

    def on_wakeup() -> None:
        try:
            got = [signal.Signals(b).name for b in reader.recv(64) if b in closing]
        except (BlockingIOError, ValueError):
            return
        if not got:
            return
        log.info("closing on %s", ", ".join(got))
        for w in app.topLevelWidgets():  # a modal dialog's own loop would otherwise hold the quit back
            if w is not window and w.isVisible():
                w.close()
        window.close()
        app.exit(0)

    notifier.activated.connect(on_wakeup)
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    previous = {s: signal.signal(s, lambda *_: None) for s in closing}  # the byte is the message

    def restore() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()

    return restore


def run_app(argv: list[str], path: str | Path | None = None, *, settings: QSettings | None = None) -> int:
    """Create the application and main window; open `path`, else the default demo, else the empty state.

    `settings` replaces the user's settings store (tests pass an ini file in a temporary folder); the
    autosave then lives beside it too, so such a run never touches the user's autosaved session.
    """
    from studio.core.project import Autosave
    from studio.errors import StudioError
    from studio.model.numerics import PRECISIONS
    from studio.render.device import startup_device
    from studio.render.engine import ModelCache, Renderer
    from studio.render.worker import RenderWorker
    from studio.ui.main_window import MainWindow
    from studio.ui.session import Session

    app = QApplication.instance() or QApplication(list(argv))
    assert isinstance(app, QApplication)
    app.setApplicationName("Latent Studio")
    app.setOrganizationName("latent-studio")
    app.setApplicationDisplayName("Latent Studio")
    autosave = None
    if settings is None:
        settings = QSettings("latent-studio", "Latent Studio")
    else:
        autosave = Autosave(Path(settings.fileName()).parent / "autosave")
    theme.apply_theme(app, str(settings.value("ui/theme", _system_theme(app))))

    precision = str(settings.value("render/precision", "auto"))  # interactive frames; exports stay fp32
    worker = RenderWorker(Renderer(precision=precision if precision in PRECISIONS else "auto"))
    backend = str(settings.value("render/backend", "torch"))  # torch, onnx or auto
    device, device_problem = startup_device()  # a missing $LATENT_STUDIO_DEVICE: said in the window below
    try:
        models = ModelCache(device, backend=backend)
    except StudioError as exc:  # a hand-edited setting: say so, run on torch
        log.warning("%s; using torch", exc)
        models = ModelCache(device)
    session = Session(worker, models)
    window = MainWindow(session, settings)

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        # A bug in a slot must not end the session: log it, say it in one line, keep the work.
        traceback.print_exception(kind, value, tb)
        window.show_error(f"Unexpected error ({kind.__name__}: {value}). Your work is unchanged.")

    previous_hook = sys.excepthook
    sys.excepthook = excepthook
    restore_signals = close_on_signals(app, window)
    window.show()
    if device_problem is not None:
        log.warning("%s", device_problem)
        window.show_error(device_problem)

        def say_again(_g: object) -> None:  # opening the first model clears the banner: say it once more
            session.modelChanged.disconnect(say_again)
            window.show_error(device_problem)

        session.modelChanged.connect(say_again)
    if path and Path(path).suffix == ".lsproj":
        window.start_autosave(autosave)
        window.open_project(Path(path))
    elif not window.start_autosave(autosave):  # a crashed session's state, when the user takes it, comes first
        target = Path(path) if path else default_demo()
        if target is not None:
            session.open_model(target)
    try:
        return int(app.exec())
    finally:
        restore_signals()
        sys.excepthook = previous_hook
        worker.stop()

"""Seeing a crashed session's autosave through: restored, discarded on request, or kept aside; never lost.

A restore can fail after the user said yes: the checkpoint moved and the "where is it?" dialog was
cancelled, the checkpoint no longer loads, it is another model now, or the user opened something else
first. Autosave would then write the new session over the crashed one a few seconds later. So from the
moment the user chooses Restore the autosave is held (studio.core.project.Autosave.hold), and a restore
that does not complete moves the crashed file aside, byte for byte, and says where it went; only the
user's Discard lets the new session replace it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from studio.core.project import Autosave, Project

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow

# ask() -> True: restore, False: discard, None: keep it for later (moved aside, nothing restored)
Ask = Callable[[], "bool | None"]


def tell(window: "MainWindow", text: str) -> None:
    """Show `text` in the window, and again once the model that opens at start-up has opened (opening a
    model clears the banner): a message naming where a session was kept must not vanish unread."""
    window.show_error(text)
    session = window.session
    if session.generator is not None:
        return

    def again(_g: object) -> None:
        session.modelChanged.disconnect(again)
        window.show_error(text)

    session.modelChanged.connect(again)


def ask_recover(parent: QWidget) -> bool | None:
    """Restore, Discard, or (closing the box, Esc) Keep for later: a dismissed box never discards."""
    box = QMessageBox(QMessageBox.Icon.Question, "Recover session",
                      "Latent Studio did not close properly last time. Restore the session it autosaved "
                      "(model, image, undo history and timeline)?", QMessageBox.StandardButton.NoButton, parent)
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    later = box.addButton("Keep for later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.setEscapeButton(later)
    box.exec()
    clicked = box.clickedButton()
    return True if clicked is restore else False if clicked is discard else None


class Recovery(QObject):
    """One offer of a crashed session; `state` is none, restoring, restored, discarded or kept."""

    def __init__(self, window: "MainWindow", store: Autosave):
        super().__init__(window)
        self.window, self.store = window, store
        self.state = "none"
        window.session.projectRestored.connect(self._restored)
        window.session.projectNotRestored.connect(self._not_restored)

    def offer(self, pending: Project, ask: Ask) -> bool:
        """Ask, then restore or keep; True while the restore runs or once it is done (the caller then opens
        nothing else)."""
        choice = ask()
        if choice is None:
            self.store.hold()
            self._keep("you chose to keep it for later")
            return False
        if not choice:
            self.state = "discarded"  # the user's word: the new session's autosave replaces it
            return False
        self.store.hold()
        self.state = "restoring"
        if not self.window.restore_project(pending) and self.state == "restoring":
            self._keep(f"its model {pending.model.path} is missing and no new location was chosen")
        return self.state in ("restoring", "restored")

    def _restored(self, _project: Project) -> None:
        if self.state == "restoring":
            self.store.release()
            self.state = "restored"

    def _not_restored(self, _project: Project, why: str) -> None:
        if self.state == "restoring":
            self._keep(why)

    def _keep(self, why: str) -> None:
        self.state = "kept"
        try:  # (a write since Restore has already moved it aside: then store.kept says where)
            kept = self.store.keep_unrecovered() or self.store.kept
        except OSError as exc:  # cannot rename in the folder: then autosave must not write there either
            self.window.autosave = None
            self.window.autosave_timer.stop()
            tell(self.window, f"The crashed session was not restored ({why}), and it could not be moved "
                                   f"aside ({exc.strerror or exc}): autosave is off so that it stays as it is, "
                                   f"at {self.store.path}.")
            return
        where = f"It is kept at {kept}" if kept is not None else "Nothing was autosaved to keep"
        tell(self.window, f"The crashed session was not restored ({why}). {where}: open it with "
                               f"File > Open project once its model is back.")

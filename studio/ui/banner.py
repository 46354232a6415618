"""A dismissible inline message above the canvas: errors are shown without a modal dialog."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from studio.ui import theme


class MessageBanner(QFrame):
    """Shows the latest problem in words; the close button (or the next success) hides it."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.icon = QLabel(self)
        self.icon.setFixedSize(20, 20)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton(self)
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        theme.set_icon(self.close_button, "close")
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 8, 8)
        row.setSpacing(10)
        row.addWidget(self.icon, alignment=Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        row.addWidget(self.close_button, alignment=Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str) -> None:
        self.icon.setPixmap(theme.icon("warning", tint="#d08a00").pixmap(20, 20))
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()

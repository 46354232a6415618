"""Scroll areas, made one way: panels scroll instead of growing the window past a laptop screen."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

DOCK_BUDGET = QSize(300, 240)  # beyond this a dock's panel scrolls, so the window fits a 1366x768 screen


def scroll_area(content: QWidget, *, horizontal: bool = True, vertical: bool = True) -> QScrollArea:
    """A frameless scroll area that resizes `content` to fit; `horizontal=False` wraps to the width."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    if not horizontal:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if not vertical:
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(content)
    return area


def scrollable(widget: QWidget) -> QWidget:
    """`widget`, inside a scroll area when its minimum size would make the window too big for a laptop
    screen (several panels share a column; each may be squeezed, never the window pushed off)."""
    hint = widget.minimumSizeHint()
    if hint.width() <= DOCK_BUDGET.width() and hint.height() <= DOCK_BUDGET.height():
        return widget
    area = scroll_area(widget)
    area.setObjectName(f"{widget.objectName() or type(widget).__name__}_scroll")
    return area

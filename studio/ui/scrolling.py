"""Scroll areas, made one way: panels scroll instead of growing the window past a laptop screen."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QStyle, QWidget

DOCK_BUDGET = QSize(300, 240)  # beyond this a dock's panel scrolls, so the window fits a 1366x768 screen


class VerticalScrollArea(QScrollArea):
    """Scrolls up and down only, and is never narrower than its content's minimum width (plus room for the
    scroll bar): a panel in a dock is never cut at the right nor needs a horizontal scroll bar."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        content = self.widget()
        if content is None:
            return hint
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        margins = self.contentsMargins()
        width = content.minimumSizeHint().expandedTo(content.minimumSize()).width() + bar \
            + margins.left() + margins.right()
        return QSize(max(hint.width(), width), hint.height())


def scroll_area(content: QWidget, *, horizontal: bool = True, vertical: bool = True) -> QScrollArea:
    """A frameless scroll area that resizes `content` to fit; `horizontal=False` wraps to the width."""
    area = VerticalScrollArea() if not horizontal and vertical else QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    if not horizontal:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if not vertical:
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(content)
    return area


def scrollable(widget: QWidget) -> QWidget:
    """`widget`, inside a vertical scroll area when its minimum height would make the window too tall for a
    laptop screen (several panels share a column; each may be squeezed, never the window pushed off). The
    dock keeps the panel's minimum width: docks never scroll sideways."""
    hint = widget.minimumSizeHint()
    if hint.height() <= DOCK_BUDGET.height():
        return widget
    area = scroll_area(widget, horizontal=False)
    area.setObjectName(f"{widget.objectName() or type(widget).__name__}_scroll")
    return area

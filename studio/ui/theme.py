"""Light and dark themes: Fusion style, a matching palette, a stylesheet from resources/themes and
SVG icons tinted to the theme's text colour (so one icon file serves both themes)."""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QObject, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from studio.bundled import resources_dir

THEMES = ("light", "dark")
ICON_PROPERTY = "studioIcon"  # objects carrying this property get their icon re-tinted on theme change

# (window, base, alternate base, text, mid text, button, highlight, canvas background)
_COLOURS = {
    "light": ("#eef0f3", "#ffffff", "#f6f7f9", "#1f2328", "#656d76", "#f9fafb", "#2f6feb", "#d9dce1"),
    "dark": ("#2a2c31", "#1f2024", "#26282c", "#e4e6ea", "#9aa0a8", "#34363c", "#4c8bf5", "#18191c"),
}

_current = "light"


def current_theme() -> str:
    return _current


def colour(role: str) -> QColor:
    """A named colour of the current theme: window, base, alt, text, muted, button, accent, canvas."""
    names = ("window", "base", "alt", "text", "muted", "button", "accent", "canvas")
    return QColor(_COLOURS[_current][names.index(role)])


def palette(theme: str) -> QPalette:
    window, base, alt, text, muted, button, accent, _ = (QColor(c) for c in _COLOURS[theme])
    p = QPalette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, alt)
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, button)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, base)
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.PlaceholderText, muted)
        p.setColor(group, QPalette.ColorRole.Highlight, accent)
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
        p.setColor(group, QPalette.ColorRole.Link, accent)
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(disabled, role, muted)
    p.setColor(disabled, QPalette.ColorRole.Window, window)
    p.setColor(disabled, QPalette.ColorRole.Base, window)
    p.setColor(disabled, QPalette.ColorRole.Button, button)
    return p


def stylesheet(theme: str) -> str:
    path = resources_dir() / "themes" / f"{theme}.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def apply_theme(app: QApplication, theme: str) -> None:
    """Switch the whole application's look; widgets that show icons are re-tinted by `retint`."""
    global _current
    if theme not in THEMES:
        theme = "light"
    _current = theme
    app.setStyle("Fusion")
    app.setPalette(palette(theme))
    app.setStyleSheet(stylesheet(theme))


@lru_cache(maxsize=256)
def _svg_pixmap(name: str, tint: str, size: int) -> QPixmap:
    path = resources_dir() / "icons" / f"{name}.svg"
    svg = path.read_text(encoding="utf-8").replace("currentColor", tint) if path.is_file() else ""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    if renderer.isValid():
        painter = QPainter(pm)
        renderer.render(painter)
        painter.end()
    return pm


def icon(name: str, tint: str | None = None) -> QIcon:
    """The SVG icon `name` from resources/icons, drawn in `tint` (default: the theme's text colour)."""
    tint = tint or colour("text").name()
    ic = QIcon()
    for size in (16, 24, 32, 48, 64):
        ic.addPixmap(_svg_pixmap(name, tint, size))
    disabled = colour("muted").name()
    for size in (16, 24, 32):
        ic.addPixmap(_svg_pixmap(name, disabled, size), QIcon.Mode.Disabled)
    return ic


def set_icon(obj: QObject, name: str) -> None:
    """Give a button or action a themed icon, remembering its name so `retint` can redraw it."""
    obj.setProperty(ICON_PROPERTY, name)
    obj.setIcon(icon(name))  # type: ignore[attr-defined]


def retint(root: QObject) -> None:
    """Redraw every themed icon under `root` in the current theme's colours."""
    for obj in [root, *root.findChildren(QObject)]:
        name = obj.property(ICON_PROPERTY)
        if name and hasattr(obj, "setIcon"):
            obj.setIcon(icon(str(name)))


def icon_size() -> QSize:
    return QSize(18, 18)

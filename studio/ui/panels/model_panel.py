"""The model panel: open a checkpoint (dialog, drop, recent list) and see what was loaded."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from studio.model.api import Generator
from studio.render.device import describe
from studio.ui import theme
from studio.ui.panels.choices_box import ChoicesBox
from studio.ui.recent import RecentFiles
from studio.ui.session import Session

CHECKPOINT_FILTER = ("Checkpoints (*.pth *.pt *.ckpt *.bin *.safetensors *.pkl *.onnx);;"
                     "Images saved by Latent Studio (their recipe) (*.png);;All files (*)")


def ask_checkpoint(parent: QWidget, start: str = "") -> Path | None:
    """The standard open dialog; None when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, "Open checkpoint", start, CHECKPOINT_FILTER)
    return Path(path) if path else None


class ModelPanel(QWidget):
    """Open button, model facts and the recent files list."""

    openRequested = Signal()       # the user wants the open dialog
    pathChosen = Signal(object)    # a Path picked from the recent list

    def __init__(self, session: Session, recent: RecentFiles, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.recent = recent

        self.open_button = QPushButton("Open checkpoint…")
        theme.set_icon(self.open_button, "open")
        self.open_button.setToolTip("Open a generator checkpoint (Ctrl+O); you can also drop a file on the window")
        self.open_button.clicked.connect(self.openRequested)

        info_box = QGroupBox("Details")
        self.form = QFormLayout(info_box)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.setHorizontalSpacing(10)
        self.form.setVerticalSpacing(5)
        self.fields: dict[str, QLabel] = {}
        for key, label in (("name", "Name"), ("family", "Family"), ("format", "Format"),
                           ("resolution", "Resolution"), ("z_dim", "Latent (z)"), ("layers", "Layers"),
                           ("device", "Device")):
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            caption = QLabel(label)
            caption.setObjectName("muted")
            self.form.addRow(caption, value)
            self.fields[key] = value
        self.fields["name"].setStyleSheet("font-weight: 600;")

        recent_title = QLabel("Recent")
        recent_title.setObjectName("sectionTitle")
        self.recent_list = QListWidget()
        self.recent_list.setToolTip("Click to open")
        self.recent_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent_list.setMinimumHeight(52)
        self.recent_list.itemClicked.connect(self._on_recent_activated)
        self.recent_empty = QLabel("Checkpoints you open appear here.")
        self.recent_empty.setObjectName("muted")
        self.recent_empty.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.open_button, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(info_box)
        self.choices = ChoicesBox(session)  # the file's scales, steps, assumptions: pick another variant
        layout.addWidget(self.choices)
        layout.addSpacing(2)
        layout.addWidget(recent_title)
        layout.addWidget(self.recent_list, 1)
        layout.addWidget(self.recent_empty)
        layout.addStretch(0)

        session.modelChanged.connect(self.show_model)
        session.loadingChanged.connect(lambda busy: self.open_button.setEnabled(not busy))
        recent.changed.connect(self.refresh_recent)
        self.refresh_recent()

    def show_model(self, g: Generator) -> None:
        i = g.info
        path = self.session.model_path
        self.fields["name"].setText(i.name or (path.stem if path else "—"))
        self.fields["name"].setToolTip(str(path) if path else "")
        self.fields["family"].setText(i.family.upper() if len(i.family) <= 6 else i.family)
        self.fields["format"].setText(i.format)
        colour = {1: "grey", 3: "RGB"}.get(i.channels, f"{i.channels} ch")
        self.fields["resolution"].setText(f"{i.resolution} × {i.resolution} {colour}")
        z = f"{i.z_dim} ({i.prior})" if i.z_dim else "none: translates a photo"
        if i.w_dim:
            z += f", w {i.w_dim} × {i.num_ws}"
        self.fields["z_dim"].setText(z)
        names = i.layer_names or tuple(s.name for s in g.stages)
        # Long stage names would clip the panel: show the count and the ends, the full list on hover.
        summary = ", ".join(names) if len(", ".join(names)) <= 28 else f"{names[0]} … {names[-1]}"
        self.fields["layers"].setText(f"{len(names)}: {summary}")
        self.fields["layers"].setToolTip("\n".join(names))
        self.fields["device"].setText(describe(g.device))

    def refresh_recent(self) -> None:
        self.recent_list.clear()
        paths = self.recent.paths()
        for p in paths:
            item = QListWidgetItem(p.name)
            item.setToolTip(str(p))
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            if not p.exists():
                item.setForeground(self.palette().placeholderText())
                item.setToolTip(f"{p} (missing)")
            self.recent_list.addItem(item)
        self.recent_list.setVisible(bool(paths))
        self.recent_empty.setVisible(not paths)

    def _on_recent_activated(self, item: QListWidgetItem) -> None:
        self.pathChosen.emit(Path(item.data(Qt.ItemDataRole.UserRole)))

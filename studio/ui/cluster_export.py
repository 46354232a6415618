"""Render on cluster…: where the timeline's export renders when a Ray cluster does the work.

Shown only when the `ray` extra is installed. The address (auto, local or HOST:PORT) is remembered in the
settings; the export itself is the panel's, with studio.distributed.export as its job.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

ADDRESS_KEY = "cluster/address"
DEFAULT_ADDRESS = "auto"
HELP = ("<b>auto</b>: the Ray cluster this machine belongs to (<tt>ray start</tt>), else a local one for "
        "this export · <b>local</b>: always a local one · <b>HOST:PORT</b>: a head node "
        "(<tt>ray://HOST:10001</tt> for Ray Client). The file is the same as a local export's; the model "
        "goes to the workers by path, or through the object store when they run on other machines.")


def remembered_address(settings: QSettings | None) -> str:
    value = settings.value(ADDRESS_KEY, DEFAULT_ADDRESS) if settings is not None else DEFAULT_ADDRESS
    return str(value or DEFAULT_ADDRESS)


class ClusterDialog(QDialog):
    """Asks which cluster; `address()` after exec() is what the user accepted (and is remembered)."""

    def __init__(self, settings: QSettings | None, frames: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Render on cluster")
        self.edit = QLineEdit(remembered_address(settings))
        self.edit.setPlaceholderText("auto, local or HOST:PORT")
        self.edit.setMinimumWidth(280)
        info = QLabel(HELP)
        info.setWordWrap(True)
        info.setMaximumWidth(460)
        count = QLabel(f"{frames} frames in chunks across the cluster's workers; progress and Cancel as for "
                       f"a local export.")
        count.setWordWrap(True)
        ok, cancel = QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok | cancel)
        buttons.button(ok).setText("Choose file…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Cluster", self.edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(info)
        layout.addWidget(count)
        layout.addWidget(buttons)

    def address(self) -> str:
        return self.edit.text().strip() or DEFAULT_ADDRESS

    def accept(self) -> None:
        if self.settings is not None:
            self.settings.setValue(ADDRESS_KEY, self.address())
        super().accept()

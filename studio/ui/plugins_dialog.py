"""Help > Plugins: the generator plugins and labellers in use, the ones that failed, and the drop-in folders
searched.

A plugin that fails to import, or whose sniff is abandoned for taking too long, is skipped and the studio
carries on; without this the user would only see that some file no longer opens. The session reports each
such problem once (Session.pluginProblems), as a banner that points here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QListView, QListWidget, QMenu,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow


class PluginsDialog(QDialog):
    """What the registry found: built from the discovered registry, never discovering on the GUI thread."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from studio.model.labellers import discovered_labellers
        from studio.model.registry import PLUGIN_PATH_ENV, discovered_registry, plugin_search_paths

        self.setWindowTitle("Plugins")
        self.resize(760, 560)
        reg = discovered_registry()
        labs = discovered_labellers()
        col = QVBoxLayout(self)
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["Family", "Reads", "Module"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.problems = QListWidget(self)
        self.problems.setWordWrap(True)  # long lines wrap instead of scrolling sideways
        self.problems.setResizeMode(QListView.ResizeMode.Adjust)
        self.problems.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        if reg is None:
            col.addWidget(QLabel("Plugins are found when the first model opens; none has opened yet."))
        else:
            for p in reg.plugins:
                row = self.table.rowCount()
                self.table.insertRow(row)
                name = p.name + (" (skipped: its sniff overran)" if p.name in reg.stuck else "")
                for c, text in enumerate((name, p.formats, type(p).__module__)):
                    item = QTableWidgetItem(text)
                    item.setToolTip(text)
                    self.table.setItem(row, c, item)
            self.table.resizeColumnToContents(0)
            col.addWidget(QLabel(f"<b>{len(reg.plugins)} generator plugins in use</b>"))
            col.addWidget(self.table, 2)
            self.labellers = labeller_table(labs.labellers if labs is not None else [], self)
            col.addWidget(QLabel(f"<b>{self.labellers.rowCount()} labellers</b> (classifiers that label samples "
                                 "for fitting directions; each offered only for the models it knows)"))
            col.addWidget(self.labellers, 1)
            problems = list(dict.fromkeys([*reg.problems, *(labs.problems if labs is not None else [])]))
            col.addWidget(QLabel(f"<b>Problems</b> ({len(problems) or 'none'})"))
            self.problems.addItems(problems or ["Every plugin loaded."])
            col.addWidget(self.problems, 1)
        folders = QLabel("Drop-in folders (and $" + PLUGIN_PATH_ENV + "):<br>" + "<br>".join(
            f"{p}{'' if p.exists() else ' (does not exist)'}" for p in plugin_search_paths()))
        folders.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        folders.setWordWrap(True)
        col.addWidget(folders)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)


def labeller_table(labellers: list, parent: QWidget) -> QTableWidget:
    """Name, attributes, domain and origin of each labeller."""
    table = QTableWidget(0, 4, parent)
    table.setHorizontalHeaderLabels(["Labeller", "Attributes", "Domain", "From"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    for lab in labellers:
        row = table.rowCount()
        table.insertRow(row)
        size = f" ({lab.input_size} px)" if lab.input_size else ""
        for c, text in enumerate((lab.name, ", ".join(lab.attributes), (lab.domain or "not stated") + size,
                                  lab.origin)):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(row, c, item)
    table.resizeColumnToContents(0)
    table.resizeColumnToContents(2)
    return table


def problem_notice(problems: list[str]) -> str:
    """The one-time banner text for newly failed plugins."""
    if len(problems) == 1:
        return f"A plugin could not be used: {problems[0]}. Help > Plugins lists every plugin."
    return (f"{len(problems)} plugins could not be used (first: {problems[0]}). "
            f"Help > Plugins lists them.")


def install_plugin_help(window: "MainWindow") -> None:
    """Add Help > Plugins… to the window (beside any Help menu it has) and tell the user, once each, about
    plugins that failed. `window.plugins_dialog()` opens the dialog (tests call it)."""
    menu = next((a.menu() for a in window.menuBar().actions()
                 if isinstance(a.menu(), QMenu) and a.text().replace("&", "") == "Help"), None)
    if menu is None:
        menu = window.menuBar().addMenu("&Help")

    def show() -> PluginsDialog:
        dialog = PluginsDialog(window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    window.actions_by_name["plugins"] = menu.addAction("&Plugins…", show)
    window.plugins_dialog = show  # type: ignore[attr-defined]
    window.session.pluginProblems.connect(lambda problems: window.show_error(problem_notice(problems)))

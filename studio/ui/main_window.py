"""The main window: canvas in the middle, tool panels in docks, menus, status bar, file drops."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QStackedWidget, QTabBar, QToolBar, QVBoxLayout, QWidget)

from studio.core.output_size import SAVE_SCALE_KEY, SCALES, scale_setting
from studio.core.project import PROJECT_EXT, Autosave, ModelMissing, Project, load_project, save_project
from studio.core.recipe import Recipe, SeedLatent
from studio.errors import StudioError
from studio.model.api import Generator
from studio.render.backend import describe as describe_backend
from studio.render.device import describe
from studio.render.engine import Frame
from studio.ui import theme
from studio.ui.banner import MessageBanner
from studio.ui.canvas import EmptyState, ImageCanvas
from studio.ui.mask_painter import MaskPainter
from studio.ui.panels.arithmetic_panel import ArithmeticPanel
from studio.ui.panels.attributes_panel import PHOTO_SUFFIXES, AttributePanel, translates
from studio.ui.panels.class_panel import ClassPanel
from studio.ui.panels.directions_panel import DirectionsPanel
from studio.ui.panels.feature_panel import FeaturePanel
from studio.ui.panels.latent_panel import LatentPanel, SeedGridPanel, WalkPanel
from studio.ui.panels.model_panel import ModelPanel, ask_checkpoint
from studio.ui.panels.noise_panel import NoisePanel
from studio.ui.panels.style_mix_panel import StyleMixPanel
from studio.ui.panels.timeline_panel import TimelinePanel
from studio.bundled import checkpoints_dir, demo_checkpoints
from studio.ui.recent import RecentFiles
from studio.ui.recipe_images import carries_recipe, recipe_model, save_frame
from studio.ui.gui_text import gui_text
from studio.export.png_recipe import RECIPE_TEXT_KEY, read_png_recipe
from studio.ui.scrolling import scrollable
from studio.ui.plugins_dialog import install_plugin_help
from studio.ui.session import Session
from studio.ui.tasks import TaskArea

FPS_WINDOW_S = 2.0
AUTOSAVE_MS = 3000
PROJECT_FILTER = f"Latent Studio project (*{PROJECT_EXT})"
UPSCALING_KEY = "view/upscaling"  # "smooth" or "nearest", written only when the user picks one
PRECISION_LABELS = (("auto", "&Auto (bf16 where this device computes it natively)"),
                    ("fp32", "&fp32 (exact, as exports)"), ("bf16", "&bf16"), ("fp16", "fp&16 (CUDA)"))


TOOL_DOCKS = ("classes", "attributes", "style_mix", "walk", "noise", "directions", "arithmetic", "features")


def tool_order(capabilities: frozenset[str]) -> tuple[str, ...]:
    """The right column's tool tabs for a model, headline tool first: a translator's attributes, a
    StyleGAN's mixing (noise beside it), a plain generator's walks and directions; unit tools last."""
    order: list[str] = ["classes"] if "classes" in capabilities else []  # a class-conditional model's class
    if "attributes" in capabilities or "translate" in capabilities:  # pix2pix: the photo and its crop
        order.append("attributes")
    if "style_mix" in capabilities:
        order += ["style_mix", "walk", "noise"] if "walk" in capabilities else ["style_mix", "noise"]
    if "walk" in capabilities:
        order += ["walk", "directions", "arithmetic"]
    if "features" in capabilities:
        order.append("features")
    order = list(dict.fromkeys(order))
    return tuple(order + [k for k in TOOL_DOCKS if k not in order])


class MainWindow(QMainWindow):
    """Owns the widgets; all state lives in the Session."""

    def __init__(self, session: Session, settings: QSettings | None = None,
                 checkpoints: Path | None = None, pca_samples: int = 1000, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.settings = settings if settings is not None else QSettings()
        self.checkpoints = Path(checkpoints) if checkpoints is not None else checkpoints_dir()
        self.recent = RecentFiles(self.settings, self)
        self._frame_times: deque[float] = deque()
        self.setWindowTitle("Latent Studio")
        self.setWindowIcon(theme.icon("app"))
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.resize(1360, 860)

        # central area: message banner above the canvas or the empty state
        self.banner = MessageBanner()
        self.canvas = ImageCanvas()
        self.empty = EmptyState()
        self.empty.set_demos_available(bool(demo_checkpoints(self.checkpoints)))
        self.empty.openRequested.connect(self.open_dialog)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.canvas)
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        banner_holder = QWidget()
        bl = QVBoxLayout(banner_holder)
        bl.setContentsMargins(8, 8, 8, 0)
        bl.addWidget(self.banner)
        banner_holder.setVisible(False)
        self.banner.dismissed.connect(lambda: banner_holder.setVisible(False))
        self._banner_holder = banner_holder
        col.addWidget(banner_holder)
        col.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # panels
        self.model_panel = ModelPanel(session, self.recent)
        self.model_panel.openRequested.connect(self.open_dialog)
        self.model_panel.pathChosen.connect(self.open_path)
        self.seed_grid = SeedGridPanel(session)
        self.latent_panel = LatentPanel(session)
        self.latent_panel.setMaximumHeight(self.latent_panel.sizeHint().height() + 60)  # room for StyleGAN rows
        self.walk_panel = WalkPanel(session, pca_samples=pca_samples)
        self.timeline_panel = TimelinePanel(session)
        self.style_mix_panel = StyleMixPanel(session)
        self.class_panel = ClassPanel(session)
        self.attributes_panel = AttributePanel(session)
        self.arithmetic_panel = ArithmeticPanel(session)
        self.seed_grid.menu_hooks.append(self.arithmetic_panel.fill_seed_menu)
        self.noise_panel = NoisePanel(session)
        self.directions_panel = DirectionsPanel(session)
        self.mask_painter = MaskPainter(self.canvas, self)
        self.feature_panel = FeaturePanel(session, self.mask_painter)
        from studio.ui.drag_tool import DragTool

        self.drag_tool = DragTool(session, self.canvas, self, others=(self.mask_painter,))  # Edit > Drag to edit
        col.insertWidget(col.indexOf(self.stack), self.drag_tool.bar)
        self.photo_view = self.attributes_panel.view  # the central view for photo translators
        self.stack.addWidget(self.photo_view)
        self.docks: dict[str, QDockWidget] = {}
        self._requires: dict[str, str | None] = {}
        # left column: the latent above the seeds (the model's details a tab behind them); right column: the
        # model's tools as tabs, ordered by what it can do (see tool_order)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self._add_dock("latent", "Latent", self.latent_panel, left, None)
        self._add_dock("seeds", "Seeds", self.seed_grid, left, None, scroll=False)  # 4x4 fits at 768 px high
        self._add_dock("model", "Model", self.model_panel, left, None)
        self.tabifyDockWidget(self.docks["seeds"], self.docks["model"])
        self._add_dock("walk", "Walk", self.walk_panel, right, "walk")
        self._add_dock("attributes", "Attributes", self.attributes_panel, right, "translate")
        self._add_dock("classes", "Class", self.class_panel, right, "classes")
        self._add_dock("style_mix", "Mixing", self.style_mix_panel, right, "style_mix")
        self._add_dock("noise", "Noise", self.noise_panel, right, "style_mix")
        self._add_dock("directions", "Directions", self.directions_panel, right, "walk")
        self._add_dock("features", "Features", self.feature_panel, right, "features")
        self._add_dock("arithmetic", "Arithmetic", self.arithmetic_panel, right, "walk")
        self._tool_order: tuple[str, ...] = ()
        self._sized_for: tuple[str, ...] = ()  # the tool order the columns were last sized for
        self._arrange_tools(tool_order(frozenset({"walk", "features"})))
        # the timeline runs under the canvas; the side docks keep the full height
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("timeline", "Timeline && export", self.timeline_panel,
                       Qt.DockWidgetArea.BottomDockWidgetArea, None)
        self._sized = False
        self._pending_recipe: tuple[Recipe, Path, Path] | None = None  # a dropped PNG's recipe, once its model opens
        self.autosave: Autosave | None = None
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        install_plugin_help(self)  # Help > Plugins, and a one-time notice when a plugin fails

        session.frameReady.connect(self.show_frame)
        session.modelChanged.connect(self.on_model)
        session.runtimeChanged.connect(self._on_runtime)
        session.error.connect(self.show_error)
        session.message.connect(lambda m: self.statusBar().showMessage(gui_text(m), 4000))
        session.loadingChanged.connect(self._on_loading)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))

        # small models flatter smooth at 4-19x; nearest stays one click away (View > Upscaling) and is remembered
        self.set_smooth(self.settings.value(UPSCALING_KEY, "smooth") != "nearest", remember=False)
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        elif self.screen() is not None:  # first run: most of the screen, centred
            avail = self.screen().availableGeometry()
            self.resize(min(1480, int(avail.width() * 0.94)), min(940, int(avail.height() * 0.94)))
            self.move(avail.center() - self.rect().center())
        self.stack.setCurrentWidget(self._model_view() if session.generator is not None else self.empty)
        if session.generator is not None:
            self.on_model(session.generator)

    def _update_undo_actions(self) -> None:
        h = self.session.history if self.session.generator is not None else None
        for name, can, text in (("undo", h is not None and h.can_undo(), h.undo_text() if h else ""),
                                ("redo", h is not None and h.can_redo(), h.redo_text() if h else "")):
            act = self.actions_by_name[name]
            act.setEnabled(can)
            act.setText(f"&{name.capitalize()} {text}".rstrip())

    def _arrange_tools(self, order: tuple[str, ...]) -> None:
        """Tab the right column's tools in `order` (the model's capabilities decide it). Docks the user has
        floated or moved to another side stay where they are; nothing changes while the order is the same."""
        if order == self._tool_order:
            return
        self._tool_order = order
        right = Qt.DockWidgetArea.RightDockWidgetArea
        keys = [k for k in (*order, *TOOL_DOCKS) if k in TOOL_DOCKS]
        docks = [self.docks[k] for k in dict.fromkeys(keys)]
        free = (right, Qt.DockWidgetArea.NoDockWidgetArea)
        placed = [d for d in docks if not d.isFloating() and self.dockWidgetArea(d) in free]
        shown = {d: not d.isHidden() for d in placed}
        for d in placed:
            self.removeDockWidget(d)
        for i, d in enumerate(placed):
            if i == 0:
                self.addDockWidget(right, d)
            else:
                self.tabifyDockWidget(placed[0], d)
            d.setVisible(shown[d])

    def _default_dock_sizes(self) -> None:
        """Columns in proportion to the window, never below what their panels need (Qt keeps minimums)."""
        width = max(self.width(), 1)
        tools = [self.docks[k] for k in self._tool_order if not self.docks[k].isHidden()]
        side = [d for d in (self.docks["seeds"], self.docks["model"]) if not d.isHidden()]
        if side and tools:
            self.resizeDocks([side[0], tools[0]], [min(360, int(width * 0.2)), min(560, int(width * 0.27))],
                             Qt.Orientation.Horizontal)
            self._sized_for = self._tool_order  # a user's own column widths stay until the tools change
        if not self.docks["latent"].isHidden() and not self.docks["seeds"].isHidden():
            self.resizeDocks([self.docks["latent"], self.docks["seeds"]],
                             [self.docks["latent"].sizeHint().height(), self.height()], Qt.Orientation.Vertical)
        if not self.docks["timeline"].isHidden():
            self.resizeDocks([self.docks["timeline"]], [self.docks["timeline"].sizeHint().height()],
                             Qt.Orientation.Vertical)
        QTimer.singleShot(0, self._keep_on_screen)

    def _keep_on_screen(self) -> None:
        """Move the window back inside the screen when a model's tools made it wider or taller than the room
        left of where it stood (on a 1280 px screen the first-run window is centred 38 px in, and a StyleGAN's
        tools need 1270 px): a window hanging off the right edge clips the tools column and the status bar."""
        screen = self.screen()
        if screen is None or self.isMaximized() or self.isFullScreen() or not self.isVisible():
            return
        avail, frame = screen.availableGeometry(), self.frameGeometry()
        x = max(avail.left(), min(frame.left(), avail.right() + 1 - frame.width()))
        y = max(avail.top(), min(frame.top(), avail.bottom() + 1 - frame.height()))
        if (x, y) != (frame.left(), frame.top()):
            self.move(x, y)

    def showEvent(self, event) -> None:  # noqa: ANN001 - QShowEvent
        super().showEvent(event)
        if not self._sized:  # dock sizes hold only once the window has its real size
            self._sized = True
            self._default_dock_sizes()
            QTimer.singleShot(0, self._default_dock_sizes)  # again once the layout has the window's size
        self._tidy_tab_bars()

    def _tidy_tab_bars(self) -> None:
        """Tabbed docks show every whole title, without scroll arrows: the column is made wide enough."""
        for bar in self.findChildren(QTabBar):
            bar.setElideMode(Qt.TextElideMode.ElideNone)
            bar.setUsesScrollButtons(False)

    def open_layer_map(self) -> None:
        """Directions > Layer map: one dialog per window, kept (its last map stays until another model)."""
        from studio.ui.panels.layer_map_dialog import LayerMapDialog

        if getattr(self, "layer_map_dialog", None) is None:
            self.layer_map_dialog = LayerMapDialog(self.session, self)
        self.layer_map_dialog.show()
        self.layer_map_dialog.raise_()

    def _open_dissect(self) -> None:
        self.docks["features"].show()
        self.docks["features"].raise_()
        self.feature_panel.open_dissect_dialog()

    def _add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea,
                  requires: str | None, scroll: bool = True) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(scrollable(widget) if scroll else widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        self._requires[key] = requires
        if requires is not None:  # a family's tools appear once a model that has them is open
            dock.setVisible(False)

    # -- actions and menus -----------------------------------------------------------------------------
    def _build_actions(self) -> None:
        a = self.actions_by_name = {}
        a["open"] = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open, triggered=self.open_dialog)
        a["open"].setToolTip("Open a checkpoint (Ctrl+O)")
        a["save"] = QAction("&Save image…", self, shortcut=QKeySequence("Ctrl+S"), triggered=self.save_dialog)
        a["save"].setEnabled(False)
        a["open_project"] = QAction("Open &project…", self, shortcut=QKeySequence("Ctrl+Shift+O"),
                                    triggered=self.open_project_dialog)
        a["save_project"] = QAction("Save project &as…", self, shortcut=QKeySequence("Ctrl+Shift+S"),
                                    triggered=self.save_project_dialog)
        a["quit"] = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        a["undo"] = QAction("&Undo", self, shortcut=QKeySequence("Ctrl+Z"), triggered=self.session.undo)
        a["redo"] = QAction("&Redo", self, triggered=self.session.redo)
        a["redo"].setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.session.historyChanged.connect(self._update_undo_actions)
        self._update_undo_actions()
        a["fit"] = QAction("Zoom to &fit", self, shortcut=QKeySequence("Ctrl+0"), triggered=self.canvas.fit)
        a["fit"].setToolTip("Largest whole-number zoom that fits (Ctrl+0)")
        a["nearest"] = QAction("&Nearest (crisp pixels)", self, checkable=True,
                               triggered=lambda: self.set_smooth(False))
        a["smooth"] = QAction("&Smooth (default)", self, checkable=True, triggered=lambda: self.set_smooth(True))
        group = QActionGroup(self)
        group.addAction(a["nearest"])
        group.addAction(a["smooth"])
        a["light"] = QAction("&Light", self, checkable=True, triggered=lambda: self.set_theme("light"))
        a["dark"] = QAction("&Dark", self, checkable=True, triggered=lambda: self.set_theme("dark"))
        themes = QActionGroup(self)
        themes.addAction(a["light"])
        themes.addAction(a["dark"])
        a[theme.current_theme()].setChecked(True)
        backends = QActionGroup(self)
        for name, label in (("torch", "&PyTorch"), ("onnx", "&ONNX Runtime"),
                            ("auto", "&Auto (time both, use the faster)")):
            act = QAction(label, self, checkable=True, triggered=lambda _=False, n=name: self.set_backend(n))
            act.setChecked(self.session.models.backend == name)
            backends.addAction(act)
            a[f"backend_{name}"] = act
        precisions = QActionGroup(self)
        for name, label in PRECISION_LABELS:
            act = QAction(label, self, checkable=True, triggered=lambda _=False, n=name: self.set_precision(n))
            act.setChecked(self.session.renderer.precision == name)
            act.setEnabled(name != "fp16" or self.session.device.type == "cuda")
            precisions.addAction(act)
            a[f"precision_{name}"] = act
        for name, icon in (("open", "open"), ("save", "save"), ("undo", "undo"), ("redo", "redo"),
                           ("fit", "fit")):
            theme.set_icon(a[name], icon)
        for act in a.values():
            self.addAction(act)  # shortcuts work even while menus are closed

    def _build_menus(self) -> None:
        a = self.actions_by_name
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addAction(a["open"])
        from studio.ui.projection_action import PhotoProjector

        self.projector = PhotoProjector(self.session, self)  # File > Project photo: the photo's latent
        a["project_photo"] = file_menu.addAction("Pro&ject photo…", lambda: self.projector.dialog(self))
        file_menu.addAction("&Import latent…", lambda: self.projector.import_dialog(self))
        file_menu.addAction("E&xport latent…", lambda: self.projector.export_dialog(self))
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.demo_menu = file_menu.addMenu("&Demo models")
        self.demo_menu.aboutToShow.connect(self._fill_demo_menu)
        file_menu.addSeparator()
        file_menu.addAction(a["save"])
        self.save_size_menu = file_menu.addMenu("Save image si&ze")
        self.save_size_menu.aboutToShow.connect(self._fill_save_size_menu)
        file_menu.addSeparator()
        file_menu.addAction(a["open_project"])
        file_menu.addAction(a["save_project"])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        self._fill_recent_menu()
        self._fill_demo_menu()
        self.recent.changed.connect(self._fill_recent_menu)

        edit_menu = mb.addMenu("&Edit")
        edit_menu.addAction(a["undo"])
        edit_menu.addAction(a["redo"])
        edit_menu.addSeparator()  # unit edits (the Features panel)
        edit_menu.addAction("Find units from &boxes (DCGAN paper)…", self._open_dissect)
        edit_menu.addAction("&Clear unit edits", self.feature_panel.clear_unit_edits)
        edit_menu.addSeparator()
        edit_menu.addAction(self.drag_tool.action)

        directions_menu = mb.addMenu("&Directions")
        for kind, text in (("lsdir", "Import &direction file…"), ("interfacegan", "Import &InterFaceGAN boundary…"),
                           ("ganspace", "Import &GANSpace components…"), ("sefa", "Import &SeFa eigenvectors…")):
            directions_menu.addAction(text, lambda kind=kind: self.directions_panel.import_dialog(kind))
        directions_menu.addSeparator()
        directions_menu.addAction("&Fit from labeller", self.directions_panel.fit_from_attribute)
        directions_menu.addAction("Fit from &hand labels…", self.directions_panel.fit_from_hand_labels)
        directions_menu.addSeparator()
        directions_menu.addAction("&Layer map (which style inputs control what)…", self.open_layer_map)

        view_menu = mb.addMenu("&View")
        view_menu.addAction(a["fit"])
        view_menu.addSeparator()
        scaling = view_menu.addMenu("&Upscaling")
        scaling.addAction(a["nearest"])
        scaling.addAction(a["smooth"])
        theme_menu = view_menu.addMenu("&Theme")
        theme_menu.addAction(a["light"])
        theme_menu.addAction(a["dark"])
        runtime_menu = view_menu.addMenu("&Render backend")
        for name in ("torch", "onnx", "auto"):
            runtime_menu.addAction(a[f"backend_{name}"])
        precision_menu = view_menu.addMenu("&Precision")
        precision_menu.setToolTipsVisible(True)
        for name, _ in PRECISION_LABELS:
            precision_menu.addAction(a[f"precision_{name}"])
        view_menu.addSeparator()
        panels = view_menu.addMenu("&Panels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        a = self.actions_by_name
        for name in ("open", "save"):
            tb.addAction(a[name])
        tb.addSeparator()
        for name in ("undo", "redo"):
            tb.addAction(a[name])
        tb.addSeparator()
        tb.addAction(a["fit"])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("Zoom (screen pixels per image pixel)")
        self.render_label = QLabel("")
        self.render_label.setToolTip("Time to render the last frame, the number format it computed in "
                                     "(View > Precision), and frames shown per second")
        self.device_label = QLabel(describe(self.session.device))
        self.device_label.setToolTip("Where the generator runs, and which runtime (torch or ONNX Runtime) "
                                     "runs it")
        self.task_area = TaskArea(self.session.tasks)
        for w in (self.task_area, self.zoom_label, self.render_label, self.device_label):
            sb.addPermanentWidget(w)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for p in paths:
            act = self.recent_menu.addAction(p.name, lambda p=p: self.open_path(p))
            act.setToolTip(str(p))
            act.setEnabled(p.exists())
        if not paths:
            self.recent_menu.addAction("(no recent files)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear recent", self.recent.clear)

    def _fill_save_size_menu(self) -> None:
        """Whole-number sizes for Save image, the open model's choice checked (it is kept per model)."""
        self.save_size_menu.clear()
        g = self.session.generator
        if g is None:
            self.save_size_menu.addAction("(open a model first)").setEnabled(False)
            return
        current, res = self.save_scale(), g.info.resolution
        for k in SCALES:
            act = self.save_size_menu.addAction(f"×{k} ({res * k}×{res * k} px)", lambda k=k: self.set_save_scale(k))
            act.setCheckable(True)
            act.setChecked(k == current)

    def save_scale(self) -> int:
        """The open model's Save image upscale (x4 for models up to 128 px until the user picks another)."""
        ws, g = self.session.workspace, self.session.generator
        res = g.info.resolution if g is not None else 0
        return scale_setting(ws.panel(SAVE_SCALE_KEY) if ws is not None else None, res)

    def set_save_scale(self, scale: int) -> None:
        ws = self.session.workspace
        if ws is not None and scale != self.save_scale():
            self.session.commit(ws.with_panel(SAVE_SCALE_KEY, int(scale)), f"Save image size ×{scale}")

    def _fill_demo_menu(self) -> None:
        self.demo_menu.clear()
        demos = demo_checkpoints(self.checkpoints)
        for p in demos:
            self.demo_menu.addAction(p.stem, lambda p=p: self.open_path(p)).setToolTip(str(p))
        if not demos:
            self.demo_menu.addAction(f"(no *.safetensors in {self.checkpoints.name}/)").setEnabled(False)

    # -- opening ---------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(self.session.model_path.parent) if self.session.model_path else str(Path.home())
        path = ask_checkpoint(self, start)
        if path is not None:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a checkpoint; a studio PNG restores its recipe; with a photo translator open, a photo becomes
        its input instead."""
        if carries_recipe(Path(path)):
            self.open_recipe_image(Path(path))
            return
        if translates(self.session.generator) and Path(path).suffix.lower() in PHOTO_SUFFIXES:
            self.attributes_panel.set_photo(Path(path))
            return
        self.session.open_model(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: ANN001 - QDragMoveEvent
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if self.open_urls(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def open_urls(self, urls: list) -> bool:
        """Open the first local file among dropped URLs (what a drop on the window does)."""
        files = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        if not files:
            self.show_error("Only files can be dropped here: drop a checkpoint file from your file manager.")
            return False
        if len(files) > 1:
            self.statusBar().showMessage(f"Several files dropped; opening {files[0].name}", 5000)
        self.open_path(files[0])
        return True

    def open_recipe_image(self, path: Path) -> bool:
        """Restore the recipe a studio PNG carries (one undo step), opening its model first when another is
        open; a recipe that fails validation, or whose model is nowhere to be found, is a message."""
        try:
            recipe = read_png_recipe(path)
        except StudioError as exc:
            self.show_error(f"Cannot restore the image's recipe: {exc}")
            return False
        ws, g = self.session.workspace, self.session.generator
        open_now = self.session.model_path
        if ws is not None and g is not None and ((recipe.model.sha256 and recipe.model.sha256 == g.model_id)
                                                  or (open_now is not None and Path(recipe.model.path) == open_now)):
            self._apply_recipe(recipe, path)
            return True
        model = recipe_model(recipe, path, self.checkpoints)
        if model is None:
            self.show_error(f"{path.name} was made with {Path(recipe.model.path).name or 'an unnamed model'}, "
                            f"which is not at {recipe.model.path or 'a known place'} nor beside the image: "
                            f"open that checkpoint, then drop the image again.")
            return False
        self._pending_recipe = (recipe, path, model)
        self.session.open_model(model)
        return True

    def _apply_recipe(self, recipe: Recipe, path: Path) -> None:
        ws = self.session.workspace
        if ws is None:
            return
        if recipe.model.sha256 and recipe.model.sha256 != ws.model.sha256:
            self.statusBar().showMessage(f"{ws.model.path} has changed since {path.name} was saved; "
                                         f"its recipe is shown with it anyway", 8000)
        self.session.edit(replace(recipe, model=ws.model), f"Recipe of {path.name}")
        self.session.end_gesture()

    def _apply_pending_recipe(self) -> None:
        pending, self._pending_recipe = self._pending_recipe, None
        if pending is not None and self.session.model_path == pending[2]:  # not another model opened since
            self._apply_recipe(pending[0], pending[1])

    # -- session events --------------------------------------------------------------------------------
    def on_model(self, g: Generator) -> None:
        # conditional models get the Class panel; a conditional StyleGAN keeps its class box in Mixing (seven
        # tool tabs would not fit a 1280 px window)
        caps = g.info.capabilities | ({"classes"} if g.info.c_dim and "style_mix" not in g.info.capabilities
                                      else set())
        order = tool_order(caps)
        self._arrange_tools(order)
        for key, dock in self.docks.items():
            need = self._requires[key]
            dock.setVisible(need is None or need in caps)
        if translates(g):  # a photo, not a seed, is the starting point: no seed, latent or timeline tools
            self.docks["attributes"].setWindowTitle("Attributes" if g.info.attributes else "Photo")
            for key in ("seeds", "latent", "walk", "timeline"):
                self.docks[key].setVisible(False)
            self.docks["model"].raise_()
        else:
            self.docks["seeds"].raise_()
        first = next((k for k in order if not self.docks[k].isHidden()), None)
        if first is not None:  # the model's headline tool in front: mixing, attributes or walks
            self.docks[first].raise_()
        if self._sized and self._sized_for != order:
            QTimer.singleShot(0, self._default_dock_sizes)  # once the shown docks have their minimums
        self.zoom_label.setText("")  # the new model's own figures replace the previous model's
        self.render_label.setText("")
        self.hide_error()
        path = self.session.model_path
        if path is not None:
            self.recent.add(path)
        self.setWindowTitle(f"{g.info.name or (path.stem if path else 'model')} — Latent Studio")
        self.device_label.setText(f"{describe(g.device)} · {describe_backend(g)}")
        self._frame_times.clear()
        self.stack.setCurrentWidget(self._model_view())
        if self._pending_recipe is not None:  # once the switch has told every view about the new workspace
            QTimer.singleShot(0, self._apply_pending_recipe)
        QTimer.singleShot(0, self._tidy_tab_bars)  # tab bars change with the docks a model shows

    def _model_view(self) -> QWidget:
        """The central view for the open model: photo and result for translators, else the canvas."""
        return self.photo_view if translates(self.session.generator) else self.canvas

    def show_frame(self, frame: Frame) -> None:
        assert frame.image is not None
        self.stack.setCurrentWidget(self._model_view())
        if frame.preview:  # a progressive preview: shown upscaled until the full frame replaces it
            self.canvas.set_image(frame.image, full_size=frame.extras.get("full_size"))
            projection = frame.extras.get("projection")  # a photo's projection: its step and likeness so far
            dragging = frame.extras.get("drag")  # a drag's step and the handles' distance still to go
            self.render_label.setText(f"projecting: step {projection[0]}/{projection[1]} · {projection[2]:.1f} dB"
                                      if projection else
                                      f"dragging: step {dragging[0]}/{dragging[1]} · {dragging[2]:.1f} px to go"
                                      if dragging else
                                      f"preview {frame.image.shape[0]}px · {frame.render_ms:.0f} ms")
            return
        self.canvas.set_image(frame.image)
        self.zoom_label.setText(f"{self.canvas.zoom() * 100:.0f}%")  # also when a new model keeps the zoom
        self.actions_by_name["save"].setEnabled(True)
        now = time.monotonic()
        self._frame_times.append(now)
        while self._frame_times and now - self._frame_times[0] > FPS_WINDOW_S:
            self._frame_times.popleft()
        text = f"render {frame.render_ms:.0f} ms"
        if frame.extras.get("precision"):  # what this frame computed in (auto decides per model)
            text += f" · {frame.extras['precision']}"
        n = len(self._frame_times)
        if n >= 3 and now > self._frame_times[0]:
            text += f" · {(n - 1) / (now - self._frame_times[0]):.0f} fps"
        self.render_label.setText(text)

    def show_error(self, message: str) -> None:
        """Non-modal: the banner above the canvas and the status bar; the work in progress stays. Advice
        worded for the command line is said in the window's terms (studio/ui/gui_text.py)."""
        message = gui_text(message)
        self.banner.show_message(message)
        self._banner_holder.setVisible(True)
        self.statusBar().showMessage(message, 10000)

    def hide_error(self) -> None:
        self.banner.hide()
        self._banner_holder.setVisible(False)

    def _on_loading(self, busy: bool) -> None:
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            QApplication.restoreOverrideCursor()

    # -- view ------------------------------------------------------------------------------------------
    def set_smooth(self, smooth: bool, remember: bool = True) -> None:
        """Smooth or nearest upscaling of the canvas, the photo view, saved images and exports."""
        self.canvas.set_smooth(smooth)
        self.photo_view.set_smooth(smooth)
        self.timeline_panel.smooth_export = smooth
        self.actions_by_name["smooth" if smooth else "nearest"].setChecked(True)
        if remember:
            self.settings.setValue(UPSCALING_KEY, "smooth" if smooth else "nearest")

    def set_backend(self, name: str) -> None:
        """Switch the runtime (remembered for the next launch); the image and its history stay."""
        self.session.set_backend(name)
        self.settings.setValue("render/backend", name)

    def set_precision(self, name: str) -> None:
        """What interactive frames compute in (remembered); exports and saved images keep fp32."""
        try:
            self.session.set_precision(name)
        except StudioError as exc:
            self.show_error(str(exc))
            self.actions_by_name[f"precision_{self.session.renderer.precision}"].setChecked(True)
            return
        self.settings.setValue("render/precision", name)

    def _on_runtime(self, g: Generator) -> None:
        self.device_label.setText(f"{describe(g.device)} · {describe_backend(g)}")

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, name)
        self.actions_by_name[theme.current_theme()].setChecked(True)
        self.canvas.set_background(theme.colour("canvas"))
        theme.retint(self)
        self.settings.setValue("ui/theme", theme.current_theme())

    # -- saving ----------------------------------------------------------------------------------------
    def save_dialog(self) -> None:
        frame = self.session.last_frame
        if frame is None or frame.image is None:
            return
        r = frame.recipe
        stem = self.session.model_path.stem if self.session.model_path else "image"
        seed = f"_seed{r.latent.seed}" if isinstance(r.latent, SeedLatent) else ""
        start = str((self.session.model_path.parent if self.session.model_path else Path.home())
                    / f"{stem}{seed}.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save image", start, "PNG image (*.png);;JPEG image (*.jpg)")
        if path:
            self.save_image(Path(path))

    def save_image(self, path: Path, scale: int | None = None) -> bool:
        """Write the frame on screen at the model's Save image size (File > Save image size; smooth or crisp
        as the view); a PNG also carries its recipe, so dropping it here or `render --recipe` re-renders it."""
        frame = self.session.last_frame
        if frame is None or frame.image is None:
            self.show_error("There is no image to save yet.")
            return False
        if not path.suffix:
            path = path.with_suffix(".png")
        k = self.save_scale() if scale is None else int(scale)
        error = save_frame(path, frame.image, frame.recipe, k, self.canvas.smooth())
        if error is not None:
            self.show_error(error)
            return False
        h, w = frame.image.shape[:2]
        self.statusBar().showMessage(f"Saved {path} ({w * k}×{h * k})", 5000)
        return True

    # -- projects and autosave -------------------------------------------------------------------------
    def project(self) -> Project | None:
        """The whole session as data (None before a model is open)."""
        return self.session.project()

    def save_project_dialog(self) -> None:
        if self.project() is None:
            self.show_error("Open a model before saving a project.")
            return
        start = self.session.model_path.with_suffix(PROJECT_EXT) if self.session.model_path else Path.home()
        path, _ = QFileDialog.getSaveFileName(self, "Save project", str(start), PROJECT_FILTER)
        if path:
            self.save_project(Path(path) if Path(path).suffix else Path(path).with_suffix(PROJECT_EXT))

    def save_project(self, path: Path) -> bool:
        project = self.project()
        if project is None:
            return False
        try:
            save_project(project, path)
        except OSError as exc:
            self.show_error(f"Could not save {path}: {exc.strerror or exc}. Your work is unchanged.")
            return False
        self.statusBar().showMessage(f"Saved project {path}", 5000)
        return True

    def open_project_dialog(self) -> None:
        start = str(self.session.model_path.parent) if self.session.model_path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, f"{PROJECT_FILTER};;All files (*)")
        if path:
            self.open_project(Path(path))

    def open_project(self, path: Path, relocate=None) -> bool:
        """Load a project file; a moved checkpoint is asked for (`relocate(missing) -> Path | None`)."""
        try:
            project = load_project(path)
        except StudioError as exc:
            self.show_error(f"Cannot open the project: {exc}")
            return False
        return self.restore_project(project, relocate, base=path.parent)

    def restore_project(self, project: Project, relocate=None, base: Path | None = None) -> bool:
        try:
            model = project.check_model(base)
        except ModelMissing as exc:
            ask = relocate or self._ask_relocate
            new = ask(exc.path)
            if new is None:
                self.show_error(f"Not restored: {exc}")
                return False
            project = project.relocated(Path(new))
            model = Path(new)
        self.session.open_model(model, project=replace_model_path(project, model))
        return True

    def _ask_relocate(self, missing: str) -> Path | None:
        QMessageBox.information(self, "Checkpoint moved",
                                f"The project's checkpoint is no longer at\n{missing}\n\nChoose where it is now.")
        path, _ = QFileDialog.getOpenFileName(self, f"Where is {Path(missing).name}?", str(Path(missing).parent),
                                              "All files (*)")
        return Path(path) if path else None

    def start_autosave(self, store: Autosave | None = None, ask=None) -> bool:
        """Begin autosaving; first offer the state a crashed session left (`ask()`: True restore, False
        discard, None keep for later; see studio/ui/recovery.py).

        True when a crashed session's state was restored (or is being restored).
        """
        self.autosave = store or Autosave()
        restored = False
        try:
            pending = self.autosave.pending_recovery()
        except StudioError as exc:  # damaged: moved aside, and the message says where
            from studio.ui.recovery import tell

            pending = None
            tell(self, str(exc))
        try:
            self.autosave.begin()
        except OSError as exc:
            self.show_error(f"Autosave is off: cannot write {self.autosave.folder} ({exc.strerror or exc}).")
            self.autosave = None
            return False
        if pending is not None:
            from studio.ui.recovery import Recovery

            self.recovery = Recovery(self, self.autosave)
            restored = self.recovery.offer(pending, ask or self._ask_recover)
        self.autosave_timer.start()
        return restored

    def _ask_recover(self) -> bool | None:
        from studio.ui.recovery import ask_recover

        return ask_recover(self)

    def autosave_now(self) -> bool:
        """Queue the session for the autosave thread if it changed since the last save (cheap: no JSON here)."""
        store = self.autosave
        if store is None or self.session.generator is None or self.session.loading:
            return False
        if store.error is not None:
            err, store.error = store.error, None
            self.autosave_timer.stop()
            self.show_error(f"Autosave stopped: cannot write {store.path} ({err.strerror or err}).")
            return False
        return store.save_soon(self.session.workspaces.revision, self.session.project)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        self.timeline_panel.stop()
        self.timeline_panel.cancel_export()
        if self.autosave is not None:
            self.autosave_timer.stop()
            try:
                self.autosave.flush(10.0)
                project = self.session.project()
                if project is not None:
                    self.autosave.save(project)
                self.autosave.clean_exit()
            except OSError:
                pass
        super().closeEvent(event)


def replace_model_path(project: Project, path: Path) -> Project:
    """Point the project at the file actually opened (a relative path resolved against the project)."""
    return project if Path(project.model.path) == path else project.relocated(path)

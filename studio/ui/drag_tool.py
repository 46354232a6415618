"""Edit ▸ Drag to edit: DragGAN's point-based editing on the canvas.

A bar above the canvas holds the mode (Points: click a handle, then its target; Brush / Eraser: paint the
flexible region, outside which the image should stay), the latent rows optimised (W+ rows 0..k of a
StyleGAN; z for the others), the step size, the most steps, Start / Stop and "To timeline". The drag
(studio.render.drag) runs as a session task: each step shows its image on the canvas and the handles where
tracking found them; Stop ends it keeping the current result, the task's Cancel drops it. A finished (or
stopped) drag is one undo step: the recipe's latent plus the drag's record (points, mask, settings) in the
workspace, so a later Start continues from where the handles ended; "To timeline" turns its trajectory into
keyframes the Timeline panel plays and exports.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QButtonGroup, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
                               QSpinBox, QToolButton, QVBoxLayout, QWidget)

from studio.core.drag import PANEL_KEY, DragRecord, latent_key, record_for, trajectory_timeline
from studio.core.recipe import Recipe
from studio.core.workspace import Workspace
from studio.errors import StudioError
from studio.model.api import Generator
from studio.render.drag import (DEFAULT_STEPS, LR_W, LR_Z, DragControl, DragPoint, DragProgress, DragResult,
                                DragSettings, default_rows, drag_job, drag_space)
from studio.render.engine import Frame, to_uint8
from studio.ui.canvas import ImageCanvas
from studio.ui.mask_painter import MaskPainter
from studio.ui.session import Session

PREVIEW_EVERY_S = 0.05
HANDLE_RGB = (235, 60, 60)
TARGET_RGB = (60, 130, 255)
KEYFRAMES = 6       # trajectory points "To timeline" makes keyframes of
FRAMES_PER_KEY = 8


class _ClickItem(pg.ImageItem):
    """A transparent layer over the image that takes left clicks while the tool is placing points."""

    def __init__(self, tool: "DragTool"):
        super().__init__(axisOrder="row-major")
        self.tool = tool

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001 - pyqtgraph MouseClickEvent
        if self.tool.mode != "points" or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self.tool.click(float(ev.pos().x()), float(ev.pos().y()))


class DragTool(QObject):
    """The drag mode's state (points placed, the mask painter) and its bar; drives drag jobs."""

    changed = Signal()

    def __init__(self, session: Session, canvas: ImageCanvas, parent: QObject | None = None,
                 others: tuple[MaskPainter, ...] = ()):
        super().__init__(parent)
        self.session, self.canvas = session, canvas
        self.others = others               # painters of other tools, switched off while this one paints
        self.mode = "off"
        self.handles: list[tuple[float, float]] = []
        self.targets: list[tuple[float, float]] = []
        self._placed: tuple[list, list] = ([], [])  # the points as placed before the last drag
        self._placed_on: object = None  # the latent of the image they were placed on
        self.running: DragControl | None = None
        self.last: DragResult | None = None
        self._last_recipe: Recipe | None = None  # the recipe `last` left
        self._shown_record: DragRecord | None = None
        self._shown_at = 0.0
        self._note = ""  # how the last drag ended, shown beside the points
        self.painter = MaskPainter(canvas, self, fill_alpha=40)  # the drag's result shows through
        self.painter.set_visible(True)
        self.clicks = _ClickItem(self)
        canvas.add_overlay(self.clicks, z=15)
        self.lines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen((255, 255, 255, 220), width=2))
        canvas.add_overlay(self.lines, z=16)
        self.dots = pg.ScatterPlotItem(pxMode=True, size=11)
        canvas.add_overlay(self.dots, z=17)
        canvas.imageChanged.connect(self._image_changed)
        self.bar = self._build_bar()
        self.bar.setVisible(False)
        self.action = QAction("&Drag to edit", self, checkable=True)
        self.action.setToolTip("Point-based editing: drag handles to targets, the rest stays (DragGAN)")
        self.action.toggled.connect(self.set_active)
        session.modelChanged.connect(self._on_model)
        session.workspaceChanged.connect(self._on_workspace)
        self._refresh()

    # -- the bar ---------------------------------------------------------------------------------------
    def _build_bar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("dragBar")
        rows = QVBoxLayout(bar)  # two short rows: the canvas column is narrow at 1280 px
        rows.setContentsMargins(8, 4, 8, 4)
        rows.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(6)
        second = QHBoxLayout()
        second.setSpacing(6)
        rows.addLayout(row)
        rows.addLayout(second)
        self.mode_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(bar)
        group.setExclusive(True)
        for key, text, tip in (("points", "Points", "Click a handle, then where it should go"),
                               ("brush", "Brush", "Paint the region allowed to change"),
                               ("eraser", "Eraser", "Erase from the region allowed to change")):
            b = QToolButton(bar)
            b.setText(text)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.clicked.connect(lambda _=False, k=key: self.set_mode(k))
            group.addButton(b)
            row.addWidget(b)
            self.mode_buttons[key] = b
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the points and the region")
        self.clear_button.clicked.connect(self.clear)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        self.rows_label = QLabel("Rows 0..")
        second.addWidget(self.rows_label)
        self.rows = QSpinBox()
        self.rows.setRange(1, 1)
        self.rows.setToolTip("W+ style inputs optimised: rows 0 up to this one (the later rows stay)")
        second.addWidget(self.rows)
        second.addWidget(QLabel("Step"))
        self.step = QDoubleSpinBox()
        self.step.setDecimals(3)
        self.step.setRange(0.001, 1.0)
        self.step.setSingleStep(0.005)
        self.step.setValue(LR_W)
        self.step.setToolTip("Adam's step size on the latent")
        second.addWidget(self.step)
        second.addWidget(QLabel("Steps"))
        self.max_steps = QSpinBox()
        self.max_steps.setRange(1, 2000)
        self.max_steps.setValue(DEFAULT_STEPS)
        self.max_steps.setToolTip("The most optimisation steps (it ends sooner once every handle is there)")
        second.addWidget(self.max_steps)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        row.addWidget(self.start_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the drag here, keeping the image as it is now")
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(self.stop_button)
        self.timeline_button = QPushButton("To timeline")
        self.timeline_button.setObjectName("dragToTimeline")
        self.timeline_button.setToolTip("Make the last drag's path keyframes of the timeline (to export it)")
        self.timeline_button.clicked.connect(self.to_timeline)
        row.addWidget(self.timeline_button)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens
        second.addWidget(self.status, 1)
        return bar

    # -- modes -----------------------------------------------------------------------------------------
    def set_active(self, on: bool) -> None:
        """Show the bar and the points (drag mode) or hide them; leaving it puts the tools away."""
        self.bar.setVisible(on)
        if self.action.isChecked() != on:
            self.action.setChecked(on)
        self.set_mode("points" if on else "off")

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode in ("brush", "eraser"):
            for p in self.others:
                p.set_tool("off")
            self.painter.set_tool(mode)
        else:
            self.painter.set_tool("off")
            if mode == "points":
                for p in self.others:
                    p.set_tool("off")
        self.canvas.setCursor(Qt.CursorShape.CrossCursor if mode != "off" else Qt.CursorShape.ArrowCursor)
        for k, b in self.mode_buttons.items():
            b.setChecked(k == mode)
        self._refresh()

    # -- points ----------------------------------------------------------------------------------------
    def click(self, x: float, y: float) -> None:
        """A click while placing points: a new handle, or the target of the handle waiting for one."""
        if self.running is not None:
            return
        self._note_image()
        if len(self.handles) == len(self.targets):
            self.handles.append((x, y))
        else:
            self.targets.append((x, y))
        self._refresh()

    def add_point(self, handle: tuple[float, float], target: tuple[float, float]) -> None:
        """A handle and its target at once (scripting and tests)."""
        self._note_image()
        if len(self.handles) > len(self.targets):
            self.handles.pop()
        self.handles.append(tuple(handle))
        self.targets.append(tuple(target))
        self._refresh()

    def _note_image(self) -> None:
        """Points belong to the image they are placed on: remember it with the first one."""
        if not self.handles and self.session.recipe is not None:
            self._placed_on = self.session.recipe.latent
            self._placed = ([], [])

    def clear(self) -> None:
        if self.running is not None:
            return
        self.handles, self.targets = [], []
        self.painter.clear()
        self._refresh()

    def points(self) -> list[DragPoint]:
        return [DragPoint(h, t) for h, t in zip(self.handles, self.targets)]

    # -- running ---------------------------------------------------------------------------------------
    def settings(self) -> DragSettings:
        g = self.session.generator
        z = g is not None and not g.has_w
        return DragSettings(steps=int(self.max_steps.value()), rows=0 if z else int(self.rows.value()),
                            lr=float(self.step.value()))

    def start(self) -> bool:
        """Start dragging the open model's image; False (with a message) when it cannot start."""
        s, g = self.session, self.session.generator
        if g is None or s.recipe is None:
            s.error.emit("Open a model first: a drag edits the image of an open model")
            return False
        if self.running is not None:
            return False
        pts = self.points()
        if not pts:
            s.error.emit("Place a handle and its target first (Points: click the handle, then where it goes)")
            return False
        settings = self.settings()
        base = s.recipe
        mask = self.painter.unit
        control = DragControl()
        try:
            drag_space(g)
            job = drag_job(g, base, pts, mask, settings, control)
        except StudioError as exc:
            s.error.emit(str(exc))
            return False
        self._placed, self._placed_on = (list(self.handles), list(self.targets)), base.latent
        self.running = control

        def done(result: DragResult) -> None:
            self.running = None
            self.last = result
            ws = s.workspace
            if result.steps == 0:  # every handle already at its target: nothing changed, no undo step
                s.message.emit("The handles are already at their targets")
            elif ws is not None and ws.recipe != base:  # edited meanwhile: the user's edit stands
                s.message.emit("The image was edited during the drag, so the drag's result was not applied")
                s.render()
            elif ws is not None:
                recipe = result.recipe(base)
                self._last_recipe = recipe
                record = DragRecord(tuple(p.handle for p in result.points),
                                    tuple(p.target for p in result.points), result.handles, mask,
                                    result.layer, result.rows, result.steps, result.ended,
                                    latent_key(recipe.latent))
                s.end_gesture()
                s.commit(replace(ws, recipe=recipe).with_panel(PANEL_KEY, record.to_dict()),
                         f"Drag {len(pts)} point{'s' if len(pts) > 1 else ''}")
                s.end_gesture()
                how = {"reached": "reached its target", "stopped": "stopped",
                       "steps": "ran its steps"}[result.ended]
                s.message.emit(f"Drag {how} after {result.steps} steps; handles {result.distance:.1f} px "
                               f"from their targets")
                self._note = f"last drag {how} in {result.steps} steps"
            self._refresh()

        def failed(msg: str) -> None:
            self.running = None
            self.handles, self.targets = list(self._placed[0]), list(self._placed[1])
            if msg == "cancelled":
                s.message.emit("Drag cancelled; the image is as it was")
            else:
                s.error.emit(f"Dragging failed: {msg}")
            s.render()
            self._refresh()

        s.run_job(job, on_done=done, on_progress=self._progress, on_error=failed, key="drag", task="Dragging")
        self._refresh()
        return True

    def stop(self) -> None:
        """End the running drag after its current step, keeping what it reached."""
        if self.running is not None:
            self.running.stop()
            self.status.setText("stopping…")

    def _progress(self, p: DragProgress) -> None:
        self.handles = [tuple(h) for h in p.handles]
        now = time.monotonic()
        if now - self._shown_at >= PREVIEW_EVERY_S or p.done == p.total:
            self._shown_at = now
            recipe = self.session.recipe
            if recipe is not None:
                self.session.frameReady.emit(Frame(recipe, image=to_uint8(p.image)[0], preview=True,
                                                   extras={"drag": (p.done, p.total, p.distance)}))
        self.status.setText(f"step {p.done}/{p.total} · {p.distance:.1f} px to go")
        self._refresh()

    def to_timeline(self) -> bool:
        """The last drag's path as the timeline's keyframes (one undo step); False when there is none."""
        s = self.session
        ws = s.workspace
        if self.last is None or ws is None or self._last_recipe is None or ws.recipe != self._last_recipe:
            s.error.emit("Run a drag first: the timeline takes the path of the drag that made this image")
            return False
        t = trajectory_timeline(ws.timeline, self._last_recipe, self.last.trajectory_latents(KEYFRAMES),
                                FRAMES_PER_KEY)
        s.update("Drag to timeline", timeline=t)
        s.message.emit(f"The drag is on the timeline: {len(t.keyframes)} keyframes, {t.frame_count()} frames")
        return True

    # -- following the session ---------------------------------------------------------------------------
    def _on_model(self, g: Generator) -> None:
        if self.running is not None:
            self.running.stop()
        self.running = None
        self.last, self._last_recipe, self._shown_record, self._note = None, None, None, ""
        self.handles, self.targets = [], []
        self.painter.show_unit_mask(None)
        if g.has_w:
            self.rows.setRange(1, max(1, g.info.num_ws))
            self.rows.setValue(default_rows(g))
            self.step.setValue(LR_W)
        else:
            self.step.setValue(LR_Z)
        self.rows.setVisible(g.has_w)
        self.rows_label.setVisible(g.has_w)
        self._refresh()

    def _on_workspace(self, ws: Workspace) -> None:
        """Undo / redo / a project: show the drag record the workspace holds (its handles where it ended),
        or the points as placed before it when the state is from before the drag. Another image (a new
        seed) starts without points: they were placed on a face that is no longer there."""
        if self.running is not None:
            return
        latent = ws.recipe.latent
        record = record_for(ws.panel(PANEL_KEY), latent)
        if record is not None:
            if record != self._shown_record:
                nxt = record.continued()
                self.handles, self.targets = list(nxt.handles), list(nxt.targets)
                self.painter.show_unit_mask(record.mask)
        elif latent != self._placed_on:
            self.handles, self.targets, self._placed, self._placed_on = [], [], ([], []), None
        elif self._shown_record is not None:  # undone to before the drag: the points as placed
            self.handles, self.targets = list(self._placed[0]), list(self._placed[1])
        self._shown_record = record
        self._refresh()

    def _image_changed(self) -> None:
        image = self.canvas.image()
        shape = image.shape[:2] if image is not None else (1, 1)
        self.clicks.setImage(np.zeros((*shape, 4), np.uint8), autoLevels=False, levels=(0, 255))
        self.clicks.setVisible(image is not None and self.mode == "points")

    def _refresh(self) -> None:
        visible = self.bar.isVisible() or self.mode != "off"
        self._image_changed()
        spots, xs, ys = [], [], []
        pen = pg.mkPen("w", width=1.5)
        for h, t in zip(self.handles, self.targets):
            spots.append({"pos": QPointF(*t), "brush": pg.mkBrush(*TARGET_RGB), "pen": pen})
            xs += [h[0], t[0]]
            ys += [h[1], t[1]]
        for h in self.handles:  # on top: a handle that reached its target covers it
            spots.append({"pos": QPointF(*h), "brush": pg.mkBrush(*HANDLE_RGB), "pen": pen})
        self.dots.setData(spots if visible else [])
        self.lines.setData(np.array(xs if visible else [], float), np.array(ys if visible else [], float))
        self.painter.set_visible(visible)
        running = self.running is not None
        self.start_button.setEnabled(not running and bool(self.targets))
        self.stop_button.setEnabled(running)
        self.clear_button.setEnabled(not running)
        self.timeline_button.setEnabled(not running and self.last is not None)
        if not running:
            n = len(self.targets)
            self.status.setText("click a handle on the image" if n == 0 and not self.handles else
                                "now click where it should go" if len(self.handles) > n else
                                f"{n} point{'s' if n != 1 else ''}"
                                + (" · region painted" if self.painter.has_mask() else "")
                                + (f" · {self._note}" if self._note else ""))
            self.status.setToolTip(self.status.text())  # the whole line where the bar cuts it
        self.changed.emit()


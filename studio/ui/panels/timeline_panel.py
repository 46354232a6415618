"""Timeline and export: keyframes from the current recipe, segment settings, preview playback, export.

A view of the workspace: the timeline is `session.workspace.timeline` and the export size the panel setting
"timeline.scale", so both travel with their model, undo and are saved in projects; every edit here is one
`session.update`. Keyframe thumbnails are rendered by the open model only (cached per model id and
recipe); keyframes made with another model (an old project) are marked, never rendered by the open one
until the user re-renders them with it ("Use with this model", one undo step).

Expanding the timeline into per-frame recipes (the mapping network, for W interpolation and loops) runs as
a worker job, as does the export itself (studio.export.job) between interactive frames, so editing
continues while it runs; progress, ETA and Cancel live in this panel. Preview renders on its own worker
view ("timeline") and drops frames rather than fall behind (studio.core.timeline.Playback).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from studio.core.output_size import EXPORT_SCALE_KEY, scale_setting
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import EASINGS, INTERPOLATIONS, NoiseLoop, Playback, Timeline
from studio.core.workspace import Workspace
from studio.core.workspaces import same_model
from studio.errors import StudioError
from studio.export import safe
from studio.export.job import ExportResult, Progress, export_job
from studio.export.sidecar import sidecar_path
from studio.export.writers import ExportOptions, format_of
from studio.model.api import Generator
from studio.model.spaces import frame_recipes, spaces
from studio.render.engine import Frame
from studio.ui.images import thumbnail
from studio.ui.session import Session

THUMB = 56
PREVIEW = 104  # the strip (keys | settings | preview) fits under the canvas of a 1280 px window
PREVIEW_VIEW = "timeline"
SCALE_KEY = EXPORT_SCALE_KEY  # the export size, a panel setting in the workspace
PLAY_JOB = "timeline.play"    # newest wins: pressing Play again replaces an expansion still running
THUMB_CACHE = 256             # thumbnails kept (per model id and recipe)
EXPORT_FILTERS = "MP4 video (*.mp4);;Animated GIF (*.gif);;Animated WebP (*.webp);;PNG frames (folder) (*)"


class _Starting:
    """Stands for the export handle until run_job returns it."""

    def cancel(self) -> None:
        pass


def _how(data: str) -> dict[str, str]:
    """An interpolation menu entry's data ("slerp w") as Segment fields."""
    how, space = data.split()
    return {"interpolation": how, "space": space}


def _frame_recipes(t: Timeline, g: Generator) -> list[Recipe]:
    """One recipe per frame (runs the mapping network for W segments and loops: call it on the worker)."""
    return frame_recipes(g, t)


def _model_name(ref: ModelRef) -> str:
    return Path(ref.path).name or ref.sha256[:12] or "an unknown model"


def _numbers(indices: list[int]) -> str:
    words = [str(i + 1) for i in indices]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _fmt_s(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


class TimelinePanel(QWidget):
    """A view of the workspace's timeline; owns only widget caches and the export / playback in progress."""

    _previewArrived = Signal(object)  # internal: a preview Frame from the worker thread

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._shown: Timeline | None = None  # the timeline the widgets show (compared by identity)
        self._thumbs: dict[tuple[str, Recipe], QIcon | None] = {}  # (model id, recipe); None: failed
        self._thumb_pending: set[tuple[str, Recipe]] = set()
        self._export: Any = None  # JobHandle of the running export
        self._export_path: Path | None = None
        self._playback: Playback | None = None
        self._play_recipes: list[Recipe] = []
        self._play_job: Any = None  # the expansion job Play is waiting for
        self._play_token = 0        # bumps on every start / stop: only the newest expansion starts playback
        self._in_flight = False
        self.clock: Callable[[], float] = time.monotonic  # injectable: tests drive playback with a fake clock

        self.add_button = QPushButton("+ Key")  # short: the strip must fit beside the docks on a laptop
        self.add_button.setToolTip("Add the image on the canvas as the next keyframe (K)")
        self.add_button.setShortcut("K")
        self.keys = QListWidget()
        self.keys.setIconSize(QSize(THUMB, THUMB))
        self.keys.setViewMode(QListWidget.ViewMode.IconMode)
        self.keys.setFlow(QListWidget.Flow.LeftToRight)
        self.keys.setWrapping(False)
        self.keys.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # a strip: sideways only
        self.keys.setMovement(QListWidget.Movement.Static)
        self.keys.setGridSize(QSize(THUMB + 40, THUMB + 48))
        self.keys.setWordWrap(True)
        self.keys.setMinimumHeight(THUMB + 60)
        self.keys.setMinimumWidth(THUMB + 64)  # a keyframe and a half: the strip fits under a 1280 px canvas
        self.keys.setToolTip("Keyframes in order; double-click one to edit from it")
        self.up, self.down, self.remove = QToolButton(), QToolButton(), QToolButton()
        for b, text, tip in ((self.up, "◀", "Move earlier"), (self.down, "▶", "Move later"),
                             (self.remove, "✕", "Remove keyframe")):
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
        self.adopt = QToolButton()
        self.adopt.setText("Use with this model")
        self.adopt.setToolTip("Some keyframes were made with another model: re-render them with the open "
                              "one (their thumbnails are redrawn; undoable)")
        self.adopt.setVisible(False)

        self.frames = QSpinBox()
        self.frames.setRange(1, 10_000)
        self.frames.setValue(24)
        self.frames.setToolTip("Frames from the selected keyframe to the next")
        self.interp = QComboBox()
        self.interp.setToolTip("slerp keeps latents at a typical length; lerp goes straight. In Z the path "
                               "bends through the mapping network; in W (StyleGAN) it morphs more evenly")
        self.noise = QComboBox()
        self.noise.setMinimumWidth(70)  # "in W" and its arrow, uncut
        self.noise.setToolTip("A seamless loop through latent space whose period is the whole sequence: "
                              "around the first keyframe, or drifting along the keyframes")
        self.radius = QDoubleSpinBox()
        self.radius.setRange(0.05, 1.0)
        self.radius.setSingleStep(0.05)
        self.radius.setValue(0.3)
        self.radius.setToolTip("How far the noise loop strays, relative to the latent's length")
        self.radius.setFixedWidth(58)
        self.reroll = QToolButton()
        self.reroll.setText("⟳")
        self.reroll.setAutoRaise(True)
        self.reroll.setToolTip("Another noise loop (new random directions)")
        self.easing = QComboBox()
        self.easing.addItems(list(EASINGS))
        self.apply_all = QCheckBox("All segments")
        self.apply_all.setToolTip("Apply frames, interpolation and easing to every segment")
        self.loop = QCheckBox("Loop")
        self.loop.setToolTip("Go back from the last keyframe to the first, for a seamless loop")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 120)
        self.fps.setDecimals(0)
        self.fps.setValue(24)
        self.fps.setSuffix(" fps")
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)  # read whole under a narrow strip, not cut at its right edge
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setObjectName("timelinePreview")
        self.preview.setStyleSheet("QLabel#timelinePreview { background: palette(dark); border-radius: 4px; }")
        self.play = QPushButton("Play")
        self.play.setCheckable(True)
        self.play.setToolTip("Preview the sequence in real time (frames are skipped if rendering lags)")
        self.scale = QSpinBox()
        self.scale.setRange(1, 16)
        self.scale.setPrefix("×")
        self.scale.setToolTip("Upscale exported frames by a whole number, smooth or crisp as View > Upscaling "
                              "(x4 by default for models up to 128 px; kept per model)")
        self.smooth_export = True  # the main window keeps this in step with View > Upscaling
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Render the sequence to MP4, GIF, WebP or PNG frames")
        from studio.distributed.cluster import ray_available

        self.cluster_button: QPushButton | None = None  # only with the ray extra installed
        if ray_available():
            self.cluster_button = QPushButton("Render on\ncluster…")  # two lines: the column is 104 px
            self.cluster_button.setToolTip("Export the sequence with its frames rendered on a Ray cluster "
                                           "(the same file as a local export)")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(48)  # with Cancel beside it, no wider than the keyframe strip
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        self.eta.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the strip
        self.cancel = QPushButton("Cancel")
        self.timer = QTimer(self)
        self.timer.setInterval(5)

        # a strip along the bottom of the window: keyframes (and export progress) | settings | preview, export
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(8)
        keys_col = QVBoxLayout()
        top = QHBoxLayout()
        top.setSpacing(2)
        self.add_button.setMinimumWidth(56)
        top.addWidget(self.add_button)
        for b in (self.up, self.down, self.remove):
            top.addWidget(b)
        top.addWidget(self.adopt)
        top.addStretch(1)
        keys_col.addLayout(top)
        keys_col.addWidget(self.keys, 1)
        keys_col.addWidget(self.summary)
        progress_row = QHBoxLayout()  # while an export runs
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.eta, 1)  # shares the row with the bar (it has no minimum width)
        progress_row.addWidget(self.cancel)
        keys_col.addLayout(progress_row)
        layout.addLayout(keys_col, 1)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Frames", self.frames)
        form.addRow("Interpolation", self.interp)
        form.addRow("Easing", self.easing)
        noise_row = QHBoxLayout()
        noise_row.setSpacing(2)
        noise_row.addWidget(self.noise, 1)
        noise_row.addWidget(self.radius)
        noise_row.addWidget(self.reroll)
        form.addRow("Noise loop", noise_row)
        form.addRow("", self.apply_all)
        rate_row = QHBoxLayout()
        rate_row.setSpacing(6)
        rate_row.addWidget(self.fps)
        rate_row.addWidget(self.loop)
        form.addRow("Rate", rate_row)
        form.addRow("Export size", self.scale)
        for w in (self.frames, self.interp, self.easing, self.fps, self.scale):
            w.setFixedWidth(98)
        layout.addLayout(form)
        prev_col = QVBoxLayout()
        prev_col.addWidget(self.preview)
        prev_col.addWidget(self.play)
        prev_col.addWidget(self.export_button)
        if self.cluster_button is not None:
            prev_col.addWidget(self.cluster_button)
        prev_col.addStretch(1)
        for w in (self.play, self.export_button, self.cluster_button):
            if w is not None:
                w.setFixedWidth(PREVIEW)
        layout.addLayout(prev_col)
        self._show_export(False)

        self.add_button.clicked.connect(self.add_current)
        self.remove.clicked.connect(lambda: self._edit_selected(
            "Remove keyframe", lambda t, i: t.remove(i), -1))
        self.up.clicked.connect(lambda: self._edit_selected(
            "Move keyframe earlier", lambda t, i: t.move(i, max(i - 1, 0)), -1))
        self.down.clicked.connect(lambda: self._edit_selected(
            "Move keyframe later", lambda t, i: t.move(i, min(i + 1, len(t.keyframes) - 1)), 1))
        self.adopt.clicked.connect(self.adopt_keyframes)
        self.keys.currentRowChanged.connect(self._on_row)
        self.keys.itemDoubleClicked.connect(self._edit_from)
        self.frames.valueChanged.connect(lambda v: self._set_segment("Segment frames", "frames",
                                                                     frames=int(v)))
        self.interp.activated.connect(lambda i: self._set_segment("Interpolation", None,
                                                                  **_how(self.interp.itemData(i))))
        self.noise.activated.connect(lambda i: self._set_noise("Noise loop"))
        self.radius.valueChanged.connect(lambda v: self._set_noise("Noise loop radius", "timeline.radius"))
        self.reroll.clicked.connect(lambda: self._set_noise("Another noise loop", reroll=True))
        self.easing.currentTextChanged.connect(lambda v: self._set_segment("Easing", None, easing=v))
        self.loop.toggled.connect(lambda on: self.set_timeline(replace(self.timeline, loop=on),
                                                               "Loop on" if on else "Loop off"))
        self.fps.valueChanged.connect(lambda v: self.set_timeline(replace(self.timeline, fps=float(v)),
                                                                  "Frame rate", "timeline.fps"))
        self.scale.valueChanged.connect(self._set_scale)
        for box in (self.frames, self.radius, self.fps, self.scale):  # typing / arrow clicks: one step
            box.editingFinished.connect(session.end_gesture)
        self.play.toggled.connect(self._toggle_play)
        self.timer.timeout.connect(self._tick)
        self._previewArrived.connect(self._on_preview)
        self.export_button.clicked.connect(self.export_dialog)
        if self.cluster_button is not None:
            self.cluster_button.clicked.connect(self.cluster_dialog)
        self.cancel.clicked.connect(self.cancel_export)
        session.modelChanged.connect(lambda g: self._on_model())
        session.workspaceChanged.connect(self._on_workspace)
        self._fill_spaces()
        self._refresh()

    # -- the workspace -------------------------------------------------------------------------------
    @property
    def timeline(self) -> Timeline:
        """The open model's timeline (empty before a model opens)."""
        ws = self.session.workspace
        return ws.timeline if ws is not None else Timeline()

    def set_timeline(self, t: Timeline, text: str = "Edit timeline", merge_key: str | None = None) -> bool:
        """Make `t` the workspace's timeline as one undo step (steps with one merge_key merge per gesture)."""
        return t != self.timeline and self.session.update(text, merge_key, timeline=t)

    def _on_workspace(self, ws: Workspace) -> None:
        if ws.timeline is not self._shown:
            self._refresh()
        self.scale.blockSignals(True)
        self.scale.setValue(self._scale_of(ws))
        self.scale.blockSignals(False)

    def _scale_of(self, ws: Workspace) -> int:
        """The workspace's export size; x4 for models up to 128 px until the user picks one."""
        g = self.session.generator
        return scale_setting(ws.panel(SCALE_KEY), g.info.resolution if g is not None else 0)

    def _set_scale(self, v: int) -> None:
        ws = self.session.workspace
        if ws is not None and self._scale_of(ws) != v:
            self.session.commit(ws.with_panel(SCALE_KEY, int(v)), "Export size", SCALE_KEY)

    def _foreign(self, t: Timeline | None = None) -> list[int]:
        """The keyframes made with another model than the open one (an old project's, say)."""
        ws = self.session.workspace
        if ws is None:
            return []
        return [i for i, r in enumerate((t or ws.timeline).keyframes) if not same_model(r.model, ws.model)]

    def _refuse_foreign(self, what: str) -> bool:
        """True (with a message naming the models) when keyframes of another model would be rendered."""
        ws, foreign = self.session.workspace, self._foreign()
        if ws is None or not foreign:
            return False
        keys = ws.timeline.keyframes
        others = sorted({_model_name(keys[i].model) for i in foreign})
        self.session.error.emit(
            f"{what}: keyframe{'s' * (len(foreign) > 1)} {_numbers(foreign)} "
            f"{'were' if len(foreign) > 1 else 'was'} made with {' and '.join(others)}, not "
            f"{_model_name(ws.model)}; choose 'Use with this model' to re-render "
            f"{'them' if len(foreign) > 1 else 'it'} with {_model_name(ws.model)}")
        return True

    def adopt_keyframes(self) -> None:
        """Point keyframes of another model at the open one (one undo step): they are re-rendered by it."""
        ws = self.session.workspace
        foreign = set(self._foreign())
        if ws is None or not foreign:
            return
        keys = tuple(replace(r, model=ws.model) if i in foreign else r
                     for i, r in enumerate(ws.timeline.keyframes))
        self.set_timeline(replace(ws.timeline, keyframes=keys),
                          f"Re-render keyframes with {_model_name(ws.model)}")
        self.session.end_gesture()

    # -- keyframes -----------------------------------------------------------------------------------
    def add_current(self) -> None:
        r = self.session.recipe
        g = self.session.generator
        if r is None or g is None:
            return
        frame = self.session.last_frame
        if frame is not None and frame.recipe == r and frame.image is not None:
            self._put_thumb(self._thumb_key(g, r), QIcon(thumbnail(frame.image, THUMB)))
        self.set_timeline(self.timeline.add(r), "Add keyframe")
        self.session.end_gesture()
        self.keys.setCurrentRow(len(self.timeline.keyframes) - 1)

    def _edit_selected(self, text: str, fn: Callable[[Timeline, int], Timeline], delta: int) -> None:
        i = self.keys.currentRow()
        if i < 0:
            return
        self.set_timeline(fn(self.timeline, i), text)
        self.session.end_gesture()
        n = len(self.timeline.keyframes)
        self.keys.setCurrentRow(min(max(i + delta, 0), n - 1) if n else -1)

    def _edit_from(self, item: QListWidgetItem) -> None:
        """Edit from a keyframe (one undo step); one of another model is taken to the open model, since the
        canvas renders it with that model (visibly, at the user's request)."""
        i, ws = self.keys.row(item), self.session.workspace
        if ws is not None and 0 <= i < len(ws.timeline.keyframes):
            self.session.edit(replace(ws.timeline.keyframes[i], model=ws.model), f"Go to keyframe {i + 1}")
            self.session.end_gesture()

    def _on_row(self, i: int) -> None:
        self.session.end_gesture()  # spin box edits of another segment are another step
        self._show_segment(i)

    def _refresh(self) -> None:
        t = self.timeline
        self._shown = t
        ws, g = self.session.workspace, self.session.generator
        foreign = set(self._foreign(t))
        row = self.keys.currentRow()
        self.keys.blockSignals(True)
        self.keys.clear()
        starts = t.keyframe_frames()
        for i, r in enumerate(t.keyframes):
            seg = t.segments[i]
            what = f"seed {r.latent.seed}" if isinstance(r.latent, SeedLatent) else r.latent.kind
            edits = f" · {len(r.edits)} edit{'s' * (len(r.edits) != 1)}" if r.edits else ""
            psi = f" · ψ {r.truncation:.2f}" if r.truncation != 1.0 else ""
            last = i == len(t.keyframes) - 1
            how = seg.interpolation + (" W" if seg.space == "w" else "")
            tail = "" if last and not t.looping else f"\n→ {seg.frames} {how}"
            mark = "⚠ " if i in foreign else ""
            item = QListWidgetItem(f"{mark}{i + 1} · {what}{tail}")
            tip = (f"Keyframe {i + 1} at frame {starts[i]}{psi}{edits}"
                   + ("" if last and not t.looping else f"; then {seg.frames} frames, {how} "
                      f"in {seg.space.upper()}, {seg.easing}") + "\nDouble-click to edit from it")
            if i in foreign and ws is not None:
                tip = (f"Made with {_model_name(r.model)}, not rendered with {_model_name(ws.model)}: "
                       "'Use with this model' re-renders it\n") + tip
            elif g is not None:
                key = self._thumb_key(g, r)
                if key not in self._thumbs:
                    self._request_thumb(g, r)  # a synchronous worker has it cached already
                icon = self._thumbs.get(key)
                if icon is not None:
                    item.setIcon(icon)
            item.setToolTip(tip)
            self.keys.addItem(item)
        self.keys.setCurrentRow(min(max(row, 0), len(t.keyframes) - 1))  # a loaded timeline shows segment 1
        self.keys.blockSignals(False)
        n = t.frame_count()
        loop = f" · noise loop in {t.noise.space.upper()}" if t.noise is not None else ""
        self.summary.setText(f"{len(t.keyframes)} keys · {n} frames · {_fmt_s(t.duration_s())}{loop}"
                             if t.keyframes else "Add the canvas image as keyframes")
        self._show_noise()
        for w in (self.remove, self.up, self.down):
            w.setEnabled(bool(t.keyframes))
        self.adopt.setVisible(bool(foreign))
        self.fps.blockSignals(True)
        self.fps.setValue(t.fps)
        self.fps.blockSignals(False)
        can_play = n > 1 and g is not None
        if t.noise is not None and len(t.keyframes) == 1:
            self.frames.setToolTip("Frames in the noise loop")
        else:
            self.frames.setToolTip("Frames from the selected keyframe to the next")
        self.play.setEnabled(can_play or self.play.isChecked())
        self.export_button.setEnabled(can_play and self._export is None)
        if self.cluster_button is not None:
            self.cluster_button.setEnabled(can_play and self._export is None)
        self._show_segment(self.keys.currentRow())

    def _show_segment(self, i: int) -> None:
        if not 0 <= i < len(self.timeline.segments):
            return
        seg = self.timeline.segments[i]
        for w, v in ((self.frames, seg.frames), (self.easing, seg.easing)):
            w.blockSignals(True)
            w.setValue(v) if isinstance(w, QSpinBox) else w.setCurrentText(v)
            w.blockSignals(False)
        at = self.interp.findData(f"{seg.interpolation} {seg.space}")
        if at >= 0:
            self.interp.setCurrentIndex(at)

    # -- latent spaces and the noise loop ------------------------------------------------------------
    def _spaces(self) -> tuple[str, ...]:
        """Z always; W where the model has a mapping network (StyleGAN)."""
        g = self.session.generator
        return spaces(g) if g is not None else ("z",)

    def _fill_spaces(self) -> None:
        self.interp.clear()
        for space in self._spaces():
            for how in INTERPOLATIONS:
                self.interp.addItem(f"{how} in {space.upper()}", f"{how} {space}")
        self.noise.clear()
        self.noise.addItem("off", None)
        for space in self._spaces():
            self.noise.addItem(f"in {space.upper()}", space)

    def _set_noise(self, text: str, merge_key: str | None = None, reroll: bool = False) -> None:
        space = self.noise.currentData()
        t = self.timeline
        if space is None:
            noise = None
        else:
            seed = (t.noise.seed + reroll) if t.noise is not None else 0
            noise = NoiseLoop(float(self.radius.value()), seed, space)
        self.set_timeline(replace(t, noise=noise), text, merge_key)

    def _show_noise(self) -> None:
        n = self.timeline.noise
        at = self.noise.findData(n.space) if n is not None else 0
        self.noise.setCurrentIndex(max(at, 0))
        self.radius.blockSignals(True)
        if n is not None:
            self.radius.setValue(n.radius)
        self.radius.blockSignals(False)
        self.radius.setEnabled(n is not None)
        self.reroll.setEnabled(n is not None)
        self.loop.blockSignals(True)
        self.loop.setChecked(self.timeline.looping)
        self.loop.setEnabled(n is None)  # a noise loop always loops
        self.loop.blockSignals(False)

    def _set_segment(self, text: str, control: str | None, **changes: Any) -> None:
        """One step; a spin box's changes (`control`) merge per segment until its editing finishes."""
        i = self.keys.currentRow()
        if self.apply_all.isChecked():
            key = f"timeline.{control}.all" if control else None
            self.set_timeline(self.timeline.with_all_segments(**changes), text, key)
        elif 0 <= i < len(self.timeline.segments):
            key = f"timeline.{control}.{i}" if control else None
            self.set_timeline(self.timeline.with_segment(i, **changes), text, key)

    # -- thumbnails: rendered by the open model only -------------------------------------------------
    def _thumb_key(self, g: Generator, r: Recipe) -> tuple[str, Recipe]:
        return (g.model_id or str(self.session.model_path), r)

    def _put_thumb(self, key: tuple[str, Recipe], icon: QIcon | None) -> None:
        self._thumbs.pop(key, None)
        self._thumbs[key] = icon
        while len(self._thumbs) > THUMB_CACHE:
            del self._thumbs[next(iter(self._thumbs))]

    def _request_thumb(self, g: Generator, r: Recipe) -> None:
        key = self._thumb_key(g, r)
        if key in self._thumb_pending or key in self._thumbs:
            return
        self._thumb_pending.add(key)
        self.session.run_job(self._thumb_job(g, r), on_done=lambda img: self._on_thumb(key, img),
                             on_error=lambda msg: self._on_thumb(key, None))

    def _thumb_job(self, g: Generator, r: Recipe) -> Iterator[None]:
        """A stage per step, by the model it was asked of (`g`, never a later one)."""
        yield None
        for out in self.session.renderer.iter_batch(g, [r]):
            if out is None:
                yield None
            else:
                return out[0]
        return None

    def _on_thumb(self, key: tuple[str, Recipe], image: np.ndarray | None) -> None:
        self._thumb_pending.discard(key)
        icon = QIcon(thumbnail(image, THUMB)) if image is not None else None
        self._put_thumb(key, icon)
        g = self.session.generator
        if icon is None or g is None or self._shown is not self.timeline:
            return
        foreign = set(self._foreign())
        for i, r in enumerate(self.timeline.keyframes):
            item = self.keys.item(i)
            if item is not None and i not in foreign and self._thumb_key(g, r) == key:
                item.setIcon(icon)

    def _on_model(self) -> None:
        self.stop()
        self._thumb_pending.clear()  # the previous model's jobs were cancelled: ask again when shown again
        self._shown = None           # the workspaceChanged that follows shows the new model's timeline
        self._fill_spaces()

    # -- preview -------------------------------------------------------------------------------------
    def _toggle_play(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        """Play the open model's timeline: its frames are expanded on the worker, then shown in real time."""
        g, t = self.session.generator, self.timeline
        if g is None or t.frame_count() < 2 or self._refuse_foreign("Cannot play"):
            self.stop()
            return
        self._play_token += 1
        token = self._play_token
        self.play.blockSignals(True)
        self.play.setChecked(True)
        self.play.blockSignals(False)
        self.play.setText("Stop")
        if self._play_job is not None:
            self._play_job.cancel()
        self._play_job = self.session.run_job(self._expand_job(g, t),
                                              on_done=lambda out: self._begin_playback(token, t, out),
                                              on_error=lambda msg: self._begin_playback(token, t, msg),
                                              key=PLAY_JOB)

    @staticmethod
    def _expand_job(g: Generator, t: Timeline) -> Iterator[None]:
        """The timeline's frames (or why not, as a message): on the worker, by the model it was asked of."""
        yield None
        try:
            return _frame_recipes(t, g)
        except StudioError as exc:
            return str(exc)

    def _begin_playback(self, token: int, t: Timeline, out: list[Recipe] | str) -> None:
        if token != self._play_token:
            return  # stopped, or played again, meanwhile
        self._play_job = None
        if isinstance(out, str):
            if out != "cancelled":
                self.session.error.emit(f"Cannot play: {out}")
            self.stop()
            return
        self._play_recipes = out
        self._playback = Playback(t.fps, len(out), loop=True)
        self._in_flight = False
        self.timer.start()

    def stop(self) -> None:
        self._play_token += 1
        if self._play_job is not None:
            self._play_job.cancel()
            self._play_job = None
        self.timer.stop()
        self._playback = None
        self.play.blockSignals(True)
        self.play.setChecked(False)
        self.play.blockSignals(False)
        self.play.setText("Play")

    def _tick(self) -> None:
        if self._playback is None or self._in_flight or self.session.generator is None:
            return
        i = self._playback.next_frame(self.clock())
        if i is None:
            return
        self._in_flight = True
        g = self.session.generator
        self.session.worker.submit(PREVIEW_VIEW, g, self._play_recipes[i], self._previewArrived.emit)

    def _on_preview(self, frame: Frame) -> None:
        self._in_flight = False
        p = self._playback
        if p is not None and frame.ok:
            self.preview.setPixmap(thumbnail(frame.image, PREVIEW))
            self.preview.setToolTip(f"{p.shown} frames shown, {p.dropped} skipped to keep {p.fps:g} fps")

    # -- export --------------------------------------------------------------------------------------
    def export_dialog(self, cluster: str | None = None) -> None:
        start = self.session.model_path.parent if self.session.model_path else Path.home()
        title = "Export sequence" + (f" (rendered on the cluster: {cluster})" if cluster else "")
        path, chosen = QFileDialog.getSaveFileName(self, title, str(start / "sequence.mp4"), EXPORT_FILTERS)
        if path:
            p = Path(path)
            if "PNG frames" in chosen and p.suffix:
                p = p.with_suffix("")
            # the native dialog has already asked to replace: for a file, that is the user's consent
            self.export_to(p, force=p.exists(), confirmed=p.is_file(), cluster=cluster)

    def cluster_dialog(self) -> None:
        """Render on cluster…: which cluster (remembered), then where to, then the export as usual."""
        from PySide6.QtCore import QSettings

        from studio.ui.cluster_export import ClusterDialog

        settings = getattr(self.window(), "settings", None)
        dialog = ClusterDialog(settings if isinstance(settings, QSettings) else None,
                               self.timeline.frame_count(), self)
        if dialog.exec():
            self.export_dialog(cluster=dialog.address())

    def export_to(self, path: Path, force: bool = False, confirmed: bool = False,
                  cluster: str | None = None) -> bool:
        """Start exporting the open model's timeline with it; False (with a message) when it cannot start.

        The frames are expanded and rendered on the worker (or, `cluster`: an address, on a Ray cluster);
        editing, and switching models, continue meanwhile (the export keeps the model and timeline it
        started with)."""
        g, ws = self.session.generator, self.session.workspace
        if g is None or ws is None or self._export is not None or self._refuse_foreign("Cannot export"):
            return False
        t = ws.timeline
        try:
            if not t.keyframes:
                raise safe.ExportError("nothing to export: the sequence has no frames")
            options = ExportOptions(fps=t.fps, scale=self._scale_of(ws), smooth=self.smooth_export)
            safe.check_target(path, force, confirmed)  # export_job checks again on the worker; fail here first
            if format_of(path) != "":
                safe.check_target(sidecar_path(path), force)
        except StudioError as exc:
            self.session.error.emit(f"Cannot export: {exc}")
            return False
        self._export_path = path
        self.progress.setRange(0, t.frame_count())
        self.progress.setValue(0)
        self.eta.setText(f"Exporting {path.name}…")
        self._show_export(True)
        self._export = _Starting()
        model_path = self.session.model_path  # the export keeps its model, whatever opens meanwhile
        job = self._export_job(g, t, path, options, force, confirmed, cluster, model_path)
        handle = self.session.run_job(job,
                                      on_done=self._export_done,
                                      on_progress=self._export_progress, on_error=self._export_failed,
                                      bound_to_model=False, task=f"Exporting {path.name}")
        if self._export is not None:  # still running (a synchronous worker has finished already)
            self._export = handle
        self._refresh()
        return True

    def _export_job(self, g: Generator, t: Timeline, path: Path, options: ExportOptions,
                    force: bool, confirmed: bool = False, cluster: str | None = None,
                    model_path: Path | None = None) -> Iterator[Progress]:
        """Expand `t` with `g`, then export (studio.export.job): all on the worker, all with `g` (its frames
        rendered on the Ray cluster at `cluster` when given: studio.distributed.export)."""
        yield Progress(0, t.frame_count(), 0.0)
        try:
            recipes = _frame_recipes(t, g)
        except StudioError as exc:
            return str(exc)
        if cluster is not None and model_path is not None:
            from studio.distributed.export import cluster_export_job

            return (yield from cluster_export_job(cluster, g, model_path, recipes, path, options,
                                                  force=force, confirmed=confirmed))

        def runtime(batch: int) -> Generator:
            """The runtime for this batch size: of `g`'s own model, even if another has opened since."""
            open_g = self.session.generator
            same = open_g is not None and open_g.model_id == g.model_id
            r = self.session.runtime_for(batch) if same else None
            return r if r is not None and r.model_id == g.model_id else g

        return (yield from export_job(g, recipes, path, options, renderer=self.session.renderer, force=force,
                                      confirmed=confirmed, runtime=runtime))

    def cancel_export(self) -> None:
        if self._export is not None:
            self._export.cancel()
            self.eta.setText("Cancelling…")

    def _export_progress(self, p: Progress) -> None:
        self.progress.setMaximum(max(p.total, 1))
        self.progress.setValue(p.done)
        if p.phase == "finishing":
            self.eta.setText("Encoding…")
        elif p.phase == "connecting":
            self.eta.setText("Connecting to the cluster…")
        elif p.eta_s is not None:
            self.eta.setText(f"{p.done}/{p.total} frames · {_fmt_s(p.eta_s)} left")

    def _export_done(self, result: ExportResult | str) -> None:
        self._finish_export()
        if isinstance(result, str):  # the timeline could not be expanded
            self.session.error.emit(f"Cannot export: {result}")
            return
        self.session.message.emit(f"Exported {result.frames} frames to {result.path} in {result.seconds:.1f} s")
        self.session.tasks.offer_file(Path(result.path), f"Exported {Path(result.path).name}")

    def _export_failed(self, msg: str) -> None:
        self._finish_export()
        if msg == "cancelled":
            self.session.message.emit("Export cancelled; nothing was written")
        else:
            self.session.error.emit(f"Export failed: {msg}. Nothing was written.")

    def _finish_export(self) -> None:
        self._export = None
        self._show_export(False)
        self._refresh()

    def _show_export(self, on: bool) -> None:
        for w in (self.progress, self.eta, self.cancel):
            w.setVisible(on)

    @property
    def exporting(self) -> bool:
        return self._export is not None

"""Timeline and export: keyframes from the current recipe, segment settings, preview playback, export.

Export runs as a worker job (studio.export.job) between interactive frames, so editing continues while
it runs; progress, ETA and Cancel live in this panel. Preview renders on its own worker view ("timeline")
and drops frames rather than fall behind (studio.core.timeline.Playback).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from studio.core.recipe import Recipe, SeedLatent
from studio.core.timeline import EASINGS, INTERPOLATIONS, NoiseLoop, Playback, Timeline, has_w_space
from studio.errors import StudioError
from studio.export.job import ExportResult, Progress, export_job
from studio.export.writers import ExportOptions
from studio.render.engine import Frame
from studio.ui.images import thumbnail
from studio.ui.session import Session

THUMB = 56
PREVIEW = 120
PREVIEW_VIEW = "timeline"
EXPORT_FILTERS = "MP4 video (*.mp4);;Animated GIF (*.gif);;Animated WebP (*.webp);;PNG frames (folder) (*)"


class _Starting:
    """Stands for the export handle until run_job returns it."""

    def cancel(self) -> None:
        pass


def _how(data: str) -> dict[str, str]:
    """An interpolation menu entry's data ("slerp w") as Segment fields."""
    how, space = data.split()
    return {"interpolation": how, "space": space}


def _fmt_s(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


class TimelinePanel(QWidget):
    """Owns the Timeline (an immutable value) and the export in progress."""

    timelineChanged = Signal(object)
    _previewArrived = Signal(object)  # internal: a preview Frame from the worker thread

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.timeline = Timeline()
        self._thumbs: dict[Recipe, QIcon] = {}
        self._export = None       # JobHandle of the running export
        self._export_path: Path | None = None
        self._playback: Playback | None = None
        self._play_recipes: list[Recipe] = []
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
        self.keys.setMovement(QListWidget.Movement.Static)
        self.keys.setGridSize(QSize(THUMB + 40, THUMB + 48))
        self.keys.setWordWrap(True)
        self.keys.setMinimumHeight(THUMB + 60)
        self.keys.setMinimumWidth(2 * (THUMB + 40) + 20)
        self.keys.setToolTip("Keyframes in order; double-click one to edit from it")
        self.up, self.down, self.remove = QToolButton(), QToolButton(), QToolButton()
        for b, text, tip in ((self.up, "◀", "Move earlier"), (self.down, "▶", "Move later"),
                             (self.remove, "✕", "Remove keyframe")):
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)

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
        self.scale.setToolTip("Upscale exported frames by a whole number (crisp pixels)")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Render the sequence to MP4, GIF, WebP or PNG frames")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        self.cancel = QPushButton("Cancel")
        self.timer = QTimer(self)
        self.timer.setInterval(5)

        # a strip along the bottom of the window: keyframes (and export progress) | settings | preview, export
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(8)
        keys_col = QVBoxLayout()
        top = QHBoxLayout()
        top.addWidget(self.add_button)
        for b in (self.up, self.down, self.remove):
            top.addWidget(b)
        top.addStretch(1)
        keys_col.addLayout(top)
        keys_col.addWidget(self.keys, 1)
        keys_col.addWidget(self.summary)
        progress_row = QHBoxLayout()  # while an export runs
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.eta)
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
            w.setFixedWidth(106)
        layout.addLayout(form)
        prev_col = QVBoxLayout()
        prev_col.addWidget(self.preview)
        prev_col.addWidget(self.play)
        prev_col.addWidget(self.export_button)
        prev_col.addStretch(1)
        for w in (self.play, self.export_button):
            w.setFixedWidth(PREVIEW)
        layout.addLayout(prev_col)
        self._show_export(False)

        self.add_button.clicked.connect(self.add_current)
        self.remove.clicked.connect(lambda: self._edit_selected(lambda t, i: t.remove(i), -1))
        self.up.clicked.connect(lambda: self._edit_selected(lambda t, i: t.move(i, max(i - 1, 0)), -1, 0))
        self.down.clicked.connect(lambda: self._edit_selected(
            lambda t, i: t.move(i, min(i + 1, len(t.keyframes) - 1)), 1))
        self.keys.currentRowChanged.connect(self._show_segment)
        self.keys.itemDoubleClicked.connect(self._edit_from)
        self.frames.valueChanged.connect(lambda v: self._set_segment(frames=int(v)))
        self.interp.activated.connect(lambda i: self._set_segment(**_how(self.interp.itemData(i))))
        self.noise.activated.connect(lambda i: self._set_noise())
        self.radius.valueChanged.connect(lambda v: self._set_noise())
        self.reroll.clicked.connect(lambda: self._set_noise(reroll=True))
        self.easing.currentTextChanged.connect(lambda v: self._set_segment(easing=v))
        self.loop.toggled.connect(lambda on: self.set_timeline(replace(self.timeline, loop=on)))
        self.fps.valueChanged.connect(lambda v: self.set_timeline(replace(self.timeline, fps=float(v))))
        self.play.toggled.connect(self._toggle_play)
        self.timer.timeout.connect(self._tick)
        self._previewArrived.connect(self._on_preview)
        self.export_button.clicked.connect(self.export_dialog)
        self.cancel.clicked.connect(self.cancel_export)
        session.modelChanged.connect(lambda g: self._on_model())
        self._fill_spaces()
        self._refresh()

    # -- keyframes -----------------------------------------------------------------------------------
    def add_current(self) -> None:
        r = self.session.recipe
        if r is None:
            return
        frame = self.session.last_frame
        if frame is not None and frame.recipe == r and frame.image is not None:
            self._thumbs[r] = QIcon(thumbnail(frame.image, THUMB))
        self.set_timeline(self.timeline.add(r))
        self.keys.setCurrentRow(len(self.timeline.keyframes) - 1)

    def set_timeline(self, t: Timeline) -> None:
        if t == self.timeline:
            return
        self.timeline = t
        self._refresh()
        self.timelineChanged.emit(t)

    def _edit_selected(self, fn, delta: int, floor: int | None = None) -> None:
        i = self.keys.currentRow()
        if i < 0:
            return
        self.set_timeline(fn(self.timeline, i))
        n = len(self.timeline.keyframes)
        self.keys.setCurrentRow(min(max(i + delta, 0), n - 1) if n else -1)

    def _edit_from(self, item: QListWidgetItem) -> None:
        i = self.keys.row(item)
        if 0 <= i < len(self.timeline.keyframes):
            self.session.edit(self.timeline.keyframes[i], f"Go to keyframe {i + 1}")
            self.session.end_gesture()

    def _refresh(self) -> None:
        t = self.timeline
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
            item = QListWidgetItem(f"{i + 1} · {what}{tail}")
            item.setToolTip(f"Keyframe {i + 1} at frame {starts[i]}{psi}{edits}"
                            + ("" if last and not t.looping else f"; then {seg.frames} frames, {how} "
                               f"in {seg.space.upper()}, {seg.easing}") + "\nDouble-click to edit from it")
            icon = self._thumbs.get(r)
            if icon is None:
                self._request_thumb(r)
            else:
                item.setIcon(icon)
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
        can_play = n > 1 and self.session.generator is not None
        if t.noise is not None and len(t.keyframes) == 1:
            self.frames.setToolTip("Frames in the noise loop")
        else:
            self.frames.setToolTip("Frames from the selected keyframe to the next")
        self.play.setEnabled(can_play or self.play.isChecked())
        self.export_button.setEnabled(can_play and self._export is None)
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
        return ("z", "w") if g is not None and has_w_space(g) else ("z",)

    def _fill_spaces(self) -> None:
        self.interp.clear()
        for space in self._spaces():
            for how in INTERPOLATIONS:
                self.interp.addItem(f"{how} in {space.upper()}", f"{how} {space}")
        self.noise.clear()
        self.noise.addItem("off", None)
        for space in self._spaces():
            self.noise.addItem(f"in {space.upper()}", space)

    def _set_noise(self, reroll: bool = False) -> None:
        space = self.noise.currentData()
        t = self.timeline
        if space is None:
            noise = None
        else:
            seed = (t.noise.seed + reroll) if t.noise is not None else 0
            noise = NoiseLoop(float(self.radius.value()), seed, space)
        self.set_timeline(replace(t, noise=noise))

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

    def _set_segment(self, **changes) -> None:
        i = self.keys.currentRow()
        if self.apply_all.isChecked():
            self.set_timeline(self.timeline.with_all_segments(**changes))
        elif 0 <= i < len(self.timeline.segments):
            self.set_timeline(self.timeline.with_segment(i, **changes))

    def _request_thumb(self, r: Recipe) -> None:
        g = self.session.generator
        if g is None or g.model_id != r.model.sha256 and r.model.sha256:
            return
        self._thumbs[r] = QIcon()  # requested; filled when it arrives
        self.session.run_job(self._thumb_job(r), on_done=lambda f: self._on_thumb(r, f))

    def _thumb_job(self, r: Recipe):
        yield None
        return self.session.renderer.render(self.session.generator, r, view="thumb")

    def _on_thumb(self, r: Recipe, frame: Frame) -> None:
        if frame.ok:
            self._thumbs[r] = QIcon(thumbnail(frame.image, THUMB))
            self._refresh()

    def _on_model(self) -> None:
        self.stop()
        self._fill_spaces()
        self._refresh()

    # -- preview -------------------------------------------------------------------------------------
    def _toggle_play(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        g = self.session.generator
        if g is None or self.timeline.frame_count() < 2:
            self.play.setChecked(False)
            return
        try:
            self._play_recipes = self.timeline.recipes(g)
        except StudioError as exc:
            self.session.error.emit(str(exc))
            self.play.setChecked(False)
            return
        self._playback = Playback(self.timeline.fps, len(self._play_recipes), loop=True)
        self._in_flight = False
        self.play.setText("Stop")
        self.timer.start()

    def stop(self) -> None:
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
    def export_dialog(self) -> None:
        start = self.session.model_path.parent if self.session.model_path else Path.home()
        path, chosen = QFileDialog.getSaveFileName(self, "Export sequence", str(start / "sequence.mp4"),
                                                   EXPORT_FILTERS)
        if path:
            p = Path(path)
            if "PNG frames" in chosen and p.suffix:
                p = p.with_suffix("")
            self.export_to(p, force=p.exists())  # the native dialog has already asked to replace

    def export_to(self, path: Path, force: bool = False) -> bool:
        """Start exporting; False (with a message) when it cannot start. Editing continues meanwhile."""
        g = self.session.generator
        if g is None or self._export is not None:
            return False
        try:
            recipes = self.timeline.recipes(g)
            options = ExportOptions(fps=self.timeline.fps, scale=self.scale.value())
            job = export_job(g, recipes, path, options, renderer=self.session.renderer, force=force,
                             runtime=lambda batch: self.session.runtime_for(batch) or g)
        except StudioError as exc:
            self.session.error.emit(f"Cannot export: {exc}")
            return False
        self._export_path = path
        self.progress.setRange(0, len(recipes))
        self.progress.setValue(0)
        self.eta.setText(f"Exporting {path.name}…")
        self._show_export(True)
        self._export = _Starting()
        handle = self.session.run_job(job, on_done=self._export_done, on_progress=self._export_progress,
                                      on_error=self._export_failed)
        if self._export is not None:  # still running (a synchronous worker has finished already)
            self._export = handle
        self._refresh()
        return True

    def cancel_export(self) -> None:
        if self._export is not None:
            self._export.cancel()
            self.eta.setText("Cancelling…")

    def _export_progress(self, p: Progress) -> None:
        self.progress.setValue(p.done)
        if p.phase == "finishing":
            self.eta.setText("Encoding…")
        elif p.eta_s is not None:
            self.eta.setText(f"{p.done}/{p.total} frames · {_fmt_s(p.eta_s)} left")

    def _export_done(self, result: ExportResult) -> None:
        self._finish_export()
        self.session.message.emit(f"Exported {result.frames} frames to {result.path} in {result.seconds:.1f} s")

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

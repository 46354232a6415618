"""Attribute translation (StarGAN): the input photo and its crop, a toggle and a strength per attribute.

Every control becomes `session.edit(new_recipe, ...)` like the walk sliders, so each change is one undo
step rendered at once on the worker. Toggle semantics (hair colours exclusive, others flip) come from
studio.core.attributes; this panel only maps clicks to those functions. The source labels (what the photo
shows) are what the user's toggles were when they pressed "Photo shows this"; "Back to source" returns there.
For models whose labels the ToyFaces attribute model knows (the demo models), the source starts from its
estimate for the photo ("Estimate from image" redoes it for the current crop), and a newly opened photo's
toggles start there, so the first render shows the photo itself and each click changes one attribute.
A photo opened on a face model is aligned first (studio.render.align: the crop turned, scaled and moved to
the model's training framing); the user moves, scales (wheel) and turns (Ctrl+wheel) it from there, and
"Align face" redoes it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, 
                               QSpinBox, QToolButton, QVBoxLayout, QWidget)

from studio.core.attributes import (ON_THRESHOLD, attribute_values, exclusive_groups, is_exaggerated,
                                    set_value, toggle, with_attributes)
from studio.core.photo import (DEFAULT_CROP, Crop, ImageLatent, image_latent, latent_tensor, open_photo,
                               style_source, with_style_source)
from studio.core.recipe import Recipe
from studio.core.slider_ranges import ATTRIBUTE_STRENGTH_RANGE
from studio.demo import estimate
from studio.errors import StudioError
from studio.model.api import Generator
from studio.render.align import align_latent, framing_for
from studio.render.engine import Frame, to_uint8
from studio.ui.scrolling import scroll_area
from studio.ui.panels.latent_panel import SliderRow
from studio.ui.photo_view import DISPLAY_SIDE, PhotoView
from studio.ui.session import Session

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.webp);;All files (*)"
STRENGTH_RANGE = ATTRIBUTE_STRENGTH_RANGE  # beyond [0, 1] is exaggeration (bench/slider_ranges.py measures it)


def translates(g: Generator | None) -> bool:
    return g is not None and "translate" in g.info.capabilities


def takes_style(g: Generator | None) -> bool:
    """Multi-domain translators (StarGAN v2) take a style from a seed or a reference photo."""
    return translates(g) and getattr(g, "latent_dim", 0) > 0 and hasattr(g, "style")


class AttributeRow(QWidget):
    """One attribute: a toggle button, its label value as a slider, and an exaggeration mark."""

    clicked = Signal()  # the toggle button was clicked (its checked state follows the recipe, not the click)

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.button = QToolButton()
        self.button.setText(name.replace("_", " "))
        self.button.setCheckable(True)
        self.button.setToolTip(f"Toggle {name} (hair colours exclude each other; others flip)")
        self.button.setFixedWidth(96)
        self.button.clicked.connect(self._on_clicked)
        self.strength = SliderRow("", *STRENGTH_RANGE, default=0.0, name_width=0,
                                  tooltip=f"{name}: target label value; outside 0..1 exaggerates")
        self.strength.name.hide()
        self.mark = QLabel("exaggerated")
        self.mark.setObjectName("exaggerated")
        self.mark.setStyleSheet("color: #d08a00; font-weight: bold;")
        self.mark.setToolTip("Beyond the labels the model was trained on (0..1): expect artefacts")
        row = QVBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        top = QHBoxLayout()
        top.addWidget(self.button)
        top.addWidget(self.strength, 1)
        row.addLayout(top)
        row.addWidget(self.mark, alignment=Qt.AlignmentFlag.AlignRight)
        self.mark.setVisible(False)

    def _on_clicked(self, _checked: bool) -> None:
        self.clicked.emit()

    def show_value(self, v: float) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(v >= ON_THRESHOLD)
        self.button.blockSignals(False)
        self.strength.set_value(v)
        self.mark.setVisible(is_exaggerated(v))


class AttributePanel(QWidget):
    """Photo, crop and attribute controls; `view` is the central photo/result view it drives."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.view = PhotoView()
        self.rows: list[AttributeRow] = []
        self.names: tuple[str, ...] = ()
        self.groups: tuple[tuple[int, ...], ...] = ()
        self.source: tuple[float, ...] = ()
        self._on_strength: dict[int, float] = {}  # what "on" means per attribute: its last value >= 0.5
        self._shown_photo: str | None = None
        self._estimated_photo: str | None = None  # the photo last estimated (once each, not on every sync)
        self._source_estimated = False  # whether the source is the attribute model's estimate

        self.open_button = QPushButton("Open photo…")
        self.open_button.setToolTip("Choose the photo to translate (or drop it on the window)")
        self.open_button.clicked.connect(self.open_dialog)
        self.photo_label = QLabel("no photo")
        self.photo_label.setObjectName("muted")
        self.photo_label.setWordWrap(True)
        self.align_button = QPushButton("Align face")
        self.align_button.setToolTip("Turn, scale and move the crop so the face sits as the model's training "
                                     "faces did (eyes level, at their usual place and size)")
        self.align_button.clicked.connect(self.align_crop)
        self.align_label = QLabel("")
        self.align_label.setObjectName("muted")
        self.align_label.setWordWrap(True)
        self.crop_x = SliderRow("X", 0.0, 1.0, 0.5, "Crop centre, across the photo")
        self.crop_y = SliderRow("Y", 0.0, 1.0, 0.5, "Crop centre, down the photo")
        self.crop_size = SliderRow("Size", 0.05, 1.0, 1.0, "Crop side, as a fraction of the shorter side")
        photo_box = QGroupBox("Photo")
        pl = QVBoxLayout(photo_box)
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.photo_label, 1)
        pl.addLayout(top)
        align_row = QHBoxLayout()
        align_row.addWidget(self.align_button)
        align_row.addWidget(self.align_label, 1)
        pl.addLayout(align_row)
        for i, r in enumerate((self.crop_x, self.crop_y, self.crop_size)):
            pl.addWidget(r)
            r.changed.connect(lambda v, dragging, i=i: self._on_crop_slider(i, v, dragging))
            r.released.connect(session.end_gesture)

        self.attr_box = QGroupBox("Attributes")
        self.attr_layout = QVBoxLayout(self.attr_box)
        self.attr_layout.setSpacing(4)
        self.source_label = QLabel("")
        self.source_label.setObjectName("muted")
        self.source_label.setWordWrap(True)
        self.mark_source = QPushButton("Photo shows this")
        self.mark_source.setToolTip("Take the current toggles as what the photo shows (the source labels)")
        self.mark_source.clicked.connect(self.set_source_from_toggles)
        self.back_to_source = QPushButton("Back to source")
        self.back_to_source.setToolTip("Set every attribute back to the source labels")
        self.back_to_source.clicked.connect(self.reset_to_source)
        self.estimate_button = QPushButton("Estimate from image")
        self.estimate_button.clicked.connect(self.estimate_source)

        self.style_box = QGroupBox("Style")
        self.style_box.setToolTip("Where the look within the target domain comes from: a seed (the mapping "
                                  "network) or a reference photo (the style encoder)")
        self.style_seed = QSpinBox()
        self.style_seed.setRange(0, 2**31 - 1)
        self.style_seed.setPrefix("seed ")
        self.style_seed.valueChanged.connect(self.set_style_seed)
        self.reference_button = QPushButton("Reference photo…")
        self.reference_button.clicked.connect(self.open_reference_dialog)
        self.clear_reference = QPushButton("Use the seed")
        self.clear_reference.clicked.connect(lambda: self.set_style_seed(self.style_seed.value(), force=True))
        self.reference_label = QLabel("")
        self.reference_label.setObjectName("muted")
        self.reference_label.setWordWrap(True)
        sl = QVBoxLayout(self.style_box)
        srow = QHBoxLayout()
        srow.addWidget(self.style_seed, 1)
        srow.addWidget(self.reference_button)
        srow.addWidget(self.clear_reference)
        sl.addLayout(srow)
        sl.addWidget(self.reference_label)
        self.style_box.setVisible(False)

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(10, 10, 10, 10)
        col.setSpacing(10)
        col.addWidget(photo_box)
        col.addWidget(self.attr_box)
        col.addWidget(self.style_box)
        src = QHBoxLayout()
        src.addWidget(self.mark_source)
        src.addWidget(self.back_to_source)
        col.addLayout(src)
        col.addWidget(self.estimate_button)
        col.addWidget(self.source_label)
        col.addStretch(1)
        scroll = scroll_area(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.view.photo.cropEdited.connect(self._on_crop_dragged)
        self.view.photo.released.connect(session.end_gesture)
        session.modelChanged.connect(self.on_model)
        session.recipeChanged.connect(self.sync)
        session.frameReady.connect(self.on_frame)
        self._set_photo_controls_enabled(False)
        if translates(session.generator):
            self.on_model(session.generator)

    # -- model -----------------------------------------------------------------------------------------
    def on_model(self, g: Generator) -> None:
        for r in self.rows:
            r.setParent(None)
            r.deleteLater()
        self.rows = []
        self._on_strength.clear()
        self.style_box.setVisible(takes_style(g))
        if not translates(g):
            self.names, self.groups = (), ()
            return
        framing = framing_for(g.info)
        self.align_button.setToolTip(
            f"Turn, scale and move the crop so the face sits as {framing.name}'s faces did (eyes level, at "
            "their usual place and size)" if framing else f"{g.info.name or g.info.family} was not trained on "
            "faces: its photos are not aligned")
        self.align_label.setText("" if framing else "not a face model: no alignment")
        self.names = tuple(g.info.attributes)
        self.groups = tuple(getattr(g, "exclusive_groups", None) or exclusive_groups(self.names))
        for w in (self.attr_box, self.mark_source, self.back_to_source, self.estimate_button, self.source_label):
            w.setVisible(bool(self.names))  # pix2pix / CycleGAN take no labels: the photo is all there is
        self.source = (0.0,) * len(self.names)
        self._estimated_photo, self._source_estimated = None, False
        known = self.estimates()
        self.estimate_button.setEnabled(known)
        self.estimate_button.setToolTip(
            "Set the source labels to what the ToyFaces attribute model sees in the cropped photo" if known
            else "The ToyFaces attribute model does not know this model's labels; set them with the toggles "
                 "and \"Photo shows this\"")
        for i, name in enumerate(self.names):
            row = AttributeRow(name)
            row.clicked.connect(lambda i=i: self.toggle(i))
            row.strength.changed.connect(lambda v, dragging, i=i: self.set_strength(i, v, dragging))
            row.strength.released.connect(self.session.end_gesture)
            self.attr_layout.addWidget(row)
            self.rows.append(row)
        self._show_source()
        if self.session.recipe is not None:
            self.sync(self.session.recipe)

    # -- photo -----------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(Path(self._shown_photo).parent) if self._shown_photo else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", start, PHOTO_FILTER)
        if path:
            self.set_photo(Path(path))

    def set_photo(self, path: str | Path) -> bool:
        """Make `path` the input photo (one undo step); a bad photo is reported and the current one stays."""
        s = self.session
        if not translates(s.generator) or s.recipe is None:
            s.error.emit("Open an attribute-translation model (StarGAN) before a photo.")
            return False
        try:
            latent = image_latent(path, DEFAULT_CROP)
        except StudioError as exc:
            s.error.emit(f"{exc}. The current photo is unchanged.")
            return False
        latent = self._aligned(latent) or latent
        new = replace(s.recipe, latent=latent)
        if takes_style(s.generator) and not any(self.values()):  # show the domain it renders: the first
            new = with_attributes(new, (1.0,) + (0.0,) * (len(self.names) - 1))
        untouched = not any(self.values()) or self.values() == self.source
        if self.estimates() and self._estimate(latent) and untouched:
            new = with_attributes(new, self.source)  # start from the photo itself
        s.edit(new, f"Photo {Path(path).name}")
        s.end_gesture()
        return True

    def _aligned(self, latent: ImageLatent) -> ImageLatent | None:
        """The photo with its crop aligned to the model's framing (None: not a face model, no face found,
        or no detector); the label says which."""
        g = self.session.generator
        if g is None:
            return None
        try:
            aligned, result, note = align_latent(latent, g.info)
        except StudioError as exc:
            note, result = str(exc), None
        self.align_label.setText(note)
        return aligned if result is not None and result.found else None

    def align_crop(self) -> bool:
        """The "Align face" button: the current photo's crop aligned again (one undo step)."""
        r = self.session.recipe
        if r is None or not isinstance(r.latent, ImageLatent):
            self.session.error.emit("Open a photo first: alignment finds the face in it")
            return False
        aligned = self._aligned(r.latent)
        if aligned is None:
            return False
        self._edit_crop(aligned.crop, False)
        return True

    def _set_photo_controls_enabled(self, on: bool) -> None:
        for r in (self.crop_x, self.crop_y, self.crop_size):
            r.setEnabled(on)
        g = self.session.generator
        self.align_button.setEnabled(on and g is not None and framing_for(g.info) is not None)

    def _on_crop_slider(self, index: int, value: float, dragging: bool) -> None:
        """One slider moved: that value of the crop changes, the rest (an aligned crop's angle, a side past
        the slider's end) stay."""
        r = self.session.recipe
        if r is None or not isinstance(r.latent, ImageLatent):
            return
        crop = list(r.latent.crop)
        crop[index] = value
        self._edit_crop(tuple(crop), dragging)

    def _on_crop_dragged(self, crop: Crop, dragging: bool) -> None:
        self._edit_crop(crop, dragging)

    def _edit_crop(self, crop: Crop, dragging: bool) -> None:
        r = self.session.recipe
        if r is None or not isinstance(r.latent, ImageLatent):
            return
        latent = image_latent(r.latent.path, crop) if r.latent.sha256 else replace(r.latent, crop=crop)
        if latent.sha256 != r.latent.sha256:  # the file changed under us: say so rather than swap photos
            self.session.error.emit(f"{Path(r.latent.path).name} has changed on disk; open it again")
            return
        self.session.edit(replace(r, latent=latent), "Crop", merge_key="crop")
        if not dragging:
            self.session.end_gesture()

    # -- style (StarGAN v2) ----------------------------------------------------------------------------
    def set_style_seed(self, seed: int, force: bool = False) -> None:
        """Take the style from `seed`; a reference photo stays in use unless `force` (the "Use the seed" button)."""
        r = self.session.recipe
        if r is None or not takes_style(self.session.generator):
            return
        ref = None if force else style_source(r).reference()
        self.session.edit(with_style_source(r, int(seed), ref), f"Style seed {seed}" if ref is None else "Style")
        self.session.end_gesture()

    def open_reference_dialog(self) -> None:
        start = str(Path(self._shown_photo).parent) if self._shown_photo else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Reference photo", start, PHOTO_FILTER)
        if path:
            self.set_reference(Path(path))

    def set_reference(self, path: str | Path) -> bool:
        """Take the style from a reference photo; a bad one is reported and the style stays."""
        r = self.session.recipe
        if r is None or not takes_style(self.session.generator):
            return False
        try:
            ref = image_latent(path)
        except StudioError as exc:
            self.session.error.emit(f"{exc}. The style is unchanged.")
            return False
        self.session.edit(with_style_source(r, style_source(r).seed, ref), f"Reference {Path(path).name}")
        self.session.end_gesture()
        return True

    # -- attributes ------------------------------------------------------------------------------------
    def values(self) -> tuple[float, ...]:
        r = self.session.recipe
        return attribute_values(r, len(self.names)) if r is not None else ()

    def toggle(self, i: int) -> None:
        """A click on attribute i, with the official semantics."""
        if self.session.recipe is None or not self.names:
            return
        new = toggle(self.values(), i, self.groups, strength=self._on_strength.get(i, 1.0))
        state = "on" if new[i] >= ON_THRESHOLD else "off"
        self.session.edit(with_attributes(self.session.recipe, new), f"{self.names[i]} {state}")
        self.session.end_gesture()

    def set_strength(self, i: int, value: float, dragging: bool = False) -> None:
        if self.session.recipe is None or not self.names:
            return
        if value >= ON_THRESHOLD:
            self._on_strength[i] = value
        new = set_value(self.values(), i, value, self.groups)
        self.session.edit(with_attributes(self.session.recipe, new), f"{self.names[i]} {value:.2f}",
                          merge_key=f"attribute:{i}")
        if not dragging:
            self.session.end_gesture()

    def set_source_from_toggles(self) -> None:
        if self.names:
            self.source = self.values()
            self._source_estimated = False
            self._show_source()

    def reset_to_source(self) -> None:
        if self.session.recipe is None or not self.names:
            return
        self.session.edit(with_attributes(self.session.recipe, self.source), "Back to source")
        self.session.end_gesture()

    def estimates(self) -> bool:
        """Whether the attribute model can estimate this model's source labels."""
        return translates(self.session.generator) and estimate.knows(self.names)

    def estimate_source(self) -> bool:
        """Source labels from the attribute model for the current photo and crop (the button)."""
        r = self.session.recipe
        if not self.estimates() or r is None or not isinstance(r.latent, ImageLatent):
            self.session.error.emit("Open a photo on a model with ToyFaces attributes to estimate its labels.")
            return False
        return self._estimate(r.latent)

    def _estimate(self, latent: ImageLatent) -> bool:
        g = self.session.generator
        self._estimated_photo = latent.path
        try:
            x = latent_tensor(latent, g.info.resolution)
            self.source = estimate.photo_source(x, self.names, self.groups)
        except (StudioError, OSError, ValueError) as exc:
            self.session.error.emit(f"Could not estimate the photo's attributes: {exc}")
            return False
        self._source_estimated = True
        self._show_source()
        return True

    def _show_source(self) -> None:
        on = [n for n, v in zip(self.names, self.source) if v >= ON_THRESHOLD]
        how = "estimated by the ToyFaces attribute model" if self._source_estimated else "what the photo shows"
        self.source_label.setText(f"Source ({how}): " + (", ".join(on) if on else "none set"))

    # -- following the recipe --------------------------------------------------------------------------
    def sync(self, recipe: Recipe) -> None:
        if not translates(self.session.generator):
            return
        try:
            values = attribute_values(recipe, len(self.names))
        except StudioError:
            values = (0.0,) * len(self.names)
        for row, v in zip(self.rows, values):
            row.show_value(v)
        src = style_source(recipe)
        self.style_seed.blockSignals(True)
        self.style_seed.setValue(src.seed)
        self.style_seed.blockSignals(False)
        self.reference_label.setText(f"Style from {Path(src.path).name}" if src.path else "Style from the seed")
        self.clear_reference.setEnabled(bool(src.path))
        latent = recipe.latent
        has_photo = isinstance(latent, ImageLatent)
        self._set_photo_controls_enabled(has_photo)
        if not has_photo:
            return
        self.crop_x.set_value(latent.crop[0])
        self.crop_y.set_value(latent.crop[1])
        self.crop_size.set_value(latent.crop[2])
        self.view.photo.set_crop(latent.crop)
        if latent.path != self._shown_photo:
            self._show_photo(latent)
        if self.estimates() and latent.path != self._estimated_photo:  # a project or an undo brought it
            self._estimate(latent)

    def _show_photo(self, latent: ImageLatent) -> None:
        try:
            im = open_photo(latent.path)
        except StudioError as exc:
            self.session.error.emit(str(exc))
            return
        size = im.size
        if max(size) > DISPLAY_SIDE:
            im = im.copy()
            im.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
        self.view.photo.set_photo(np.asarray(im), size)
        self._shown_photo = latent.path
        self.photo_label.setText(f"{Path(latent.path).name} ({size[0]}x{size[1]})")
        self.photo_label.setToolTip(latent.path)

    def on_frame(self, frame: Frame) -> None:
        """Show a rendered translation beside the model's input for that same recipe."""
        g = self.session.generator
        if not translates(g) or frame.image is None or not isinstance(frame.recipe.latent, ImageLatent):
            return
        try:
            x = latent_tensor(frame.recipe.latent, g.info.resolution)
            shown = getattr(g, "model_input", None)  # what the model sees (one grey channel for some)
            before = to_uint8(shown(x) if shown is not None else x)[0]
        except StudioError:
            before = None
        self.view.result.set_images(before, frame.image)

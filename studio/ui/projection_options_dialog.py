"""The options File ▸ Project photo… asks for after the photo: the latent space, the steps, the loss and
(StyleGAN2 in W / W+) whether the noise maps are fitted too, and (face models) whether the face is aligned
to the model's training framing first. The choices offered are the ones the open model
supports; the loss is shown even with a single choice, so what is minimised is never hidden."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox,
                               QVBoxLayout, QWidget)

from studio.model.api import Generator
from studio.render.align import framing_for
from studio.render.projection_options import DEFAULT_STEPS, LOSSES

MAX_STEPS = 5000
SPACE_NAMES = {"w+": "W+ (one w per style input)", "w": "W (one w)", "z": "z (the input noise, prior kept)"}
LOSS_NAMES = {"pixel": "Pixel + gradient (multi-scale)"}
LOSS_TIP = ("What the optimisation minimises. Pixel + gradient: mean squared error and image-gradient "
            "differences at four scales. No perceptual network ships with the studio, and the bundled "
            "checkpoints carry no discriminator, so there is no feature loss to choose.")


@dataclass(frozen=True)
class ProjectionOptions:
    space: str = "w+"
    steps: int = DEFAULT_STEPS
    loss: str = LOSSES[0]
    noise: bool = False
    align: bool = True  # face models only: turn, scale and shift the face to the training framing first


def spaces_of(g: Generator) -> list[str]:
    """The spaces a projection into g can use, the default first."""
    return (["w+", "w"] if g.has_w else []) + (["z"] if g.info.z_dim else [])


def fits_noise(g: Generator) -> bool:
    """A StyleGAN2 in torch: noise inputs whose maps can be fitted."""
    const = getattr(g, "constant_noise", None)
    return callable(const) and bool(const())


class ProjectionOptionsDialog(QDialog):
    def __init__(self, g: Generator, photo_name: str, current: ProjectionOptions,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Project photo")
        self.space = QComboBox()
        for s in spaces_of(g):
            self.space.addItem(SPACE_NAMES[s], s)
        i = self.space.findData(current.space)
        self.space.setCurrentIndex(max(i, 0))
        self.steps = QSpinBox()
        self.steps.setRange(10, MAX_STEPS)
        self.steps.setSingleStep(50)
        self.steps.setValue(current.steps)
        self.steps.setToolTip("Adam steps on the official projector's schedule (64 px W+: about 3 s per 100 "
                              "steps on this CPU)")
        self.loss = QComboBox()
        for name in LOSSES:
            self.loss.addItem(LOSS_NAMES.get(name, name), name)
        self.loss.setToolTip(LOSS_TIP)
        self.noise = QCheckBox("Fit the noise maps too")
        self.noise.setToolTip("StyleGAN2: optimise the per-pixel noise inputs as well (kept in the recipe)")
        self._noise_ok = fits_noise(g)
        self.noise.setChecked(current.noise and self._noise_ok)
        framing = framing_for(g.info)
        self.align = QCheckBox(f"Align the face to the {framing.name} framing first" if framing
                               else "Align the face first (not a face model: no alignment)")
        self.align.setToolTip("Turn, scale and move the photo so the face sits as the model's training faces "
                              "did (eyes level, at their usual place and size)")
        self.align.setEnabled(framing is not None)
        self.align.setChecked(current.align and framing is not None)
        self.space.currentIndexChanged.connect(self._update)
        form = QFormLayout()
        form.addRow("Space", self.space)
        form.addRow("Steps", self.steps)
        form.addRow("Loss", self.loss)
        form.addRow("", self.noise)
        form.addRow("", self.align)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Project")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(QLabel(f"Project {photo_name} into {g.info.name or g.info.family}'s latent space"))
        box.addLayout(form)
        box.addWidget(buttons)
        self._update()

    def _update(self, *_: object) -> None:
        ok = self._noise_ok and self.space.currentData() in ("w", "w+")
        self.noise.setEnabled(ok)
        if not ok:
            self.noise.setChecked(False)

    def options(self) -> ProjectionOptions:
        return ProjectionOptions(str(self.space.currentData()), int(self.steps.value()),
                                 str(self.loss.currentData()), bool(self.noise.isChecked()),
                                 bool(self.align.isChecked() or not self.align.isEnabled()))

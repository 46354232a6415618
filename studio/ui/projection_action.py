"""File ▸ Project photo… (and Import / Export latent…): the user's own photo projected into the open model's latent space.

The projection (studio.render.projection) runs as a session task, so its progress, time left and Cancel
show in the status bar's task area; every few steps the current estimate is shown on the canvas as a
preview frame. The answer is one undo step making the projected latent the recipe's (so it is saved with the
project, and every tool edits it); Cancel leaves the recipe as it was and shows it again.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QWidget

from studio.core.drag import latent_key
from studio.core.photo import file_sha256
from studio.core.projection_record import PANEL_KEY as RECORD_KEY, ProjectionRecord
from studio.errors import StudioError
from studio.render.align import Alignment, prepare_photo
from studio.render.engine import Frame, to_uint8
from studio.render.projection import (DEFAULT_STEPS, ProjectionProgress, ProjectionResult, check_space,
                                      projection_job, target_tensor)
from studio.render.projection_options import LOSSES
from studio.ui.projection_options_dialog import ProjectionOptions, ProjectionOptionsDialog, spaces_of
from studio.ui.session import Session

PREVIEW_EVERY_S = 0.1  # the canvas shows the current estimate at most this often
PHOTO_FILTER = "Photos (*.png *.jpg *.jpeg *.webp)"
LATENT_FILTER = "Latent files (*.npz *.npy *.pt *.pth)"


def _ask_space(parent: QWidget | None, name: str, options: list[str], title: str = "Import latent") -> str | None:
    """Which space a file whose shape fits several is in (z and w of equal size); also asked by direction
    imports (studio/ui/panels/directions_panel.py)."""
    from PySide6.QtWidgets import QInputDialog

    labels = {"z": "z (the input noise)", "w": "w (after the mapping network)",
              "w+": "W+ (one w per style input)"}
    items = [labels[o] for o in options]
    pick, ok = QInputDialog.getItem(parent, title, f"{name} could be either; which space is it in?",
                                    items, 1 if "w" in options else 0, False)
    return options[items.index(pick)] if ok else None


class PhotoProjector(QObject):
    """Starts projections for the session's open model and applies the answer."""

    def __init__(self, session: Session, parent: QObject | None = None, steps: int = DEFAULT_STEPS):
        super().__init__(parent)
        self.session = session
        self.steps = steps
        self.chosen_space: str | None = None  # None: W+ where the model has W, else z
        self.loss = LOSSES[0]
        self.noise = False  # fit a StyleGAN2's noise maps too
        self.running: str | None = None  # the photo's name while a projection runs
        self.last: ProjectionResult | None = None
        self.align: bool | None = None  # face alignment: None on for face models (studio.render.align)
        self.alignment: Alignment | None = None  # the last projected photo's
        self._shown = 0.0

    def space(self) -> str:
        g = self.session.generator
        if g is not None and self.chosen_space in spaces_of(g):
            return self.chosen_space
        return "w+" if g is not None and g.has_w else "z"

    def options(self) -> ProjectionOptions:
        return ProjectionOptions(self.space(), self.steps, self.loss, self.noise, self.align is not False)

    def set_options(self, o: ProjectionOptions) -> None:
        self.chosen_space, self.steps, self.loss, self.noise = o.space, o.steps, o.loss, o.noise
        self.align = None if o.align else False

    def dialog(self, parent: QWidget | None = None) -> None:
        """The photo, then the options (space, steps, loss, noise maps), then the projection."""
        g = self.session.generator
        if g is None:
            self.session.error.emit("Open a model first: a photo is projected into an open model's latent space")
            return
        path, _ = QFileDialog.getOpenFileName(parent, "Project photo", "", PHOTO_FILTER)
        if not path:
            return
        ask = ProjectionOptionsDialog(g, Path(path).name, self.options(), parent)
        if ask.exec() == ProjectionOptionsDialog.DialogCode.Accepted:
            self.set_options(ask.options())
            self.start(Path(path))

    def start(self, path: Path, on_end: Callable[[], None] | None = None) -> bool:
        """Project the photo at `path` into the open model; False (with a message) when it cannot start."""
        s, g = self.session, self.session.generator
        if g is None or s.recipe is None:
            s.error.emit("Open a model first: a photo is projected into an open model's latent space")
            return False
        condition = s.recipe.condition
        noise = self.noise and self.space() != "z"
        try:  # what can be told now is told now: the space, an unreadable photo
            check_space(g, self.space(), noise)
            image, self.alignment, note = prepare_photo(path, g.info, self.align)  # a face: to the model's framing
            photo = target_tensor(image, g.info.resolution, g.info.channels)
            photo_sha = file_sha256(Path(path).read_bytes())
        except (StudioError, OSError) as exc:
            s.error.emit(str(exc))
            return False
        job = projection_job(g, photo, self.space(), self.steps, condition=condition, loss=self.loss, noise=noise)
        name = Path(path).name
        model_path = s.model_path
        self.running = name

        def done(result: ProjectionResult) -> None:
            self.running = None
            self.last = result
            ws = s.workspace
            if ws is not None:
                recipe = replace(result.recipe(g, model_path or ""), model=ws.recipe.model, condition=condition)
                record = ProjectionRecord(name, photo_sha, result.space, result.steps, result.loss_name,
                                          result.noise is not None, note, result.psnr, result.seconds,
                                          latent_key(recipe.latent))
                s.end_gesture()  # the latent and what made it: one undo step, saved with the project
                s.commit(ws.with_(recipe=recipe).with_panel(RECORD_KEY, record.to_dict()), f"Project photo {name}")
                s.end_gesture()
                s.message.emit(f"{note[0].upper() + note[1:] + '. ' if note else ''}"
                               f"Projected {name} into {result.space.upper()}"
                               f"{' with noise maps' if result.noise is not None else ''}: PSNR "
                               f"{result.psnr:.1f} dB after {result.steps} steps ({result.loss_name} loss)")
            if on_end:
                on_end()

        def failed(msg: str) -> None:
            self.running = None
            if msg == "cancelled":
                s.message.emit(f"Projection of {name} cancelled; the image is as it was")
            else:
                s.error.emit(f"Projecting {name} failed: {msg}")
            s.render()  # the canvas shows the recipe again, not the last estimate
            if on_end:
                on_end()

        s.run_job(job, on_done=done, on_progress=self._preview, on_error=failed, key="project-photo",
                  task=f"Projecting {name}")
        return True

    # -- external latent files -----------------------------------------------------------------------
    def import_dialog(self, parent: QWidget | None = None) -> None:
        path, _ = QFileDialog.getOpenFileName(parent, "Import latent", "", LATENT_FILTER)
        if path:
            self.import_latent(Path(path), ask=lambda options: _ask_space(parent, Path(path).name, options))

    def import_latent(self, path: Path, ask: Callable[[list[str]], str | None] | None = None) -> bool:
        """Make the latent in `path` the recipe's (one undo step); where its shape fits two spaces `ask`
        picks one (None: the user declined). False, with a message, when nothing changed."""
        from studio.render.latent_files import AmbiguousSpace, read_latent

        s, g = self.session, self.session.generator
        if g is None or s.recipe is None:
            s.error.emit("Open a model first: a latent file is read for an open model")
            return False
        try:
            try:
                got = read_latent(path, g)
            except AmbiguousSpace as exc:
                if ask is None:
                    raise
                space = ask(exc.options)
                if space is None:
                    return False
                got = read_latent(path, g, space)
        except StudioError as exc:
            s.error.emit(str(exc))
            return False
        s.end_gesture()
        s.edit(replace(s.recipe, latent=got.latent, edits=(), truncation=1.0), f"Import latent {path.name}")
        s.end_gesture()
        s.message.emit(f"Imported a {got.space.upper()} latent from {path.name}" + (f" ({got.note})" if got.note
                                                                                       else ""))
        return True

    def export_dialog(self, parent: QWidget | None = None) -> None:
        path, _ = QFileDialog.getSaveFileName(parent, "Export latent", "latent.npz", LATENT_FILTER)
        if path:
            self.export_latent(Path(path))

    def export_latent(self, path: Path) -> bool:
        """Write the current latent (truncation and walks applied) to `path`; False, with a message, on failure."""
        from studio.render.latent_files import write_latent

        s, g = self.session, self.session.generator
        if g is None or s.recipe is None:
            s.error.emit("Open a model first: there is no latent to export")
            return False
        try:
            space = write_latent(path, g, s.recipe)
        except (StudioError, OSError) as exc:
            s.error.emit(f"Could not export the latent to {path.name}: {exc}")
            return False
        s.message.emit(f"Exported the {space.upper()} latent to {path.name}")
        return True

    def _preview(self, p: ProjectionProgress) -> None:
        now = time.monotonic()
        if now - self._shown < PREVIEW_EVERY_S and p.done != p.total:
            return
        self._shown = now
        recipe = self.session.recipe
        if recipe is None:
            return
        frame = Frame(recipe, image=to_uint8(p.image)[0], preview=True,
                      extras={"projection": (p.done, p.total, p.psnr)})
        self.session.frameReady.emit(frame)

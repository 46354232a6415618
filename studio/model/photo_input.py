"""What every photo-to-photo generator shares (StarGAN in torch or ONNX, and third-party translators).

Their recipes start from a photo (an ImageLatent) plus target labels (an Attributes edit) instead of a
sampled latent; the first stage reads the photo, so its cache key carries a hash of the pixels.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.attributes import attribute_values
from studio.core.photo import ImageLatent, latent_tensor
from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.model.api import StageContext

if TYPE_CHECKING:
    from studio.model.api import ModelInfo

IMAGE, IMAGE_KEY = "image", "image_key"  # StageContext.extras keys


def awaits_photo(info: "ModelInfo", recipe: Recipe) -> bool:
    """A photo translator whose recipe has no photo yet: there is nothing to render or inspect, and views
    say "open a photo" rather than show the error rendering would give."""
    return "translate" in info.capabilities and not isinstance(recipe.latent, ImageLatent)


def photo_context(x: Tensor, c: Tensor | None) -> StageContext:
    """Stage inputs for images x (N, 3, H, W) and labels c (N, n); the key fingerprints the pixels."""
    h = hashlib.blake2b(str(tuple(x.shape)).encode(), digest_size=16)
    h.update(x.detach().float().cpu().contiguous().numpy().tobytes())
    return StageContext(c=c, extras={IMAGE: x, IMAGE_KEY: h.digest()})


def photo_key(ctx: StageContext) -> bytes:
    """What a first stage reading the photo adds to its cache key."""
    return ctx.extras[IMAGE_KEY]


class PhotoTranslator:
    """Mixin for a Generator subclass: recipes, example input and `translate` for photo translators.

    The class it is mixed into provides `info`, `device`, `run` (a Generator) and sets `multiple`, the
    number the input's sides must be a multiple of (2 ** down-sampling steps).
    """

    info: "ModelInfo"
    device: torch.device
    multiple: int = 1
    labels_name = "labels"  # what the labels are called in messages ("domain values" for StarGAN v2)

    def latent(self, spec) -> np.ndarray:
        raise RecipeError(f"{self.info.name or self.info.family} translates a photo and has no latent to "
                          "sample; open a photo")

    def latents(self, seeds: Sequence[int]) -> Tensor:
        return self.latent(None)

    def generate(self, z, truncation: float = 1.0, c: Tensor | None = None) -> Tensor:
        raise RecipeError(f"{self.info.family} translates photos: call translate(x, labels)")

    def photo_batch(self, recipes: Sequence[Recipe]) -> tuple[Tensor, Tensor]:
        """The recipes' photos (N, 3, R, R) and target labels (N, n) on the generator's device."""
        images = []
        for r in recipes:
            if not isinstance(r.latent, ImageLatent):
                raise RecipeError(f"{self.info.family} translates a photo: this recipe starts from a "
                                  f"{r.latent.kind} latent; open a photo instead")
            images.append(latent_tensor(r.latent, self.info.resolution))
        n = len(self.info.attributes)
        c = torch.tensor([attribute_values(r, n) for r in recipes], dtype=torch.float32, device=self.device)
        return torch.cat(images).to(self.device), c

    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        return photo_context(*self.photo_batch(recipes))

    def example_context(self) -> StageContext:
        r = self.info.resolution
        return photo_context(torch.zeros(1, 3, r, r, device=self.device),
                             torch.zeros(1, len(self.info.attributes), device=self.device))

    def checked_inputs(self, x: Tensor | np.ndarray,
                       labels: Tensor | np.ndarray | Sequence[float]) -> tuple[Tensor, Tensor]:
        """Scripting inputs as tensors on the device, with one clear message for each way they can be wrong."""
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if x.ndim != 4 or x.shape[1] != 3:
            raise RecipeError(f"translate needs images shaped (N, 3, H, W), not {tuple(x.shape)}")
        if x.shape[2] % self.multiple or x.shape[3] % self.multiple:
            raise RecipeError(f"image sides must be multiples of {self.multiple}, not {x.shape[2]}x{x.shape[3]}")
        n = len(self.info.attributes)
        c = torch.as_tensor(np.asarray(labels, np.float32), device=self.device)
        if c.ndim == 1:
            c = c.unsqueeze(0).expand(x.shape[0], -1)
        if c.shape != (x.shape[0], n):
            raise RecipeError(f"this model takes {n} {self.labels_name} per image "
                              f"({', '.join(self.info.attributes)}); got them shaped {tuple(c.shape)}")
        return x, c

    def translate(self, x: Tensor | np.ndarray, labels: Tensor | np.ndarray | Sequence[float]) -> Tensor:
        """Images (N, 3, H, W) in [-1, 1] translated to target labels ((N, n), or (n,) for all)."""
        return self.run(photo_context(*self.checked_inputs(x, labels)))  # type: ignore[attr-defined]

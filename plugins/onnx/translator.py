"""ONNX exports of photo translators (StarGAN v1): a photo and target labels in, the translated photo out.

Recipes work as for the torch family: the latent is the photo (ImageLatent), the Attributes edit holds
the labels, and the first stage's cache key covers the photo's pixels.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from plugins.onnx.generator import ONNXGenerator, ORTStage, _numpy
from studio.core.attributes import attribute_values
from studio.core.photo import ImageLatent, latent_tensor
from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.model.api import ModelInfo, StageContext

IMAGE, IMAGE_KEY = "image", "image_key"  # StageContext.extras keys (the same as the torch family's)
IMAGE_INPUT, LABELS_INPUT = "image", "labels"  # graph input names written by the exporter


def photo_context(x: Tensor, c: Tensor) -> StageContext:
    h = hashlib.blake2b(str(tuple(x.shape)).encode(), digest_size=16)
    h.update(_numpy(x).tobytes())
    return StageContext(c=c, extras={IMAGE: x, IMAGE_KEY: h.digest()})


def photo_feeds(ctx: StageContext) -> dict[str, np.ndarray]:
    return {IMAGE_INPUT: _numpy(ctx.extras[IMAGE]), LABELS_INPUT: _numpy(ctx.c)}


def photo_key(ctx: StageContext) -> bytes:
    return ctx.extras[IMAGE_KEY]


class ONNXTranslator(ONNXGenerator):
    """`translate(x, labels)` is the scripting entry point, as for the torch family."""

    def __init__(self, info: ModelInfo, stages: Sequence[ORTStage], device: torch.device | str = "cpu",
                 model_id: str = "", notes: Sequence[str] = (), exclusive: Sequence[Sequence[int]] = (),
                 multiple: int = 4):
        super().__init__(info, stages, device=device, model_id=model_id, notes=notes)
        self.exclusive_groups = tuple(tuple(int(i) for i in g) for g in exclusive)
        self.multiple = multiple

    def latent(self, spec) -> np.ndarray:
        raise RecipeError(f"{self.info.name or 'this model'} translates a photo and has no latent to sample; "
                          "open a photo")

    def latents(self, seeds: Sequence[int]) -> Tensor:
        return self.latent(None)

    def generate(self, z, truncation: float = 1.0, c: Tensor | None = None) -> Tensor:
        raise RecipeError("this model translates photos: call translate(x, labels)")

    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        images = []
        for r in recipes:
            if not isinstance(r.latent, ImageLatent):
                raise RecipeError(f"this model translates a photo: this recipe starts from a {r.latent.kind} "
                                  "latent; open a photo instead")
            images.append(latent_tensor(r.latent, self.info.resolution))
        n = len(self.info.attributes)
        c = torch.tensor([attribute_values(r, n) for r in recipes], dtype=torch.float32, device=self.device)
        return photo_context(torch.cat(images).to(self.device), c)

    def example_context(self) -> StageContext:
        r = self.info.resolution
        return photo_context(torch.zeros(1, 3, r, r, device=self.device),
                             torch.zeros(1, len(self.info.attributes), device=self.device))

    def translate(self, x: Tensor | np.ndarray, labels: Tensor | np.ndarray | Sequence[float]) -> Tensor:
        """Images (N, 3, H, W) in [-1, 1] translated to target labels ((N, c_dim), or (c_dim,) for all)."""
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        n = len(self.info.attributes)
        c = torch.as_tensor(np.asarray(labels, np.float32), device=self.device)
        if c.ndim == 1:
            c = c.unsqueeze(0).expand(x.shape[0], -1)
        if x.ndim != 4 or x.shape[1] != 3:
            raise RecipeError(f"translate needs images shaped (N, 3, H, W), not {tuple(x.shape)}")
        if x.shape[2] % self.multiple or x.shape[3] % self.multiple:
            raise RecipeError(f"image sides must be multiples of {self.multiple}, "
                              f"not {x.shape[2]}x{x.shape[3]}")
        if c.shape != (x.shape[0], n):
            raise RecipeError(f"this model takes {n} labels per image; got labels shaped {tuple(c.shape)}")
        return self.run(photo_context(x, c))

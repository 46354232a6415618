"""StarGAN as a studio Generator: a photo plus target labels in, the translated photo out.

There is no latent to sample: a recipe's latent is the input photo (ImageLatent) and its Attributes edit
holds the target labels. The network's blocks are the stages, so features can be read per block and the
renderer caches them like any other family's; the first stage reads the photo and the labels, so its
cache key includes the photo's pixels.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from plugins.stargan.network import StarGANv1, with_labels
from studio.core.attributes import attribute_values
from studio.core.photo import ImageLatent, latent_tensor
from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.modules import ModuleStage

IMAGE = "image"  # StageContext.extras keys
IMAGE_KEY = "image_key"


class PhotoInputStage(ModuleStage):
    """The first block, fed [photo, label planes]; the photo is part of what it reads."""

    def inputs(self, ctx: StageContext) -> bytes:
        return ctx.extras[IMAGE_KEY]


def image_context(x: Tensor, c: Tensor | None) -> StageContext:
    """Stage inputs for images x (N, 3, H, W) and labels c (N, c_dim) when the first stage reads them."""
    h = hashlib.blake2b(str(tuple(x.shape)).encode(), digest_size=16)
    h.update(x.detach().float().cpu().contiguous().numpy().tobytes())
    return StageContext(c=c, extras={IMAGE: x, IMAGE_KEY: h.digest()})


def _photo_with_labels(ctx: StageContext) -> Tensor:
    return with_labels(ctx.extras[IMAGE], ctx.c)


class StarGANGenerator(Generator):
    """A StarGAN generator; `translate(x, labels)` is the scripting entry point."""

    def __init__(self, net: StarGANv1, info: ModelInfo, device: torch.device | str = "cpu", model_id: str = "",
                 exclusive: Sequence[Sequence[int]] = (), multiple: int = 4):
        self.net = net
        self.exclusive_groups: tuple[tuple[int, ...], ...] = tuple(tuple(g) for g in exclusive)
        self.multiple = multiple  # input sides must be multiples of this
        blocks = net.blocks()
        stages = [PhotoInputStage(blocks[0][0], blocks[0][1], _photo_with_labels)]
        stages += [ModuleStage(n, m) for n, m in blocks[1:]]
        super().__init__(info, stages, device=device, model_id=model_id, modules=[net])

    # -- no latent space ----------------------------------------------------------------------------
    def latent(self, spec) -> np.ndarray:
        raise RecipeError(f"{self.info.family} translates a photo and has no latent to sample; open a photo")

    def latents(self, seeds: Sequence[int]) -> Tensor:
        return self.latent(None)

    def generate(self, z, truncation: float = 1.0, c: Tensor | None = None) -> Tensor:
        raise RecipeError(f"{self.info.family} translates photos: call translate(x, labels)")

    # -- recipes -----------------------------------------------------------------------------------
    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        images = []
        for r in recipes:
            if not isinstance(r.latent, ImageLatent):
                raise RecipeError(f"{self.info.family} translates a photo: this recipe starts from "
                                  f"a {r.latent.kind} latent; open a photo instead")
            images.append(latent_tensor(r.latent, self.info.resolution))
        n = len(self.info.attributes)
        c = torch.tensor([attribute_values(r, n) for r in recipes], dtype=torch.float32, device=self.device)
        return image_context(torch.cat(images).to(self.device), c)

    def example_context(self) -> StageContext:
        r = self.info.resolution
        return image_context(torch.zeros(1, 3, r, r, device=self.device),
                             torch.zeros(1, len(self.info.attributes), device=self.device))

    # -- scripting -----------------------------------------------------------------------------------
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
            raise RecipeError(f"this model takes {n} labels per image ({', '.join(self.info.attributes)}); "
                              f"got labels shaped {tuple(c.shape)}")
        return self.run(image_context(x, c))

    def __repr__(self) -> str:
        i = self.info
        return (f"<{type(self).__name__} {i.resolution}x{i.resolution} attributes={list(i.attributes)} "
                f"on {self.device}>")

"""StarGAN as a studio Generator: a photo plus target labels in, the translated photo out.

There is no latent to sample: a recipe's latent is the input photo (ImageLatent) and its Attributes edit
holds the target labels. The network's blocks are the stages, so features can be read per block and the
renderer caches them like any other family's; the first stage reads the photo and the labels, so its
cache key includes the photo's pixels.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from latent_studio_plugins.stargan.network import StarGANv1, with_labels
from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.modules import ModuleStage
from studio.model.photo_input import IMAGE, PhotoTranslator, photo_key


class PhotoInputStage(ModuleStage):
    """The first block, fed [photo, label planes]; the photo is part of what it reads."""

    def inputs(self, ctx: StageContext) -> bytes:
        return photo_key(ctx)


def _photo_with_labels(ctx: StageContext) -> Tensor:
    return with_labels(ctx.extras[IMAGE], ctx.c)


class StarGANGenerator(PhotoTranslator, Generator):
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

    def __repr__(self) -> str:
        i = self.info
        return (f"<{type(self).__name__} {i.resolution}x{i.resolution} attributes={list(i.attributes)} "
                f"on {self.device}>")

"""ONNX exports of photo translators (StarGAN v1): a photo and target labels in, the translated photo out.

Recipes work as for the torch family: the latent is the photo (ImageLatent), the Attributes edit holds
the labels, and the first stage's cache key covers the photo's pixels.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


from latent_studio_plugins.onnx.generator import ONNXGenerator, ORTStage, _numpy
from studio.model.api import ModelInfo, StageContext
from studio.model.photo_input import IMAGE, PhotoTranslator, photo_key

IMAGE_INPUT, LABELS_INPUT = "image", "labels"  # graph input names written by the exporter


def photo_feeds(ctx: StageContext) -> dict[str, np.ndarray]:
    return {IMAGE_INPUT: _numpy(ctx.extras[IMAGE]), LABELS_INPUT: _numpy(ctx.c)}


class ONNXTranslator(PhotoTranslator, ONNXGenerator):
    """`translate(x, labels)` is the scripting entry point, as for the torch family."""

    def __init__(self, info: ModelInfo, stages: Sequence[ORTStage], device: torch.device | str = "cpu",
                 model_id: str = "", notes: Sequence[str] = (), exclusive: Sequence[Sequence[int]] = (),
                 multiple: int = 4):
        super().__init__(info, stages, device=device, model_id=model_id, notes=notes)
        self.exclusive_groups = tuple(tuple(int(i) for i in g) for g in exclusive)
        self.multiple = multiple

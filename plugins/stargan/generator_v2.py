"""StarGAN v2 in torch as a studio Generator: the recipe semantics (photo, domains, style source) are
studio.model.style_codes', shared with the ONNX twin; this module cuts the official network into stages.
Encoder stages read only the photo and decoder stages only the style, so a domain toggle re-runs the
decoder alone.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from latent_studio_plugins.stargan.generator import PhotoInputStage
from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.modules import ModuleStage
from studio.model.photo_input import IMAGE
from studio.model.style_codes import STYLE, STYLE_KEY, StyleCodeTranslator


class StyleStage:
    """A decoder block: AdaIN reads the style code, which is therefore this stage's cache-key part."""

    def __init__(self, name: str, module: nn.Module):
        self.name, self.module = name, module

    def inputs(self, ctx: StageContext) -> bytes:
        return ctx.extras[STYLE_KEY]

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        assert x is not None
        return self.module(x, ctx.extras[STYLE])


class StarGANv2Generator(StyleCodeTranslator, Generator):
    """StarGAN v2 in torch: the official generator cut into encoder and decoder stages."""

    def __init__(self, nets: tuple[nn.Module, nn.Module, nn.Module], info: ModelInfo, latent_dim: int,
                 device: torch.device | str = "cpu", model_id: str = ""):
        self.generator, mapping, style_encoder = nets
        g = self.generator
        stages: list = [PhotoInputStage("from_rgb", g.from_rgb, lambda ctx: ctx.extras[IMAGE])]
        stages += [ModuleStage(f"enc{i + 1}", b) for i, b in enumerate(g.encode)]
        stages += [StyleStage(f"dec{i + 1}", b) for i, b in enumerate(g.decode)]
        stages.append(ModuleStage("to_rgb", g.to_rgb))
        self.set_style_networks(mapping, style_encoder, latent_dim, len(info.attributes),
                                2 ** sum(1 for b in g.encode if b.downsample))
        super().__init__(info, stages, device=device, model_id=model_id, modules=list(nets))

"""Exporting StarGAN v2 to ONNX as four graphs: the mapping network (z -> a style per domain), the style
encoder (reference photo -> a style per domain), and the generator split where the style enters: encoder
(photo -> features) and decoder (features, style -> photo). Domain weighting stays outside the graphs, so
blending domains and both style sources behave exactly as in torch, and a domain toggle re-runs the
decoder alone, as it does in torch. Every graph is verified against torch on random inputs; nothing is
written above the tolerance."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from latent_studio_plugins.onnx.export import (OPSET, TOLERANCE, VERIFY_BATCHES, ExportReport, _export, check_tolerance,
                                 plain_copy, staged, verify_graph)
from latent_studio_plugins.onnx.plugin import MANIFEST, MANIFEST_FORMAT, MANIFEST_VERSION
from studio.model.api import Generator

MAPPING, STYLE_ENCODER, ENCODER, DECODER = "mapping.onnx", "style_encoder.onnx", "encoder.onnx", "decoder.onnx"


class _Encoder(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.from_rgb, self.encode = generator.from_rgb, generator.encode

    def forward(self, image: Tensor) -> Tensor:
        x = self.from_rgb(image)
        for block in self.encode:
            x = block(x)
        return x


class _Decoder(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.decode, self.to_rgb = generator.decode, generator.to_rgb

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        for block in self.decode:
            x = block(x, style)
        return self.to_rgb(x)


def export_stargan_v2(g: Generator, out: Path, *, opset: int = OPSET, tolerance: float = TOLERANCE,
                      force: bool = False, seed: int = 0) -> ExportReport:
    """Write `out`/ (manifest.json and the four graphs) for a loaded StarGAN v2 generator."""
    nets = [g.generator, g.mapping, g.style_encoder]  # type: ignore[attr-defined]
    generator, mapping, style_encoder = plain_copy(nets)
    encoder, decoder = _Encoder(generator).eval(), _Decoder(generator).eval()
    res, latent_dim = g.info.resolution, int(g.latent_dim)  # type: ignore[attr-defined]
    gen = torch.Generator().manual_seed(seed)

    def photos(n: int) -> tuple[Tensor]:
        return (torch.rand(n, 3, res, res, generator=gen) * 2 - 1,)

    def z(n: int) -> tuple[Tensor]:
        return (torch.randn(n, latent_dim, generator=gen),)

    def features(n: int) -> Tensor:
        with torch.inference_mode():
            return encoder(*photos(n))

    def styles(n: int) -> Tensor:
        with torch.inference_mode():
            per_domain = mapping(*z(n))
        return per_domain[torch.arange(n), torch.randint(per_domain.shape[1], (n,), generator=gen)]

    batch, spatial = {0: "batch"}, {0: "batch", 2: "height", 3: "width"}
    out = Path(out).expanduser()
    with staged(out, force) as tmp:
        exporter = _export(mapping, z(3), tmp / MAPPING, ["z"], {"z": batch}, "styles", batch, opset)
        _export(style_encoder, photos(3), tmp / STYLE_ENCODER, ["reference"], {"reference": batch}, "styles",
                batch, opset)
        _export(encoder, photos(3), tmp / ENCODER, ["image"], {"image": spatial}, "y", spatial, opset)
        _export(decoder, (features(3), styles(3)), tmp / DECODER, ["x", "style"],
                {"x": spatial, "style": batch}, "output", spatial, opset)
        errors = {
            MAPPING: verify_graph(tmp / MAPPING, z, mapping),
            STYLE_ENCODER: verify_graph(tmp / STYLE_ENCODER, photos, style_encoder),
            ENCODER: verify_graph(tmp / ENCODER, photos, encoder),
            DECODER: verify_graph(tmp / DECODER, lambda n: (features(n), styles(n)), decoder),
        }
        worst = check_tolerance(errors, tolerance)
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "kind": "stargan_v2",
            "family": g.info.family, "name": g.info.name, "range": [-1, 1], "opset": opset,
            "exporter": exporter, "mapping": MAPPING, "style_encoder": STYLE_ENCODER,
            "stages": [{"name": "encoder", "file": ENCODER}, {"name": "decoder", "file": DECODER}],
            "latent_dim": latent_dim, "multiple": int(g.multiple),  # type: ignore[attr-defined]
            "source": {"model_id": g.model_id, "format": g.info.format},
            "info": g.info.to_dict(),
            "verified": {"max_abs_error": worst, "tolerance": tolerance, "batch_sizes": list(VERIFY_BATCHES),
                         "per_graph": errors},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ExportReport(out, [MAPPING, STYLE_ENCODER, ENCODER, DECODER, MANIFEST], worst, errors, exporter)

"""Exporting StyleGAN2 and StyleGAN3 to ONNX as two graphs: mapping (z[, c] -> ws, untruncated) and
synthesis (ws -> image with StyleGAN2's constant noise; ws and one 3x3 input transform per sample -> image
for StyleGAN3). Truncation stays outside the graphs (w_avg goes into the manifest), so psi, per-sample psi
and the cutoff behave exactly as in torch. Both graphs are verified against the torch network on random
inputs; nothing is written above the tolerance."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from latent_studio_plugins.onnx.export import (OPSET, TOLERANCE, VERIFY_BATCHES, ExportReport, _export, check_target,
                                 check_tolerance, staged, verify_graph)
from latent_studio_plugins.onnx.plugin import MANIFEST, MANIFEST_FORMAT, MANIFEST_VERSION
from studio.model.api import Generator

MAPPING, SYNTHESIS = "mapping.onnx", "synthesis.onnx"


class _Mapping(nn.Module):
    def __init__(self, mapping: nn.Module, conditional: bool):
        super().__init__()
        self.mapping = mapping
        self.conditional = conditional

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.mapping(z, c if self.conditional else None)  # psi 1: no truncation in the graph


class _Synthesis(nn.Module):
    def __init__(self, synthesis: nn.Module):
        super().__init__()
        self.synthesis = synthesis

    def forward(self, ws: Tensor) -> Tensor:
        return self.synthesis(ws, "const")


class _Synthesis3(nn.Module):
    """StyleGAN3: the input transform (one 3x3 per sample) is a graph input, so translate / rotate work."""

    def __init__(self, synthesis: nn.Module):
        super().__init__()
        self.synthesis = synthesis

    def forward(self, ws: Tensor, transform: Tensor) -> Tensor:
        return self.synthesis(ws, transform)


def export_stylegan(g: Generator, out: Path, *, opset: int = OPSET, tolerance: float = TOLERANCE,
                    force: bool = False, seed: int = 0) -> ExportReport:
    """Write `out`/ (manifest.json, mapping.onnx, synthesis.onnx) for a loaded StyleGAN2 or 3 generator."""
    net = getattr(g, "net")
    sg3 = bool(getattr(g, "is_stylegan3", False))
    cfg = net.cfg
    plain = copy.deepcopy(net).to("cpu").eval()
    for m in plain.modules():
        if hasattr(m, "fused"):
            m.fused = False  # no batch-sized group count in the graph
    conditional = bool(cfg.c_dim)
    mapping = _Mapping(plain.mapping, conditional).eval()
    synthesis = (_Synthesis3 if sg3 else _Synthesis)(plain.synthesis).eval()
    gen = torch.Generator().manual_seed(seed)

    def z_c(n: int) -> tuple[Tensor, ...]:
        z = torch.randn(n, cfg.z_dim, generator=gen)
        if not conditional:
            return (z,)
        c = nn.functional.one_hot(torch.randint(cfg.c_dim, (n,), generator=gen), cfg.c_dim).float()
        return z, c

    def ws_for(n: int) -> Tensor:  # realistic styles, moved off the mapping's manifold a little
        with torch.inference_mode():
            ws = net.mapping(*(t.to(g.device) for t in z_c(n))).cpu()
        return ws + 0.3 * torch.randn(ws.shape, generator=gen)

    def syn_inputs(n: int) -> tuple[Tensor, ...]:
        if not sg3:
            return (ws_for(n),)
        from studio.model.wspace import input_transform

        tr = g.stored_transform().expand(n, 3, 3).clone()  # type: ignore[attr-defined]
        for i in range(0, n, 2):  # every other sample translated and rotated
            shift = (torch.rand(2, generator=gen) - 0.5) * 0.4
            tr[i] = input_transform((float(shift[0]), float(shift[1])), float(torch.rand(1, generator=gen)) * 90)
        return ws_for(n), tr

    out = Path(out).expanduser()
    check_target(out, force)
    batch = {0: "batch"}
    map_names = ["z", "c"] if conditional else ["z"]
    with staged(out, force) as tmp:
        exporter = _export(mapping, z_c(3), tmp / MAPPING, map_names, {k: batch for k in map_names}, "ws",
                           batch, opset)
        # the TorchScript exporter rejects the FIR filters' convolutions (and dumps its IR on stderr)
        syn_names = ["ws", "transform"] if sg3 else ["ws"]
        exporter += "+" + _export(synthesis, syn_inputs(3), tmp / SYNTHESIS, syn_names,
                                  {k: batch for k in syn_names}, "image", batch, opset, torchscript=False)
        errors = {MAPPING: verify_graph(tmp / MAPPING, lambda n: z_c(n), lambda *x: net.mapping(*x)),
                  SYNTHESIS: verify_graph(tmp / SYNTHESIS, syn_inputs,
                                          lambda ws, tr=None: g.synthesize(ws, transform=tr))}
        worst = check_tolerance(errors, tolerance)
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "kind": "stylegan", "family": g.info.family,
            "name": g.info.name, "prior": g.info.prior, "range": [-1, 1], "opset": opset, "exporter": exporter,
            "mapping": MAPPING, "stages": [{"name": "synthesis", "file": SYNTHESIS}],
            "w_avg": [float(v) for v in net.mapping.w_avg.detach().cpu().float()],
            "style_resolutions": list(g.style_resolutions()),  # type: ignore[attr-defined]
            **({"transform": g.stored_transform().tolist()} if sg3 else {}),  # type: ignore[attr-defined]
            "source": {"model_id": g.model_id, "format": g.info.format},
            "info": g.info.to_dict(),
            "verified": {"max_abs_error": worst, "tolerance": tolerance, "batch_sizes": list(VERIFY_BATCHES),
                         "per_graph": errors, "noise": "const"},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ExportReport(out, [MAPPING, SYNTHESIS, MANIFEST], worst, errors, exporter)

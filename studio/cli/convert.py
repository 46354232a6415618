"""`latent-studio convert`: a torch checkpoint to an ONNX folder (one graph per stage, plus the whole model),
verified against torch before anything is written."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studio.cli.common import UsageError, existing_file, load_model

FORMATS = ("onnx",)


def register(sub: Any) -> None:
    c = sub.add_parser("convert", help="export a checkpoint to ONNX (verified against torch)",
                       description="Export a loaded torch generator to a folder holding one ONNX graph "
                                   "per stage, the whole model (model.onnx) and manifest.json (StyleGAN: "
                                   "mapping.onnx and synthesis.onnx, truncation applied outside). Every "
                                   "graph is compared with torch on random inputs; nothing is written when "
                                   "any differs by more than --tolerance.",
                       epilog="example: convert netG_epoch_24.pth --to onnx --out netG_onnx")
    c.add_argument("checkpoint", metavar="CKPT", type=Path, help="checkpoint file")
    c.add_argument("--to", choices=FORMATS, required=True, help="target format")
    c.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="folder to create")
    c.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    c.add_argument("--tolerance", type=float, default=1e-4, metavar="TOL",
                   help="largest allowed max-abs difference from torch (default 1e-4)")
    c.add_argument("--force", "-f", action="store_true", help="replace an existing output folder")
    c.set_defaults(func=cmd_convert)


def cmd_convert(ns: argparse.Namespace) -> int:
    out = ns.out.expanduser()
    if out.exists() and not (ns.force and out.is_dir()):
        raise UsageError(f"{out} already exists" + (" (use --force to replace it)" if out.is_dir() else ""))
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: folder {out.parent} does not exist")
    if not ns.tolerance >= 0:
        raise UsageError(f"--tolerance must be zero or more, not {ns.tolerance:g}")
    if not 7 <= ns.opset <= 23:
        raise UsageError(f"--opset must be between 7 and 23, not {ns.opset}")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UsageError("converting to ONNX needs onnx, onnxscript and onnxruntime: "
                         "pip install 'latent-studio[onnx]'") from None
    from plugins.onnx.export import export_generator

    path = existing_file(ns.checkpoint, "checkpoint")
    g = load_model(path, "cpu")
    report = export_generator(g, out, opset=ns.opset, tolerance=ns.tolerance, force=ns.force)
    print(f"wrote {report.folder}/ ({', '.join(report.files)}); {report.exporter} exporter, "
          f"opset {ns.opset}; max abs error vs torch {report.max_abs_error:.2e} (tolerance {ns.tolerance:g})")
    return 0

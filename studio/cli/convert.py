"""`latent-studio convert`: a torch checkpoint to an ONNX folder (one graph per stage, plus the whole model),
verified against torch before anything is written; or a StyleGAN2/3 checkpoint (NVlabs pickle, rosinality)
to the studio's own safetensors file, which loads without any pickle and renders identically."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studio.cli.common import UsageError, check_writable, existing_file, load_model
from studio.errors import StudioError, clipped

FORMATS = ("onnx", "safetensors")


def register(sub: Any) -> None:
    c = sub.add_parser("convert", help="export a checkpoint to ONNX or StyleGAN to safetensors",
                       description="--to onnx: export a loaded torch generator to a folder holding one ONNX "
                                   "graph per stage, the whole model (model.onnx) and manifest.json (StyleGAN: "
                                   "mapping.onnx and synthesis.onnx, truncation applied outside). Every "
                                   "graph is compared with torch on random inputs; nothing is written when "
                                   "any differs by more than --tolerance. --to safetensors (the default for "
                                   "an OUT ending in .safetensors): a StyleGAN2/3 checkpoint (NVlabs pickle, "
                                   "rosinality .pt) as Latent Studio safetensors, checked by loading it back.",
                       epilog="examples: convert netG_epoch_24.pth --to onnx --out netG_onnx | "
                              "convert network-snapshot-000100.pkl --out ffhq.safetensors")
    c.add_argument("checkpoint", metavar="CKPT", type=Path, help="checkpoint file")
    c.add_argument("--to", choices=FORMATS, help="target format (default: safetensors for an OUT ending "
                                                 "in .safetensors, else onnx)")
    c.add_argument("--out", "-o", type=Path, required=True, metavar="OUT",
                   help="folder to create (onnx) or .safetensors file to write")
    c.add_argument("--half", action="store_true", help="safetensors: store fp16 weights (half the size)")
    c.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    c.add_argument("--tolerance", type=float, default=1e-4, metavar="TOL",
                   help="largest allowed max-abs difference from torch (default 1e-4)")
    c.add_argument("--force", "-f", action="store_true", help="replace an existing output folder or file")
    c.set_defaults(func=cmd_convert)


def cmd_convert(ns: argparse.Namespace) -> int:
    to = ns.to or ("safetensors" if ns.out.suffix.lower() == ".safetensors" else "onnx")
    return convert_safetensors(ns) if to == "safetensors" else convert_onnx(ns)


def convert_safetensors(ns: argparse.Namespace) -> int:
    """A StyleGAN checkpoint as our safetensors; the file is reloaded and its tensors compared before it
    replaces anything, so a written file always opens and renders like the source."""
    import torch

    from studio.atomic import write_atomic
    from studio.model.registry import family

    out = ns.out.expanduser()
    if out.suffix.lower() != ".safetensors":
        raise UsageError(f"--to safetensors writes a .safetensors file, not {out.name!r}")
    check_writable(out, ns.force)
    path = existing_file(ns.checkpoint, "checkpoint")
    g = load_model(path, "cpu")
    net = getattr(g, "net", None)
    if g.info.family not in ("stylegan2", "stylegan3") or net is None:
        raise UsageError(f"converting to safetensors reads StyleGAN2/3 checkpoints; {path.name} is a "
                         f"{g.info.family} model ({g.info.format})")
    save = family("StyleGAN").networks().save
    want = {k: (v.half().float() if ns.half and v.is_floating_point() else v) for k, v in net.state_dict().items()}

    def write_and_verify(tmp: Path) -> None:  # a mismatch raises before the file takes the final name
        save(tmp, net, name=g.info.name or path.stem, half=ns.half)
        back = load_model(tmp, "cpu").net.state_dict()  # type: ignore[attr-defined]
        if back.keys() != want.keys() or not all(torch.equal(back[k], want[k]) for k in want):
            raise UsageError(f"{out.name} did not load back identically; nothing was written")

    try:
        write_atomic(out, write_and_verify, replace=ns.force)
    except FileExistsError:
        raise UsageError(f"{out} already exists (use --force to overwrite)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    except StudioError:
        raise
    except Exception as exc:  # the safetensors writer reports a full disk as its own SafetensorError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"cannot write {out}: {clipped(reason.rpartition('I/O error: ')[2], 160)}") from None
    params = sum(v.numel() for v in want.values())
    print(f"wrote {out} ({g.info.family} {g.info.resolution}x{g.info.resolution} from {g.info.format}, "
          f"{params / 1e6:.1f} M values, {'fp16' if ns.half else 'fp32'}); loads back identically")
    return 0


def convert_onnx(ns: argparse.Namespace) -> int:
    from studio.export.ownership import empty_folder

    out = ns.out.expanduser()
    if (out.exists() or out.is_symlink()) and not empty_folder(out) and not (ns.force and out.is_dir()):
        raise UsageError(f"{out} already exists" + (" (use --force to replace it)" if out.is_dir() else ""))
    # with --force the export replaces only an earlier convert's folder (files it did not write: refused)
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
    from studio.model.registry import family

    path = existing_file(ns.checkpoint, "checkpoint")
    g = load_model(path, "cpu")
    try:
        report = family("ONNX").export(g, out, opset=ns.opset, tolerance=ns.tolerance, force=ns.force)
    except StudioError:
        raise
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    except Exception as exc:  # exporter and plugin code: any type, one line
        reason = clipped(str(exc), 160)
        raise UsageError(f"converting {path.name} to ONNX failed ({type(exc).__name__}"
                         f"{': ' + reason if reason else ''}); nothing was written") from None
    print(f"wrote {report.folder}/ ({', '.join(report.files)}); {report.exporter} exporter, "
          f"opset {ns.opset}; max abs error vs torch {report.max_abs_error:.2e} (tolerance {ns.tolerance:g})")
    return 0

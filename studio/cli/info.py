"""`latent-studio info`: what a checkpoint is, as text or JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.cli.common import DEVICES, add_pick_option, existing_file, load_model, sha256_of

if TYPE_CHECKING:
    import argparse

    from studio.model.api import Generator


def register(sub: Any) -> None:
    info = sub.add_parser("info", help="describe a checkpoint: family, resolution, latent, layers",
                          description="Describe a checkpoint (loads it and runs one tiny forward pass).")
    info.add_argument("checkpoint", metavar="CKPT", help="checkpoint file, or a bundled demo: demo:dcgan, "
                      "demo:stylegan2, demo:stargan")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--device", choices=DEVICES, default="cpu",
                      help="device for the forward pass (default: cpu)")
    add_pick_option(info)
    info.set_defaults(func=cmd_info)


def cmd_info(ns: argparse.Namespace) -> int:
    path = existing_file(Path(ns.checkpoint), "checkpoint")
    g = load_model(path, ns.device, picks=ns.pick)
    report = checked_report(g, path)
    if ns.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_info(report))
    return 0


def checked_report(g: "Generator", path: Path) -> dict[str, Any]:
    """describe_model, with a failing forward pass (a plugin's error, no memory) as one CheckpointError line
    and the warnings plugin code prints on the way kept off stderr."""
    import warnings

    from studio.errors import CheckpointError, StudioError, clipped

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return describe_model(g, path)
    except StudioError:
        raise
    except MemoryError:
        raise CheckpointError(f"{path.name} loaded, but its test forward pass needs more memory than is "
                              "free") from None
    except Exception as exc:  # plugin code: any type
        first = clipped(str(exc), 160)
        raise CheckpointError(f"{path.name} loaded, but its test forward pass failed "
                              f"({type(exc).__name__}{': ' + first if first else ''})") from None


def describe_model(g: "Generator", path: Path) -> dict[str, Any]:
    """Everything `info` prints, as plain data (the --json output)."""
    info = g.info.to_dict()
    layers = [{"name": name, "shape": list(shape)} for name, shape in stage_shapes(g)]
    return {"path": str(path.resolve()), "sha256": sha256_of(g, path), "device": str(g.device),
            **info, "layers": layers}


def stage_shapes(g: "Generator") -> list[tuple[str, tuple[int, ...]]]:
    """Each stage's output shape without the batch axis, from one forward pass of the model's example input."""
    from studio.model.units import stage_features

    out: list[tuple[str, tuple[int, ...]]] = []
    for i, x in g.steps(g.example_context()):
        # Stages that carry extra state alongside their features (StyleGAN's running RGB) say which part
        # is the features.
        feats = stage_features(g.stages[i], x)
        out.append((g.stages[i].name, tuple(int(s) for s in feats.shape[1:])))
    return out


def format_info(d: dict[str, Any]) -> str:
    res = d["resolution"]
    rows = [
        ("file", d["path"]),
        ("name", d.get("name") or "-"),
        ("family", d["family"]),
        ("format", d["format"]),
        ("resolution", f"{res}x{res}, {d['channels']} channel{'s' if d['channels'] != 1 else ''}"),
        ("z_dim", str(d["z_dim"])),
        ("prior", d["prior"]),
    ]
    if d.get("w_dim"):
        rows.append(("w_dim", f"{d['w_dim']} ({d['num_ws']} style inputs)"))
    if d.get("c_dim"):
        c = d["c_dim"]
        parts = d.get("condition_parts") or [{"kind": "classes", "size": c, "names": []}]
        for p in parts:  # the condition's pieces in order (InfoGAN: classes, then codes)
            if p["kind"] == "classes":
                n = p["size"]
                named = f"; named, e.g. 0 = {p['names'][0]}" if p["names"] else ""
                rows.append(("classes", f"{n} (one-hot condition: render/walk/mix --class 0-{n - 1}{named})"))
            else:
                rows.append(("codes", f"{p['size']} continuous, {p['lo']:g} to {p['hi']:g} "
                                      f"({', '.join(p['names'])}; after the classes in --condition)"))
        if d.get("class_layers"):
            rows.append(("class layers", f"{len(d['class_layers'])} read the class on their own "
                                         f"({', '.join(d['class_layers'])}): a per-layer class in the GUI"))
    if d.get("attributes"):
        rows.append(("attributes", ", ".join(d["attributes"])))
    for c in d.get("choices") or ():  # what the file holds several of, or cannot record (--pick NAME=VALUE)
        from studio.model.api import Choice
        from studio.model.choices import describe_choice

        choice = Choice(**{**c, "values": tuple(c["values"])})
        rows.append((f"{c['name']} (--pick)", describe_choice(choice)))
    rows += [("capabilities", ", ".join(d["capabilities"]) or "-"), ("sha256", d["sha256"]),
             ("layers", str(len(d["layers"])))]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    name_w = max((len(layer["name"]) for layer in d["layers"]), default=0)
    for layer in d["layers"]:
        lines.append(f"  {layer['name']:<{name_w}}  {' x '.join(str(s) for s in layer['shape'])}")
    return "\n".join(lines)

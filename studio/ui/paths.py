"""Where the GUI finds its resources and the bundled demo checkpoints (the project is installed editable)."""
from __future__ import annotations

from pathlib import Path

import studio
from studio.model.safeload import SAFETENSORS_META_KEY, read_safetensors_header

ROOT = Path(studio.__file__).resolve().parents[1]


def resources_dir() -> Path:
    return ROOT / "resources"


def checkpoints_dir() -> Path:
    return ROOT / "checkpoints"


def is_generator_file(path: Path) -> bool:
    """Whether a .safetensors file may hold a generator, from its header alone.

    Studio-format generators carry their config under 'latent_studio'; a file that declares some other
    'format' (the demo attribute classifier sits in checkpoints/ too) is not a model to open.
    """
    header = read_safetensors_header(path)
    if header is None:
        return False
    meta = header.get("__metadata__") or {}
    return SAFETENSORS_META_KEY in meta or "format" not in meta


def demo_checkpoints(folder: Path | None = None) -> list[Path]:
    """The generator *.safetensors in `folder` (default: checkpoints/), sorted by name."""
    folder = checkpoints_dir() if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.safetensors")) if is_generator_file(p)]


def default_demo(folder: Path | None = None) -> Path | None:
    """The demo to open when the app starts without a path: a dcgan*.safetensors first, else any demo."""
    demos = demo_checkpoints(folder)
    preferred = [p for p in demos if p.name.lower().startswith("dcgan")]
    return (preferred or demos or [None])[0]

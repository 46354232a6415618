"""What ships with the studio: icons, themes and the bundled demo models with their model cards.

They are package data (`studio.resources`, `studio.checkpoints`, mapped from the repository's top-level
folders by setup.py), found through importlib.resources so that an editable checkout and an installed
wheel behave alike; nothing here may assume the source tree.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from studio.model.safeload import SAFETENSORS_META_KEY, read_safetensors_header

DEMO_PREFIX = "demo:"
ATTRIBUTE_MODEL_NAME = "toyfaces_attributes.safetensors"


def _package_dir(package: str) -> Path:
    # A wheel installs into site-packages as plain files, so the Traversable is a real folder.
    return Path(str(files(package)))


def resources_dir() -> Path:
    return _package_dir("studio.resources")


def checkpoints_dir() -> Path:
    return _package_dir("studio.checkpoints")


def attribute_model_path() -> Path:
    """The bundled ToyFaces attribute classifier (labels the demo models' samples and photos)."""
    return checkpoints_dir() / ATTRIBUTE_MODEL_NAME


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


def demo_names() -> list[str]:
    """The names `demo:NAME` accepts: each demo's file stem and its family prefix (dcgan_toyfaces, dcgan)."""
    names: list[str] = []
    for p in demo_checkpoints():
        names += [p.stem, p.stem.split("_")[0]]
    return list(dict.fromkeys(names))


def resolve_demo(ref: str | Path) -> Path:
    """`demo:stylegan2` (or `demo:stylegan2_toyfaces`) -> the bundled file; any other path unchanged.

    An installed studio has no checkout to point at, so the CLI and File > Open accept demos by name.
    """
    text = str(ref)
    if not text.startswith(DEMO_PREFIX):
        return Path(ref)
    name = text[len(DEMO_PREFIX):].strip().lower()
    for p in demo_checkpoints():
        if name in (p.stem.lower(), p.stem.split("_")[0].lower()):
            return p
    known = ", ".join(DEMO_PREFIX + n for n in demo_names()) or "none are installed"
    raise FileNotFoundError(f"no bundled demo is called {name!r}; the demos are: {known}")

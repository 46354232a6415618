"""Finding generator plugins and choosing one for a file by its content.

Plugins come from the entry-point group `latent_studio.generators` (our own families are registered
there exactly as a third party's would be) and from drop-in `.py` files in the user's plugin folder and
in $LATENT_STUDIO_PLUGIN_PATH. A plugin that fails to import is reported, never fatal.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Iterable

import torch

from studio.errors import CheckpointError, StudioError
from studio.model.api import Generator, GeneratorPlugin
from studio.model.check import check_generator
from studio.model.probe import Probe

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latent_studio.generators"
PLUGIN_PATH_ENV = "LATENT_STUDIO_PLUGIN_PATH"


def user_plugin_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("latent-studio", appauthor=False)) / "plugins"


def plugin_search_paths() -> list[Path]:
    paths = [Path(p) for p in os.environ.get(PLUGIN_PATH_ENV, "").split(os.pathsep) if p]
    return paths + [user_plugin_dir()]


class Registry:
    """The known plugins, and `open(path)`: sniff every plugin, load with the most confident one."""

    def __init__(self, plugins: Iterable[GeneratorPlugin] = ()):
        self.plugins: list[GeneratorPlugin] = list(plugins)
        self.problems: list[str] = []  # plugins that could not be loaded, for the UI's plugin list

    @classmethod
    def discover(cls, search_paths: Iterable[Path] | None = None) -> "Registry":
        reg = cls()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                reg.add(ep.load())
            except Exception as exc:  # a broken third-party plugin must not take the studio down
                reg.problems.append(f"plugin {ep.name} ({ep.value}) failed to load: {exc}")
        for path in (plugin_search_paths() if search_paths is None else search_paths):
            for file in _dropin_files(Path(path)):
                try:
                    reg.add(_import_dropin(file))
                except Exception as exc:
                    reg.problems.append(f"drop-in plugin {file} failed to load: {type(exc).__name__}: {exc}")
        for p in reg.problems:
            log.warning(p)
        return reg

    def add(self, obj: object) -> None:
        """Accept a plugin instance, a plugin class, or a module exposing `plugin` / `PLUGINS`."""
        found = getattr(obj, "PLUGINS", None) or ([obj.plugin] if hasattr(obj, "plugin") else [obj])
        for p in found:
            if isinstance(p, type):
                p = p()
            if not isinstance(p, GeneratorPlugin):
                raise TypeError(f"{p!r} is not a GeneratorPlugin (needs name, formats, sniff, load)")
            if any(q.name == p.name for q in self.plugins):
                continue  # first one wins: a drop-in cannot silently replace a registered family
            self.plugins.append(p)

    def describe_formats(self) -> str:
        return "; ".join(f"{p.name} ({p.formats})" for p in self.plugins) or "no plugins are installed"

    def candidates(self, probe: Probe) -> list[tuple[float, GeneratorPlugin]]:
        scored = []
        for p in self.plugins:
            try:
                score = float(p.sniff(probe))
            except Exception as exc:
                log.warning("plugin %s failed while sniffing %s: %s", p.name, probe.path, exc)
                probe.notes.append(f"the {p.name} plugin failed while reading it ({type(exc).__name__}: {exc})")
                continue
            if score > 0:
                scored.append((score, p))
        return sorted(scored, key=lambda sp: -sp[0])

    def open(self, path: str | os.PathLike, device: torch.device | str = "cpu") -> Generator:
        path = Path(path).expanduser()
        if not path.exists():
            raise CheckpointError(f"no such file: {path}")
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder; choose a checkpoint file inside it")
        try:
            probe = Probe(path)
            if probe.size == 0:
                raise CheckpointError(f"{path.name} is empty")
            candidates = self.candidates(probe)
        except PermissionError:
            raise CheckpointError(f"{path.name} cannot be read (permission denied)") from None
        if not candidates:
            raise CheckpointError(_nothing_reads(probe, self.describe_formats()))
        failures = []
        for _, plugin in candidates:
            try:
                g = plugin.load(probe, torch.device(device))
            except StudioError as exc:
                failures.append(f"{plugin.name}: {exc}")
                continue
            except Exception as exc:  # a plugin bug becomes a message, not a crash
                failures.append(f"{plugin.name} plugin failed: {type(exc).__name__}: {exc}")
                continue
            try:  # one sample through its stages against its ModelInfo: a bad plugin is refused here, by name
                check_generator(g, plugin.name)
            except CheckpointError as exc:
                failures.append(str(exc))
                continue
            if not g.model_id:
                g.model_id = probe.sha256
            return g
        raise CheckpointError(f"{path.name} could not be loaded. " + " | ".join(failures))


def _nothing_reads(probe: Probe, formats: str) -> str:
    msg = _nothing_reads_reason(probe, formats)
    return msg + ("" if not probe.notes else " Note: " + "; ".join(probe.notes))


def _nothing_reads_reason(probe: Probe, formats: str) -> str:
    name = probe.path.name
    if probe.looks_like_torch and probe.torch_object() is None and probe.load_error:
        return probe.load_error
    sd = probe.state_dict()
    if sd is not None:
        keys = ", ".join(list(sd)[:4])
        return (f"{name} holds PyTorch weights of an architecture no plugin recognises (keys: {keys}, ...). "
                f"Tried: {formats}. A drop-in plugin can describe it.")
    return f"{name} is not a generator checkpoint Latent Studio can read. Tried: {formats}."


def _dropin_files(path: Path) -> list[Path]:
    if path.is_file() and path.suffix == ".py":
        return [path]
    if path.is_dir():
        return sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
    return []


def _import_dropin(file: Path) -> object:
    name = f"latent_studio_dropin_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        _default = Registry.discover()
    return _default


def reset_default_registry() -> None:
    """Forget discovered plugins (after the plugin path changed, and in tests)."""
    global _default
    _default = None


def family(name: str, registry: Registry | None = None) -> GeneratorPlugin:
    """The installed plugin called `name` (case-insensitive). Trainers and converters reach a family's own
    code through hooks on its plugin object rather than by import, so removing a family disables only
    what needs it."""
    reg = registry if registry is not None else default_registry()
    for p in reg.plugins:
        if p.name.lower() == name.lower():
            return p
    installed = ", ".join(p.name for p in reg.plugins) or "none"
    raise StudioError(f"the {name} generator family is not installed (installed: {installed})")

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
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Iterable

import torch

from studio.errors import CheckpointError, StudioError, users_interrupt
from studio.files import regular_file
from studio.model.api import Generator, GeneratorPlugin, describe_failure
from studio.model.check import check_generator
from studio.model.probe import Probe

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latent_studio.generators"
PLUGIN_PATH_ENV = "LATENT_STUDIO_PLUGIN_PATH"
SNIFF_LIMIT_ENV = "LATENT_STUDIO_SNIFF_LIMIT_S"
SNIFF_LIMIT_S = 5.0  # the studio's own sniffers take milliseconds once the probe has read the file


def user_plugin_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("latent-studio", appauthor=False)) / "plugins"


def plugin_search_paths() -> list[Path]:
    paths = [Path(p) for p in os.environ.get(PLUGIN_PATH_ENV, "").split(os.pathsep) if p]
    return paths + [user_plugin_dir()]


def sniff_limit_s() -> float:
    """Seconds one plugin's `sniff` may take: $LATENT_STUDIO_SNIFF_LIMIT_S, else SNIFF_LIMIT_S."""
    try:
        value = float(os.environ.get(SNIFF_LIMIT_ENV, SNIFF_LIMIT_S))
    except ValueError:
        return SNIFF_LIMIT_S
    return value if value > 0 else SNIFF_LIMIT_S


class Registry:
    """The known plugins, and `open(path)`: sniff every plugin, load with the most confident one.

    Each sniff runs on a daemon thread of its own, joined for at most `sniff_limit_s`: a plugin that takes
    longer is abandoned, reported in `problems` and skipped for the rest of the session, and the open goes
    on with the others. What that costs: a thread start per plugin per open (tens of microseconds), and an
    abandoned sniff keeps its thread, the memory it holds and any CPU it spins until the process ends
    (Python cannot kill a thread); a sniff stuck inside C code that holds the GIL would still freeze the
    process, which only a child process per sniff (far slower, and the probe would have to be pickled)
    could contain. The probe's shared reads (head, header, torch data) happen before the timed sniffs, so
    a large checkpoint's read never counts against a plugin."""

    def __init__(self, plugins: Iterable[GeneratorPlugin] = (), sniff_limit_s: float | None = None):
        self.plugins: list[GeneratorPlugin] = list(plugins)
        self.problems: list[str] = []  # plugins that could not be loaded, for the UI's plugin list
        self.sniff_limit_s = sniff_limit_s
        self.stuck: set[str] = set()  # plugins whose sniff overran once: skipped from then on

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
                    module = dropin_module(file)
                    if _only_labellers(module):
                        continue  # a labeller drop-in (studio/model/labellers.py finds it)
                    reg.add(module)
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
        _read_shared(probe)
        limit = self.sniff_limit_s if self.sniff_limit_s is not None else sniff_limit_s()
        scored = []
        for p in self.plugins:
            if p.name in self.stuck:
                continue
            try:
                score, failure = _sniff_within(p, probe, limit)
            except TimeoutError:
                self.stuck.add(p.name)
                msg = (f"plugin {p.name}: sniffing {probe.path.name} took longer than {limit:g} s; it was "
                       f"abandoned and is skipped until the studio restarts")
                log.warning(msg)
                self.problems.append(msg)
                probe.notes.append(f"the {p.name} plugin took too long to read it and was skipped")
                continue
            if failure is not None:
                log.warning("plugin %s failed while sniffing %s: %s", p.name, probe.path, failure)
                probe.notes.append(f"the {p.name} plugin failed while reading it ({describe_failure(failure)})")
                continue
            if score > 0:
                scored.append((score, p))
        return sorted(scored, key=lambda sp: -sp[0])

    def open(self, path: str | os.PathLike, device: torch.device | str = "cpu") -> Generator:
        path = Path(path).expanduser()
        if not path.exists():
            raise CheckpointError(f"no such file: {path}")
        if path.is_dir():
            inner = pretrained_file(path)
            if inner is None:
                raise CheckpointError(f"{path} is a folder; choose a checkpoint file inside it")
            path = inner
        regular_file(path, "checkpoint", CheckpointError)  # a FIFO or a device would block the first read
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
            except BaseException as exc:  # a plugin bug (SystemExit included) becomes a message, not a crash
                if users_interrupt(exc):
                    raise
                failures.append(f"{plugin.name} plugin failed: {describe_failure(exc)}")
                continue
            try:  # one sample through its stages against its ModelInfo: a bad plugin is refused here, by name
                check_generator(g, plugin.name)
            except CheckpointError as exc:
                failures.append(str(exc))
                continue
            if not g.model_id:
                g.model_id = probe.sha256
            g.plugin_name = plugin.name
            return g
        # one sentence: each plugin's reason after the file's name (their own sentences carry no full stop)
        raise CheckpointError(f"{path.name} could not be loaded: " + "; ".join(f.rstrip(".") for f in failures))


def _read_shared(probe: Probe) -> None:
    """Read what every sniffer looks at (the studio's own safe readers), so no plugin's time limit pays for
    reading a large file and no abandoned sniff is left holding a half-read probe."""
    try:
        probe.head, probe.size, probe.safetensors_header  # noqa: B018 - cached on first access
        if probe.looks_like_torch:
            probe.torch_object()
    except OSError:
        pass  # the caller reports an unreadable file


def _sniff_within(plugin: GeneratorPlugin, probe: Probe,
                  limit_s: float) -> tuple[float, BaseException | None]:
    """(score, None), or (0, what the sniff raised: BaseException included, so a plugin's SystemExit
    never ends the caller), from plugin.sniff(probe) on a daemon thread waited for at most `limit_s`;
    TimeoutError when it is still running then."""
    outcome: list[tuple[float, BaseException | None]] = []

    def run() -> None:
        try:
            outcome.append((float(plugin.sniff(probe)), None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.append((0.0, exc))

    t = threading.Thread(target=run, name=f"sniff-{plugin.name}", daemon=True)
    t.start()
    t.join(limit_s)
    if t.is_alive() or not outcome:
        raise TimeoutError(plugin.name)
    return outcome[0]


def _nothing_reads(probe: Probe, formats: str) -> str:
    msg = _nothing_reads_reason(probe, formats)
    return msg + ("" if not probe.notes else " (note: " + "; ".join(probe.notes) + ")")


def _nothing_reads_reason(probe: Probe, formats: str) -> str:
    name = probe.path.name
    if probe.looks_like_torch and probe.torch_object() is None and probe.load_error:
        return probe.load_error
    sd = probe.state_dict()
    if sd is not None:
        keys = ", ".join(list(sd)[:4])
        return (f"{name} holds PyTorch weights of an architecture no plugin recognises (keys: {keys}, ...; "
                f"tried: {formats}); 'latent-studio plugin new {name} --out my_gan.py' writes a drop-in plugin "
                "for it")
    return f"{name} is not a generator checkpoint Latent Studio can read (tried: {formats})"


def _dropin_files(path: Path) -> list[Path]:
    if path.is_file() and path.suffix == ".py":
        return [path]
    if path.is_dir():
        return sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
    return []


def _only_labellers(module: object) -> bool:
    from studio.model.labellers import module_labellers

    has_plugin = getattr(module, "PLUGINS", None) or hasattr(module, "plugin")
    return not has_plugin and module_labellers(module) is not None


def dropin_module(file: Path) -> object:
    """The drop-in's module, imported once per process: generator and labeller discovery share it."""
    st = file.stat()
    stamp = (str(file.resolve()), st.st_mtime_ns, st.st_size)  # an edited file is imported afresh
    module = sys.modules.get(f"latent_studio_dropin_{file.stem}")
    if module is not None and getattr(module, "__latent_studio_stamp__", None) == stamp:
        return module
    module = _import_dropin(file)
    module.__latent_studio_stamp__ = stamp  # type: ignore[attr-defined]
    return module


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


def discovered_registry() -> Registry | None:
    """The default registry once plugins have been discovered, else None. Never discovers: a caller on the
    GUI thread must not import drop-ins (one could hang); the first open, on a loader thread, does that."""
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


def pretrained_file(folder: Path) -> Path | None:
    """The weights of a `from_pretrained` folder (pytorch_model.bin beside its config.json, as huggingface
    packages save them and BigGAN.from_pretrained reads them), so the folder itself can be opened."""
    inner = folder / "pytorch_model.bin"
    return inner if inner.is_file() and (folder / "config.json").is_file() else None

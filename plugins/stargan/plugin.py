"""Sniffing and loading StarGAN checkpoints (v1 and v2), and the sidecar that names their labels.

A StarGAN checkpoint holds weights only: neither the attribute names (the training run's
--selected_attrs, or v2's domain folders) nor v1's image size (it is fully convolutional) are in it.
They come from a sidecar in the checkpoint's folder (the studio's own safetensors carry them in their
header config instead, with the same keys):

- ``attributes.json``: a list of names, or ``{"attributes": [...], "image_size": 256,
  "exclusive": [["angry", "happy", ...]]}`` (`exclusive`: groups of labels of which one is set at a time;
  the hair colours form one by default);
- or ``attributes.txt``: one name per line, in label order (blank lines and ``#`` comments ignored).

Without one, a 5-label model gets the CelebA default (Black_Hair, Blond_Hair, Brown_Hair, Male, Young),
others label_1..label_N; a v2 model with 2 or 3 domains gets the official CelebA-HQ (female, male) or
AFHQ (cat, dog, wild) folders' names. A v1 image size comes from a folder name such as
``stargan_celeba_256`` (the official download layout), else 128; v2's follows from its style encoder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import torch

from studio.core.attributes import CELEBA_DEFAULT, exclusive_groups
from studio.errors import CheckpointError
from studio.model.api import Generator, ModelInfo
from studio.model.probe import Probe

FAMILY = "stargan"
SIDECAR_JSON = "attributes.json"
SIDECAR_TXT = "attributes.txt"
DEFAULT_SIZE = 128
_SIZE_IN_NAME = re.compile(r"(?:^|[_\-x.])(64|128|256|512)(?:$|[_\-x.])")


@dataclass(frozen=True)
class Labels:
    names: tuple[str, ...]
    exclusive: tuple[tuple[int, ...], ...]
    image_size: int
    source: str  # where the names came from, shown in the model panel's format line


def read_labels(checkpoint: Path, c_dim: int, defaults: dict[int, tuple[str, ...]] | None = None,
                config: dict | None = None) -> Labels:
    """Attribute names, exclusive groups and image size for a checkpoint with c_dim labels; `defaults`
    gives names by label count when there is no sidecar (v1: the CelebA five). `config` is a Latent Studio
    safetensors header's config, which names them like attributes.json and takes precedence over it."""
    folder = checkpoint.parent
    defaults = {len(CELEBA_DEFAULT): CELEBA_DEFAULT} if defaults is None else defaults
    names: list[str] | None = None
    size, groups, source = None, None, "default names" if c_dim in defaults else "unnamed"
    js, txt = folder / SIDECAR_JSON, folder / SIDECAR_TXT
    if config and "attributes" in config:
        names, size, groups = _parse_labels(config, "the file's config")
        source = "file config"
    elif js.is_file():
        names, size, groups = _read_json(js)
        source = js.name
    elif txt.is_file():
        names = _read_txt(txt)
        source = txt.name
    if names is None:
        names = list(defaults[c_dim]) if c_dim in defaults else [f"label_{i + 1}" for i in range(c_dim)]
    if len(names) != c_dim:
        raise CheckpointError(f"{source} names {len(names)} attributes but {checkpoint.name} "
                              f"takes {c_dim} labels")
    if len(set(names)) != len(names):
        raise CheckpointError(f"{source} names an attribute twice")
    exclusive = list(exclusive_groups(names))
    for g in groups or ():
        unknown = [n for n in g if n not in names]
        if unknown:
            raise CheckpointError(f"{source}: exclusive group names unknown attributes {unknown}")
        exclusive = [e for e in exclusive if not set(e) & {names.index(n) for n in g}]
        exclusive.append(tuple(names.index(n) for n in g))
    size = size or _size_from_folders(checkpoint) or DEFAULT_SIZE
    return Labels(tuple(names), tuple(exclusive), size, source)


def _read_json(path: Path) -> tuple[list[str], int | None, list[list[str]] | None]:
    from studio.core import safe_json

    data = safe_json.load(path, f"{path.name} next to the checkpoint", CheckpointError)
    return _parse_labels(data, path.name)


def _parse_labels(data: object, where: str) -> tuple[list[str], int | None, list[list[str]] | None]:
    if isinstance(data, list):
        data = {"attributes": data}
    if not isinstance(data, dict) or not isinstance(data.get("attributes"), list) \
            or not all(isinstance(n, str) and n for n in data["attributes"]):
        raise CheckpointError(f"{where} must be a list of attribute names or an object with 'attributes'")
    size = data.get("image_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 16 or size % 4):
        raise CheckpointError(f"{where}: image_size must be a multiple of 4 of at least 16, not {size!r}")
    if size is not None:
        _check_size(size, where)
    groups = data.get("exclusive")
    if groups is not None and not (isinstance(groups, list) and all(
            isinstance(g, list) and len(g) >= 2 and all(isinstance(n, str) for n in g) for g in groups)):
        raise CheckpointError(f"{where}: 'exclusive' must be a list of lists of two or more names")
    return data["attributes"], size, groups


def _read_txt(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path.name} next to the checkpoint is unreadable: {exc}") from None
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


def _size_from_folders(checkpoint: Path) -> int | None:
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        m = _SIZE_IN_NAME.search(folder.name)
        if m:
            return int(m.group(1))
    return None


def _check_size(size: int, where: str) -> int:
    """The image size a label file or folder name claims: nothing in the weights bounds it, and a translation
    at 4096 px costs gigabytes, so it must stay within max_resolution."""
    from studio import budgets

    limit = budgets.current().max_resolution
    if size > limit:
        raise budgets.refuse(CheckpointError, where, f"an image size of {size}", str(limit), "max_resolution")
    return size


def _studio_config(probe: Probe) -> dict:
    """The Latent Studio config in a safetensors header ({} when there is none or it is unreadable)."""
    from studio.model.safeload import studio_config

    try:
        return studio_config(probe.safetensors_header, probe.path.name)
    except CheckpointError:
        return {}


def _is_discriminator(sd: dict) -> bool:
    """The yunjey {iter}-D.ckpt: main.* convs then conv1 (real/fake) and conv2 (labels) heads."""
    return "conv1.weight" in sd and "conv2.weight" in sd and any(k.startswith("main.") for k in sd)


V2_DOMAINS = {2: ("female", "male"), 3: ("cat", "dog", "wild")}  # the official CelebA-HQ and AFHQ folders


class StarGANPlugin:
    name = "StarGAN"
    formats = ("yunjey/stargan {iter}-G.ckpt, clovaai/stargan-v2 {step}_nets_ema.ckpt "
               "(with an optional attributes.json/.txt beside it), Latent Studio .safetensors")

    def _state_dict(self, probe: Probe) -> dict | None:
        from latent_studio_plugins.stargan.network import strip_module_prefix

        sd = probe.state_dict("G", "generator", "state_dict")
        return None if sd is None else strip_module_prefix(sd)

    def networks(self) -> SimpleNamespace:
        """The family's network code for trainers (reached through the registry, never by import):
        `StarGANConfig` and `StarGANv1`."""
        from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1

        return SimpleNamespace(StarGANConfig=StarGANConfig, StarGANv1=StarGANv1)

    def sniff(self, probe: Probe) -> float:
        from latent_studio_plugins.stargan import network, network_v2

        if probe.safetensors_header is not None:
            return 0.95 if _studio_config(probe).get("family") == FAMILY else 0.0
        parts = network_v2.split_checkpoint(probe.torch_object())
        if parts is not None:
            return 0.95 if network_v2.infer_config(parts) is not None else 0.3
        sd = self._state_dict(probe)
        if sd is None:
            return 0.0
        if network.infer_config(sd) is not None:
            return 0.95
        return 0.3 if _is_discriminator(sd) else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.stargan import network_v2

        if probe.safetensors_header is not None:
            return self._load_v1(probe, device)
        parts = network_v2.split_checkpoint(probe.torch_object())
        if parts is not None:
            return self._load_v2(probe, parts, device)
        return self._load_v1(probe, device)

    def _load_v1(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.stargan.generator import StarGANGenerator
        from latent_studio_plugins.stargan.network import StarGANv1, infer_config, load_weights

        config: dict = {}
        fmt = "yunjey/stargan state_dict"
        if probe.safetensors_header is not None:
            from studio.model.safeload import load_safetensors

            sd, config = load_safetensors(probe.path)
            if config.get("family") != FAMILY:
                raise CheckpointError(f"{probe.path.name} is not a StarGAN checkpoint")
            fmt = "Latent Studio safetensors (yunjey/stargan layout)"
        else:
            sd = self._state_dict(probe)
        if sd is None:
            raise CheckpointError(f"{probe.path.name} is not a StarGAN checkpoint")
        cfg = infer_config(sd)
        if cfg is None:
            if _is_discriminator(sd):
                g_name = probe.path.name.replace("-D.", "-G.") if "-D." in probe.path.name else "{iter}-G.ckpt"
                raise CheckpointError(f"{probe.path.name} is a StarGAN discriminator; open the generator "
                                      f"({g_name}) saved beside it")
            raise CheckpointError(f"{probe.path.name}: tensors do not form a StarGAN generator")
        labels = read_labels(Path(probe.path), cfg.c_dim, config=config)
        net = StarGANv1(cfg)
        load_weights(net, sd)
        info = ModelInfo(
            family=FAMILY, format=f"{fmt}; attributes: {labels.source}",
            resolution=labels.image_size, z_dim=0, attributes=labels.names,
            layer_names=tuple(n for n, _ in net.blocks()),
            capabilities=frozenset({"attributes", "translate", "features"}),
            name=config.get("name") or Path(probe.path).stem,
        )
        return StarGANGenerator(net, info, device=device, model_id=probe.sha256, exclusive=labels.exclusive,
                                multiple=cfg.multiple)

    def _load_v2(self, probe: Probe, parts: dict, device: torch.device) -> Generator:
        from latent_studio_plugins.stargan import network_v2
        from latent_studio_plugins.stargan.generator_v2 import StarGANv2Generator

        cfg = network_v2.infer_config(parts)
        if cfg is None:
            raise CheckpointError(f"{probe.path.name}: its generator, mapping_network and style_encoder do not "
                                  "form a StarGAN v2 network")
        nets = network_v2.build(cfg)
        network_v2.load_weights(nets, parts)
        labels = read_labels(Path(probe.path), cfg.num_domains, V2_DOMAINS)
        note = "; run without FAN face masks" if cfg.hpf else ""
        g = StarGANv2Generator(nets, ModelInfo(
            family=FAMILY, format=f"clovaai/stargan-v2 nets_ema; domains: {labels.source}{note}",
            resolution=cfg.img_size, z_dim=0, attributes=labels.names,
            capabilities=frozenset({"attributes", "translate", "features"}), name=Path(probe.path).stem,
        ), latent_dim=cfg.latent_dim, device=device, model_id=probe.sha256)
        g.info = replace(g.info, layer_names=tuple(st.name for st in g.stages))
        return g

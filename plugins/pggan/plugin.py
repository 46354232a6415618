"""Sniffing and loading pytorch_GAN_zoo progressive GAN checkpoints (training files and the torch.hub ones).

Both are torch.save({'config', 'netG', 'netD', 'avgG'}): 'config' is a pickled BaseConfig object (a plain
attribute holder) in training files, possibly a dict in released ones. torch's allow-list unpickler builds
our inert _ZooConfig in BaseConfig's place, so nothing from the file is imported or run. The weights alone
cannot say the fade-in alpha, the output activation or the PixelNorm switch: the config does.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from studio.errors import CheckpointError, RecipeError
from studio.model.api import Choice, Generator, ModelInfo
from studio.model.probe import Probe

FAMILY = "pggan"
CONFIG_CLASS = "models.utils.config.BaseConfig"
NETWORKS = ("avgG", "netG")  # avgG (the moving average) is what the zoo's eval and hubconf run
_PICKLE_LIMIT = 64 << 20  # the data.pkl of a zoo checkpoint is the config plus tensor references: small
_LEGACY_HEAD = 4 << 20  # a legacy file's pickle (config, then every key) sits at its start


class _ZooConfig:
    """Stands in for the zoo's BaseConfig: unpickling only sets its attributes."""


class PGGANPlugin:
    name = "PGGAN"
    formats = "pytorch_GAN_zoo progressive GAN <name>_s<scale>_i<iter>.pt checkpoints and torch.hub files"

    def sniff(self, probe: Probe) -> float:
        obj = probe.torch_object()
        if obj is not None:
            return 0.95 if _zoo_parts(obj) is not None else 0.0
        return 0.95 if probe.looks_like_torch and _pickles_zoo_config(probe.path) else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        obj = probe.torch_object()
        if obj is None:
            from studio.model.safeload import load_torch

            obj = load_torch(probe.path, stand_ins={CONFIG_CLASS: _ZooConfig})
        parts = _zoo_parts(obj)
        if parts is None:
            raise CheckpointError(f"{probe.path.name} is not a pytorch_GAN_zoo progressive GAN checkpoint")
        config, nets = parts
        return PGGANGenerator.from_file(config, nets, probe, device)


def _zoo_parts(obj: Any) -> tuple[dict[str, Any], dict[str, dict]] | None:
    """(config as a dict, {'avgG': sd, 'netG': sd} of those present) for a zoo checkpoint, else None."""
    from latent_studio_plugins.pggan.network import canonical_keys

    if not isinstance(obj, dict) or not isinstance(obj.get("netG"), dict):
        return None
    cfg = obj.get("config")
    config = cfg if isinstance(cfg, dict) else vars(cfg) if isinstance(cfg, _ZooConfig) else None
    if config is None:
        return None
    nets = {k: canonical_keys(obj[k]) for k in NETWORKS if isinstance(obj.get(k), dict)}
    if "formatLayer.weight" not in nets.get("netG", {}):
        return None
    return config, nets


def _pickles_zoo_config(path: Path) -> bool:
    """Whether a torch file's pickle names the zoo's BaseConfig beside a netG, read without unpickling: the
    data.pkl bytes of a zip-format file, or the head of a legacy (torch < 1.6) one, where the dict's pickle
    comes before the tensor data."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                member = next((i for i in z.infolist() if i.filename.endswith("/data.pkl")), None)
                if member is None or member.file_size > _PICKLE_LIMIT:
                    return False
                data = z.read(member)
        else:
            with open(path, "rb") as f:
                data = f.read(_LEGACY_HEAD)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return False
    return b"cmodels.utils.config\nBaseConfig\n" in data and b"netG" in data and b"formatLayer" in data


def _config(raw: dict[str, Any], sd: dict[str, torch.Tensor], depths: tuple[int, ...], what: str) -> Any:
    """A PGGANConfig from the zoo's config and what the shapes show (depths, latent size, output channels:
    sizes come from tensors, never from the config alone); the two must agree."""
    from latent_studio_plugins.pggan.network import TANH_LOSSES, PGGANConfig

    def num(key: str, default: float) -> float:
        v = raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise CheckpointError(f"{what}: its config's {key} is {v!r}, not a number")
        return float(v)

    stated = [raw.get("depthScale0")] + list(raw.get("depthOtherScales") or [])
    if raw.get("depthScale0") is not None and tuple(stated) != depths:
        raise CheckpointError(f"{what}: its config gives scale depths {stated} but its weights have "
                              f"{list(depths)}")
    z_dim, out_channels = int(sd["formatLayer.weight"].shape[1]), int(sd["toRGBLayers.0.weight"].shape[0])
    stated_z = num("latentVectorDim", num("noiseVectorDim", z_dim) + num("categoryVectorDim", 0))
    if (stated_z, num("dimOutput", out_channels)) != (z_dim, out_channels):
        raise CheckpointError(f"{what}: its config gives a {stated_z:g}-value latent and "
                              f"{num('dimOutput', 3):g} output channels but its weights take {z_dim} "
                              f"and give {out_channels}")
    alpha = num("alpha", 0.0)
    if not 0.0 <= alpha <= 1.0:
        raise CheckpointError(f"{what}: its config's fade-in alpha {alpha:g} is outside 0 to 1")
    c_dim = int(num("categoryVectorDim", 0))
    if not 0 <= c_dim < z_dim:
        raise CheckpointError(f"{what}: its config's categoryVectorDim {c_dim} does not fit its "
                              f"{z_dim}-value latent")
    return PGGANConfig(z_dim=z_dim, c_dim=c_dim, depths=depths, out_channels=out_channels,
                       slope=num("leakyReluLeak", 0.2),
                       pixel_norm=bool(raw.get("perChannelNormalization", True)),
                       equalized=bool(raw.get("equalizedlR", True)),
                       tanh=str(raw.get("lossCriterion", "WGANGP")) in TANH_LOSSES, alpha=alpha)


class PGGANGenerator(Generator):
    """A zoo GNet as stages (format, one per scale, the last with toRGB); `choose` picks the network
    (avgG or netG), the scale to stop at and the fade-in alpha."""

    @classmethod
    def from_file(cls, config: dict[str, Any], nets: dict[str, dict], probe: Probe,
                  device: torch.device | str) -> "PGGANGenerator":
        from latent_studio_plugins.pggan.network import depths_of

        what = probe.path.name
        depths = depths_of(nets["netG"])
        if depths is None:
            raise CheckpointError(f"{what}: its netG's scales do not chain (groupScale0, scaleLayers.N)")
        if "toRGBLayers.0.weight" not in nets["netG"]:
            raise CheckpointError(f"{what}: its netG has no toRGBLayers.0")
        cfg = _config(config, nets["netG"], depths, what)
        source = {"sha256": probe.sha256, "name": probe.path.stem, "what": what}
        return cls(cfg, nets, source, {"network": "avgG" if "avgG" in nets else "netG",
                                       "scale": str(len(depths) - 1), "alpha": f"{cfg.alpha:g}"}, device)

    def __init__(self, cfg: Any, nets: dict[str, dict], source: dict[str, str], picks: dict[str, str],
                 device: torch.device | str = "cpu", defaults: dict[str, str] | None = None,
                 given: frozenset[str] = frozenset()):
        from dataclasses import replace as dc_replace

        from latent_studio_plugins.pggan.network import PGGAN, load_weights
        from studio.model.choices import picked_id
        from studio.model.modules import ModuleStage

        self.cfg, self.nets, self.source, self.picks = cfg, nets, source, dict(picks)
        self.defaults = dict(defaults or picks)
        self.given = given  # the names the user picked (the rest follow from them or the file)
        scale = int(picks["scale"])
        alpha = float(picks["alpha"]) if scale > 0 else 0.0
        net = PGGAN(dc_replace(cfg, depths=cfg.depths[:scale + 1], alpha=alpha))
        try:
            load_weights(net, nets[picks["network"]])
        except ValueError as exc:
            raise CheckpointError(f"{source['what']}: {picks['network']} does not fit the zoo's GNet: "
                                  f"{exc}") from None
        self.net = net.eval()
        first = _latent_input(cfg.c_dim)
        stages = [ModuleStage(n, m, first if i == 0 else None) for i, (n, m) in enumerate(net.blocks())]
        info = ModelInfo(family=FAMILY, format="pytorch_GAN_zoo checkpoint", resolution=net.cfg.resolution,
                         channels=cfg.out_channels, z_dim=cfg.z_dim - cfg.c_dim, c_dim=cfg.c_dim,
                         prior="normal",
                         layer_names=tuple(s.name for s in stages), name=source["name"],
                         choices=self._choices(cfg, nets, alpha))
        super().__init__(info, stages, device=device,
                         model_id=picked_id(source["sha256"], self.picks, self.defaults), modules=[net])

    def _choices(self, cfg: Any, nets: dict[str, dict], alpha: float) -> tuple[Choice, ...]:
        p, d = self.picks, self.defaults
        res = [str(4 * 2 ** s) for s in range(len(cfg.depths))]

        def origin(name: str, from_file: str) -> str:
            return from_file if p[name] == d[name] else "picked"

        if p["scale"] != d["scale"] and p["alpha"] == "0" and "alpha" not in self.given:
            alpha_from = (f"0 at scale {p['scale']}: its fade-in was over (the file's {d['alpha']} is "
                          f"scale {d['scale']}'s)")
        else:
            alpha_from = origin("alpha", "the file's fade-in alpha")

        return (
            Choice("network", p["network"], tuple(k for k in NETWORKS if k in nets),
                   source=origin("network", "avgG, the moving average the zoo samples from"
                                 if "avgG" in nets else "the file holds no avgG"), label="Network"),
            Choice("scale", p["scale"], tuple(str(s) for s in range(len(cfg.depths))),
                   source=origin("scale", f"the file's last scale, {res[-1]} px")
                   + f"; scales 0-{len(res) - 1} are {', '.join(res)} px", label="Scale"),
            Choice("alpha", f"{alpha:g}", label="Fade-in alpha",
                   source=alpha_from + "; 1 = the previous scale only, 0 = the new one only"),
        )

    def choose(self, **picks: str) -> "PGGANGenerator":
        from studio.model.choices import checked_picks

        given = checked_picks(self.info.choices, picks, self.source["what"])
        new = {**self.picks, **given}
        named = self.given | set(given)
        if "scale" in given and "alpha" not in given:  # another scale's fade-in is long over
            new["alpha"] = self.defaults["alpha"] if given["scale"] == self.defaults["scale"] else "0"
            named -= {"alpha"}  # follows from the scale, not the user's own pick
        if new == self.picks:
            return self
        return PGGANGenerator(self.cfg, self.nets, self.source, new, self.device, self.defaults,
                              frozenset(named))


def _latent_input(c_dim: int) -> Callable[[Any], torch.Tensor]:
    """formatLayer's input: z (buildNoiseData's standard normal), then for an AC-GAN the c_dim category values
    (the recipe's condition: one-hot labels per attribute; zeros when it has none)."""
    def fn(ctx: Any) -> torch.Tensor:
        if ctx.z is None:
            raise RecipeError("a PGGAN stage needs a latent z")
        if not c_dim:
            return ctx.z
        c = ctx.c if ctx.c is not None else ctx.z.new_zeros(ctx.z.shape[0], c_dim)
        return torch.cat([ctx.z.reshape(ctx.z.shape[0], -1), c.to(ctx.z)], dim=1)
    return fn

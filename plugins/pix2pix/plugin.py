"""Sniffing and loading junyanz pytorch-CycleGAN-and-pix2pix generators, and pairing a CycleGAN's G_A with
the G_B saved beside it.

A `latest_net_G.pth` holds weights only. The architecture (U-Net depth, ResNet blocks, widths, batch or
instance norm, ResNet dropout) follows from the tensors; what they cannot say is whether a U-Net was built
with dropout (its Dropout has no keys), so that is a setting, assumed on as pix2pix trains by default. How
the network runs is a setting too: "as trained", what test.py does without --eval and the official default
(BatchNorm on the photo's own statistics, dropout on), or "eval" (test.py --eval). The official test draws
fresh dropout each run; here a dropout seed makes it repeatable.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

from studio.errors import CheckpointError
from studio.model.api import Choice, Generator, ModelInfo
from studio.model.probe import Probe

_PAIR = re.compile(r"^(?P<stem>.*)_net_G_(?P<side>[AB])(?P<ext>\.pth?)$")
DEFAULT_SIDE = 256
DROPOUT_SEEDS = tuple(str(i) for i in range(100))  # the official --load_size/--crop_size; the ResNet is fully convolutional
MODE_NOTE = {"as trained": "the official default (test.py without --eval): BatchNorm on the photo's own "
                           "statistics, dropout on",
             "eval": "test.py --eval: BatchNorm running statistics, no dropout"}


def _state_dict(probe: Probe) -> dict | None:
    from latent_studio_plugins.pix2pix.network import strip_prefixes

    sd = probe.state_dict("state_dict", "netG", "G")
    return None if sd is None else strip_prefixes(dict(sd))


def is_discriminator(sd: dict) -> bool:
    """The junyanz NLayerDiscriminator (`latest_net_D.pth`): `model.N` 4x4 convs, the first with a bias, the
    last scoring one channel."""
    convs = {int(k.split(".")[1]): v for k, v in sd.items()
             if re.fullmatch(r"model\.\d+\.weight", k) and getattr(v, "ndim", 0) == 4}
    if 0 not in convs or "model.0.bias" not in sd or len(convs) < 2:
        return False
    last = convs[max(convs)]
    return all(tuple(w.shape[2:]) == (4, 4) for w in convs.values()) and int(last.shape[0]) == 1


def partner(path: Path) -> tuple[str, Path] | None:
    """('A' or 'B' for this file, the other generator's path) when a CycleGAN pair lies beside it."""
    m = _PAIR.match(path.name)
    if m is None:
        return None
    other = path.with_name(f"{m['stem']}_net_G_{'B' if m['side'] == 'A' else 'A'}{m['ext']}")
    return (m["side"], other) if other.is_file() else None


class Pix2PixPlugin:
    name = "pix2pix-cyclegan"
    formats = ("junyanz pytorch-CycleGAN-and-pix2pix latest_net_G.pth / *_net_G_A.pth (U-Net unet_128/unet_256, "
               "ResNet resnet_6blocks/resnet_9blocks; a G_A/G_B pair beside each other opens as a CycleGAN)")

    def sniff(self, probe: Probe) -> float:
        from latent_studio_plugins.pix2pix.network import infer_config

        if probe.safetensors_header is not None:
            return 0.0
        sd = _state_dict(probe)
        if sd is None:
            return 0.0
        if infer_config(sd) is not None:
            return 0.95
        return 0.3 if is_discriminator(sd) else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.pix2pix.network import infer_config

        sd = _state_dict(probe)
        cfg = infer_config(sd) if sd is not None else None
        if cfg is None:
            if sd is not None and is_discriminator(sd):
                name = probe.path.name.replace("_net_D", "_net_G") if "_net_D" in probe.path.name \
                    else "latest_net_G.pth"
                raise CheckpointError(f"{probe.path.name} is a pix2pix/CycleGAN discriminator; open the generator "
                                      f"({name}) saved beside it")
            raise CheckpointError(f"{probe.path.name}: tensors do not form a junyanz U-Net or ResNet generator")
        pair, note = None, ""
        found = partner(Path(probe.path))
        if found is not None:
            side, other = found
            try:
                other_sd = _state_dict(Probe(other))
            except Exception:  # a damaged partner must not cost the file the user opened
                other_sd = None
            other_cfg = infer_config(other_sd) if other_sd is not None else None
            if other_cfg is not None and other_cfg.input_nc == cfg.output_nc and other_cfg.output_nc == cfg.input_nc:
                pair = (side, other, other_sd, other_cfg)
            else:
                note = f"; {other.name} beside it is not a matching generator (no reverse direction)"
        loader = _Loader(probe, sd, cfg, pair, device, note)
        return loader.make(loader.defaults())


class _Loader:
    """Builds the generator for a set of picks (the file's defaults, or the user's through `choose`)."""

    def __init__(self, probe: Probe, sd: dict, cfg, pair, device: torch.device, note: str = ""):
        self.path, self.sha = Path(probe.path), probe.sha256
        self.sd, self.cfg, self.pair, self.device, self.note = sd, cfg, pair, device, note

    def _dropout_possible(self) -> bool:
        from latent_studio_plugins.pix2pix.network import UnetConfig

        cfgs = [self.cfg] + ([self.pair[3]] if self.pair else [])
        return any(isinstance(c, UnetConfig) or c.dropout for c in cfgs)

    def _unet(self) -> bool:
        from latent_studio_plugins.pix2pix.network import UnetConfig

        return isinstance(self.cfg, UnetConfig) or bool(self.pair and isinstance(self.pair[3], UnetConfig))

    def directions(self) -> tuple[str, ...]:
        if not self.pair:
            return ()
        me, you = self.pair[0], "B" if self.pair[0] == "A" else "A"
        return (f"{me}->{you}", f"{you}->{me}", f"{me}->{you}->{me}")

    def defaults(self) -> dict[str, str]:
        picks: dict[str, str] = {}
        if self.pair:
            picks["direction"] = self.directions()[0]
        if self._mode_matters():
            picks["mode"] = "as trained"
        if self._unet():
            picks["dropout"] = "on"
        if self._dropout_possible():
            picks["dropout_seed"] = "0"
        return picks

    def _mode_matters(self) -> bool:
        cfgs = [self.cfg] + ([self.pair[3]] if self.pair else [])
        return any(c.norm == "batch" for c in cfgs) or self._dropout_possible()

    def choices(self, picks: dict[str, str]) -> tuple[Choice, ...]:
        out = []
        if self.pair:
            out.append(Choice("direction", picks["direction"], self.directions(), label="Direction",
                              source=f"a CycleGAN pair: {self.path.name} and {self.pair[1].name}; the cycle "
                                     "shows the photo's reconstruction"))
        if "mode" in picks:
            out.append(Choice("mode", picks["mode"], ("as trained", "eval"), label="Run as",
                              source=MODE_NOTE[picks["mode"]]))
        if "dropout" in picks:
            out.append(Choice("dropout", picks["dropout"], ("on", "off"), label="Dropout",
                              source="assumed (not in the file): pix2pix trains with dropout unless --no_dropout"
                              if picks["dropout"] == "on" else "picked"))
        if "dropout_seed" in picks:
            out.append(Choice("dropout_seed", picks["dropout_seed"], DROPOUT_SEEDS, label="Dropout seed",
                              source="the official test draws new dropout each run; a seed repeats one"))
        return tuple(out)

    def make(self, picks: dict[str, str]) -> Generator:
        from latent_studio_plugins.pix2pix.generator import TranslatorGenerator, resnet_stages, unet_stages
        from latent_studio_plugins.pix2pix.network import (ResnetConfig, build, load_weights, number_layers)
        from studio.model.choices import picked_id

        def network(cfg, sd, name):
            if not isinstance(cfg, ResnetConfig):  # a U-Net built with --no_dropout has the same keys
                cfg = dataclasses.replace(cfg, dropout=picks.get("dropout", "on") == "on")
            net = build(cfg)
            load_weights(net, sd, name)
            return net

        def stages(net, prefix=""):
            return resnet_stages(net, prefix) if isinstance(net.cfg, ResnetConfig) else unet_stages(net, prefix)

        mine = network(self.cfg, self.sd, self.path.name)
        direction = picks.get("direction", "")
        nets, cfg = [mine], self.cfg
        family = "cyclegan" if isinstance(self.cfg, ResnetConfig) else "pix2pix"
        what = f"{self.cfg.name} ({self.cfg.norm} norm)"
        if self.pair:
            side, other_path, other_sd, other_cfg = self.pair
            theirs = network(other_cfg, other_sd, other_path.name)
            steps = direction.split("->")
            g_me, g_you = f"G_{side}", f"G_{'B' if side == 'A' else 'A'}"
            if len(steps) == 3:
                nets = [mine, theirs]
                st = stages(mine, g_me + ".") + stages(theirs, g_you + ".")
                cfg = self.cfg
            elif steps[0] == side:
                st = stages(mine)
            else:
                nets, st, cfg = [theirs], stages(theirs), other_cfg
            family = "cyclegan"
            what += f"; CycleGAN pair with {other_path.name}; {direction}"
        else:
            st = stages(mine)
        number_layers(nets)
        multiple = max(4 if isinstance(c, ResnetConfig) else 2 ** c.num_downs for c in
                       [self.cfg] + ([self.pair[3]] if self.pair else []))
        resolution = multiple if multiple > 4 else DEFAULT_SIDE  # a U-Net's own size; the ResNet's: the official 256
        info = ModelInfo(family=family, format=f"junyanz {what}{self.note}", resolution=resolution,
                         channels=nets[-1].cfg.output_nc,
                         z_dim=0, layer_names=tuple(s.name for s in st),
                         capabilities=frozenset({"translate", "features"}), name=self.path.stem,
                         choices=self.choices(picks))
        dropout_on = picks.get("dropout", "on") == "on" and "dropout_seed" in picks
        return TranslatorGenerator(
            nets, st, info, input_nc=cfg.input_nc, multiple=multiple, mode=picks.get("mode", "as trained"),
            dropout_seed=int(picks["dropout_seed"]) if dropout_on else None, device=self.device,
            model_id=picked_id(self.sha, picks, self.defaults()), remake=self.make, picks=picks)

"""Sniffing and loading pytorch-pretrained-biggan folders, and the BigGAN generator's recipe semantics.

The file opened is `pytorch_model.bin` (or a released `biggan-deep-256-pytorch_model.bin`); its config sits
beside it (`config.json`, or `<prefix>-config.json`), as `BigGAN.from_pretrained` expects. The studio's
truncation does what the official code does with it: z is `truncation * truncnorm(-2, 2)` (seeds draw the
truncated normal) and the same truncation goes to the forward, where it picks the standing statistics.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.recipe import Recipe
from studio.errors import CheckpointError, RecipeError
from studio.model.api import Choice, ConditionPart, Generator, ModelInfo, StageContext
from studio.model.probe import Probe

FAMILY = "biggan"
SPECTRAL = ("eval", "readme-train")  # stored u, v as-is; one power iteration first (the README's train mode)


def config_path(path: Path) -> Path | None:
    """config.json beside pytorch_model.bin, or <prefix>-config.json beside <prefix>-pytorch_model.bin."""
    name = path.name
    candidates = [path.with_name("config.json")]
    if name.endswith("pytorch_model.bin") and name != "pytorch_model.bin":
        candidates.insert(0, path.with_name(name[: -len("pytorch_model.bin")] + "config.json"))
    return next((c for c in candidates if c.is_file()), None)


class BigGANPlugin:
    name = "BigGAN"
    formats = ("pytorch-pretrained-biggan pytorch_model.bin with its config.json "
               "(BigGAN.from_pretrained folders)")

    def _keys(self, probe: Probe) -> dict[str, Tensor] | None:
        sd = probe.state_dict()
        if sd is None or "embeddings.weight" not in sd or "generator.gen_z.weight_orig" not in sd:
            return None
        return sd

    def sniff(self, probe: Probe) -> float:
        try:
            return 0.95 if self._keys(probe) is not None else 0.0
        except Exception:  # noqa: BLE001 - sniff never raises
            return 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        from latent_studio_plugins.biggan.network import BigGANConfig, expected_shapes
        from studio.core import safe_json

        sd = self._keys(probe)
        if sd is None:
            raise CheckpointError(f"{probe.path.name} is not a pytorch-pretrained-biggan pytorch_model.bin")
        cpath = config_path(Path(probe.path))
        if cpath is None:
            raise CheckpointError(f"{probe.path.name} is a BigGAN state_dict but has no config.json beside "
                                  f"it (BigGAN.from_pretrained reads both from one folder)")
        raw = safe_json.load(cpath, cpath.name, error=CheckpointError)
        if not isinstance(raw, dict) or not isinstance(raw.get("layers"), list):
            raise CheckpointError(f"{cpath.name} is not a BigGAN config (it has no 'layers' list)")
        try:
            cfg = BigGANConfig.from_json(raw)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{cpath.name} is not a BigGAN config: {exc}") from None
        want = expected_shapes(cfg)
        missing = sorted(set(want) - set(sd))
        wrong = [k for k in want if k in sd and tuple(sd[k].shape) != want[k]]
        extra = sorted(set(sd) - set(want))  # from_pretrained ignores these (strict=False); refused here
        if missing or wrong or extra:
            k = (missing or wrong or extra)[0]
            what = f"missing {k}" if missing else f"{k} has shape {tuple(sd[k].shape)}" if wrong else \
                f"{k} is not in the network it describes"
            raise CheckpointError(f"{probe.path.name} does not match {cpath.name}: {what}")
        sha = hashlib.sha256(probe.sha256.encode() + cpath.read_bytes()).hexdigest()
        return build_generator(sd, cfg, device, sha, probe.path, {"spectral_norm": SPECTRAL[0]})


def build_generator(sd: dict[str, Tensor], cfg: Any, device: torch.device | str, sha: str, path: Path,
                    picks: dict[str, str]) -> "BigGANGenerator":
    from latent_studio_plugins.biggan.labels import class_names
    from latent_studio_plugins.biggan.network import (GenBlock, GenZ, SelfAttn, ToRGB, layer_kinds,
                                                      resolution)
    from studio.model.choices import picked_id

    power = picks["spectral_norm"] == SPECTRAL[1]
    embed = sd["embeddings.weight"].float().clone()
    stages: list[BigGANStage] = [BigGANStage("gen_z", GenZ(sd, cfg, power), "gen_z", embed)]
    for idx, (kind, up) in enumerate(layer_kinds(cfg)):
        name = f"layers.{idx}"
        module = SelfAttn(sd, f"generator.{name}", cfg, power) if kind == "attention" else \
            GenBlock(sd, f"generator.{name}", cfg, power, up)
        stages.append(BigGANStage(name, module, kind, embed))
    stages.append(BigGANStage("output", ToRGB(sd, cfg, power), "output", embed))
    choices = (Choice("spectral_norm", picks["spectral_norm"], SPECTRAL, label="Spectral norm",
                      source="default: eval mode (the stored u, v as they are); readme-train: the README "
                             "leaves the model in train mode, whose first call does one power iteration"),)
    info = ModelInfo(
        family=FAMILY, format="pytorch-pretrained-biggan config.json + pytorch_model.bin",
        resolution=resolution(cfg), channels=3, z_dim=cfg.z_dim, prior="truncnorm", c_dim=cfg.num_classes,
        layer_names=tuple(s.name for s in stages), name=path.parent.name if path.name == "pytorch_model.bin"
        else path.stem, choices=choices,
        condition_parts=(ConditionPart("class", "classes", cfg.num_classes, class_names(cfg.num_classes)),),
        class_layers=tuple(s.name for s in stages if s.kind in ("gen_z", "block")),
    )
    g = BigGANGenerator(info, stages, device, picked_id(sha, picks, {"spectral_norm": SPECTRAL[0]}),
                        modules=[s.module for s in stages])
    g.remake = lambda p: build_generator(sd, cfg, g.device, sha, path, p)
    g.picks = dict(picks)
    return g


class BigGANStage:
    """One of BigGAN's steps; blocks read the truncation and their class (maybe a per-layer one)."""

    def __init__(self, name: str, module: torch.nn.Module, kind: str, embed: Tensor):
        self.name, self.module, self.kind, self.embed = name, module, kind, embed

    @staticmethod
    def truncation(ctx: StageContext) -> Tensor:
        """The batch's truncations; 1 where a tool runs a stage on a bare context (PCA of z samples)."""
        t = ctx.extras.get("truncation")
        return t if t is not None else torch.ones(len(ctx.z), dtype=torch.float64)

    def inputs(self, ctx: StageContext) -> bytes:
        if self.kind == "attention":
            return b""
        t = self.truncation(ctx).detach().cpu().numpy().tobytes()
        own = ctx.extras.get("layer_c", {}).get(self.name)
        return t + (b"" if own is None else b"c" + own.detach().cpu().numpy().tobytes())

    def cond(self, ctx: StageContext) -> Tensor:
        assert ctx.z is not None
        c = ctx.extras.get("layer_c", {}).get(self.name, ctx.c)
        if c is None:  # no class at all: a zero class vector
            c = torch.zeros(len(ctx.z), self.embed.shape[1], device=ctx.z.device)
        embed = self.embed.to(ctx.z.device)
        return torch.cat([ctx.z, c.to(ctx.z.dtype) @ embed.t().to(ctx.z.dtype)], dim=1)

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        t = self.truncation(ctx)
        if self.kind == "gen_z":
            return self.module(self.cond(ctx))
        if self.kind == "attention":
            return self.module(x)
        if self.kind == "output":
            return self.module(x, t)
        return self.module(x, t, self.cond(ctx))


class BigGANGenerator(Generator):
    """BigGAN: truncation reaches the forward too; a LayerClass edit gives some blocks another class."""

    truncation_in_forward = True
    picks: dict[str, str]

    def choose(self, **picks: str) -> Generator:
        from studio.model.choices import checked_picks

        new = {**self.picks, **checked_picks(self.info.choices, picks, self.info.name or FAMILY)}
        return self if new == self.picks else self.remake(new)

    def _context(self, z: Tensor, c: Tensor | None, truncation: Sequence[float],
                 layer_c: dict[str, Tensor] | None = None) -> StageContext:
        for t in truncation:
            if not 0.0 < float(t) <= 1.0:
                raise RecipeError(f"BigGAN's truncation must be in (0, 1], not {float(t):g} "
                                  f"(its forward picks standing statistics by it)")
        if c is None:
            c = torch.zeros(len(z), self.info.c_dim, device=self.device)
        extras = {"truncation": torch.tensor([float(t) for t in truncation], dtype=torch.float64),
                  "layer_c": layer_c or {}}
        return StageContext(z=z, c=c, extras=extras)

    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        from studio.core.class_edits import layer_class

        z = torch.from_numpy(np.stack([self.edited_z(r) for r in recipes])).to(self.device)
        c = self._condition(recipes)
        assert c is not None
        layer_c: dict[str, Tensor] = {}
        edits = [layer_class(r) for r in recipes]
        if any(edits):
            names = self.info.class_layers
            for e in edits:
                if e is not None and (e.layers[1] > len(names) or len(e.condition) != self.info.c_dim):
                    raise RecipeError(f"layer class: this model has {len(names)} class layers and "
                                      f"{self.info.c_dim} classes")
            for k, name in enumerate(names):
                rows = [torch.tensor(e.condition, dtype=torch.float32, device=self.device)
                        if e is not None and e.layers[0] <= k < e.layers[1] else c[i]
                        for i, e in enumerate(edits)]
                layer_c[name] = torch.stack(rows)
        return self._context(z, c, [r.truncation for r in recipes], layer_c)

    def generate(self, z: Tensor | np.ndarray, truncation: float = 1.0, c: Any = None) -> Tensor:
        """model(z, class_vector, truncation) as pytorch-pretrained-biggan computes it: z is used as given
        (draw it with truncation already applied, as truncated_noise_sample does), `truncation` picks the
        standing statistics, `c` is the class vector (N, num_classes) (or class indices)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(-1, self.info.z_dim)
        return self.run(self._context(z, self.condition_tensor(c, len(z)), [truncation] * len(z)))

"""Sniffing and loading class-conditional and InfoGAN generators (eriklindernoren PyTorch-GAN layouts).

How the condition reaches the network (ctx.c is (N, c_dim) floats: one-hot, a blend of classes, InfoGAN's
one-hot then codes):
- a label embedding `label_emb` (nn.Embedding(n_classes, e)) is read as the linear map c @ label_emb.weight,
  which is exactly label_emb(labels) for a one-hot c and a blend of embeddings for a blend of classes; it is
  concatenated before z (cgan.py), after z, or multiplied with z (acgan.py: e == z's width, the only case
  where the first layer's width equals the embedding's);
- without an embedding the condition is concatenated after z: cat(z, labels_onehot, code) as infogan.py does.
  Nothing in such a file says how its first layer's inputs split; the official defaults (62 + 10 + 2) are
  recognised, any other split is read from an `infogan.json` beside the file ({"latent_dim": 8,
  "n_classes": 4, "code_dim": 2}, infogan.py's options) or given to `load(probe, device, inputs="8+4+2")`;
  `choose(inputs=...)` (the model panel, `--pick`) switches it afterwards.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from studio.errors import CheckpointError, RecipeError
from studio.model.api import Choice, ConditionPart, Generator, ModelInfo, StageContext
from studio.model.probe import Probe

CONTAINER_KEYS = ("generator", "netG", "G", "state_dict", "model_state_dict")
ACTIVATIONS = ("LeakyReLU(0.2)", "ReLU", "LeakyReLU(0.1)", "LeakyReLU(0.01)")
EPS = ("0.8", "1e-05")
UPSAMPLE = ("nearest", "bilinear")
CONCAT = ("label first", "label last")
MULTIPLIED = "multiplied"
BATCHNORM = ("eval", "train")
INFOGAN_DEFAULT = (62, 10, 2)  # infogan.py's latent_dim, n_classes, code_dim
ASSUMED = "assumed (not in the file)"


def _read(probe: Probe) -> tuple[Any, dict[str, Tensor], tuple[int, int] | None] | None:
    """(trunk, state_dict, label_emb shape or None) for a layout this family reads, else None."""
    from latent_studio_plugins.cgan.layouts import infer_trunk

    sd = probe.state_dict(*CONTAINER_KEYS)
    if sd is None:
        return None
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
    emb = sd.get("label_emb.weight")
    trunk = infer_trunk({k: v for k, v in sd.items() if k != "label_emb.weight"})
    if trunk is None:
        return None
    if emb is None:
        return trunk, sd, None
    if getattr(emb, "ndim", 0) != 2 or not (trunk.in_dim == emb.shape[1] or trunk.in_dim > emb.shape[1]):
        return None
    return trunk, sd, (int(emb.shape[0]), int(emb.shape[1]))


SIDECAR = "infogan.json"  # {"latent_dim": 8, "n_classes": 4, "code_dim": 2}: infogan.py's options


def sidecar_split(probe: Probe, in_dim: int) -> str | None:
    """"L+K+C" from an infogan.json beside the checkpoint whose options add up to its inputs, else None."""
    from studio.core import safe_json

    path = probe.path.with_name(SIDECAR)
    if not path.is_file():
        return None
    try:
        d = safe_json.load(path, SIDECAR, error=CheckpointError)
        parts = [int(d[k]) for k in ("latent_dim", "n_classes", "code_dim")]
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None
    return "+".join(map(str, parts)) if sum(parts) == in_dim and parts[0] > 0 and parts[1] > 0 else None


def splits(in_dim: int) -> tuple[str, ...]:
    """"L+K+C" input splits (z, one-hot classes, continuous codes) a first layer of `in_dim` inputs allows."""
    out = [f"{in_dim - k - c}+{k}+{c}" for k in range(2, 11) for c in range(0, 5) if in_dim - k - c >= 1]
    default = "+".join(map(str, INFOGAN_DEFAULT))
    return (default, *[s for s in out if s != default]) if sum(INFOGAN_DEFAULT) == in_dim else tuple(out)


class ConditionalPlugin:
    name = "Conditional GAN"
    formats = ("eriklindernoren PyTorch-GAN cgan/acgan generator.pth (label embedding), infogan "
               "generator.pth "
               "(official 62+10+2 inputs, or any split named in an infogan.json beside it)")

    def sniff(self, probe: Probe) -> float:
        try:
            read = _read(probe)
        except Exception:  # noqa: BLE001 - sniff never raises
            return 0.0
        if read is None:
            return 0.0
        trunk, _, emb = read
        if emb is not None:
            return 0.9
        # no embedding: the keys are a DCGAN's; infogan.py's own input width or an infogan.json says InfoGAN
        if sidecar_split(probe, trunk.in_dim) is not None:
            return 0.95
        return 0.86 if trunk.kind == "conv" and trunk.in_dim == sum(INFOGAN_DEFAULT) else 0.0

    def load(self, probe: Probe, device: torch.device, inputs: str | None = None) -> Generator:
        """The generator; `inputs` ("L+K+C") says how an embedding-free first layer splits (default: the
        official InfoGAN split when it fits)."""
        read = _read(probe)
        if read is None:
            raise CheckpointError(f"{probe.path.name} is not a cgan/acgan/infogan generator this family "
                                  f"reads")
        trunk, sd, emb = read
        picks = {"activation": ACTIVATIONS[0], "eps": EPS[0], "batchnorm": BATCHNORM[0]}
        picks.update({"upsample": UPSAMPLE[0]} if trunk.kind == "conv" else {"shape": _shapes(trunk)[0]})
        if emb is not None:
            picks["embedding"] = MULTIPLIED if trunk.in_dim == emb[1] else CONCAT[0]
        else:
            allowed = splits(trunk.in_dim)
            picks["inputs"] = inputs or sidecar_split(probe, trunk.in_dim) or (
                allowed[0] if trunk.in_dim == sum(INFOGAN_DEFAULT) else "")
            if not picks["inputs"]:
                raise CheckpointError(f"{probe.path.name}: its first layer takes {trunk.in_dim} inputs and "
                                      f"nothing in the file says how they split into z, classes and codes; "
                                      f"write them beside it in {SIDECAR} (latent_dim, n_classes, code_dim)")
        defaults = dict(picks)
        return build(probe, device, trunk, sd, emb, picks, defaults)


def _shapes(trunk: Any) -> list[str]:
    from latent_studio_plugins.cgan.layouts import image_shapes

    shapes = image_shapes(trunk.out_values)
    if not shapes:
        raise CheckpointError(f"the MLP's {trunk.out_values} outputs are no square grey or RGB image")
    return shapes


def _choice(name: str, label: str, value: str, values: tuple[str, ...], usual: str, default: str) -> Choice:
    source = f"{ASSUMED}: {usual}" if value == default else "picked"
    return Choice(name, value, values if value in values else (*values, value), source=source, label=label)


def build(probe: Probe, device: Any, trunk: Any, sd: dict[str, Tensor], emb: tuple[int, int] | None,
          picks: dict[str, str], defaults: dict[str, str]) -> Generator:
    from latent_studio_plugins.cgan.layouts import Network
    from studio.model.choices import picked_id
    from studio.model.modules import module_generator, split_into_blocks

    what = probe.path.name
    net = Network(trunk, picks["activation"], float(picks["eps"]), picks.get("upsample", "nearest"), emb)
    own = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    try:
        net.load_state_dict(own, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{what}: weights do not fit the inferred layout: {str(exc).splitlines()[0]}") \
            from None
    choices = [_choice("activation", "Activation", picks["activation"], ACTIVATIONS,
                       "the PyTorch-GAN scripts' LeakyReLU(0.2)", defaults["activation"]),
               _choice("eps", "BatchNorm eps", picks["eps"], EPS,
                       "the scripts' BatchNorm(C, 0.8), whose 0.8 is eps", defaults["eps"]),
               Choice("batchnorm", picks["batchnorm"], BATCHNORM, label="BatchNorm",
                      source="default: eval (running statistics); the scripts never call eval(), so the "
                             "images they save in training use batch statistics (train)")]
    if trunk.kind == "conv":
        s = trunk.side
        blocks = [("l1", nn.Sequential(net.l1, nn.Unflatten(1, (trunk.c0, s, s))))]
        blocks += split_into_blocks(net.conv_blocks, "conv_blocks.")
        ups = sum(isinstance(m, nn.Upsample) for m in net.conv_blocks)
        res, channels = s * 2 ** ups, trunk.channels
        choices.append(_choice("upsample", "Upsample mode", picks["upsample"], UPSAMPLE,
                               "nn.Upsample's default", defaults["upsample"]))
    else:
        c, h, w = (int(v) for v in picks["shape"].split("x"))
        blocks = split_into_blocks(net.model, "model.")
        blocks[-1] = (blocks[-1][0], nn.Sequential(blocks[-1][1], nn.Unflatten(1, (c, h, w))))
        res, channels = h, c
        choices.append(_choice("shape", "Image shape", picks["shape"], tuple(_shapes(trunk)),
                               "the square split of its output", defaults["shape"]))
    if emb is not None:
        n_classes, width = emb
        mode = picks["embedding"]
        z_dim = trunk.in_dim if mode == MULTIPLIED else trunk.in_dim - width
        parts: tuple[ConditionPart, ...] = (ConditionPart("class", "classes", n_classes),)
        if mode == MULTIPLIED:
            choices.append(Choice("embedding", mode, (MULTIPLIED,), label="Label embedding",
                                  source="from the file: its width equals the first layer's (acgan.py)"))
        else:
            choices.append(_choice("embedding", "Label embedding", mode, CONCAT,
                                   "cgan.py's cat(label_emb, z)", defaults["embedding"]))
        trunk_name = "Upsample-conv" if trunk.kind == "conv" else "MLP"
        family = "acgan" if mode == MULTIPLIED else "cgan"
        fmt = f"eriklindernoren PyTorch-GAN {trunk_name} generator with a label embedding"
        weight = net.label_emb.weight

        def input_fn(ctx: StageContext) -> Tensor:
            assert ctx.z is not None and ctx.c is not None
            e = ctx.c.to(weight.dtype) @ weight  # label_emb(labels) for one-hot c; blends for mixed classes
            if mode == MULTIPLIED:
                return e * ctx.z
            return torch.cat((e, ctx.z) if mode == CONCAT[0] else (ctx.z, e), -1)
    else:
        try:
            z_dim, n_classes, n_codes = (int(v) for v in picks["inputs"].split("+"))
        except ValueError:
            raise RecipeError(f"{what}: inputs must be L+K+C (z, classes, codes), "
                              f"not {picks['inputs']!r}") from None
        if z_dim < 1 or n_classes < 1 or n_codes < 0 or z_dim + n_classes + n_codes != trunk.in_dim:
            raise RecipeError(f"{what}: inputs {picks['inputs']} do not add up to its {trunk.in_dim} inputs")
        parts = (ConditionPart("class", "classes", n_classes),)
        if n_codes:
            names = tuple(f"c{i + 1}" for i in range(n_codes))
            parts += (ConditionPart("code", "continuous", n_codes, names),)
        from_sidecar = sidecar_split(probe, trunk.in_dim) is not None
        usual = "infogan.py's 62+10+2" if defaults["inputs"] == "62+10+2" and not from_sidecar else None
        choices.append(_choice("inputs", "Inputs (z+classes+codes)", picks["inputs"], splits(trunk.in_dim),
                               usual or "", defaults["inputs"]))
        if usual is None and picks["inputs"] == defaults["inputs"]:
            choices[-1] = replace(choices[-1], source=f"from {SIDECAR}" if from_sidecar
                                  else "given when it was opened")
        family = "infogan" if n_codes else "cgan"
        fmt = "eriklindernoren PyTorch-GAN InfoGAN generator (condition concatenated after z)"

        def input_fn(ctx: StageContext) -> Tensor:
            assert ctx.z is not None and ctx.c is not None
            return torch.cat((ctx.z, ctx.c.to(ctx.z.dtype)), -1)  # cat(noise, labels, code)
    name = probe.path.stem if probe.path.stem != "generator" else probe.path.parent.name
    info = ModelInfo(family=family, format=fmt, resolution=res, channels=channels, z_dim=z_dim,
                     prior="normal", c_dim=sum(p.size for p in parts), name=name, choices=tuple(choices),
                     condition_parts=parts)
    g = module_generator(net, info, device=device, model_id=picked_id(probe.sha256, picks, defaults),
                         input_fn=input_fn, blocks=blocks)
    out = ConditionalGenerator(g.info, g.stages, g.device, g.model_id, [net])  # (puts net in eval mode)
    if picks["batchnorm"] == "train":  # batch statistics; momentum 0 keeps the file's running stats unchanged
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
                m.momentum = 0.0
    out.remake = lambda p: build(probe, device, trunk, sd, emb, p, defaults)
    out.picks, out.what = dict(picks), what
    return out


class ConditionalGenerator(Generator):
    """A conditional generator whose unrecorded settings can be picked (rebuilt with `choose`)."""

    picks: dict[str, str]

    def choose(self, **picks: str) -> Generator:
        from studio.model.choices import checked_picks

        new = {**self.picks, **checked_picks(self.info.choices, picks, self.what)}
        return self if new == self.picks else self.remake(new)

"""The DCGAN family's `scaffold` hook for `latent-studio plugin new`: a drop-in for the layouts it knows
(pytorch/examples, eriklindernoren MLP and Upsample-conv), with the widths of the file filled in and every
value the state_dict cannot record marked GUESS."""
from __future__ import annotations

from typing import Any

from studio.model.probe import Probe
from studio.model.scaffold import GUESS, PICKLED_HELPER, PICKLED_IMPORT, PluginSpec

CONTAINER_KEYS = ("netG", "generator", "G", "state_dict", "model_state_dict", "model")


def scaffold(probe: Probe) -> PluginSpec | None:
    from latent_studio_plugins.dcgan.hobby import image_shapes, infer_conv, infer_mlp
    from latent_studio_plugins.dcgan.network import infer_config, strip_module_prefix

    raw = probe.state_dict(*CONTAINER_KEYS)
    if raw is None:
        return _pickled(probe)
    sd = strip_module_prefix(raw)
    weights = _weights_expr(probe, raw, sd)
    cfg = infer_config(sd)
    if cfg is not None:
        return _examples(cfg, weights)
    mlp = infer_mlp(sd)
    if mlp is not None:
        return _mlp(mlp, image_shapes(mlp.out_values)[0], weights, {})
    conv = infer_conv(sd)
    return _conv(conv, weights, {}) if conv is not None else None


def _pickled(probe: Probe) -> PluginSpec | None:
    """torch.save(generator) of the eriklindernoren scripts' class: its layout, with the slope, eps and mode
    the pickle records filled in (no guess), its tensors read by the studio's non-executing reader."""
    from latent_studio_plugins.dcgan.plugin import DCGANPlugin, pickled_settings

    found = DCGANPlugin()._pickled_hobby(probe)
    if found is None:
        return None
    kind, layout, where = found
    tree = probe.module_tree()
    assert tree is not None
    i = where["index"]
    settings = pickled_settings(tree.modules()[i][1])
    spec = (_mlp(layout, _shape(layout), f"_pickled(probe, {i})", settings) if kind == "mlp"
            else _conv(layout, f"_pickled(probe, {i})", settings))
    spec.load_weights = f"_pickled_weights(probe, {i})"
    spec.network += PICKLED_HELPER
    spec.extra_imports = PICKLED_IMPORT
    spec.what = spec.what.replace("state_dict", f"pickled whole ({tree.modules()[i][1].qualname})")
    return spec


def _shape(layout: Any) -> tuple[int, int]:
    from latent_studio_plugins.dcgan.hobby import image_shapes

    return image_shapes(layout.out_values)[0]


def _act(settings: dict[str, str]) -> str:
    value = settings.get("activation")
    if value is None:
        return f"nn.LeakyReLU(0.2),  {GUESS}: the scripts' activation"
    return f"nn.{value},  # read from the pickled modules" if value != "ReLU" else "nn.ReLU(),  # read from it"


def _eps(cout: int, dim: str, settings: dict[str, str]) -> str:
    eps = settings.get("eps")
    if eps is None:
        return f"nn.BatchNorm{dim}({cout}, 0.8),  {GUESS}: eps 0.8 (the scripts' second argument)"
    return f"nn.BatchNorm{dim}({cout}, eps={eps}),  # read from the pickled modules"


def _weights_expr(probe: Probe, raw: dict, sd: dict) -> str:
    obj = probe.torch_object()
    key = next((k for k in CONTAINER_KEYS if isinstance(obj, dict) and obj.get(k) is raw), None)
    expr = f"probe.state_dict({key!r})" if key else "probe.state_dict()"
    if sd is not raw:  # saved from nn.DataParallel: keys start with "module."
        expr = f"{{k.removeprefix('module.'): v for k, v in ({expr} or {{}}).items()}} or None"
    return expr


def _examples(cfg: Any, weights: str) -> PluginSpec:
    lines = []
    for n, (cin, cout, k, bias) in enumerate(cfg.convs):
        stride, pad = (1, 0) if n == 0 else (2, 1)
        lines.append(f"nn.ConvTranspose2d({cin}, {cout}, {k}, {stride}, {pad}, bias={bias}),")
        if n < len(cfg.convs) - 1:
            if cfg.batchnorm[n]:
                lines.append(f"nn.BatchNorm2d({cout}),")
            lines.append(f"nn.ReLU(True),  {GUESS}: pytorch/examples uses ReLU; "
                         "LeakyReLU(0.2) if you trained so")
    lines.append("nn.Tanh(),")
    body = "\n".join(" " * 12 + line for line in lines)
    attr = cfg.prefix.rstrip(".") or None
    if attr:
        net = (f"class Net(nn.Module):\n    \"\"\"The pytorch/examples Generator.\"\"\"\n\n"
               f"    def __init__(self) -> None:\n        super().__init__()\n"
               f"        self.{attr} = nn.Sequential(\n{body}\n        )\n\n"
               f"    def forward(self, z: torch.Tensor) -> torch.Tensor:\n        return self.{attr}(z)\n")
    else:
        net = (f"def Net() -> nn.Module:\n    return nn.Sequential(\n{body[4:]}\n    )\n"
               .replace("\n        ", "\n    "))
    return PluginSpec(what="a pytorch/examples DCGAN generator state_dict", network=net, weights=weights,
                      resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim, family="dcgan",
                      guesses=["the activation (ReLU)", "the prior (normal)"])


def _mlp(layout: Any, shape: tuple[int, int], weights: str, settings: dict[str, str]) -> PluginSpec:
    c, side = shape
    lines = []
    for n, (cin, cout) in enumerate(layout.linears):
        lines.append(f"nn.Linear({cin}, {cout}),")
        if n < len(layout.linears) - 1:
            if layout.batchnorm[n]:
                lines.append(_eps(cout, "1d", settings))
            lines.append(_act(settings))
    lines.append("nn.Tanh(),")
    body = "\n".join(" " * 12 + line for line in lines)
    net = f'''class Net(nn.Module):
    """eriklindernoren PyTorch-GAN's MLP Generator (implementations/gan, wgan_gp)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(
{body}
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z).view(z.shape[0], CHANNELS, RESOLUTION, RESOLUTION)

    def blocks(self) -> list[tuple[str, nn.Module]]:
        """Stages: the blocks of `model` (each ends after its activation), the last one viewing the output as
        an image, since module_generator's stages must end in N x C x H x W."""
        from studio.model.modules import split_into_blocks

        out = split_into_blocks(self.model, "model.")
        name, last = out[-1]
        out[-1] = (name, nn.Sequential(last, nn.Unflatten(1, (CHANNELS, RESOLUTION, RESOLUTION))))
        return out
'''
    return PluginSpec(what="an eriklindernoren PyTorch-GAN MLP generator state_dict", network=net,
                      weights=weights, resolution=side, channels=c, z_dim=layout.z_dim, family="mlp-gan",
                      input_fn="lambda ctx: ctx.z.reshape(-1, Z_DIM)", blocks="net.blocks()",
                      guesses=[f"the image shape {c}x{side}x{side} (only C*H*W is in the file)",
                               *_unrecorded(settings, ("activation", "eps")), "the prior (normal)"])


def _conv(layout: Any, weights: str, settings: dict[str, str]) -> PluginSpec:
    lines = [f"nn.BatchNorm2d({layout.c0}),  # eps 1e-5 here in the scripts"] if layout.lead_bn else []
    for n, (cin, cout, k, up) in enumerate(layout.convs):
        if up and "upsample" in settings:
            mode = settings["upsample"]
            lines.append(f"nn.Upsample(scale_factor=2, mode={mode!r}),  # read from the pickled modules")
        elif up:
            lines.append(f"nn.Upsample(scale_factor=2),  {GUESS}: mode 'nearest' (the default)")
        lines.append(f"nn.Conv2d({cin}, {cout}, {k}, stride=1, padding={k // 2}),")
        if n < len(layout.convs) - 1:
            lines.append(_eps(cout, "2d", settings))
            lines.append(_act(settings))
    lines.append("nn.Tanh(),")
    body = "\n".join(" " * 12 + line for line in lines)
    s = layout.init_size
    net = f'''INIT_SIZE = {s}  # l1's output is viewed as {layout.c0} x {s} x {s}


class Net(nn.Module):
    """eriklindernoren PyTorch-GAN's DCGAN / LSGAN Generator: Linear, a view, then Upsample-conv blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(Z_DIM, {layout.c0} * INIT_SIZE ** 2))
        self.conv_blocks = nn.Sequential(
{body}
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_blocks(self.l1(z).view(z.shape[0], {layout.c0}, INIT_SIZE, INIT_SIZE))

    def blocks(self) -> list[tuple[str, nn.Module]]:
        """Stages: l1 with the view (the reshape forward does between the children), then conv_blocks'
        blocks, each ending after its activation (a stage must not start with an in-place op)."""
        from studio.model.modules import split_into_blocks

        first = ("l1", nn.Sequential(self.l1, nn.Unflatten(1, ({layout.c0}, INIT_SIZE, INIT_SIZE))))
        return [first, *split_into_blocks(self.conv_blocks, "conv_blocks.")]
'''
    return PluginSpec(what="an eriklindernoren PyTorch-GAN DCGAN/LSGAN generator state_dict", network=net,
                      weights=weights, resolution=layout.resolution, channels=layout.channels,
                      z_dim=layout.z_dim, family="dcgan", input_fn="lambda ctx: ctx.z.reshape(-1, Z_DIM)",
                      blocks="net.blocks()",
                      guesses=[*_unrecorded(settings, ("activation", "eps", "upsample")),
                               "the prior (normal)"])


def _unrecorded(settings: dict[str, str], names: tuple[str, ...]) -> list[str]:
    said = {"activation": "the activation (LeakyReLU(0.2))", "eps": "BatchNorm eps (0.8)",
            "upsample": "the Upsample mode (nearest)"}
    return [said[n] for n in names if n not in settings]

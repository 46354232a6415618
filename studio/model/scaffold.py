"""`latent-studio plugin new`: a drop-in plugin written from what a checkpoint holds, its guesses marked.

A family that knows a layout (the DCGAN family: pytorch/examples, eriklindernoren) offers a `scaffold(probe)`
hook returning a PluginSpec; a whole-module pickle is written from its pickled torch.nn tree; anything else
becomes a skeleton with one guessed layer per tensor. Every value the file does not record is on a line
marked `# GUESS`, so the author knows what to check against the code that trained the network.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio.errors import CheckpointError
from studio.model.probe import Probe

GUESS = "# GUESS"


@dataclass
class PluginSpec:
    """The parts of a drop-in: the network code, how weights are read, and what ModelInfo says."""

    what: str                       # "an eriklindernoren PyTorch-GAN dcgan generator"
    network: str                    # class definitions; the class to build is `Net`
    weights: str = "probe.state_dict()"   # an expression over `probe`: name -> tensor (shapes suffice)
    load_weights: str = ""          # the same with the tensors' values, when reading them costs more
    resolution: int = 0
    channels: int = 3
    z_dim: int = 0
    family: str = "custom"
    input_fn: str = "lambda ctx: ctx.z.reshape(-1, Z_DIM, 1, 1)"
    blocks: str = "None"            # an expression over `net`: list of (name, module), or None to split
    guesses: list[str] = field(default_factory=list)  # what was guessed, in words (said by the CLI)
    complete: bool = True           # False: a skeleton that needs the author's edits before it loads
    extra_imports: str = ""


def plugin_name(out: Path) -> str:
    """A plugin name from the output file's stem: my_gan.py -> my_gan."""
    stem = re.sub(r"\W", "_", out.stem).strip("_") or "my_gan"
    return stem if not keyword.iskeyword(stem) else stem + "_plugin"


def render(spec: PluginSpec, name: str, source: Path) -> str:
    """The drop-in's text."""
    state = ("It should load as written; check the GUESS lines all the same." if spec.complete else
             "It is a SKELETON: it does not load until the GUESS lines are replaced with your "
             "network's code.")
    prior_line = f'prior="normal",  {GUESS}: the file does not record the prior z was drawn from'
    return f'''"""Drop-in plugin for {source.name}: {spec.what}.

Written by `latent-studio plugin new`. {state}
Lines marked `{GUESS}` are what the checkpoint does not record. Put this file in your plugin folder or on
$LATENT_STUDIO_PLUGIN_PATH (see docs/plugins.md).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from studio.model.api import Generator, ModelInfo
from studio.model.modules import module_generator
from studio.model.probe import Probe
{spec.extra_imports}
Z_DIM = {spec.z_dim}
RESOLUTION = {spec.resolution}
CHANNELS = {spec.channels}

{spec.network.strip()}


def weights(probe: Probe) -> dict[str, torch.Tensor] | None:
    """The checkpoint's tensors by state_dict key (read safely: nothing in the file runs), or None."""
    return {spec.weights}


@lru_cache(maxsize=1)
def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key and shape Net has: the fingerprint a file must match (built on the meta device: free)."""
    with torch.device("meta"):
        return {{k: tuple(v.shape) for k, v in Net().state_dict().items()}}


class Plugin:
    name = {name!r}
    formats = {f"{spec.what} ({source.name})"!r}

    def sniff(self, probe: Probe) -> float:
        sd = weights(probe)
        if not sd:
            return 0.0
        return 1.0 if {{k: tuple(v.shape) for k, v in sd.items()}} == expected_shapes() else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        net = Net()
        net.load_state_dict({spec.load_weights or "weights(probe)"})  # strict: a missing or extra key fails
        info = ModelInfo(family={spec.family!r}, format={spec.what!r}, resolution=RESOLUTION, channels=CHANNELS,
                         z_dim=Z_DIM, {prior_line}
                         name=probe.path.stem)
        # the first stage's input from the recipe's z; stages are the blocks below (cache points, feature views)
        return module_generator(net, info, device=device, model_id=probe.sha256,
                                input_fn={spec.input_fn}, blocks={spec.blocks})


plugin = Plugin()
'''


def scaffold(path: str | Path, out: Path, plugins: list[Any]) -> tuple[str, PluginSpec]:
    """(the drop-in's text, its spec) for the checkpoint at `path`: a family's layout, a whole-module
    pickle's tree, or a skeleton from the tensors' names and shapes."""
    path = Path(path)
    probe = Probe(path)
    spec: PluginSpec | None = None
    for p in plugins:
        hook = getattr(p, "scaffold", None)
        if hook is None:
            continue
        try:
            spec = hook(probe)
        except CheckpointError:
            spec = None
        if spec is not None:
            break
    if spec is None and probe.module_tree() is not None:
        spec = from_module_tree(probe)
    if spec is None:
        sd = probe.state_dict("netG", "generator", "G", "g_ema", "state_dict", "model")
        if sd is None:
            raise CheckpointError(probe.load_error or f"{path.name} holds no PyTorch weights to describe "
                                  "(a drop-in can still read it; see docs/plugins.md)")
        spec = skeleton(sd, probe)
    return render(spec, plugin_name(out), path), spec


# -- whole-module pickles ----------------------------------------------------------------------------------
def module_code(rec: Any, indent: int = 0) -> str:
    """Python source that builds the torch.nn module `rec` records, with its pickled arguments."""
    from studio.model.module_pickle import constructor_args

    pad = " " * indent
    if rec.name == "Sequential":
        kids = rec.children()
        inner = "".join(f"{pad}    {module_code(c, indent + 4)},  # {n}\n" for n, c in kids.items())
        return f"nn.Sequential(\n{inner}{pad})"
    kwargs = constructor_args(rec)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"nn.{rec.name}({args})"


def from_module_tree(probe: Probe) -> PluginSpec:
    """A spec that rebuilds a whole-module pickle's generator: exact when it is built-ins (and a wrapper's
    one child), a skeleton with the children and a GUESSED forward for the user's own class."""
    from studio.model.module_pickle import find_generator, first_layer

    tree = probe.module_tree()
    assert tree is not None
    found = find_generator(tree)
    imports = PICKLED_IMPORT
    if found is not None:
        where = found.where
        index = [w for w, _ in tree.modules()].index(where)
        weights, load_weights = f"_pickled(probe, {index})", f"_pickled_weights(probe, {index})"
        rec = found.record
        guesses = []
        if rec.builtin:
            net = f"def Net() -> nn.Module:\n    return {module_code(rec, 4)}\n"
            blocks = "None"
            what = f"a whole-module pickle of torch.nn {rec.name}"
        else:
            body = found.body
            guesses.append(f"the forward of {rec.qualname} (taken to be self.{found.body_path}(z))")
            net = (f"class Net(nn.Module):\n    \"\"\"{rec.qualname}, as pickled.\"\"\"\n\n"
                   f"    def __init__(self) -> None:\n        super().__init__()\n"
                   f"        self.{found.body_path} = {module_code(body, 8)}\n\n"
                   f"    def forward(self, z: torch.Tensor) -> torch.Tensor:\n"
                   f"        return self.{found.body_path}(z)  {GUESS}: the forward is not in the file\n")
            blocks = "None"
            what = f"a whole-module pickle of {rec.qualname}"
        guesses.append("the prior (normal)")
        shape = "-1, Z_DIM, 1, 1" if found.z_as_image else "-1, Z_DIM"
        net += PICKLED_HELPER
        return PluginSpec(what=what, network=net, weights=weights, load_weights=load_weights,
                          resolution=found.resolution,
                          channels=found.channels, z_dim=found.z_dim, family="torch-module",
                          input_fn=f"lambda ctx: ctx.z.reshape({shape})", blocks=blocks, guesses=guesses,
                          extra_imports=imports)
    # the user's own class with a forward that cannot be inferred: its children, a forward to write
    where, rec = tree.modules()[0]
    lines = ["class Net(nn.Module):",
             f"    \"\"\"{rec.qualname}, as pickled: its modules (forward to write).\"\"\"", "",
             "    def __init__(self) -> None:", "        super().__init__()"]
    for n, child in rec.children().items():
        if child.builtin:
            lines.append(f"        self.{n} = {module_code(child, 8)}")
        else:
            lines.append(f"        self.{n} = nn.Identity()  {GUESS}: {child.qualname} is your own class")
    first = first_layer(rec)
    attrs = first.attributes() if first is not None else {}
    z_dim = int(attrs.get("in_features") or attrs.get("in_channels") or 0)
    kids = list(rec.children())
    chain = "z"
    for n in kids:
        chain = f"self.{n}({chain})"
    lines += ["", "    def forward(self, z: torch.Tensor) -> torch.Tensor:",
              f"        {GUESS}: {rec.qualname}'s forward is not in the file; this runs the children in "
              "order,",
              f"        # which is right only if nothing happens between them (a reshape, a skip, a concat)",
              f"        return {chain}"]
    net = "\n".join(lines) + "\n" + PICKLED_HELPER
    return PluginSpec(what=f"a whole-module pickle of {rec.qualname}", network=net,
                      weights="_pickled(probe, 0)",
                      load_weights="_pickled_weights(probe, 0)", resolution=0, channels=3, z_dim=z_dim,
                      family="torch-module", input_fn=f"lambda ctx: ctx.z.reshape(-1, Z_DIM)",
                      guesses=[f"the forward of {rec.qualname}", "the resolution and channels",
                               "how z enters", "the prior (normal)"],
                      complete=False, extra_imports=imports)


PICKLED_IMPORT = "\nfrom studio.model.module_pickle import read_module_pickle\n"
PICKLED_HELPER = '''

def _pickled(probe: Probe, index: int) -> dict[str, torch.Tensor] | None:
    """The tensors of the file's `index`-th top-level module, read by the studio's non-executing reader
    (shapes only while sniffing, which passes probe.module_tree()); None for any other file."""
    tree = probe.module_tree()
    if tree is None or len(tree.modules()) <= index:
        return None
    return tree.modules()[index][1].state_dict()


def _pickled_weights(probe: Probe, index: int) -> dict[str, torch.Tensor]:
    return read_module_pickle(probe.path).modules()[index][1].state_dict()
'''


# -- anything else: a skeleton ----------------------------------------------------------------------------
def skeleton(sd: dict[str, torch.Tensor], probe: Probe) -> PluginSpec:
    """One guessed layer per weight, nested as the keys are, and a forward that runs them in order."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        mod, _, leaf = k.rpartition(".")
        layers.setdefault(mod, {})[leaf] = v
    tree: dict[str, Any] = {}
    for mod, params in layers.items():
        node = tree
        parts = mod.split(".") if mod else []
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1] if parts else "_root"] = ("layer", _guess_layer(params))
    body = _container_code(tree, 8)
    first = next(iter(sd.values()), None)
    z_dim = int(first.shape[1]) if first is not None and getattr(first, "ndim", 0) >= 2 else 0
    lines = ["class Net(nn.Module):",
             f"    \"\"\"{GUESS}: one layer per tensor group of the file; paste your own class here.\"\"\"",
             "", "    def __init__(self) -> None:", "        super().__init__()"]
    lines += [f"        self.{n} = {_item(code, comment, '')}" for n, code, comment in body]
    lines += ["", "    def forward(self, z: torch.Tensor) -> torch.Tensor:",
              f"        {GUESS}: runs the children in order; write the real forward (reshapes, skips)"]
    chain = "z"
    for n, _, _ in body:
        chain = f"self.{n}({chain})"
    lines.append(f"        return {chain}")
    keys = ", ".join(list(sd)[:3])
    return PluginSpec(what=f"a PyTorch state_dict of an unrecognised layout (keys {keys}, ...)",
                      network="\n".join(lines) + "\n", resolution=0, channels=3, z_dim=z_dim,
                      guesses=["every layer's type and arguments (only shapes are in the file)",
                               "activations and normalisation settings", "the forward",
                               "resolution and channels",
                               "the prior (normal)"], complete=False)


def _guess_layer(params: dict[str, torch.Tensor]) -> tuple[str, str]:
    """(code, GUESS comment) for the layer holding `params`."""
    w = params.get("weight")
    shape = tuple(w.shape) if w is not None else ()
    bias = "bias" in params
    if "running_mean" in params and len(shape) == 1:
        return f"nn.BatchNorm2d({shape[0]})", f"{GUESS}: BatchNorm1d or 2d? its eps?"
    if len(shape) == 2:
        return f"nn.Linear({shape[1]}, {shape[0]}, bias={bias})", ""
    if len(shape) == 4:
        return (f"nn.ConvTranspose2d({shape[0]}, {shape[1]}, {shape[2]}, bias={bias})",
                f"{GUESS}: or nn.Conv2d({shape[1]}, {shape[0]}, {shape[2]}); stride? padding?")
    if len(shape) == 1:
        return f"nn.LayerNorm({shape[0]})", f"{GUESS}: some norm layer with a weight of {shape[0]}"
    shapes = [tuple(v.shape) for v in params.values()]
    return "nn.Identity()", f"{GUESS}: tensors {sorted(params)} of shapes {shapes}"


def _item(code: str, comment: str, end: str = ",") -> str:
    return f"{code}{end}  {comment}" if comment else f"{code}{end}"


def _container_code(tree: dict[str, Any], indent: int) -> list[tuple[str, str, str]]:
    """(attribute, code, comment) per child: numbered children become an nn.Sequential (gaps filled with a
    guessed activation), named ones an nn.ModuleDict."""
    out = []
    for name, node in tree.items():
        if isinstance(node, tuple):
            out.append((name, *node[1]))
            continue
        pad = " " * (indent + 4)
        kids = _container_code(node, indent + 4)
        if all(k.isdigit() for k, _, _ in kids):
            have = {int(k): (c, m) for k, c, m in kids}
            items = [have.get(i, ("nn.ReLU()", f"{GUESS}: index {i} holds no tensors (an activation?)"))
                     for i in range(max(have) + 1)]
            inner = "".join(f"{pad}{_item(c, m)}\n" for c, m in items)
            out.append((name, f"nn.Sequential(\n{inner}{' ' * indent})", ""))
        else:
            inner = "".join(f"{pad}{_item(f'{k!r}: {c}', m)}\n" for k, c, m in kids)
            out.append((name, f"nn.ModuleDict({{\n{inner}{' ' * indent}}})", ""))
    return out

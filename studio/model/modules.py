"""Stages derived from an nn.Module, so a plain torch generator gets caching and feature access for free."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.fast_convt import accelerate

_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU, nn.Hardtanh,
                nn.Softplus, nn.Mish)


class ModuleStage:
    """A stage that applies one module to the previous stage's output.

    The first stage has no previous output: `input_fn` turns the context (its z) into the module's input.
    """

    def __init__(self, name: str, module: nn.Module, input_fn: Callable[[StageContext], Tensor] | None = None):
        self.name = name
        self.module = module
        self.input_fn = input_fn

    def inputs(self, ctx: StageContext) -> bytes:
        return b""

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        if x is None:
            if self.input_fn is None:
                raise ValueError(f"stage {self.name} needs an input")
            x = self.input_fn(ctx)
        return self.module(x)


def split_into_blocks(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """Named blocks of a feed-forward module, in execution order.

    A module with exactly one child is descended into (a `main` Sequential). A Sequential of leaf layers
    (pytorch/examples DCGAN) is grouped into layer+norm+activation blocks, ending a block after each
    activation; a module whose children are themselves containers uses each child as a block.
    """
    children = list(module.named_children())
    if len(children) == 1:
        name, child = children[0]
        return split_into_blocks(child, f"{prefix}{name}.")
    if not children:
        return [(prefix.rstrip(".") or "net", module)]
    if not isinstance(module, nn.Sequential):
        return [(f"{prefix}{n}", c) for n, c in children]
    if any(len(list(c.children())) for _, c in children):
        return [(f"{prefix}{n}", c) for n, c in children]
    blocks: list[tuple[str, nn.Module]] = []
    group: list[tuple[str, nn.Module]] = []
    for n, c in children:
        group.append((n, c))
        if isinstance(c, _ACTIVATIONS):
            blocks.append(_block(prefix, group))
            group = []
    if group:
        blocks.append(_block(prefix, group))
    return blocks


def _block(prefix: str, group: list[tuple[str, nn.Module]]) -> tuple[str, nn.Module]:
    first, last = group[0][0], group[-1][0]
    name = f"{prefix}{first}" if first == last else f"{prefix}{first}-{last}"
    return name, (group[0][1] if len(group) == 1 else nn.Sequential(*(m for _, m in group)))


def z_as_image(z_dim: int) -> Callable[[StageContext], Tensor]:
    """Input function for conv generators that take z as an (N, z_dim, 1, 1) image."""
    def fn(ctx: StageContext) -> Tensor:
        assert ctx.z is not None
        return ctx.z.reshape(-1, z_dim, 1, 1)
    return fn


def module_generator(module: nn.Module, info: ModelInfo, device: torch.device | str = "cpu",
                     model_id: str = "", input_fn: Callable[[StageContext], Tensor] | None = None,
                     blocks: Sequence[tuple[str, nn.Module]] | None = None) -> Generator:
    """A Generator from a feed-forward torch module: the helper a drop-in plugin calls.

    Stages come from `blocks` or from split_into_blocks(module); their names become info.layer_names.
    `input_fn` defaults to z as an (N, z_dim, 1, 1) image, the DCGAN convention.
    """
    module.eval()
    accelerate(module)
    blocks = list(blocks) if blocks is not None else split_into_blocks(module)
    input_fn = input_fn or z_as_image(info.z_dim)
    stages = [ModuleStage(n, m, input_fn if i == 0 else None) for i, (n, m) in enumerate(blocks)]
    if not info.layer_names:
        from dataclasses import replace
        info = replace(info, layer_names=tuple(s.name for s in stages))
    return Generator(info, stages, device=device, model_id=model_id, modules=[module])

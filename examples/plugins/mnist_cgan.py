"""Drop-in plugin for a class-conditional generator: a tutorial-style MNIST cGAN whose input is z concatenated
with the class as a one-hot vector (`torch.cat([z, F.one_hot(labels, 10)], 1)`), saved as a plain state_dict.

The studio hands the class to the first stage as `ctx.c`: (N, 10) floats, one-hot for one class, a blend of
classes for a class interpolation (the Class panel, the timeline, `--class`). See docs/plugins.md,
"Conditional generators".
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from studio.model.api import ConditionPart, Generator, ModelInfo, StageContext
from studio.model.modules import module_generator
from studio.model.probe import Probe

Z_DIM, N_CLASSES = 64, 10
DIGITS = tuple(str(d) for d in range(10))  # class names: the picker is searchable by them


class CondGenerator(nn.Module):
    """The user's network, exactly as trained: its attribute names match the checkpoint's keys."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Sequential(nn.Linear(Z_DIM + N_CLASSES, 256), nn.LeakyReLU(0.2)),
            nn.Sequential(nn.Linear(256, 512), nn.LeakyReLU(0.2)),
            nn.Sequential(nn.Linear(512, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28))),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(labels, N_CLASSES).float()
        return self.net(torch.cat([z, onehot], 1))


def first_input(ctx: StageContext) -> torch.Tensor:
    """What forward feeds the first Linear: z, then the class vector (already one-hot, or a blend)."""
    assert ctx.z is not None and ctx.c is not None
    return torch.cat([ctx.z, ctx.c], 1)


@lru_cache(maxsize=1)
def _expected_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in CondGenerator().state_dict().items()}


class MnistCGANPlugin:
    name = "MNIST cGAN (one-hot concatenated)"
    formats = "tutorial MNIST cGAN state_dict (z + one-hot label into an MLP)"

    def sniff(self, probe: Probe) -> float:
        sd = probe.state_dict()
        if sd is None:
            return 0.0
        return 1.0 if {k: tuple(v.shape) for k, v in sd.items()} == _expected_shapes() else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        net = CondGenerator()
        net.load_state_dict(probe.state_dict())
        info = ModelInfo(family="mnist-cgan", format="MNIST cGAN state_dict", resolution=28, channels=1,
                         z_dim=Z_DIM, c_dim=N_CLASSES, name=probe.path.stem,
                         condition_parts=(ConditionPart("digit", "classes", N_CLASSES, DIGITS),))
        # The stages are net's three blocks; the first one's input comes from z and the class
        return module_generator(net, info, device=device, model_id=probe.sha256, input_fn=first_input)


plugin = MnistCGANPlugin()

"""Drop-in plugin for a generator with its own architecture: the CelebA 32x32 face DCGAN of
fletchersarip93/face-generator (`generator.pt`, a plain state_dict).

Copy this file into your plugin folder (on Linux ~/.local/share/latent-studio/plugins; see docs/plugins.md
for the others) or point $LATENT_STUDIO_PLUGIN_PATH at the folder holding it, then open the checkpoint:
seeds, walks, caching and feature views all work, because the studio runs the network block by block.
To adapt it to your model: paste your nn.Module, describe it in ModelInfo, and adjust sniff.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from studio.model.api import Generator, ModelInfo
from studio.model.modules import module_generator
from studio.model.probe import Probe

Z_DIM = 100  # z is 100 values drawn uniformly from [-1, 1]


class FaceGenerator(nn.Module):
    """The user's network, exactly as trained. Its attribute names must match the checkpoint's keys."""

    def __init__(self) -> None:
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        # Each child of this Sequential becomes one stage (a cache point and a feature view).
        # Output sizes: 4x4 (no activation here), 4x4, 8x8, 16x16, then 32x32 RGB in [-1, 1].
        self.generator_deconv = nn.Sequential(
            nn.Sequential(nn.ConvTranspose2d(Z_DIM, 256, 4, 1, 0, bias=False), nn.BatchNorm2d(256)),
            nn.Sequential(nn.Conv2d(256, 128, 3, 1, 1, bias=False), nn.BatchNorm2d(128), act()),
            nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), act()),
            nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), act()),
            nn.Sequential(nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Tanh()),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator_deconv(z.reshape(-1, Z_DIM, 1, 1))


@lru_cache(maxsize=1)
def _expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key and tensor shape this network has: the fingerprint a checkpoint must match."""
    with torch.device("meta"):  # builds the network without allocating or initialising weights
        return {k: tuple(v.shape) for k, v in FaceGenerator().state_dict().items()}


class CelebaDCGAN32Plugin:
    name = "CelebA DCGAN 32 (face-generator)"
    formats = "face-generator generator.pt state_dict"

    def sniff(self, probe: Probe) -> float:
        """Recognise the file by content (key names and shapes), never by its file name."""
        sd = probe.state_dict()  # None unless the file is a name->tensor dict (loaded safely, once)
        if sd is None:
            return 0.0
        return 1.0 if {k: tuple(v.shape) for k, v in sd.items()} == _expected_shapes() else 0.0

    def load(self, probe: Probe, device: torch.device) -> Generator:
        net = FaceGenerator()
        net.load_state_dict(probe.state_dict())  # strict: a missing or extra key is an error
        info = ModelInfo(family="celeba-dcgan32", format="face-generator state_dict", resolution=32,
                         channels=3, z_dim=Z_DIM, prior="uniform", name=probe.path.stem)
        # Stages come from the module's blocks; module_generator also puts it in eval mode (BatchNorm).
        return module_generator(net, info, device=device, model_id=probe.sha256)


plugin = CelebaDCGAN32Plugin()  # the registry looks for this name

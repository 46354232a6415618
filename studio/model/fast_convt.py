"""A faster transposed convolution for small CPU batches.

On CPU, torch's ConvTranspose2d (oneDNN) re-lays out its weights on every call; at batch 1 that costs more
than the arithmetic (a 512->256 DCGAN layer: 5 ms, against 2 ms as one matmul plus col2im). Which path
wins depends on the shapes, and `prefers_fold` decides it by a fixed rule of the shapes alone.

It used to time both paths inside the first forward of each shape. On a loaded machine (a UI thread, an
export and the render worker share the cores) those timings are noise, so the choice, and with it the last
bits of every pixel, changed from run to run, and the first frame paid for six extra calls. Both paths
compute the same sum in a different order, so outputs agree to float32 rounding (about 1e-7), but the same
recipe should give the same bytes in every session.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


# Below this many input positions (N * H * W) per input channel, the layer is a thin matrix product
# (DCGAN's z projection at 1x1, its 512->256 layer at 4x4 at batch 1) and re-laying out the weights dominates.
THIN_POSITIONS_PER_CHANNEL = 1 / 32
# Fewer output channels than one SIMD vector (an RGB output layer) leave oneDNN's kernel, which vectorises
# over output channels, mostly idle; col2im stays cheaper until its buffer outgrows the caches.
NARROW_OUT_CHANNELS = 8
NARROW_MAX_POSITIONS = 16384


def prefers_fold(n: int, cin: int, cout: int, h: int, w: int) -> bool:
    """Whether matmul + col2im beats torch's ConvTranspose2d for this input shape: a fixed rule, so the
    choice (and the output's last bits) never depends on machine load.

    Fitted to single-thread medians on x86 (torch 2.13, oneDNN): fold was 1.2-4x faster in both cases below
    and 1.1-2.6x slower everywhere else measured (DCGAN widths 64-512, 1x1 to 64x64 inputs, batch 1-16)."""
    positions = n * h * w
    return positions <= cin * THIN_POSITIONS_PER_CHANNEL or (
        cout < NARROW_OUT_CHANNELS and positions <= NARROW_MAX_POSITIONS)


class AutoConvTranspose2d(nn.ConvTranspose2d):
    """Drop-in subclass (same parameters and state_dict keys); see `accelerate` for how it is installed."""

    _folded: tuple[int, Tensor] | None

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:  # type: ignore[override]
        if x.device.type != "cpu" or x.dim() != 4 or output_size is not None or torch.is_grad_enabled():
            return super().forward(x, output_size)
        n, cin, h, w = x.shape
        if prefers_fold(n, cin, self.out_channels, h, w):
            return self._fold_forward(x)
        return super().forward(x)

    def _weight_matrix(self) -> Tensor:
        """(C_out * kh * kw, C_in) copy of the weight, rebuilt only when the weight changes."""
        version = self.weight._version
        if self._folded is None or self._folded[0] != version or self._folded[1].device != self.weight.device:
            cin = self.weight.shape[0]
            self._folded = (version, self.weight.detach().reshape(cin, -1).t().contiguous())
        return self._folded[1]

    def _fold_forward(self, x: Tensor) -> Tensor:
        n, cin, h, w = x.shape
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph, pw = self.padding
        ho, wo = (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw
        cols = torch.matmul(self._weight_matrix(), x.reshape(n, cin, h * w))
        y = F.fold(cols, (ho, wo), (kh, kw), stride=(sh, sw), padding=(ph, pw))
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y


def accelerate(module: nn.Module) -> int:
    """Switch the plain transposed convolutions inside `module` to AutoConvTranspose2d; returns how many."""
    n = 0
    for m in module.modules():
        if (type(m) is nn.ConvTranspose2d and m.groups == 1 and m.dilation == (1, 1)
                and m.output_padding == (0, 0) and m.padding_mode == "zeros"):
            m.__class__ = AutoConvTranspose2d
            m._folded = None
            n += 1
    return n

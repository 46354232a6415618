"""The low-level operators StyleGAN needs, in plain PyTorch (no compiled extensions, so they run anywhere).

Written from the papers' definitions: FIR resampling (upfirdn2d), bias + activation with gain and clamp, and
weight-modulated convolution. Layouts and rounding order follow the official CPU reference paths closely so
reimplemented networks agree with official outputs to float32 precision.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

SQRT2 = math.sqrt(2.0)


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale each row to unit mean square (StyleGAN's 'pixel norm' of z and of the class embedding)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(x: Tensor, b: Tensor | None, act: str = "linear", gain: float = 1.0,
             clamp: float | None = None, alpha: float = 0.2, inplace: bool = False) -> Tensor:
    """x + b (broadcast on dim 1), then the activation, then * gain, then clamp to [-clamp, clamp].

    `inplace` overwrites x (a fresh conv output nobody else holds): same values, no full-size temporaries,
    which matters at 256x256 and up on CPU.
    """
    if torch.is_grad_enabled() and x.requires_grad:  # training: in-place ops would break the backward pass
        return _bias_act_autograd(x, b, act, gain, clamp, alpha)
    if not inplace:
        x = x.clone()
    if b is not None:
        x.add_(b.reshape([1, -1] + [1] * (x.ndim - 2)))
    if act == "lrelu":
        F.leaky_relu_(x, alpha)
    elif act != "linear":
        raise ValueError(f"unsupported activation {act!r}")
    if gain != 1:
        x.mul_(gain)
    if clamp is not None and clamp >= 0:
        x.clamp_(-clamp, clamp)
    return x


def _bias_act_autograd(x: Tensor, b: Tensor | None, act: str, gain: float, clamp: float | None,
                       alpha: float) -> Tensor:
    """bias_act's maths out of place, so autograd keeps the tensors its backward pass needs."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, alpha)
    elif act != "linear":
        raise ValueError(f"unsupported activation {act!r}")
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: Tensor, f: Tensor, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0,
              flip_filter: bool = False) -> Tensor:
    """Zero-stuff by `up`, pad (x0, x1, y0, y1; negative crops), convolve with FIR f, keep every `down`-th.

    f is 2-D, or 1-D for a separable filter applied along both axes. Depthwise: one filter for all channels,
    vectorised as a grouped convolution so the whole batch and every channel go in one call.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if f.ndim == 1 and (_exporting() or x.device.type != "cpu"):
        # a graph for ONNX (no data-dependent matrices), or a GPU (whose depthwise kernels are fast, and where
        # keying the matrix cache by the taps would sync the device every layer): the depthwise form
        f = (f * gain ** 0.5).to(x.dtype)
        x = _fir_axis(x, f, up, down, px0, px1, axis=3, flip=not flip_filter)
        return _fir_axis(x, f, up, down, py0, py1, axis=2, flip=not flip_filter)
    if f.ndim == 1:  # separable: each axis is one matrix product (see _fir_matrix)
        f = f * gain ** 0.5
        tw = _fir_matrix(f, up, down, px0, px1, w, not flip_filter).to(x.dtype)
        th = _fir_matrix(f, up, down, py0, py1, h, not flip_filter).to(x.dtype)
        return torch.matmul(th.t(), torch.matmul(x, tw))
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:  # true convolution, as the signal-processing definition has it
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, f.shape[0]), groups=c)
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, f.shape[0], 1), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def _fir_matrix(f: Tensor, up: int, down: int, p0: int, p1: int, n: int, flip: bool) -> Tensor:
    """The (n, n_out) matrix of one axis's upfirdn: row i holds what input sample i adds to each output.

    Depthwise FIR convolutions with long taps (StyleGAN3's 12-24) and strides have no fast CPU kernel (0.25
    GFLOP/s measured, in fp32 and worse in bf16), while a matrix product runs at the machine's GEMM rate, in
    bf16 too: so each axis becomes x @ T. T is small (n is a layer's width) and built by running the
    polyphase operator on the identity, so the maths lives in _fir_axis alone.
    """
    key = (tuple(f.detach().cpu().double().tolist()), up, down, p0, p1, n, flip, str(f.device))
    hit = _FIR_MATRICES.get(key)
    if hit is None:  # built as a normal tensor even during a render: an inference tensor in the cache would
        # break the next differentiable run (a projection, a drag), which cannot save it for backward
        with torch.inference_mode(False), torch.no_grad():
            eye = torch.eye(n, dtype=torch.float64, device=f.device).reshape(n, 1, 1, n)
            ff = f.detach().clone().double()
            hit = _fir_axis(eye, ff, up, down, p0, p1, axis=3, flip=flip).reshape(n, -1).float()
        if len(_FIR_MATRICES) > 256:
            _FIR_MATRICES.clear()
        _FIR_MATRICES[key] = hit
    return hit


_FIR_MATRICES: dict[tuple, Tensor] = {}


def _exporting() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(torch.jit.is_tracing() or (compiler is not None and compiler.is_compiling()))


def _fir_axis(x: Tensor, f: Tensor, up: int, down: int, p0: int, p1: int, axis: int, flip: bool) -> Tensor:
    """upfirdn along one axis (3: width, 2: height) of NCHW `x`: stuff `up`-1 zeros, pad p0/p1 (negative
    crops), convolve with the 1-D FIR `f` (`flip`: true convolution), keep every `down`-th sample.

    The same sums as stuffing zeros and slicing afterwards, computed without either: upsampling is a
    transposed convolution with stride `up` (only the taps that meet real samples), downsampling a
    convolution with stride `down` (only the outputs kept), depthwise and vectorised over batch and channels.
    """
    c, k = x.shape[1], f.shape[0]
    g = f.flip(0) if flip else f  # correlation kernel of the convolution asked for
    shape = (c, 1, 1, k) if axis == 3 else (c, 1, k, 1)
    one = (1, 1, 1, k) if axis == 3 else (1, 1, k, 1)
    stride = (1, down) if axis == 3 else (down, 1)
    n_in = x.shape[axis]
    if up == 1:
        pad = [max(p0, 0), max(p1, 0), 0, 0] if axis == 3 else [0, 0, max(p0, 0), max(p1, 0)]
        x = F.pad(x, pad)
        x = x.narrow(axis, max(-p0, 0), x.shape[axis] - max(-p0, 0) - max(-p1, 0))
        return F.conv2d(x, g.reshape(one).expand(shape), stride=stride, groups=c)
    # stuffed length n_in*up, padded: out[j] = sum_t s[j + t - p0] g[t] = full[j + k - 1 - p0], where
    # full = conv_transpose(x, g flipped) = sum_i x[i] f'[q - i*up] over the real samples only.
    full = F.conv_transpose2d(x, g.flip(0).reshape(one).expand(shape), stride=(1, up) if axis == 3 else
                              (up, 1), groups=c)
    length = n_in * up + p0 + p1 - k + 1
    start = k - 1 - p0
    left, right = max(-start, 0), max(start + length - full.shape[axis], 0)
    if left or right:
        full = F.pad(full, [left, right, 0, 0] if axis == 3 else [0, 0, left, right])
    out = full.narrow(axis, start + left, length)
    if down > 1:
        out = out[:, :, :, ::down] if axis == 3 else out[:, :, ::down, :]
    return out


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """2x FIR upsampling that keeps the image centred (used for the skip-architecture RGB accumulator)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def fuse(allowed: bool, batch: int) -> bool:
    """Whether a modulated conv runs grouped (per-sample weights) or unfused (one shared convolution).

    A deterministic rule, not a timing: a grouped convolution with a batch-sized group count runs each
    sample's small convolution separately, and on CPUs a batch of 8 cost 4-5x per image what one sample
    did, while the unfused form turns the batch into one large GEMM. A single sample keeps the grouped
    form, so interactive frames and batch-1 exports stay bit-identical to earlier renders.
    """
    return allowed and batch == 1


def demodulation(weight: Tensor, styles: Tensor) -> Tensor:
    """1 / |w * s| per sample and output channel ([N, O]) without forming the per-sample weights:
    sum over inputs and taps of (w_oik s_ni)^2 = s_n^2 @ (sum_k w_oik^2)^T, a small matmul."""
    return (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, up: int = 1,
                     resample_filter: Tensor | None = None, fused: bool = True) -> Tensor:
    """Per-sample modulated (and demodulated) 'same' convolution, optionally 2x transposed-conv upsampling.

    Fused: the batch is folded into groups so every sample's own weights run in one convolution call.
    Not fused: the styles scale the activations around one shared convolution instead (the same maths up to
    float rounding); its graph has no batch-sized group count, which is what an ONNX export with a dynamic
    batch needs. weight: [O, I, k, k]; styles: [N, I].

    `fused` allows the grouped form; it is used only for a single sample (see `fuse`).
    """
    if not fuse(fused, x.shape[0]):
        return _modulated_conv2d_unfused(x, weight, styles, demodulate, up, resample_filter)
    n, _, h, w_ = x.shape
    o, i, kh, kw = weight.shape
    wts = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)
    if demodulate:
        wts = wts * (wts.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, o, 1, 1, 1)
    x = x.reshape(1, n * i, h, w_)
    if up == 1:
        out = F.conv2d(x, wts.reshape(n * o, i, kh, kw), padding=kh // 2, groups=n)
    else:
        assert resample_filter is not None
        wt = wts.transpose(1, 2).reshape(n * i, o, kh, kw)
        out = F.conv_transpose2d(x, wt, stride=up, groups=n)
        fw = resample_filter.shape[-1]
        pad = kw // 2
        p0 = pad + (fw + up - 1) // 2 - (kw - 1)
        p1 = pad + (fw - up) // 2 - (kw - up)
        out = upfirdn2d(out, resample_filter, padding=(p0, p1, p0, p1), gain=up * up)
    return out.reshape(n, o, *out.shape[2:])


def _modulated_conv2d_unfused(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool, up: int,
                              resample_filter: Tensor | None) -> Tensor:
    kh, kw = weight.shape[2:]
    x = x * styles[:, :, None, None]
    if up == 1:
        out = F.conv2d(x, weight, padding=kh // 2)
    else:
        assert resample_filter is not None
        out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up)
        fw = resample_filter.shape[-1]
        pad = kw // 2
        p0 = pad + (fw + up - 1) // 2 - (kw - 1)
        p1 = pad + (fw - up) // 2 - (kw - up)
        out = upfirdn2d(out, resample_filter, padding=(p0, p1, p0, p1), gain=up * up)
    if demodulate:
        out = out * demodulation(weight, styles).to(out.dtype)[:, :, None, None]
    return out

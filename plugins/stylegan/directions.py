"""SeFa: closed-form semantic directions from a StyleGAN's style (modulation) weights.

The style inputs [start, stop) act on the image only through the affine layers that read them, so the
directions in W those layers amplify most (eigenvectors of A^T A over their stacked, row-normalised weights)
are the edits with the largest effect there. No sampling, so it takes milliseconds.
"""
from __future__ import annotations

import numpy as np
import torch

from studio.core.directions import DirectionSet


def affine_weights(net: torch.nn.Module, start: int, stop: int) -> np.ndarray:
    """Stacked affine weights [sum of units, w_dim] of every layer reading a style row in [start, stop)."""
    rows: list[np.ndarray] = []
    if hasattr(net.cfg, "layers"):  # StyleGAN3: row 0 is the input, row i + 1 layer i
        mods = [net.synthesis.input] + net.synthesis.layers()
        rows = [m.affine.weight.detach().cpu().numpy() for r, m in enumerate(mods) if start <= r < stop]
    else:
        blocks = {f"b{b.res}": b for b in net.synthesis.blocks()}
        for op in net.synthesis.ops():
            if any(start <= r < stop for r in op.rows):
                name = op.name.split(".")
                blk = blocks[name[0]]
                layers = [blk.conv0, blk.conv1] if len(name) == 1 else [getattr(blk, name[1])]  # resnet op
                rows += [layer.affine.weight.detach().cpu().numpy() for layer in layers]
    if not rows:
        raise ValueError(f"no style input in [{start}, {stop})")
    return np.concatenate(rows, axis=0).astype(np.float64)


def sefa_directions(net: torch.nn.Module, k: int = 10, layers: tuple[int, int] | None = None) -> DirectionSet:
    """The top-k SeFa directions in W for style inputs `layers` (default all), strongest first."""
    start, stop = layers if layers is not None else (0, net.cfg.num_ws)
    a = affine_weights(net, start, stop)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    evals, evecs = np.linalg.eigh(a.T @ a)
    order = np.argsort(evals)[::-1][:k]
    vt = evecs[:, order].T
    vt = vt * np.sign(vt[np.arange(len(order)), np.abs(vt).argmax(axis=1)])[:, None]  # reproducible signs
    explained = (evals[order] / evals.sum()).astype(np.float32)
    return DirectionSet("sefa", "w", vt.astype(np.float32), explained=explained)

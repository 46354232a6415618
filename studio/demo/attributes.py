"""Attribute model for the ToyFaces demo world.

A small CNN that reads every ToyFaces factor back from an image. It is the
"ground-truth oracle" for generated faces: it scores whether a latent edit
really added glasses, and its penultimate features give a toy FID, so demo
generators can be judged without Inception weights or real data.

Inputs follow the generators' convention: float NCHW in [-1, 1], 64x64 (other
sizes are resized). Checkpoints are safetensors with the architecture as JSON
metadata, so loading never unpickles anything.

    python -m studio.demo.attributes --steps 1200 --out checkpoints/attributes.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from studio.atomic import write_atomic
from studio.demo import toyfaces
from studio.demo.toyfaces import BINARY_ATTRIBUTES, CONTINUOUS_FACTORS

FORMAT = "latent-studio/toyfaces-attribute-net"
FORMAT_VERSION = 1
IMAGE_SIZE = toyfaces.SIZE
# Third seed word tags training batches, so they never coincide with sample(n, seed=int),
# which evaluation uses (numpy pads short seed sequences with zeros).
_TRAIN_TAG = 0xA77B


class AttributeNet(nn.Module):
    """Four stride-2 conv blocks and one hidden layer; ~0.25 M parameters (< 1 MB in fp32)."""

    def __init__(self, widths: Sequence[int] = (24, 48, 96, 64), feature_dim: int = 128):
        super().__init__()
        self.config = {"widths": list(widths), "feature_dim": feature_dim}
        layers: list[nn.Module] = []
        c_in = 3
        for c in widths:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        self.body = nn.Sequential(*layers)
        side = IMAGE_SIZE // 2 ** len(widths)
        # Flatten rather than global-pool: position is one of the factors to recover.
        self.hidden = nn.Linear(c_in * side * side, feature_dim)
        self.binary_head = nn.Linear(feature_dim, len(BINARY_ATTRIBUTES))
        self.continuous_head = nn.Linear(feature_dim, len(CONTINUOUS_FACTORS))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (N, feature_dim) activations; the embedding used by ``toy_fid``."""
        return F.relu(self.hidden(self.body(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(binary logits (N, 6), continuous regressions (N, 7)) in the toyfaces name orders."""
        f = self.features(x)
        return self.binary_head(f), self.continuous_head(f)


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Convert images to the model's float NCHW [-1, 1] 64x64 input.

    numpy arrays are taken as images, (N,)H,W,3; torch tensors as model tensors,
    (N,)3,H,W. uint8 means 0..255, floats are taken to be in [-1, 1] already.
    """
    if isinstance(images, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(images))
        x = x.unsqueeze(0) if x.ndim == 3 else x
        x = x.permute(0, 3, 1, 2)
    elif isinstance(images, torch.Tensor):
        x = images.unsqueeze(0) if images.ndim == 3 else images
    else:
        raise TypeError(f"expected numpy array or torch tensor, got {type(images).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images, got shape {tuple(images.shape)}")
    x = x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float()
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        shrink = x.shape[-1] > IMAGE_SIZE
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="area" if shrink else "bilinear",
                          **({} if shrink else {"align_corners": False}))
    return x.contiguous()


def _batches(x: torch.Tensor, size: int):
    for a in range(0, len(x), size):
        yield x[a:a + size]


@torch.no_grad()
def predict(net: AttributeNet, images: np.ndarray | torch.Tensor, batch: int = 256) -> dict[str, np.ndarray]:
    """{attribute: probability (N,)} for binary attributes and {factor: value (N,)} for continuous ones."""
    net.eval()
    logits, regs = zip(*(net(b) for b in _batches(to_input(images), batch)))
    probs = torch.sigmoid(torch.cat(logits)).numpy()
    values = torch.cat(regs).numpy()
    out = {name: probs[:, i] for i, name in enumerate(BINARY_ATTRIBUTES)}
    out.update({name: values[:, i] for i, name in enumerate(CONTINUOUS_FACTORS)})
    return out


@torch.no_grad()
def extract_features(net: AttributeNet, images: np.ndarray | torch.Tensor, batch: int = 256) -> np.ndarray:
    """(N, feature_dim) float64 features for ``toy_fid``."""
    net.eval()
    return torch.cat([net.features(b) for b in _batches(to_input(images), batch)]).double().numpy()


def toy_fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    tr(sqrt(Ca Cb)) is computed as the trace of sqrt(sqrt(Ca) Cb sqrt(Ca)), a
    symmetric PSD matrix, via eigh; unlike scipy's sqrtm this never goes complex
    or blows up on the rank-deficient covariances of small samples.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (N>=2, D) feature arrays of equal D, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    cross = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    tr_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    fid = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_sqrt)
    return max(fid, 0.0)


def _batch_tensors(batch: toyfaces.ToyFacesBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return to_input(batch.images), torch.from_numpy(batch.binary), torch.from_numpy(batch.continuous)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Separable 5-tap Gaussian blur of NCHW images with one sigma per image (or one for all)."""
    n, c, h, w = x.shape
    sigma = torch.as_tensor(sigma, dtype=x.dtype).clamp_min(1e-3).expand(n)
    t = torch.arange(-2, 3, dtype=x.dtype)
    k = torch.exp(-t[None] ** 2 / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, 5)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (2, 2, 0, 0), mode="replicate"), k[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, 2, 2), mode="replicate"), k[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def _degrade(x: torch.Tensor) -> torch.Tensor:
    """Random blur on half the batch plus mild noise: generated faces are softer and noisier than
    renders, and a net trained only on crisp renders misreads thin glasses frames once blurred.
    Colour is left alone because skin tone, background and lighting are labels."""
    n = len(x)
    blurred = gaussian_blur(x, torch.empty(n).uniform_(0.3, 1.3))
    x = torch.where((torch.rand(n) < 0.5)[:, None, None, None], blurred, x)
    return (x + torch.randn_like(x) * torch.rand(n, 1, 1, 1) * 0.06).clamp(-1.0, 1.0)


def train_attribute_model(steps: int = 1200, batch: int = 64, seed: int = 0, lr: float = 2e-3,
                          log: Callable[[str], None] | None = print, log_every: int = 250) -> AttributeNet:
    """Train on fresh ToyFaces every step (no epochs, no overfitting).

    Runs on one thread: the result is then bit-reproducible for a seed, and the
    demo must not take over the user's machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = AttributeNet()
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
        net.train()
        t0 = time.perf_counter()
        for step in range(steps):
            x, yb, yc = _batch_tensors(toyfaces.sample(batch, seed=(seed, step, _TRAIN_TAG)))
            logits, regs = net(_degrade(x))
            loss_b = F.binary_cross_entropy_with_logits(logits, yb)
            loss_c = F.mse_loss(regs, yc)
            opt.zero_grad(set_to_none=True)
            (loss_b + loss_c).backward()
            opt.step()
            sched.step()
            if log is not None and (step + 1) % log_every == 0:
                log(f"step {step + 1}/{steps}  bce {loss_b.item():.4f}  mse {loss_c.item():.4f}  "
                    f"{time.perf_counter() - t0:.0f}s")
        net.eval()
        return net
    finally:
        torch.set_num_threads(threads)


def evaluate(net: AttributeNet, n: int = 2000, seed: int = 20240601, blur: float = 0.0) -> dict[str, float]:
    """Accuracy per binary attribute and mean absolute error per continuous factor on fresh faces,
    optionally blurred (sigma in pixels) to check the oracle copes with soft generator output."""
    data = toyfaces.sample(n, seed=seed)
    x = to_input(data.images)
    pred = predict(net, gaussian_blur(x, blur) if blur > 0 else x)
    out = {name: float(((pred[name] > 0.5) == (data.binary[:, i] > 0.5)).mean())
           for i, name in enumerate(BINARY_ATTRIBUTES)}
    out.update({f"{name}_mae": float(np.abs(pred[name] - data.continuous[:, i]).mean())
                for i, name in enumerate(CONTINUOUS_FACTORS)})
    return out


def save(net: AttributeNet, path: str | Path, half: bool = False, info: dict | None = None) -> None:
    """Write safetensors; architecture (and optional provenance) go in the JSON metadata."""
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous()
               for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "version": str(FORMAT_VERSION), "config": json.dumps(net.config),
            "binary_attributes": json.dumps(BINARY_ATTRIBUTES),
            "continuous_factors": json.dumps(CONTINUOUS_FACTORS), "info": json.dumps(info or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load(path: str | Path) -> AttributeNet:
    """Rebuild the net from metadata and load weights (fp16 checkpoints come back as fp32)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} checkpoint")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint version {meta['version']} is newer than supported")
    names = (tuple(json.loads(meta["binary_attributes"])), tuple(json.loads(meta["continuous_factors"])))
    if names != (BINARY_ATTRIBUTES, CONTINUOUS_FACTORS):
        raise ValueError(f"{path}: trained for different factors {names}")
    net = AttributeNet(**json.loads(meta["config"]))
    net.load_state_dict(tensors)  # copies cast fp16 storage back to the fp32 parameters
    return net.eval()


def checkpoint_info(path: str | Path) -> dict:
    """Provenance saved with the checkpoint (steps, seed, accuracies...)."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("info", "{}"))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m studio.demo.attributes",
                                 description="Train the ToyFaces attribute model and save it.")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", type=Path, default=Path("checkpoints/toyfaces_attributes.safetensors"))
    ap.add_argument("--half", action="store_true", help="store weights as fp16 (half the size)")
    ap.add_argument("--eval-n", type=int, default=4000)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # a demo tool; leave the other cores to the user
    t0, c0 = time.perf_counter(), time.process_time()
    net = train_attribute_model(args.steps, args.batch, args.seed, args.lr)
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    metrics = evaluate(net, n=args.eval_n)
    blurred = evaluate(net, n=args.eval_n, blur=1.0)
    metrics.update({f"{name}_blur1": blurred[name] for name in BINARY_ATTRIBUTES})
    for name in BINARY_ATTRIBUTES:
        print(f"{name:12s} accuracy {metrics[name]:.4f}  (blurred, sigma 1 px: {blurred[name]:.4f})")
    for name in CONTINUOUS_FACTORS:
        print(f"{name:12s} MAE      {metrics[name + '_mae']:.4f}")
    info = {"steps": args.steps, "batch": args.batch, "seed": args.seed, "train_seconds": round(train_s, 1),
            "train_cpu_seconds": round(train_cpu_s, 1),
            "metrics": {k: round(v, 4) for k, v in metrics.items()}}
    save(net, args.out, half=args.half, info=info)
    print(f"trained in {train_s:.0f}s wall, {train_cpu_s:.0f}s CPU; "
          f"saved {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""ONNX graphs as studio stages: each stage is one InferenceSession, so walks, caching and features work
exactly as for torch families (the engine sees stages that take and return tensors)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from latent_studio_plugins.onnx.graph import FLOAT, TensorSpec
from studio.model.api import Generator, ModelInfo, StageContext


class ORTStage:
    """One ONNX graph. The first stage feeds the latent (and label) from the context; later stages feed
    the previous stage's output. The last one maps the declared output range onto [-1, 1]."""

    def __init__(self, name: str, session: Any, output: str, latent: TensorSpec | None = None,
                 label: TensorSpec | None = None, num_classes: int = 0,
                 out_range: tuple[float, float] = (-1.0, 1.0),
                 first_feeds: Callable[[StageContext], dict[str, np.ndarray]] | None = None,
                 reads: Callable[[StageContext], bytes] | None = None):
        self.first_feeds = first_feeds  # a first stage fed something other than a latent (a photo)
        self.reads = reads
        self.name = name
        self.session = session
        self.output = output
        self.latent = latent
        self.label = label
        self.num_classes = num_classes
        self.out_range = out_range
        self.input_name = session.get_inputs()[0].name

    def inputs(self, ctx: StageContext) -> bytes:
        return self.reads(ctx) if self.reads is not None else b""

    def feeds(self, x: Tensor | None, ctx: StageContext) -> dict[str, np.ndarray]:
        if x is not None:
            return {self.input_name: _numpy(x)}
        if self.first_feeds is not None:
            return self.first_feeds(ctx)
        assert self.latent is not None and ctx.z is not None
        z = _numpy(ctx.z).reshape((-1, ctx.z.shape[-1]) + (1,) * (self.latent.rank - 2))
        feeds = {self.latent.name: z}
        if self.label is not None:
            n = z.shape[0]
            c = _numpy(ctx.c) if ctx.c is not None else np.zeros((n, max(self.num_classes, 1)), np.float32)
            if self.label.elem_type == FLOAT:
                feeds[self.label.name] = c.astype(np.float32)
            else:  # an integer class index: the condition vector's largest entry
                idx = c.argmax(axis=1).astype(np.int64 if self.label.elem_type == 7 else np.int32)
                feeds[self.label.name] = idx.reshape((n,) + (1,) * (self.label.rank - 1))
        return feeds

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        out = self.session.run([self.output], self.feeds(x, ctx))[0]
        lo, hi = self.out_range
        if (lo, hi) != (-1.0, 1.0):
            out = (out - lo) * (2.0 / (hi - lo)) - 1.0
        ref = ctx.z if ctx.z is not None else x if x is not None else ctx.c
        device = ref.device if ref is not None else torch.device("cpu")
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(device)


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).contiguous().numpy()


class ONNXGenerator(Generator):
    """A generator run by ONNX Runtime; `providers` and `notes` say where it runs and what fell back."""

    def __init__(self, info: ModelInfo, stages: Sequence[ORTStage], device: torch.device | str = "cpu",
                 model_id: str = "", notes: Sequence[str] = ()):
        super().__init__(info, stages, device=device, model_id=model_id)
        self.notes = list(notes)

    @property
    def providers(self) -> list[str]:
        return list(self.stages[0].session.get_providers())  # type: ignore[attr-defined]


def detect_range(stages: Sequence[ORTStage], z_dim: int, prior: str) -> tuple[tuple[float, float], Tensor]:
    """The output range ([-1, 1], [0, 1] or [0, 255]) from a few latents, and the raw images seen."""
    from studio.core.latents import seeds_to_z

    ctx = StageContext(z=torch.from_numpy(seeds_to_z(range(4), z_dim, prior)))
    x = None
    for s in stages:
        x = torch.from_numpy(s.session.run([s.output], s.feeds(x, ctx))[0])
    assert x is not None
    lo, hi = float(x.min()), float(x.max())
    if lo < -0.1:
        return (-1.0, 1.0), x
    if hi > 1.5:
        return (0.0, 255.0), x
    return (0.0, 1.0), x

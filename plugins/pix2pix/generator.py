"""pix2pix / CycleGAN translators as studio Generators: a photo in, the translated photo out, in stages.

Each network block is a stage, so features can be read and units dropped per block. The U-Net's skip
connections ride along in each stage's output behind its own features (pixel-unshuffled to the stage's size,
a lossless rearrangement); `features(out)` returns the block's own channels, which is what the feature view
shows and unit edits change. A CycleGAN cycle (A->B->A) is G_A's stages followed by G_B's.

How the network runs (test.py's default "as trained", or "eval"; dropout) is the generator's setting, picked
through `choose` as ModelInfo.choices, so each variant has its own model_id and cache entries.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latent_studio_plugins.pix2pix.norms import AS_TRAINED, MODES, RunState, running
from latent_studio_plugins.pix2pix.network import ResnetGenerator, UnetGenerator
from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.model.api import Generator, ModelInfo, StageContext
from studio.model.photo_input import IMAGE, IMAGE_KEY, PhotoTranslator, photo_context, photo_key

RUN, PINNED, PIN_AFTER = "pix2pix_run", "pix2pix_pinned", "pix2pix_pin_after"  # StageContext.extras keys
LUMA = (0.299, 0.587, 0.114)  # PIL's convert("L"), what the official Grayscale(1) does for input_nc=1


class BlockStage:
    """One block: `fn` maps the previous stage's output (the photo for the first stage) to this one's; the
    first `lead` channels of the output are the block's features (all when None)."""

    def __init__(self, name: str, fn: Callable[[Tensor], Tensor], modules: Sequence[nn.Module],
                 lead: int | None = None, reads_photo: bool = False):
        self.name, self.fn, self.lead, self.reads_photo = name, fn, lead, reads_photo
        self.modules = list(modules)
        self.index = 0  # set by the generator

    def inputs(self, ctx: StageContext) -> bytes:
        return photo_key(ctx) if self.reads_photo else b""

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor:
        if self.reads_photo or x is None:
            x = ctx.extras[IMAGE]
        state: RunState = ctx.extras.get(RUN) or RunState()
        pinned = ctx.extras.get(PINNED)
        if pinned is not None and self.index > ctx.extras[PIN_AFTER]:
            state = replace(state, pinned=pinned)
        with running(state):
            return self.fn(x)

    def features(self, out: Tensor) -> Tensor:
        return out if self.lead is None else out[:, :self.lead]


def resnet_stages(net: ResnetGenerator, prefix: str = "") -> list[BlockStage]:
    return [BlockStage(prefix + n, m, [m]) for n, m in net.blocks()]


def unet_stages(net: UnetGenerator, prefix: str = "") -> list[BlockStage]:
    """down1..downD, upD-1..up1, output; see the module docstring for what rides behind the features."""
    chain = net.chain()
    depth = len(chain)  # num_downs
    inner_nc = chain[-1].model[1].out_channels
    chans = [b.channels for b in chain]  # chans[k]: channels of a_k, the input of block k (k >= 1)
    stages = [BlockStage(prefix + "down1", chain[0].down(), [chain[0].down()])]

    def down(k: int) -> Callable[[Tensor], Tensor]:  # block k-1's down path: a_{k-1} -> a_k
        mod, c_prev = chain[k - 1].down(), chans[k - 1]

        def fn(x: Tensor) -> Tensor:
            return torch.cat([mod(x[:, :c_prev]), F.pixel_unshuffle(x, 2)], 1)
        return fn

    for k in range(2, depth + 1):
        lead = inner_nc if k == depth else chans[k]
        stages.append(BlockStage(prefix + f"down{k}", down(k), [chain[k - 1].down()], lead=lead))

    def up(k: int) -> Callable[[Tensor], Tensor]:  # block k's up path, then its skip concat
        mod = chain[k].up()
        lead_in = inner_nc if k == depth - 1 else 2 * chans[k + 1]

        def fn(x: Tensor) -> Tensor:
            carried = F.pixel_shuffle(x[:, lead_in:], 2)  # a_k, then the skips of the levels above
            skip = carried[:, :chans[k]]
            return torch.cat([skip, mod(x[:, :lead_in]), carried[:, chans[k]:]], 1)
        return fn

    for k in range(depth - 1, 0, -1):
        stages.append(BlockStage(prefix + f"up{k}", up(k), [chain[k].up()], lead=2 * chans[k]))
    stages.append(BlockStage(prefix + "output", chain[0].up(), [chain[0].up()]))
    return stages


class TranslatorGenerator(PhotoTranslator, Generator):
    """A pix2pix / CycleGAN generator (or a CycleGAN cycle); `translate(x)` is the scripting entry point."""

    def __init__(self, nets: Sequence[nn.Module], stages: Sequence[BlockStage], info: ModelInfo, input_nc: int,
                 multiple: int, mode: str = AS_TRAINED, dropout_seed: int | None = None,
                 device: torch.device | str = "cpu", model_id: str = "",
                 remake: Callable[[dict[str, str]], "TranslatorGenerator"] | None = None,
                 picks: dict[str, str] | None = None):
        if mode not in MODES:
            raise RecipeError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.nets = list(nets)
        self.input_nc, self.multiple, self.mode, self.dropout_seed = input_nc, multiple, mode, dropout_seed
        self._remake, self.picks = remake, dict(picks or {})
        self._pinned_cache: dict[bytes, dict] = {}
        for i, s in enumerate(stages):
            s.index = i
        stages[0].reads_photo = True
        super().__init__(info, stages, device=device, model_id=model_id, modules=self.nets)

    # -- recipes ---------------------------------------------------------------------------------------
    def _run_state(self, mode: str | None = None, dropout_seed: int | None | bool = None,
                   masks: Sequence[Tensor | np.ndarray] | None = None) -> RunState:
        mode = self.mode if mode is None else mode
        if mode not in MODES:
            raise RecipeError(f"mode must be one of {', '.join(repr(m) for m in MODES)}, not {mode!r}")
        seed = self.dropout_seed if dropout_seed is None or dropout_seed is True else (
            None if dropout_seed is False else int(dropout_seed))
        listed = None if masks is None else [torch.as_tensor(np.asarray(m)) for m in masks]
        return RunState(mode=mode, dropout_seed=seed, masks=listed)

    def model_input(self, x: Tensor) -> Tensor:
        """A photo batch (N, 3, H, W) as the network's input: one luma channel for a grayscale model."""
        if self.input_nc == 1 and x.shape[1] == 3:
            w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
            return (x * w).sum(1, keepdim=True)
        return x

    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        x, _ = self.photo_batch(recipes)
        ctx = photo_context(self.model_input(x), None)
        ctx.extras[RUN] = self._run_state()
        return ctx

    def recipe_context(self, recipes: Sequence[Recipe]) -> StageContext:
        """`context` plus unit edits; with edits, the normalisation layers after the first edited stage use the
        statistics of the unedited photo (see latent_studio_plugins.pix2pix.norms), so an edit stays local."""
        ctx = super().recipe_context(recipes)
        if ctx.units and any(ctx.units):
            names = [s.name for s in self.stages]
            first = min(names.index(e.layer) for edits in ctx.units for e in edits)
            ctx.extras[PINNED] = self._pinned_stats(ctx)
            ctx.extras[PIN_AFTER] = first
        return ctx

    def _pinned_stats(self, ctx: StageContext) -> dict:
        key = ctx.extras[IMAGE_KEY]
        hit = self._pinned_cache.get(key)
        if hit is not None:
            return hit
        state = replace(ctx.extras[RUN], record={})
        plain = StageContext(extras={**ctx.extras, RUN: state})
        self.run(plain)
        if len(self._pinned_cache) >= 4:
            self._pinned_cache.pop(next(iter(self._pinned_cache)))
        self._pinned_cache[key] = state.record or {}
        return self._pinned_cache[key]

    def example_context(self) -> StageContext:
        r = self.info.resolution
        ctx = photo_context(torch.zeros(1, self.input_nc, r, r, device=self.device), None)
        ctx.extras[RUN] = self._run_state()
        return ctx

    # -- scripting -------------------------------------------------------------------------------------
    def generate(self, z, truncation: float = 1.0, c: Tensor | None = None) -> Tensor:
        raise RecipeError(f"{self.info.family} translates photos: call translate(x)")

    def translate(self, x: Tensor | np.ndarray, labels: object = None, *, mode: str | None = None,
                  dropout: bool | int | None = None,
                  dropout_masks: Sequence[Tensor | np.ndarray] | None = None) -> Tensor:
        """Images (N, input_nc, H, W) in [-1, 1] translated, run as this model's setting says (by default the
        official test.py default: "as trained"). Keywords: `mode="eval"` (test.py --eval) or "as trained";
        `dropout=False` (none), True (this model's seed) or a seed; `dropout_masks`, one keep-mask (1 = kept)
        per dropout layer in forward order, as official runs record them. Each image is normalised on its
        own statistics, as test.py (batch size 1) does."""
        if labels is not None and np.asarray(labels).size:
            raise RecipeError(f"{self.info.family} takes no labels: call translate(x)")
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if x.ndim != 4 or x.shape[1] != self.input_nc:
            raise RecipeError(f"translate needs images shaped (N, {self.input_nc}, H, W), not {tuple(x.shape)}")
        if x.shape[2] % self.multiple or x.shape[3] % self.multiple:
            raise RecipeError(f"image sides must be multiples of {self.multiple}, not {x.shape[2]}x{x.shape[3]}")
        ctx = photo_context(x, None)
        ctx.extras[RUN] = state = self._run_state(mode, dropout, dropout_masks)
        out = self.run(ctx)
        if state.masks is not None and state._mask_i != len(state.masks):
            raise RecipeError(f"{len(state.masks)} dropout masks given but the network used {state._mask_i}")
        return out

    def choose(self, **picks: str) -> Generator:
        from studio.model.choices import checked_picks

        given = checked_picks(self.info.choices, picks, self.info.name or self.info.family)
        new = {**self.picks, **given}
        if new == self.picks or self._remake is None:
            return self
        return self._remake(new)

    def __repr__(self) -> str:
        i = self.info
        return f"<{type(self).__name__} {i.format.split(';')[0]} {i.resolution}x{i.resolution} {self.mode} on {self.device}>"


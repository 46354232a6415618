"""The precision rule, the quality guard and batched StyleGAN convolutions (not timings: bench/speed.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latent_studio_plugins.stylegan.ops import demodulation, fuse, modulated_conv2d
from studio.bundled import demo_checkpoints
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import StudioError
from studio.model.api import Generator, ModelInfo
from studio.model.registry import default_registry
from studio.render import precision as prec
from studio.render.engine import Renderer, to_uint8
from studio.render.precision import QUALITY_FLOOR_DB, PrecisionChooser, Verdict, guard_psnr, psnr

DEMOS = {p.stem.split("_")[0]: p for p in demo_checkpoints()}


class Dense:
    """One stage: a linear map of z to an image. `cancel` makes it subtract two nearly equal products,
    which bf16 cannot hold: the kind of drop-in the guard must keep on fp32."""

    name = "dense"

    def __init__(self, res: int, cancel: bool):
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(3 * res * res, 8, generator=g) * (30.0 if cancel else 0.3)
        self.w2 = self.w + torch.randn(self.w.shape, generator=g) * 0.01 if cancel else None
        self.res = res

    def inputs(self, ctx):
        return b""

    def __call__(self, x, ctx):
        y = F.linear(ctx.z, self.w)
        if self.w2 is not None:
            y = (y - F.linear(ctx.z, self.w2)) * 30.0
        return torch.tanh(y).reshape(-1, 3, self.res, self.res)


def dense_generator(cancel: bool) -> Generator:
    info = ModelInfo(family="dense", format="test", resolution=8, z_dim=8)
    return Generator(info, [Dense(8, cancel)], model_id=f"dense-{cancel}")


@pytest.fixture
def native(monkeypatch):
    def set_native(value: bool) -> None:
        monkeypatch.setattr(prec, "native_bf16", lambda device_type: value)

    return set_native


def test_auto_is_bf16_only_where_native_faster_and_within_the_guard(native, monkeypatch):
    good = dense_generator(cancel=False)
    measured = {}
    monkeypatch.setattr(prec, "measure", lambda g, p: measured[g.model_id])
    cases = [("a", Verdict(55.0, 0.5), "bf16", None), ("b", Verdict(32.0, 0.5), "fp32", "below 40 dB"),
             ("c", Verdict(55.0, 1.3), "fp32", "not faster here"), ("d", Verdict(55.0, 0.95), "fp32", "x0.95")]
    chooser = PrecisionChooser()
    native(True)
    for model_id, verdict, want, note in cases:
        g = dense_generator(cancel=False)
        g.model_id = model_id
        measured[model_id] = verdict
        assert chooser.effective(g, "auto") == want, model_id
        assert (note is None) == (not chooser.notes or note not in chooser.notes[-1]), model_id
    native(False)
    good.model_id = "a"
    assert PrecisionChooser().effective(good, "auto") == "fp32"  # emulated bf16 is slower than fp32
    assert chooser.effective(good, "bf16") == "bf16"  # an explicit choice is the user's
    assert chooser.effective(good, "fp32") == "fp32"


def test_the_guard_catches_a_model_bf16_breaks():
    good, bad = dense_generator(cancel=False), dense_generator(cancel=True)
    assert guard_psnr(bad, "bf16") < QUALITY_FLOOR_DB <= guard_psnr(good, "bf16")
    verdict = prec.measure(bad, "bf16")
    assert not verdict.chosen(QUALITY_FLOOR_DB) and verdict.time_ratio > 0


def test_fp16_needs_cuda_and_unknown_names_are_refused():
    g = dense_generator(cancel=False)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(StudioError, match="fp16 needs a CUDA GPU"):
        PrecisionChooser().effective(g, "fp16")
    with pytest.raises(StudioError, match="precision must be one of"):
        PrecisionChooser().effective(g, "int8")
    frame = Renderer(precision="fp16").render(g, Recipe(ModelRef(""), SeedLatent(0)))
    assert not frame.ok and "fp16 needs a CUDA GPU" in frame.error


def test_renders_say_their_precision_and_cache_by_it():
    g = dense_generator(cancel=False)
    r = Renderer(precision="bf16")
    recipe = Recipe(ModelRef(""), SeedLatent(3))
    fast = r.render(g, recipe)
    exact = r.render(g, recipe, precision="fp32")
    assert fast.extras["precision"] == "bf16" and exact.extras["precision"] == "fp32"
    assert exact.stages_run == 1  # not served from the bf16 frame's cache entry
    assert not np.array_equal(fast.image, exact.image)
    assert np.array_equal(exact.image, Renderer().render(g, recipe).image)  # default: fp32, exact
    assert psnr(fast.image, exact.image) >= QUALITY_FLOOR_DB


@pytest.mark.parametrize("family", sorted(DEMOS))
def test_bundled_demos_pass_the_guard_in_bf16(family):
    g = default_registry().open(DEMOS[family], torch.device("cpu"))
    db = guard_psnr(g, "bf16")
    assert db >= QUALITY_FLOOR_DB, f"{family}: bf16 is {db:.1f} dB from fp32"
    if family != "stargan":  # the translator's guard input is its example photo
        recipes = [Recipe(ModelRef(""), SeedLatent(s)) for s in range(4)]
        a = Renderer().render_batch(g, recipes).astype(int)
        b = Renderer().render_batch(g, recipes, precision="bf16").astype(int)
        assert np.abs(a - b).max() <= 64 and psnr(a, b) >= QUALITY_FLOOR_DB


def test_a_batch_of_modulated_convs_is_one_shared_convolution():
    assert fuse(True, 1) and not fuse(True, 8) and not fuse(False, 1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 16, 8, 8, generator=g)
    w = torch.randn(32, 16, 3, 3, generator=g)
    s = torch.randn(4, 16, generator=g) + 1
    explicit = ((w[None] * s[:, None, :, None, None]).square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    torch.testing.assert_close(demodulation(w, s), explicit, rtol=1e-5, atol=0)
    batch = modulated_conv2d(x, w, s)  # the rule picks the unfused form for 4 samples
    one_by_one = torch.cat([modulated_conv2d(x[i:i + 1], w, s[i:i + 1]) for i in range(4)])  # grouped
    torch.testing.assert_close(batch, one_by_one, rtol=1e-4, atol=1e-4)


def test_stylegan_batches_match_single_frames():
    g = default_registry().open(DEMOS["stylegan2"], torch.device("cpu"))
    recipes = [Recipe(ModelRef(""), SeedLatent(s)) for s in range(4)]
    batch = Renderer().render_batch(g, recipes).astype(int)
    single = np.stack([Renderer().render(g, r).image for r in recipes]).astype(int)
    assert np.abs(batch - single).max() <= 1  # float rounding of the same maths, at most one level


def test_exports_default_to_fp32():
    from studio.export.writers import ExportOptions

    assert ExportOptions().precision == "fp32"
    with pytest.raises(StudioError, match="precision must be one of"):
        ExportOptions(precision="half")


def test_to_uint8_takes_reduced_outputs():
    x = torch.linspace(-1, 1, 3 * 4 * 4).reshape(1, 3, 4, 4)
    assert np.array_equal(to_uint8(x.bfloat16().float()), to_uint8(x.bfloat16()))


def _upfirdn_by_definition(x, f, up, down, pads, gain, flip_filter):
    """Stuff zeros, pad (negative crops), convolve with the separable FIR, keep every down-th sample."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = pads
    s = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    s[:, :, ::up, ::up] = x
    s = F.pad(s, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    s = s[:, :, max(-py0, 0): s.shape[2] - max(-py1, 0), max(-px0, 0): s.shape[3] - max(-px1, 0)]
    k = f * gain ** 0.5
    k = k if flip_filter else k.flip(0)
    s = F.conv2d(s, k.reshape(1, 1, 1, -1).expand(c, 1, 1, len(k)), groups=c)
    s = F.conv2d(s, k.reshape(1, 1, -1, 1).expand(c, 1, len(k), 1), groups=c)
    return s[:, :, ::down, ::down]


@pytest.mark.parametrize("up, down, taps, pads", [(1, 1, 4, (0, 0, 0, 0)), (2, 1, 12, (5, 4, 1, 7)),
                                                  (1, 2, 12, (3, 2, 3, 2)), (4, 2, 24, (10, 11, 10, 11)),
                                                  (2, 2, 6, (-2, -1, -1, -3))])
def test_separable_fir_as_matrix_products_is_upfirdn(up, down, taps, pads):
    """StyleGAN3's filtered nonlinearity: each axis is one matrix product (no fast depthwise kernel on CPU)."""
    from latent_studio_plugins.stylegan.ops import upfirdn2d

    g = torch.Generator().manual_seed(taps + up)
    x = torch.randn(2, 3, 9, 11, generator=g)
    f = torch.randn(taps, generator=g)
    for flip in (False, True):
        want = _upfirdn_by_definition(x, f, up, down, pads, up * up, flip)
        got = upfirdn2d(x, f, up, down, pads, up * up, flip)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


@pytest.mark.shared
@pytest.mark.parametrize("fixture", ["stylegan3_nvlabs/stylegan3-t", "stylegan3_nvlabs/stylegan3-r",
                                     "stylegan2ada_nvlabs/uncond", "stylegan2ada_nvlabs/cond"])
def test_fixture_models_pass_the_guard_in_bf16(fixture):
    from conftest import shared_path

    path = shared_path("fixtures", *fixture.split("/"), "network-snapshot-000000.pkl")
    g = default_registry().open(path, torch.device("cpu"))
    assert guard_psnr(g, "bf16") >= QUALITY_FLOOR_DB

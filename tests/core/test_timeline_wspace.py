"""W-space interpolation and periodic noise loops, on a real tiny StyleGAN2 and a tiny DCGAN."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.style_edits import Mix
from studio.core.timeline import NoiseLoop, Segment, Timeline, w_centre
from studio.model.spaces import GeneratorPoints, style_inputs
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.registry import Registry
from studio.render.engine import ModelCache, Renderer


@pytest.fixture(scope="module")
def sg(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg") / "tiny.safetensors"
    save_stylegan(path, tiny_stylegan(seed=1), name="tiny")
    return Registry.discover(search_paths=[]).open(path)


@pytest.fixture
def dcgan(tiny_dcgan_safetensors):
    return ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors)


def _dir(n: int, seed: int) -> tuple[float, ...]:
    v = np.random.RandomState(seed).randn(n)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def _edited(g, seed: int) -> Recipe:
    """A keyframe with per-layer edits: a W walk on style inputs 2-4 and a mix of inputs 5-8."""
    r = Recipe(ModelRef("m", g.model_id), SeedLatent(seed), truncation=0.7)
    r = r.with_walk("w:0", _dir(g.info.w_dim, seed), 3.0, "w", (2, 4))
    return Recipe(r.model, r.latent, r.truncation, r.edits + (Mix("mix:B", (5, 8), seed=seed + 100),))


def test_a_w_latent_renders_exactly_the_keyframe_it_came_from(sg):
    r = _edited(sg, 3)
    ws = style_inputs(sg, [r])[0]
    assert ws.shape == (sg.info.num_ws, sg.info.w_dim)
    plus = WLatent.of(ws)
    assert len(plus.values) == sg.info.num_ws * sg.info.w_dim  # per-layer edits: W+
    plain = WLatent.of(style_inputs(sg, [Recipe(r.model, SeedLatent(3))])[0])
    assert len(plain.values) == sg.info.w_dim  # no per-layer edits: one w
    x, _ = Renderer().run(sg, [r])
    y, _ = Renderer().run(sg, [Recipe(r.model, plus)])
    assert torch.allclose(x, y, atol=1e-5)
    # a given w still truncates toward w_avg, and the JSON round trip keeps it
    half = Recipe(r.model, plus, truncation=0.5)
    assert np.allclose(style_inputs(sg, [half])[0], w_centre(GeneratorPoints(sg), r) + 0.5 * (ws - w_centre(GeneratorPoints(sg), r)), atol=1e-5)
    assert Recipe.from_json(half.to_json()) == half


def test_w_latents_fail_clearly_where_they_cannot_apply(sg, dcgan):
    r = Recipe(ModelRef("m"), WLatent.of(np.zeros((sg.info.num_ws, sg.info.w_dim))))
    with pytest.raises(RecipeError, match="z-space walk needs a z latent"):
        sg.context([r.with_walk("pca:0", _dir(sg.info.z_dim, 0), 1.0)])
    with pytest.raises(RecipeError, match="w latent has 5 values"):
        sg.context([Recipe(ModelRef("m"), WLatent((1.0,) * 5))])
    with pytest.raises(RecipeError, match="cannot start from a w latent"):
        Renderer().run(dcgan, [r])
    with pytest.raises(RecipeError, match="finite"):
        WLatent((float("nan"),))


@pytest.mark.parametrize("interp", ["lerp", "slerp"])
def test_w_segment_interpolates_style_inputs_between_exact_keyframes(sg, interp):
    a, b = _edited(sg, 1), Recipe(ModelRef("m", sg.model_id), SeedLatent(2))
    tl = Timeline((a, b), (Segment(8, interp, space="w"), Segment(1)))
    rs = tl.recipes(GeneratorPoints(sg))
    assert len(rs) == 9 and rs[0] == a and rs[-1] == b
    assert all(isinstance(r.latent, WLatent) and r.truncation == 1.0 and not r.edits for r in rs[1:-1])
    wa, wb = style_inputs(sg, [a, b])
    mid = style_inputs(sg, [rs[4]])[0]
    if interp == "lerp":
        assert np.allclose(mid, 0.5 * (wa + wb), atol=1e-5)
    else:  # around w_avg: the midpoint keeps the typical distance from it
        c = w_centre(GeneratorPoints(sg), a)
        n = [np.linalg.norm(v - c) for v in (wa, wb, mid)]
        assert n[2] > 0.95 * min(n[:2]) and not np.allclose(mid, 0.5 * (wa + wb), atol=1e-3)
    # not the same path as interpolating z and mapping it (the mapping network bends it)
    zmid = Timeline((a, b), (Segment(8, "lerp"), Segment(1))).recipes(GeneratorPoints(sg))[4]
    assert not np.allclose(style_inputs(sg, [zmid])[0], mid, atol=1e-2)
    # the whole sequence renders in mixed batches (seeds and w's together), matching frame-by-frame renders
    batched = Renderer().render_batch(sg, rs, batch_size=4)
    single = np.stack([Renderer().render(sg, r).image for r in rs])
    assert np.abs(batched.astype(int) - single).max() <= 1


def test_w_interpolation_needs_a_w_space(dcgan):
    ref = ModelRef("m", dcgan.model_id)
    tl = Timeline((Recipe(ref, SeedLatent(1)), Recipe(ref, SeedLatent(2))), (Segment(4, space="w"),))
    with pytest.raises(RecipeError, match="no W space"):
        tl.recipes(GeneratorPoints(dcgan))
    with pytest.raises(RecipeError, match="no W space"):
        Timeline(tl.keyframes[:1], noise=NoiseLoop(space="w")).recipes(GeneratorPoints(dcgan))


def _wrap_steps(v: np.ndarray) -> np.ndarray:
    flat = v.reshape(len(v), -1)
    return np.linalg.norm(np.diff(np.concatenate([flat, flat[:1]]), axis=0), axis=1)


def test_z_noise_loop_circles_one_keyframe_and_closes_seamlessly(dcgan):
    key = Recipe(ModelRef("m", dcgan.model_id), SeedLatent(7), truncation=0.8)
    tl = Timeline((key,), (Segment(30),), noise=NoiseLoop(radius=0.4, seed=3))
    assert tl.frame_count() == 30 and tl.looping
    rs = tl.recipes(GeneratorPoints(dcgan))
    assert len(rs) == 30 and all(isinstance(r.latent, VectorLatent) for r in rs)
    z = np.stack([dcgan.edited_z(r) for r in rs])
    z0 = dcgan.edited_z(key)
    assert np.allclose(z[0], z0, atol=1e-6)  # frame 0 is the keyframe itself
    assert np.allclose(np.linalg.norm(z, axis=1), np.linalg.norm(z0), rtol=1e-5)  # stays on its shell
    steps = _wrap_steps(z)
    assert steps.max() < 1.2 * steps.min()  # even speed, and last -> first is an ordinary step
    far = np.linalg.norm(z[15] - z0)
    assert far == pytest.approx(2 * 0.4 * np.linalg.norm(z0), rel=1e-4)  # the circle's far side
    other = Timeline((key,), (Segment(30),), noise=NoiseLoop(radius=0.4, seed=4)).recipes(GeneratorPoints(dcgan))
    assert not np.allclose(dcgan.edited_z(other[10]), z[10])
    frames = Renderer().render_batch(dcgan, rs)
    img_steps = _wrap_steps(frames.astype(np.float32))
    assert img_steps[-1] < 2 * np.median(img_steps) and img_steps.min() > 0


def test_noise_loop_on_a_keyframe_path_keeps_its_period(dcgan):
    ref = ModelRef("m", dcgan.model_id)
    keys = tuple(Recipe(ref, SeedLatent(s)) for s in (1, 2, 3))
    base = Timeline(keys, (Segment(8),) * 3, loop=False)
    tl = Timeline(keys, (Segment(8),) * 3, noise=NoiseLoop(0.3))
    assert tl.frame_count() == 24 and base.frame_count() == 17  # a noise loop always loops
    rs = tl.recipes(GeneratorPoints(dcgan))
    plain = Timeline(keys, (Segment(8),) * 3, loop=True).recipes(GeneratorPoints(dcgan))
    z, zp = (np.stack([dcgan.edited_z(r) for r in x]) for x in (rs, plain))
    assert np.allclose(z[0], zp[0], atol=1e-6) and not np.allclose(z[12], zp[12], atol=1e-2)
    steps = _wrap_steps(z)
    assert steps[-1] < 2 * np.median(steps)
    again = Timeline.from_dict(tl.to_dict())
    assert again == tl and again.noise == NoiseLoop(0.3)
    with pytest.raises(RecipeError, match="radius"):
        NoiseLoop(radius=0)


def test_w_noise_loop_moves_every_style_input_on_one_circle(sg):
    key = _edited(sg, 5)
    rs = Timeline((key,), (Segment(20),), noise=NoiseLoop(0.5, seed=1, space="w")).recipes(GeneratorPoints(sg))
    ws = style_inputs(sg, rs)
    w0 = style_inputs(sg, [key])[0]
    assert np.allclose(ws[0], w0, atol=1e-5)
    off = ws - w0  # the same offset on every row (a W loop on top of the keyframe's W+ edits)
    assert np.allclose(off, off[:, :1], atol=1e-5)
    plane = np.linalg.matrix_rank(off[:, 0], tol=1e-4)
    assert plane == 2  # a circle lies in a plane
    steps = _wrap_steps(ws)
    assert steps.max() < 1.05 * steps.min()
    assert len(Renderer().render_batch(sg, rs)) == 20

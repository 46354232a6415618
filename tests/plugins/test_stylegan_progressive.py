"""Progressive preview: StyleGAN2 skip networks show the low-resolution skip image while the frame renders."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from latent_studio_plugins.stylegan.generator import StyleGANGenerator, mark_preview_stage
from latent_studio_plugins.stylegan.network import SynthState
from latent_studio_plugins.stylegan.ops import upsample2d
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.model.api import ModelInfo
from studio.render.engine import Renderer, to_uint8
from studio.render.worker import RenderWorker, SyncWorker


def _gen(architecture: str = "skip", resolution: int = 32) -> StyleGANGenerator:
    net = tiny_stylegan(seed=2, resolution=resolution, architecture=architecture)
    return StyleGANGenerator(net, ModelInfo("stylegan2", "test", resolution), model_id=f"tiny-{architecture}")


def _recipe(seed: int = 5) -> Recipe:
    return Recipe(ModelRef("tiny"), SeedLatent(seed))


def _skip_rgb_through(g: StyleGANGenerator, recipe: Recipe, torgb: str):
    """The skip architecture's RGB sum right after op `torgb`, straight from the network's op list."""
    ws = g.context([recipe]).ws
    syn = g.net.synthesis
    st: SynthState = syn.start(1)
    for op in syn.ops():
        op.fn(st, ws, "const")
        if op.name == torgb:
            return st.img
    raise AssertionError(torgb)


def test_preview_comes_first_and_is_the_skip_image_of_its_block():
    g = _gen(resolution=64)
    k = next(i for i, s in enumerate(g.stages) if s.progressive)
    torgb = next(op.name for op in g.stages[k].ops if op.name.endswith(".torgb"))
    frames = []
    SyncWorker().submit("main", g, _recipe(), frames.append, progressive=True)
    assert [f.preview for f in frames] == [True, False]
    preview, final = frames
    res = int(torgb[1:].split(".")[0])
    # the stage ends with the next block's first conv, which upsamples the skip image with the net's FIR
    expected = upsample2d(_skip_rgb_through(g, _recipe(), torgb), g.net.synthesis.resample_filter)
    assert preview.image.shape == (2 * res, 2 * res, 3) and preview.extras["full_size"] == (64, 64)
    assert np.array_equal(preview.image, to_uint8(expected)[0])
    assert preview.image.std() > 0
    # the final frame is bit-identical to a render that never made a preview
    plain = Renderer().render(g, _recipe())
    assert final.ok and np.array_equal(final.image, plain.image)
    # a cached prefix past the preview stage needs no preview
    later = []
    r = Renderer()
    r.render(g, _recipe())
    n = g.info.num_ws
    walked = _recipe().with_walk("fine", tuple([0.5] * 16), 1.0, space="w", layers=(n - 2, n))
    r.render(g, walked, on_preview=later.append)
    assert later == []


def test_preview_stays_within_its_compute_budget():
    g = _gen(resolution=64)
    macs = [s.macs for s in g.stages]
    k = next(i for i, s in enumerate(g.stages) if s.progressive)
    assert 0 < sum(macs[:k + 1]) <= 0.15 * sum(macs)
    assert mark_preview_stage(g.stages, budget=0.0) is None  # too tight a budget: no preview at all
    assert not any(s.progressive for s in g.stages)


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_other_architectures_have_no_preview(architecture):
    g = _gen(architecture)
    frames = []
    SyncWorker().submit("main", g, _recipe(), frames.append, progressive=True)
    assert [f.preview for f in frames] == [False]


def test_worker_previews_only_progressive_requests_and_drops_superseded_ones():
    g = _gen()
    worker = RenderWorker(preview_min_s=0.0)
    try:
        frames = []
        done = threading.Event()
        worker.submit("thumb", g, _recipe(1), lambda f: (frames.append(f), done.set()))
        assert done.wait(10)
        assert [f.preview for f in frames] == [False]  # not progressive: no preview

        # A newer request arrives while the preview is being made: that preview must not be shown.
        k = next(i for i, s in enumerate(g.stages) if s.progressive)
        stage = g.stages[k]
        newer = _recipe(3)
        got: list = []
        finished = threading.Event()

        def on_frame(f):
            got.append(f)
            if not f.preview and f.recipe == newer:
                finished.set()

        real_preview = stage.preview

        def preview_then_supersede(out):
            stage.preview = real_preview
            worker.submit("main", g, newer, on_frame, progressive=True)
            return real_preview(out)

        stage.preview = preview_then_supersede
        worker.submit("main", g, _recipe(2), on_frame, progressive=True)
        assert finished.wait(10)
        assert worker.wait_idle(10)
        assert not any(f.preview and f.recipe == _recipe(2) for f in got)
        assert got[-1].recipe == newer and not got[-1].preview
        assert [f.preview for f in got if f.recipe == newer] == [True, False]
    finally:
        worker.stop()


def test_fast_views_get_no_previews():
    g = _gen()
    worker = RenderWorker(preview_min_s=60.0)  # every render is faster than that
    try:
        frames = []
        for seed in (1, 2):
            done = threading.Event()
            worker.submit("main", g, _recipe(seed), lambda f: (frames.append(f), done.set() if not f.preview
                                                               else None), progressive=True)
            assert done.wait(10)
        # the first render's pace is unknown (counts as slow); once known to be fast, no more previews
        assert [f.preview for f in frames] == [True, False, False]
    finally:
        worker.stop()

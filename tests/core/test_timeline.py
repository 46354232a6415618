"""Timelines to recipes on a real (tiny) DCGAN: endpoints, easing, loops, frame counts, walks, playback."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.timeline import (EASINGS, Playback, Segment, Timeline, due_frame, ease, ping_pong_walk,
                                  simulate_playback)
from studio.errors import RecipeError
from studio.model.spaces import GeneratorPoints
from studio.render.engine import ModelCache, Renderer


@pytest.fixture
def g(tiny_dcgan_safetensors):
    return ModelCache(torch.device("cpu")).get(tiny_dcgan_safetensors)


def _keys(g, *seeds, truncation=1.0):
    ref = ModelRef("m", g.model_id)
    return tuple(Recipe(ref, SeedLatent(s), truncation=truncation) for s in seeds)


class PlainPoints:
    """LatentPoints with no model behind it: a keyframe's z is its VectorLatent, and there is no W."""

    def z_mean(self):
        return np.zeros(2, np.float32)

    def edited_z(self, r):
        return np.asarray(r.latent.values, np.float32)

    def style_inputs(self, recipes):
        raise RecipeError("no W here")


def test_the_interpolation_maths_runs_without_a_model():
    ref = ModelRef("m")
    a, b = Recipe(ref, VectorLatent((0.0, 0.0))), Recipe(ref, VectorLatent((4.0, 2.0)))
    rs = Timeline((a, b), (Segment(4, "lerp"), Segment(1))).recipes(PlainPoints())
    assert [r.latent.values for r in rs] == [(0.0, 0.0), (1.0, 0.5), (2.0, 1.0), (3.0, 1.5), (4.0, 2.0)]
    with pytest.raises(RecipeError, match="no W here"):
        Timeline((a, b), (Segment(4, space="w"),)).recipes(PlainPoints())


@pytest.mark.parametrize("name", list(EASINGS))
def test_easings_start_end_and_never_go_back(name):
    ts = np.linspace(0, 1, 201)
    v = np.array([ease(name, t) for t in ts])
    assert v[0] == pytest.approx(0, abs=1e-12) and v[-1] == pytest.approx(1, abs=1e-12)
    assert (np.diff(v) >= -1e-12).all()
    if name != "linear":
        assert not np.allclose(v, ts, atol=1e-3)  # it really is a different curve


def test_ease_in_out_is_slow_at_the_ends():
    assert ease("ease-in-out", 0.05) < 0.05 and ease("ease-in-out", 0.95) > 0.95
    with pytest.raises(RecipeError, match="unknown easing 'bouncy'"):
        ease("bouncy", 0.5)


@pytest.mark.parametrize("interp", ["lerp", "slerp"])
def test_segment_endpoints_are_the_keyframes(g, interp):
    a, b, c = _keys(g, 3, 8, 11, truncation=0.7)
    t = Timeline((a, b, c), (Segment(10, interp, "cubic"), Segment(6, interp)))
    rs = t.recipes(GeneratorPoints(g))
    assert len(rs) == t.frame_count() == 10 + 6 + 1
    assert t.keyframe_frames() == [0, 10, 16]
    for i, key in zip(t.keyframe_frames(), (a, b, c)):
        assert np.allclose(g.edited_z(rs[i]), g.edited_z(key), atol=1e-6)
    # in-between frames are explicit vectors between the keyframes, without double truncation
    mid = rs[5]
    assert isinstance(mid.latent, VectorLatent) and mid.truncation == 1.0
    za, zb, zm = g.edited_z(a), g.edited_z(b), g.edited_z(mid)
    assert np.linalg.norm(zm - za) > 0.1 and np.linalg.norm(zm - zb) > 0.1


def test_slerp_keeps_the_norm_lerp_shrinks_it(g):
    a, b = _keys(g, 1, 2)
    n_s = [np.linalg.norm(g.edited_z(r)) for r in Timeline((a, b), (Segment(20, "slerp"),)).recipes(GeneratorPoints(g))]
    n_l = [np.linalg.norm(g.edited_z(r)) for r in Timeline((a, b), (Segment(20, "lerp"),)).recipes(GeneratorPoints(g))]
    assert max(n_s) - min(n_s) < 0.1 * np.mean(n_s)
    assert n_l[10] < 0.85 * min(n_l[0], n_l[-1])


def test_easing_moves_along_the_path_monotonically(g):
    a, b = _keys(g, 1, 2)
    rs = Timeline((a, b), (Segment(30, "lerp", "ease-in-out"),)).recipes(GeneratorPoints(g))
    za, zb = g.edited_z(a), g.edited_z(b)
    d = zb - za
    progress = [float(np.dot(g.edited_z(r) - za, d) / np.dot(d, d)) for r in rs]
    assert progress[0] == pytest.approx(0, abs=1e-6) and progress[-1] == pytest.approx(1, abs=1e-6)
    assert (np.diff(progress) > 0).all()
    steps = np.diff(progress)
    assert steps[0] < steps[15] / 5 and steps[-1] < steps[15] / 5  # slow in, slow out


def test_loop_closes_without_repeating_the_first_frame(g):
    a, b, c = _keys(g, 1, 2, 3)
    t = Timeline((a, b, c), (Segment(8), Segment(8), Segment(8)), loop=True)
    rs = t.recipes(GeneratorPoints(g))
    assert len(rs) == t.frame_count() == 24
    z = np.stack([g.edited_z(r) for r in rs])
    steps = np.linalg.norm(np.diff(np.concatenate([z, z[:1]]), axis=0), axis=1)
    # the jump from the last frame back to the first is an ordinary step, not a cut
    assert steps[-1] < 2 * np.median(steps) and steps[-1] > 0
    assert np.allclose(z[0], g.edited_z(a))


def test_same_latent_keeps_it_and_blends_walks(g):
    (base,) = _keys(g, 5)
    d = tuple(float(v) for v in np.eye(g.info.z_dim, dtype=np.float32)[0])
    a = base.with_walk("pca:0", d, -2.0)
    b = base.with_walk("pca:0", d, 2.0)
    rs = Timeline((a, b), (Segment(4, "slerp", "linear"),)).recipes(GeneratorPoints(g))
    assert all(r.latent == SeedLatent(5) for r in rs)
    assert [r.walk_amount("pca:0") for r in rs] == pytest.approx([-2, -1, 0, 1, 2])


def test_w_space_needs_a_generator_that_has_one(g):
    a, b = _keys(g, 1, 2)
    with pytest.raises(RecipeError, match="no W space"):
        Timeline((a, b), (Segment(4, space="w"),)).recipes(GeneratorPoints(g))


def test_single_and_empty_timelines(g):
    (a,) = _keys(g, 1)
    assert Timeline().recipes(GeneratorPoints(g)) == [] and Timeline().frame_count() == 0
    assert Timeline((a,)).recipes(GeneratorPoints(g)) == [a]


def test_editing_and_json_round_trip(g):
    a, b, c = _keys(g, 1, 2, 3)
    t = Timeline(fps=30).add(a).add(b, Segment(12, "lerp", "ease-in")).add(c)
    assert t.segments[2] == Segment(12, "lerp", "ease-in")  # a new keyframe inherits the last segment
    t = t.with_segment(0, frames=5).move(2, 0).remove(1)
    assert t.keyframes == (c, b) and t.segments[0].frames == 12
    again = Timeline.from_dict(t.to_dict())
    assert again == t
    with pytest.raises(RecipeError, match="newer"):
        Timeline.from_dict({**t.to_dict(), "schema": 99})
    with pytest.raises(RecipeError, match="unknown interpolation"):
        Segment(4, "cubic-spline")


def test_ping_pong_walk_is_a_seamless_loop(g):
    (base,) = _keys(g, 4)
    d = tuple(float(v) for v in np.eye(g.info.z_dim, dtype=np.float32)[1])
    rs = ping_pong_walk(base, "random:1", d, 3.0, 24)
    amounts = [r.walk_amount("random:1") for r in rs]
    assert len(rs) == 24 and amounts[0] == 0 and max(amounts) == pytest.approx(3) \
        and min(amounts) == pytest.approx(-3)
    assert amounts.index(max(amounts)) == 6 and amounts.index(min(amounts)) == 18
    assert abs(amounts[-1] - amounts[0]) < 1.0  # the step back to the start is an ordinary step
    frames = Renderer().render_batch(g, rs)
    assert frames.shape[0] == 24 and not np.array_equal(frames[0], frames[6])


def test_playback_keeps_time_by_dropping_frames():
    assert due_frame(0.0, 24, 48, False) == 0 and due_frame(1.0, 24, 48, False) == 24
    assert due_frame(2.5, 24, 48, False) is None and due_frame(2.5, 24, 48, True) == 12
    fast = simulate_playback(lambda i: 0.005, fps=24, frames=48)
    assert fast == list(range(48))  # rendering keeps up: every frame, in order
    slow = simulate_playback(lambda i: 0.1, fps=24, frames=48)  # 2.4 frame periods per render
    assert 15 <= len(slow) <= 22 and slow == sorted(slow) and slow[0] == 0
    assert max(np.diff(slow)) <= 3  # each shown frame is the one due when the previous finished
    p = Playback(24, 48)
    t = 0.0
    while True:
        try:
            i = p.next_frame(t)
        except StopIteration:
            break
        t += 0.1 if i is not None else 0.01
    assert p.shown + p.dropped == 48 and t == pytest.approx(2.0, abs=0.15)  # 48 frames at 24 fps: 2 s

"""Class conditions in recipes: blends, per-layer classes (JSON round trip, validation) and the timeline
keeping a forward truncation."""
from __future__ import annotations

import numpy as np
import pytest

from studio.core.class_edits import LayerClass, class_blend, class_weights, layer_class, with_layer_class
from studio.core.recipe import ModelRef, Recipe, SeedLatent, class_condition
from studio.core.timeline import Segment, Timeline
from studio.errors import RecipeError


def test_blend_and_weights():
    assert class_blend({1: 0.25, 3: 0.75}, 4) == (0.0, 0.25, 0.0, 0.75)
    assert class_weights((0.0, 0.25, 0.0, 0.75)) == {3: 0.75, 1: 0.25}
    assert class_weights((1.0, 0.0, 0.3, 0.7), start=2, size=2) == {1: 0.7, 0: 0.3}  # InfoGAN's later part
    with pytest.raises(RecipeError, match="class 4 is out of range: this model has 4 classes"):
        class_blend({4: 1.0}, 4)
    with pytest.raises(RecipeError, match="not class-conditional"):
        class_blend({0: 1.0}, 0)


def test_layer_class_round_trips_and_validates():
    r = with_layer_class(Recipe(ModelRef("m.bin", "ab"), SeedLatent(3), condition=class_condition(0, 3)),
                         (2, 5), class_condition(2, 3))
    back = Recipe.from_json(r.to_json())
    assert back == r and layer_class(back) == LayerClass((2, 5), (0.0, 0.0, 1.0))
    assert layer_class(with_layer_class(back, None)) is None
    for bad in ({"layers": [3, 3], "condition": [1.0]}, {"layers": [0, 2], "condition": []},
                {"layers": [0, 2], "condition": ["x"]}):
        d = r.to_dict()
        d["edits"] = [{"type": "layer_class", **bad}]
        with pytest.raises(RecipeError, match="layer class"):
            Recipe.from_dict(d)


class _Points:
    """z = truncation * seed's vector, as BigGAN places recipes; it feeds truncation to the forward too."""

    truncation_in_forward = True

    def z_mean(self) -> np.ndarray:
        return np.zeros(3, np.float32)

    def edited_z(self, r: Recipe) -> np.ndarray:
        base = np.array([1.0, 2.0, -1.0], np.float32) if r.latent == SeedLatent(1) else np.array([0.0, 1.0, 3.0],
                                                                                                 np.float32)
        return (r.truncation * base).astype(np.float32)

    def style_inputs(self, recipes):  # noqa: ANN001 - no W space
        raise RecipeError("no W")


def test_timeline_keeps_a_forward_truncation_and_lands_on_the_keyframes():
    a = Recipe(ModelRef(""), SeedLatent(1), 0.4, condition=class_condition(0, 2))
    b = Recipe(ModelRef(""), SeedLatent(2), 0.6, condition=class_condition(1, 2))
    frames = Timeline((a, b), (Segment(4, "lerp"), Segment())).recipes(_Points())
    assert [f.truncation for f in frames] == pytest.approx([0.4, 0.45, 0.5, 0.55, 0.6])
    mid = frames[2]
    assert mid.condition == pytest.approx((0.5, 0.5))
    # the seeds' noise interpolates with the truncation divided out, the truncation blends: z = t * noise
    z = mid.truncation * np.asarray(mid.latent.values)
    assert z == pytest.approx(0.5 * (0.5 * np.array([1, 2, -1]) + 0.5 * np.array([0, 1, 3])), abs=1e-6)
    assert frames[0] == a and frames[-1] == b
    plain = type("Plain", (_Points,), {"truncation_in_forward": False})()
    assert Timeline((a, b), (Segment(4, "lerp"), Segment())).recipes(plain)[2].truncation == 1.0

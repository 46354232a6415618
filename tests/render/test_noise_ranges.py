"""Noise sliders reach far enough to show something: measured per layer on the bundled StyleGAN2."""
from __future__ import annotations

import pytest
import torch

from studio.bundled import resolve_demo
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.slider_ranges import (NOISE_DEFAULT_MAX, NOISE_MAX_CAP, VISIBLE_CHANGE, nice_ceiling,
                                       noise_max_from)
from studio.render.engine import ModelCache, Renderer
from studio.render.noise_ranges import noise_layer_change, noise_ranges


def test_the_maximum_is_where_the_change_crosses_the_target():
    assert noise_max_from([(10, 1.0), (40, 4.0), (160, 16.0)], 8.0) == 100  # log-log: 80, shown as 100
    assert noise_max_from([(10, 20.0)], 8.0) == 5.0  # visible at the first probe: 10 * 8/20 = 4, shown as 5
    assert noise_max_from([(10, 200.0)], 8.0) == NOISE_DEFAULT_MAX  # never below the old x3
    assert noise_max_from([(10, 0.0), (40, 0.0)], 8.0) == NOISE_MAX_CAP  # never visible: the cap
    assert [nice_ceiling(x) for x in (0.7, 3, 80, 101, 2400)] == [1.0, 5.0, 100.0, 200.0, 2500.0]


def test_each_noise_layer_at_its_maximum_visibly_changes_the_bundled_stylegan2():
    torch.set_num_threads(1)
    g = ModelCache(torch.device("cpu")).get(resolve_demo("demo:stylegan2"))
    renderer = Renderer()
    maxima = noise_ranges(g, renderer)  # measured on seed 0
    layers = list(g.noise_layers())
    assert len(maxima) == len(layers) == 9
    base = [Recipe(ModelRef("", g.model_id), SeedLatent(s)) for s in (5, 6, 7)]  # other seeds than measured
    reference = renderer.render_batch(g, base)
    for i, top in enumerate(maxima):
        old = noise_layer_change(renderer, g, base, i, 3.0, reference, len(layers))
        new = noise_layer_change(renderer, g, base, i, top, reference, len(layers))
        assert old < 1.0, f"{layers[i]}: the old x3 maximum was already visible ({old:.2f})"
        assert new >= VISIBLE_CHANGE, f"{layers[i]}: x{top:g} changes the image by only {new:.2f}/255"
        assert top <= NOISE_MAX_CAP


def test_a_model_without_noise_inputs_has_no_ranges():
    g = ModelCache(torch.device("cpu")).get(resolve_demo("demo:dcgan"))
    assert noise_ranges(g) == ()

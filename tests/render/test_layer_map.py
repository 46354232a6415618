"""The layer map on the ToyFaces StyleGAN2 demo: hair colour follows the swapped 4x4-8x8 inputs and not the
finer ones (the model card's finding), the image changes most for coarse swaps, the numbers round-trip as
CSV and JSON, and a model without style inputs is refused."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import studio
from studio.bundled import resolve_demo
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import RecipeError
from studio.render.analysis import run_job
from studio.render.engine import Renderer
from studio.render.layer_map import (HAIR_COLOUR, IMAGE_CHANGE, MEAN_COLOUR, follow_slope, layer_map_job,
                                     model_labeller)


@pytest.fixture(scope="module")
def sg2_map():
    g = studio.load(str(resolve_demo("demo:stylegan2")), "cpu")
    lab = model_labeller(g)
    assert lab is not None and "Blond_Hair" in lab.attributes  # the demo's attribute model
    base = Recipe(ModelRef("", g.model_id), SeedLatent(0))
    return g, run_job(layer_map_job(Renderer(), g, base, lab, pairs=24))


def test_hair_colour_lives_in_the_coarse_inputs(sg2_map):
    g, m = sg2_map
    assert len(m.ranges) == g.info.num_ws and m.resolutions[:4] == [4, 4, 8, 8]
    hair = m.column(HAIR_COLOUR)
    assert m.resolutions[int(np.argmax(hair))] <= 8
    assert m.mean_over(HAIR_COLOUR, max_resolution=8) > 3 * max(m.mean_over(HAIR_COLOUR, min_resolution=16), 0.02)
    change = m.column(IMAGE_CHANGE)
    assert change[:4].mean() > change[-4:].mean() and (change > 0).all()


def test_numbers_export_as_csv_and_json(sg2_map):
    _, m = sg2_map
    rows = list(csv.DictReader(io.StringIO(m.to_csv())))
    assert len(rows) == len(m.ranges)
    assert float(rows[2][MEAN_COLOUR]) == pytest.approx(m.column(MEAN_COLOUR)[2], abs=1e-4)
    d = json.loads(m.to_json())
    assert d["pairs"] == 24 and d["rows"][0]["label"] == "0 (4x4)"
    assert d["rows"][2]["values"][HAIR_COLOUR] == pytest.approx(m.column(HAIR_COLOUR)[2])


def test_follow_slope_reads_zero_for_a_and_one_for_b():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    assert follow_slope(a, b, a) == 0 and follow_slope(a, b, b) == pytest.approx(1)
    assert follow_slope(a, b, (a + b) / 2) == pytest.approx(0.5)


def test_a_model_without_style_inputs_is_refused():
    g = studio.load(str(resolve_demo("demo:dcgan")), "cpu")
    with pytest.raises(RecipeError, match="no style inputs"):
        run_job(layer_map_job(Renderer(), g, Recipe(ModelRef("", g.model_id), SeedLatent(0)), None, pairs=4))


@pytest.mark.shared
def test_a_model_without_a_labeller_gets_the_pixel_columns():
    from conftest import shared_path

    g = studio.load(str(shared_path("fixtures", "stylegan2ada_nvlabs", "uncond", "network-snapshot-000000.pkl")),
                    "cpu")
    assert model_labeller(g) is None  # a random NVlabs network: no labeller knows its images
    m = run_job(layer_map_job(Renderer(), g, Recipe(ModelRef("", g.model_id), SeedLatent(0)), None, pairs=4))
    assert m.columns == [MEAN_COLOUR, IMAGE_CHANGE] and len(m.ranges) == g.info.num_ws
    assert np.isfinite(m.values).all() and (m.column(IMAGE_CHANGE) >= 0).all()

"""Vector arithmetic: bin means, weighted sums, W-space means, neighbourhoods, directions, project JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import studio
from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.arithmetic import ConceptBin, Expression, NamedLatent, concept_direction, neighbourhood, result_recipe
from studio.core.latents import seed_to_z
from studio.core.project import Project
from studio.core.workspace import Workspace
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.spaces import member_from_recipe, model_space
from studio.render.engine import Renderer


def vec(*v: float) -> VectorLatent:
    return VectorLatent(tuple(float(x) for x in v))


@pytest.fixture
def dcgan(tiny_dcgan_safetensors: Path):
    return studio.load(str(tiny_dcgan_safetensors), device="cpu")


@pytest.fixture
def stylegan(tmp_path: Path):
    path = tmp_path / "tiny_sg2.safetensors"
    save_stylegan(path, tiny_stylegan(resolution=32, seed=3), name="tiny")
    return studio.load(str(path), device="cpu")


def known(g, *rows):
    """Vectors of the model's z size with the given leading values (the rest zero)."""
    out = []
    for r in rows:
        v = np.zeros(g.info.z_dim, np.float32)
        v[:len(r)] = r
        out.append(VectorLatent(tuple(float(x) for x in v)))
    return out


class PlainSpace:
    """A LatentSpace with no model behind it: members are their own vectors."""

    name = "z"

    def vector(self, spec):
        return np.asarray(spec.values, np.float32)

    def spread(self) -> float:
        return 2.0

    def typical_norm(self) -> float:
        return 10.0


def test_the_arithmetic_maths_runs_without_a_model():
    space = PlainSpace()
    bins = [ConceptBin("A", (vec(1, 0), vec(3, 0))), ConceptBin("B", (vec(0, 4),))]
    assert np.allclose(Expression((("A", 1.0), ("B", -0.5))).evaluate(bins, space), [2, -2])
    assert np.allclose(Expression((("A", 1.0),), rescale=True).evaluate(bins, space), [10, 0])
    near = neighbourhood(np.array([1.0, -1.0], np.float32), space, scale=0.5, seed=7)
    noise = np.random.RandomState(7).randn(9, 2)
    noise[4] = 0
    assert np.allclose([p.values for p in near], np.array([1.0, -1.0]) + 0.5 * 2.0 * noise, atol=1e-6)
    d, meta = concept_direction(bins[1], bins[0], space, "sha")
    assert np.allclose(d, np.array([-2, 4]) / 20 ** 0.5) and meta["model_sha256"] == "sha" and meta["space"] == "z"


def test_bin_mean_of_known_vectors_and_seeds(dcgan):
    a, b = known(dcgan, (1, 2, 3), (3, 0, -1))
    assert np.allclose(ConceptBin("A", (a, b)).mean(model_space(dcgan, "z"))[:3], [2, 1, 1])
    seeds = ConceptBin("S", (SeedLatent(4), SeedLatent(9)))
    expected = (seed_to_z(4, dcgan.info.z_dim) + seed_to_z(9, dcgan.info.z_dim)) / 2
    assert np.allclose(seeds.mean(model_space(dcgan, "z")), expected, atol=1e-6)
    assert ConceptBin("S", (SeedLatent(4),)).with_member(SeedLatent(9)) == seeds
    assert seeds.without_member(0).members == (SeedLatent(9),)


def test_expression_is_the_weighted_sum_of_means(dcgan):
    a1, a2, b1, c1 = known(dcgan, (2, 0, 0), (4, 0, 0), (0, 1, 0), (0, 0, 5))
    bins = [ConceptBin("A", (a1, a2)), ConceptBin("B", (b1,)), ConceptBin("C", (c1,))]
    v = Expression((("A", 1.0), ("B", -1.0), ("C", 1.0))).evaluate(bins, model_space(dcgan, "z"))
    assert np.allclose(v[:3], [3, -1, 5]) and not v[3:].any()
    v = Expression((("A", 0.5), ("B", 2.0), ("C", 0.0))).evaluate(bins, model_space(dcgan, "z"))
    assert np.allclose(v[:3], [1.5, 2, 0])
    scaled = Expression((("A", 1.0), ("B", -1.0)), rescale=True).evaluate(bins, model_space(dcgan, "z"))
    norm = model_space(dcgan, "z").typical_norm()
    assert np.isclose(np.linalg.norm(scaled), norm) and np.isclose(norm, 4.0)
    assert np.allclose(scaled / np.linalg.norm(scaled), [3 / 10 ** 0.5, -1 / 10 ** 0.5] + [0] * 14, atol=1e-6)


def test_clear_errors_for_empty_bins_missing_names_and_other_models(dcgan):
    bins = [ConceptBin("A", known(dcgan, (1,))), ConceptBin("empty")]
    with pytest.raises(RecipeError, match="bin 'empty' is empty"):
        Expression((("A", 1.0), ("empty", -1.0))).evaluate(bins, model_space(dcgan, "z"))
    with pytest.raises(RecipeError, match="no bin named 'X'"):
        Expression((("X", 1.0),)).evaluate(bins, model_space(dcgan, "z"))
    with pytest.raises(RecipeError, match="expression is empty"):
        Expression((("A", 0.0),)).evaluate(bins, model_space(dcgan, "z"))
    other_model = ConceptBin("wide", (vec(*range(100)),))
    wrong_size = "bin 'wide': latent vector has 100 values but this model's z has 16"
    with pytest.raises(RecipeError, match=wrong_size):
        other_model.mean(model_space(dcgan, "z"))
    with pytest.raises(RecipeError, match="no W space"):
        model_space(dcgan, "w")
    with pytest.raises(RecipeError, match="needs a name"):
        ConceptBin("  ")


def test_w_space_means_average_mapped_w_and_render_as_a_w_latent(stylegan):
    g = stylegan
    seeds = (SeedLatent(1), SeedLatent(2), SeedLatent(5))
    z = np.stack([g.latent(s) for s in seeds])
    w = g.map(torch.from_numpy(z))[:, 0].numpy()
    assert np.allclose(ConceptBin("A", seeds).mean(model_space(g, "w")), w.mean(0), atol=1e-5)
    assert not np.allclose(w.mean(0), g.map(torch.from_numpy(z.mean(0)[None]))[0, 0].numpy(), atol=1e-3)
    base = Recipe(ModelRef("m", g.model_id), SeedLatent(0))
    # a bin of one seed, averaged in W, renders exactly that seed's image
    one = Expression((("A", 1.0),)).latent([ConceptBin("A", (SeedLatent(7),))], model_space(g, "w"))
    assert isinstance(one, WLatent) and len(one.values) == g.info.w_dim
    r = Renderer()
    assert np.array_equal(r.render(g, result_recipe(base, one)).image, r.render(g, base.with_seed(7)).image)
    # the mean in W renders through the synthesis network from that w on every style input
    mean = Expression((("A", 1.0),)).latent([ConceptBin("A", seeds)], model_space(g, "w"))
    ws = torch.from_numpy(w.mean(0)).expand(1, g.info.num_ws, -1)
    with torch.inference_mode():
        direct = g.synthesize(ws)
    got = r.run(g, [result_recipe(base, mean)])[0]
    assert torch.allclose(got, direct, atol=1e-5)
    with pytest.raises(RecipeError, match="has no z; switch to W"):
        model_space(g, "z").vector(one)


def test_member_from_recipe_bakes_in_edits(dcgan, stylegan):
    base = Recipe(ModelRef("m"), SeedLatent(3))
    assert member_from_recipe(dcgan, base) == SeedLatent(3)
    walked = base.with_walk("x", tuple([1.0] + [0.0] * 15), 2.0).with_truncation(0.5)
    m = member_from_recipe(dcgan, walked)
    assert isinstance(m, VectorLatent) and np.allclose(m.values, dcgan.edited_z(walked))
    r = Renderer()
    sg = Recipe(ModelRef("m", stylegan.model_id), SeedLatent(3)).with_walk(
        "w", tuple([1.0] + [0.0] * 15), 1.5, space="w").with_truncation(0.7)
    m = member_from_recipe(stylegan, sg)
    assert isinstance(m, WLatent)
    assert np.array_equal(r.render(stylegan, result_recipe(sg, m)).image, r.render(stylegan, sg).image)


def test_neighbourhood_is_seeded_and_centred_on_the_result(dcgan, stylegan):
    v = np.arange(16, dtype=np.float32) / 10
    a = neighbourhood(v, model_space(dcgan, "z"), scale=0.25, seed=3)
    assert len(a) == 9 and a == neighbourhood(v, model_space(dcgan, "z"), scale=0.25, seed=3)
    assert a != neighbourhood(v, model_space(dcgan, "z"), scale=0.25, seed=4)
    assert np.allclose(a[4].values, v)
    spread = np.std(np.stack([p.values for p in a]) - v, axis=1)
    assert np.all(spread[[0, 1, 2, 3, 5, 6, 7, 8]] > 0.1) and np.all(spread < 0.5)
    assert neighbourhood(v, model_space(dcgan, "z"), scale=0.0, seed=3) == [a[4]] * 9
    w = ConceptBin("A", (SeedLatent(1),)).mean(model_space(stylegan, "w"))
    n = neighbourhood(w, model_space(stylegan, "w"), scale=0.25, seed=0)
    assert all(isinstance(p, WLatent) for p in n) and np.allclose(n[4].values, w, atol=1e-6)


def test_concept_direction_is_unit_with_library_metadata(dcgan):
    a, b = known(dcgan, (3, 4), (0, 0))
    d, meta = concept_direction(ConceptBin("glasses", (a,)), ConceptBin("plain", (b,)), model_space(dcgan, "z"),
                                dcgan.model_id)
    assert np.allclose(d[:2], [0.6, 0.8]) and np.isclose(np.linalg.norm(d), 1)
    assert meta["name"] == "plain -> glasses" and meta["source"] == "arithmetic" and meta["space"] == "z"
    assert meta["info"]["length"] == pytest.approx(5.0) and meta["model_sha256"] == dcgan.model_id
    with pytest.raises(RecipeError, match="same mean"):
        concept_direction(ConceptBin("x", (a,)), ConceptBin("y", (a,)), model_space(dcgan, "z"), dcgan.model_id)


def test_bins_and_named_latents_round_trip_through_project_json():
    bins = (ConceptBin("glasses, male", (SeedLatent(1), vec(0.5, -1.0))),
            ConceptBin("w bin", (WLatent((1.0, 2.0)),)), ConceptBin("empty"))
    latents = (NamedLatent("woman with glasses", vec(1.0, 2.0, 3.0)), NamedLatent("w", WLatent((0.25,))))
    ref = ModelRef("model.safetensors", "abc")
    p = Project.of(Workspace(Recipe(ref, SeedLatent(0)), bins=bins, latents=latents))
    d = p.to_dict()
    back = Project.from_dict(json.loads(json.dumps(d)))
    assert back.workspace.bins == bins and back.workspace.latents == latents
    d["workspaces"][0]["steps"][0]["state"]["bins"] = [{"name": "x", "members": [{"type": "bogus"}]}]
    with pytest.raises(RecipeError, match="unknown latent type 'bogus'"):
        Project.from_dict(d)


def test_bin_weight_survives_json_and_is_validated():
    b = ConceptBin("glasses", (SeedLatent(3), VectorLatent((0.5, -1.0))), weight=-0.5)
    back = ConceptBin.from_dict(json.loads(json.dumps(b.to_dict())))
    assert back == b and back.weight == -0.5
    assert ConceptBin.from_dict({"name": "old", "members": []}).weight is None  # projects before weights
    with pytest.raises(RecipeError, match="weight must be a number"):
        ConceptBin.from_dict({"name": "x", "members": [], "weight": "heavy"})

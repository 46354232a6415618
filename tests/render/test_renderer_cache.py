"""The renderer's activation cache: identical recipes cost nothing, memory stays bounded."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_dcgan
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.errors import RecipeError
from studio.model.registry import Registry
from studio.render.cache import ActivationCache
from studio.render.engine import ModelCache, Renderer, to_uint8


@pytest.fixture
def gen(tiny_dcgan_path):
    return Registry.discover(search_paths=[]).open(tiny_dcgan_path)


def recipe(seed: int, path: str = "m.pth") -> Recipe:
    return Recipe(ModelRef(path), SeedLatent(seed))


def test_second_render_runs_no_stages_and_is_bit_identical(gen):
    r = Renderer()
    first = r.render(gen, recipe(3))
    assert first.ok and first.stages_run == len(gen.stages) == 4
    assert first.image.shape == (32, 32, 3) and first.image.dtype == np.uint8
    second = r.render(gen, recipe(3))
    assert second.ok and second.stages_run == 0
    assert np.array_equal(first.image, second.image)
    # ...and the cached image is the generator's own output, not something stale.
    assert np.array_equal(second.image, to_uint8(gen.generate(gen.latents([3])))[0])
    other = r.render(gen, recipe(4))
    assert other.stages_run == 4 and not np.array_equal(other.image, first.image)


def test_walks_change_pixels_and_are_cached_too(gen):
    r = Renderer()
    base = recipe(1)
    d = np.zeros(gen.info.z_dim, np.float32)
    d[0] = 1.0
    walked = base.with_walk("pca:0", tuple(d), 3.0)
    a, b = r.render(gen, base), r.render(gen, walked)
    assert b.stages_run == 4 and not np.array_equal(a.image, b.image)
    z = gen.latents([1]) + 3.0 * torch.from_numpy(d)  # the walk is exactly z + amount * direction
    assert np.array_equal(b.image, to_uint8(gen.generate(z))[0])
    assert r.render(gen, walked).stages_run == 0
    assert np.array_equal(r.render(gen, walked.with_walk("pca:0", tuple(d), 0)).image, a.image)


def test_frames_report_recipe_errors_as_data(gen):
    bad = recipe(0).with_walk("w", (1.0, 2.0), 1.0)  # wrong length for this model's z
    frame = Renderer().render(gen, bad, view="side", request_id=9)
    assert not frame.ok and frame.image is None and (frame.view, frame.request_id) == ("side", 9)
    assert "walk 'w' has 2 values but this model's z has 16" in frame.error


def test_activation_cache_is_a_byte_bounded_lru():
    c = ActivationCache(max_bytes=1000)
    t = [torch.full((100,), float(i)) for i in range(6)]  # 400 bytes each
    c.put(b"0", t[0])
    c.put(b"1", t[1])
    assert c.nbytes == 800 and len(c) == 2
    assert c.get(b"0") is t[0]  # touch 0: now 1 is the least recently used
    c.put(b"2", t[2])
    assert c.get(b"1") is None and c.get(b"0") is t[0] and c.get(b"2") is t[2]
    assert c.nbytes == 800 and c.hits == 3 and c.misses == 1
    c.put(b"2", t[3])  # replacing a key does not count its bytes twice
    assert c.nbytes == 800 and c.get(b"2") is t[3]
    c.put(b"big", torch.zeros(1000))  # larger than the whole cache: not stored, nothing evicted
    assert c.get(b"big") is None and len(c) == 2
    for i in range(6):
        c.put(bytes([i]) * 2, t[i])
        assert c.nbytes <= 1000
    c.clear()
    assert c.nbytes == 0 and len(c) == 0


def test_renderer_cache_evicts_old_recipes_within_its_budget(gen):
    per_recipe = 4 * (32 * 4 * 4 + 16 * 8 * 8 + 8 * 16 * 16 + 3 * 32 * 32)  # float32 outputs of the 4 stages
    r = Renderer(cache_bytes=2 * per_recipe + 100)
    for s in range(10):
        r.render(gen, recipe(s))
        assert r.cache.nbytes <= r.cache.max_bytes
    assert r.cache.nbytes > per_recipe  # it does hold what fits
    assert r.render(gen, recipe(9)).stages_run == 0
    assert r.render(gen, recipe(0)).stages_run == 4


def test_model_cache_loads_each_file_once_and_reloads_when_it_changes(tmp_path):
    path = tmp_path / "g.pth"
    torch.save({f"main.{k}": v for k, v in make_dcgan(seed=0).state_dict().items()}, path)
    opened = []
    reg = Registry.discover(search_paths=[])

    def open_fn(p, device):
        opened.append(p)
        return reg.open(p, device)

    mc = ModelCache(torch.device("cpu"), open_fn)
    g1 = mc.get(ModelRef(str(path)))
    assert mc.get(str(path)) is g1 and len(opened) == 1
    torch.save({f"main.{k}": v for k, v in make_dcgan(seed=1).state_dict().items()}, path)
    import os
    os.utime(path, (1, 1))  # a different mtime, as an edited file would have
    g2 = mc.get(ModelRef(str(path)))
    assert g2 is not g1 and len(opened) == 2 and g2.model_id != g1.model_id

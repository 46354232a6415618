"""The mixing grid on a tiny saved StyleGAN: every cell is the render of its recipe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import tiny_stylegan
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.style_edits import Mix
from studio.errors import RecipeError
from studio.model.registry import default_registry
from studio.render.engine import Renderer
from studio.render.mixing import cell, cell_recipe, mixing_grid, mixing_grid_job

ROWS, COLS = [1, 2, 3], [4, 5]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("mix") / "tiny.safetensors"
    save_stylegan(path, tiny_stylegan(seed=3), name="tiny")
    return default_registry().open(path, torch.device("cpu"))


@pytest.fixture
def base(gen) -> Recipe:
    return Recipe(ModelRef("tiny.safetensors", gen.model_id), SeedLatent(0), truncation=0.8)


def test_each_cell_is_its_recipe_rendered(gen, base):
    r = Renderer()
    layers = (0, 4)
    grid = mixing_grid(r, gen, base, ROWS, COLS, layers)
    s = gen.info.resolution
    assert grid.shape == ((len(ROWS) + 1) * s, (len(COLS) + 1) * s, 3)
    for i, row in enumerate(ROWS):
        for j, col in enumerate(COLS):
            rec = cell_recipe(base, row, col, layers)
            assert rec.edits == (Mix("mix:grid", layers, seed=col),) and rec.truncation == 0.8
            direct = r.render(gen, rec).image
            assert np.abs(cell(grid, i, j, (s, s)).astype(int) - direct.astype(int)).max() <= 1
    # the sources: columns along the top, rows down the left, the corner left blank
    for j, col in enumerate(COLS):
        src = r.render(gen, base.with_seed(col)).image
        assert np.abs(grid[:s, (j + 1) * s:(j + 2) * s].astype(int) - src.astype(int)).max() <= 1
    for i, row in enumerate(ROWS):
        src = r.render(gen, base.with_seed(row)).image
        assert np.abs(grid[(i + 1) * s:(i + 2) * s, :s].astype(int) - src.astype(int)).max() <= 1
    assert (grid[:s, :s] == 255).all()
    # mixing changed the cells: a mixed cell differs from both its sources
    mixed = cell(grid, 0, 0, (s, s))
    assert not np.array_equal(mixed, grid[s:2 * s, :s]) and not np.array_equal(mixed, grid[:s, s:2 * s])


def test_an_empty_range_leaves_rows_unchanged_and_the_full_range_copies_columns(gen, base):
    r = Renderer()
    s = gen.info.resolution
    empty = mixing_grid(r, gen, base, ROWS, COLS, (2, 2))
    for i in range(len(ROWS)):
        for j in range(len(COLS)):
            assert np.array_equal(cell(empty, i, j, (s, s)), empty[(i + 1) * s:(i + 2) * s, :s])
    full = mixing_grid(r, gen, base, ROWS, COLS, (0, gen.info.num_ws))
    for i in range(len(ROWS)):
        for j in range(len(COLS)):
            got, col_src = cell(full, i, j, (s, s)).astype(int), full[:s, (j + 1) * s:(j + 2) * s].astype(int)
            assert np.abs(got - col_src).max() <= 1


def test_job_reports_progress_and_bad_ranges_are_refused(gen, base):
    job = mixing_grid_job(Renderer(), gen, base, ROWS, COLS, (0, 4), batch_size=3)
    progress = []
    with pytest.raises(StopIteration) as done:
        while True:
            progress.append(next(job))
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) == 4  # 11 images / 3
    assert done.value.value.shape[2] == 3
    n = gen.info.num_ws
    with pytest.raises(RecipeError, match=f"outside this model's {n} inputs"):
        mixing_grid(Renderer(), gen, base, ROWS, COLS, (0, n + 1))
    with pytest.raises(RecipeError, match="at least one"):
        mixing_grid(Renderer(), gen, base, [], COLS, (0, 4))


def test_a_model_without_style_inputs_is_refused(tiny_dcgan_path: Path):
    g = default_registry().open(tiny_dcgan_path, torch.device("cpu"))
    base = Recipe(ModelRef(str(tiny_dcgan_path)), SeedLatent(0))
    with pytest.raises(RecipeError, match="no style inputs to mix"):
        mixing_grid(Renderer(), g, base, [1], [2], (0, 1))


def test_row_sources_round_trip_through_mix_edits(gen, base):
    from studio.core.recipe import Walk
    from studio.render.mixing import row_sources, style_groups, with_row_sources

    n = gen.info.num_ws
    walk = Walk("w:1", (0.5,) * gen.info.w_dim, 1.0, "w")
    r0 = Recipe(base.model, base.latent, edits=(walk,))
    rows = [(-1, 1.0)] * 2 + [(7, 1.0)] * 3 + [(7, 0.5)] + [(9, 1.0)] * (n - 6)
    r1 = with_row_sources(r0, rows)
    assert row_sources(r1, n) == rows
    assert [e.layers for e in r1.edits[1:]] == [(2, 5), (5, 6), (6, n)] and r1.edits[0] == walk
    # the matrix's edits render like the same rows mixed by hand
    img = Renderer().render(gen, r1).image
    ws = gen.context([r0]).ws.clone()
    for i, (seed, amount) in enumerate(rows):
        if seed >= 0:
            src = gen.context([Recipe(base.model, SeedLatent(seed))]).ws[0, i]
            ws[0, i] = ws[0, i].lerp(src, amount)
    out = gen.synthesize(ws).clamp(-1, 1)
    direct = ((out + 1) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(img.astype(int) - direct.astype(int)).max() <= 1
    # back to all-base removes every matrix edit but keeps the walk
    assert with_row_sources(r1, [(-1, 1.0)] * n).edits == (walk,)
    groups = style_groups(gen.style_resolutions())
    assert sorted(sum(groups.values(), [])) == list(range(n)) and all(groups.values())
    assert style_groups([4, 4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128]) == {
        "coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": [8, 9, 10, 11]}

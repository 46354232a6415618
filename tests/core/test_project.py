"""Project files and autosave: round trips, atomic writes, moved checkpoints, newer and damaged files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.core.directions import random_directions
from studio.core.project import (Autosave, ModelMissing, Project, load_project, save_project)
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.core.units import UnitMask
from studio.core.workspace import UnitSelection, Workspace
from studio.errors import RecipeError


def _project(model: Path) -> Project:
    ref = ModelRef(str(model), "ab" * 32)
    d = random_directions(3, 16, seed=2)
    r0 = Recipe(ref, SeedLatent(1))
    r1 = r0.with_walk("random:0", tuple(map(float, d.vectors[0])), 1.5)
    r2 = r1.with_truncation(0.6)
    tl = Timeline((r0, r2), (Segment(12, "lerp", "cubic"), Segment(12)), loop=True, fps=30)
    w0 = Workspace(r0, tl, pca=d)
    w1 = w0.with_(recipe=r1, units=UnitSelection("block2", frozenset({3, 7})))
    w2 = w1.with_(recipe=r2, mask=UnitMask(("01", "11")))
    return Project.of(w1, (w0, w1, w2), 1)


def test_round_trip_keeps_everything(tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    p = _project(model)
    path = tmp_path / "a.lsproj"
    save_project(p, path)
    q = load_project(path)
    assert q.model == p.model and q.recipe == p.recipe and q.current.states == p.current.states
    assert q.current.index == 1 and q.timeline == p.timeline
    assert q.current.states[2].mask == UnitMask(("01", "11")) and q.workspace.units.units == {3, 7}
    assert np.array_equal(q.workspace.pca.vectors, p.workspace.pca.vectors)
    assert q.check_model() == model
    assert [f.name for f in tmp_path.iterdir() if "partial" in f.name] == []


def test_walk_directions_are_stored_once(tmp_path):
    """Two states share one 16-value walk direction, which is also the PCA's first row: stored once, by hash."""
    p = _project(tmp_path / "m.safetensors")
    d = p.to_dict()
    assert len(d["vectors"]) == 3  # the PCA's three rows; the walk refers to the first
    text = json.dumps(d)
    walk = p.current.states[1].recipe.edits[0].direction
    assert text.count(json.dumps(list(walk))[1:-1]) == 1


def test_a_schema_1_project_still_opens(tmp_path):
    ref = ModelRef(str(tmp_path / "m.safetensors"), "ab" * 32)
    r0 = Recipe(ref, SeedLatent(1))
    r1 = r0.with_truncation(0.5)
    tl = Timeline((r0, r1), (Segment(6), Segment(6)))
    old = {"format": "latent-studio-project", "schema": 1, "model": {"path": ref.path, "sha256": ref.sha256},
           "recipe": r1.to_dict(), "history": [r0.to_dict(), r1.to_dict()], "history_index": 1,
           "directions": [], "saved_directions": [], "timeline": tl.to_dict(),
           "bins": [{"name": "glasses", "members": [{"type": "seed", "seed": 4}], "weight": 1.0}], "latents": []}
    q = Project.from_dict(old)
    assert [s.recipe for s in q.current.states] == [r0, r1] and q.current.index == 1
    assert q.timeline == tl and q.workspace.bins[0].name == "glasses"


def test_moved_checkpoint_names_the_missing_path_and_relocates(tmp_path):
    p = _project(tmp_path / "gone.safetensors")
    with pytest.raises(ModelMissing, match="gone.safetensors is missing") as info:
        p.check_model()
    assert info.value.path == str(tmp_path / "gone.safetensors")
    new = tmp_path / "here.safetensors"
    new.write_bytes(b"x")
    q = p.relocated(new)
    assert q.check_model() == new
    assert {r.model.path for r in (q.recipe, *(w.recipe for w in q.current.states), *q.timeline.keyframes)} == {str(new)}
    assert q.model.sha256 == p.model.sha256


def test_newer_and_damaged_files_get_clear_messages(tmp_path):
    p = _project(tmp_path / "m.safetensors")
    path = tmp_path / "a.lsproj"
    save_project(p, path)
    data = json.loads(path.read_text())
    (tmp_path / "new.lsproj").write_text(json.dumps({**data, "schema": 7}))
    with pytest.raises(RecipeError, match="new.lsproj was saved by a newer Latent Studio"):
        load_project(tmp_path / "new.lsproj")
    (tmp_path / "cut.lsproj").write_text(path.read_text()[:300])
    with pytest.raises(RecipeError, match="cut.lsproj is damaged: not valid JSON"):
        load_project(tmp_path / "cut.lsproj")
    (tmp_path / "other.lsproj").write_text('{"hello": 1}')
    with pytest.raises(RecipeError, match="not a Latent Studio project"):
        load_project(tmp_path / "other.lsproj")
    bad = json.loads(json.dumps(data))
    bad["workspaces"][0]["index"] = 9
    (tmp_path / "idx.lsproj").write_text(json.dumps(bad))
    with pytest.raises(RecipeError, match="history index 9"):
        load_project(tmp_path / "idx.lsproj")
    (tmp_path / "bin.lsproj").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecipeError, match="bin.lsproj"):
        load_project(tmp_path / "bin.lsproj")


def test_save_replaces_atomically(tmp_path):
    """A failing write (here: an unserialisable value) leaves the previous file intact."""
    path = tmp_path / "a.lsproj"
    p = _project(tmp_path / "m.safetensors")
    save_project(p, path)
    before = path.read_bytes()
    broken = Project(p.workspaces, 0)
    object.__setattr__(broken, "active", object())  # json cannot write this
    with pytest.raises(TypeError):
        save_project(broken, path)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["a.lsproj"]


def test_autosave_offers_recovery_only_after_a_crash(tmp_path):
    store = Autosave(tmp_path / "auto")
    assert store.pending_recovery() is None
    store.begin()
    p = _project(tmp_path / "m.safetensors")
    assert store.save(p) and not store.save(p)  # unchanged state is not rewritten
    assert store.save_soon(1, lambda: p) and not store.save_soon(1, lambda: p)  # revision 1 is queued once
    assert store.flush(10)
    # the process dies here (no clean_exit): the next launch finds the state
    again = Autosave(tmp_path / "auto")
    assert again.pending_recovery().recipe == p.recipe
    again.begin()
    again.clean_exit()
    assert Autosave(tmp_path / "auto").pending_recovery() is None


def test_a_killed_process_leaves_a_recoverable_autosave(tmp_path):
    code = (
        "import os, sys\n"
        "from studio.core.project import Autosave, Project\n"
        "from studio.core.recipe import ModelRef, Recipe, SeedLatent\n"
        "a = Autosave(sys.argv[1]); a.begin()\n"
        "from studio.core.workspace import Workspace\n"
        "a.save(Project.of(Workspace(Recipe(ModelRef('m.pth'), SeedLatent(77)))))\n"
        "os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "auto")], capture_output=True)
    assert proc.returncode == -9
    rec = Autosave(tmp_path / "auto").pending_recovery()
    assert rec is not None and rec.recipe.latent == SeedLatent(77)


def test_damaged_autosave_is_reported_not_offered(tmp_path):
    store = Autosave(tmp_path / "auto")
    store.begin()
    store.path.write_text("{ half")
    with pytest.raises(RecipeError, match="damaged"):
        store.pending_recovery()


def test_default_folder_follows_the_environment(tmp_path, monkeypatch):
    from studio.core.project import default_autosave_dir

    monkeypatch.setenv("LATENT_STUDIO_DATA", str(tmp_path))
    assert default_autosave_dir() == tmp_path / "autosave"
    monkeypatch.delenv("LATENT_STUDIO_DATA")
    assert "latent-studio" in str(default_autosave_dir())
    assert os.path.isabs(default_autosave_dir())

"""JSON inputs (recipes, projects and so autosave, .lsdir metadata, sidecars, checkpoint configs) go through
studio.core.safe_json: deep nesting, huge integers, Infinity/NaN and wrong types are one clear sentence of
the studio's own error type, never RecursionError/ValueError/OverflowError (issue 26 item 6)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from studio.cli import main
from studio.core import safe_json
from studio.core.direction_library import DirectionFileError, SavedDirection, load_direction, save_direction
from studio.core.project import Project, load_project, save_project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.core.workspace import Workspace
from studio.errors import CheckpointError, RecipeError


@pytest.fixture
def project_file(tmp_path: Path) -> Path:
    r0 = Recipe(ModelRef("netG.pth", "ab" * 32), SeedLatent(1))
    r1 = r0.with_truncation(0.7)
    w0 = Workspace(r0, Timeline((r0, r1), (Segment(12), Segment(12)), fps=30))
    path = tmp_path / "session.lsproj"
    save_project(Project.of(w0.with_(recipe=r1), (w0, w0.with_(recipe=r1)), 1), path)
    return path


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    text = change(data)
    path.write_text(text if isinstance(text, str) else json.dumps(data))


def _history_index_holds(literal: str):
    """A project text whose history_index (of the first workspace) is `literal`, written as raw JSON."""
    def change(data):
        data["workspaces"][0]["index"] = "@@"
        return json.dumps(data).replace('"@@"', literal)
    return change


@pytest.mark.parametrize("literal, message", [
    ("Infinity", "holds Infinity, which is not a number JSON allows"),
    ("NaN", "holds NaN, which is not a number JSON allows"),
    ("9" * 400, "holds a 400-digit integer, over the limit of 20 digits"),
    ("1e999", "holds the number 1e999, too large to be a finite number"),
    ("[" * 5000 + "]" * 5000, "nests deeper than the limit of 64 levels"),
    ("[" * 70 + "]" * 70, "nests deeper than the limit of 64 levels"),
])
def test_damaged_project_is_one_recipe_error(project_file, literal, message):
    assert "index" in json.loads(project_file.read_text())["workspaces"][0]  # the field the edit replaces
    _edit(project_file, _history_index_holds(literal))
    with pytest.raises(RecipeError) as exc:
        load_project(project_file)
    assert str(exc.value).startswith("session.lsproj is damaged: it ") and message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_undamaged_project_opens(project_file):
    assert load_project(project_file).current.index == 1


def test_a_model_path_that_is_not_text_is_refused(project_file, tmp_path):
    recipe = json.loads(Recipe(ModelRef("m.pth"), SeedLatent(3)).to_json())
    recipe["model"]["path"] = {"not": "a path"}
    with pytest.raises(RecipeError, match="the model must be named by a text path"):
        Recipe.from_json(json.dumps(recipe))
    recipe["model"]["path"] = 12
    with pytest.raises(RecipeError, match="path=12"):
        Recipe.from_json(json.dumps(recipe))


@pytest.mark.parametrize("text, message", [
    ('{"schema": 1, "model": {"path": "m.pth"}, "latent": {"type": "seed", "seed": ' + "7" * 400 + "}}",
     "400-digit integer"),
    ('{"schema": 1, "model": {"path": "m.pth"}, "latent": {"type": "seed", "seed": 1}, "truncation": Infinity}',
     "holds Infinity"),
    ('{"schema": 1, "model": {"path": ["m.pth"]}, "latent": {"type": "seed", "seed": 1}}',
     "the model must be named by a text path"),
    ("[" * 100_000, "nests deeper than the limit of 64 levels"),
])
def test_cli_render_of_a_bad_recipe_is_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "r.json"
    path.write_text(text)
    code = main(["render", "--recipe", str(path), "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err and err.startswith("latent-studio: error: ")
    assert "unexpected" not in err and not (tmp_path / "a.png").exists()


def test_lsdir_with_deep_metadata_is_a_direction_file_error(tmp_path):
    path = save_direction(SavedDirection("smile", np.ones((1, 8), np.float32), "z", "pca",
                                         created="2026-01-01"), tmp_path / "smile.lsdir")
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
    assert load_direction(path).name == "smile"
    meta["meta"] = "[" * 10_000 + "]" * 10_000
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(DirectionFileError, match="smile.lsdir's metadata is damaged: it nests deeper"):
        load_direction(path)


def test_safe_json_limits_are_settings(monkeypatch):
    assert safe_json.loads('{"a": [[[1]]]}') == {"a": [[[1]]]}
    monkeypatch.setenv("LATENT_STUDIO_MAX_JSON_DEPTH", "3")
    with pytest.raises(RecipeError, match="limit of 3 levels .*LATENT_STUDIO_MAX_JSON_DEPTH"):
        safe_json.loads('{"a": [[[1]]]}', "x.json")
    monkeypatch.setenv("LATENT_STUDIO_MAX_JSON_BYTES", "10")
    with pytest.raises(CheckpointError, match="x.json is 16 bytes of JSON, over the limit of 10 bytes"):
        safe_json.loads('{"a": [1, 2, 3]}', "x.json", CheckpointError)
    monkeypatch.setenv("LATENT_STUDIO_MAX_JSON_BYTES", "lots")
    with pytest.raises(Exception, match="LATENT_STUDIO_MAX_JSON_BYTES='lots' is not a number"):
        safe_json.loads("1")


def test_a_timeline_of_millions_of_frames_is_refused_on_load(tmp_path):
    """A 40-keyframe project of 100,000 frames per segment (4 M frames in a few kB) is refused when opened,
    not when export runs out of memory expanding it."""
    keys = tuple(Recipe(ModelRef("netG.pth"), SeedLatent(i)) for i in range(41))
    tl = Timeline(keys, (Segment(100_000),) * 41)
    path = tmp_path / "long.lsproj"
    save_project(Project.of(Workspace(keys[0], tl)), path)
    assert path.stat().st_size < 100_000
    with pytest.raises(RecipeError, match="the timeline claims 4,000,001 frames, over the limit of 100,000 "
                                          r"\(set LATENT_STUDIO_MAX_FRAMES to raise it\)"):
        load_project(path)

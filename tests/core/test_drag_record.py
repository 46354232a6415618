"""A drag's record (points, mask, settings beside its latent) round-trips JSON, continues from where the
handles ended, survives damage, and its trajectory becomes timeline keyframes."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from studio.core.drag import DragRecord, latent_key, read_record, record_for, trajectory_timeline
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.core.timeline import Timeline
from studio.core.units import UnitMask
from studio.core.workspace import Workspace
from studio.core.wspace import WLatent
from studio.errors import RecipeError


def _record() -> DragRecord:
    return DragRecord(((10.5, 20.5),), ((15.5, 20.5),), ((15.0, 20.5),), UnitMask(["01", "11"]), "b32", 3, 17,
                      "reached")


def test_round_trip_and_continue():
    rec = _record()
    back = DragRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back == rec
    nxt = rec.continued()
    assert nxt.handles == ((15.0, 20.5),) and nxt.targets == rec.targets and nxt.ended_at == ()
    ws = Workspace(Recipe(ModelRef("m"), SeedLatent(1))).with_panel("drag", rec.to_dict())
    assert read_record(ws.panel("drag")) == rec


def test_damaged_records_are_refused_or_ignored():
    with pytest.raises(RecipeError):
        DragRecord.from_dict({"handles": [[1, 2]], "targets": []})
    with pytest.raises(RecipeError):
        DragRecord.from_dict({"handles": [["a", 2]], "targets": [[1, 2]]})
    assert read_record({"handles": "x"}) is None and read_record(None) is None


def test_trajectory_timeline_in_w_and_z():
    base = Recipe(ModelRef("m"), SeedLatent(1), truncation=1.0)
    ws = [WLatent((0.0, 1.0)), WLatent((0.5, 1.0)), WLatent((1.0, 1.0))]
    t = trajectory_timeline(Timeline(fps=12.0), base, ws, frames=5)
    assert [k.latent for k in t.keyframes] == ws and all(s.space == "w" and s.interpolation == "lerp"
                                                         for s in t.segments)
    assert t.frame_count() == 11 and t.fps == 12.0
    z = trajectory_timeline(Timeline(), base, [VectorLatent((0.0,)), VectorLatent((1.0,))])
    assert z.segments[0].space == "z"
    with pytest.raises(RecipeError):
        trajectory_timeline(Timeline(), base, ws[:1])


def test_a_record_describes_only_the_image_it_made():
    made = WLatent((0.25, 0.5))
    rec = replace(_record(), made=latent_key(made))
    d = json.loads(json.dumps(rec.to_dict()))
    assert record_for(d, WLatent((0.25, 0.5))) == rec
    assert record_for(d, SeedLatent(3)) is None and record_for(d, WLatent((0.25, 0.51))) is None


def test_a_record_is_saved_with_the_workspace():
    from studio.core.vector_table import VectorTable
    from studio.core.workspace import workspace_from_dict, workspace_to_dict

    ws = Workspace(Recipe(ModelRef("m"), WLatent((0.25, 0.5)))).with_panel("drag", _record().to_dict())
    table = VectorTable()
    back = workspace_from_dict(json.loads(json.dumps(workspace_to_dict(ws, table))), table)
    assert back == ws and read_record(back.panel("drag")) == _record()

"""The workspace, its undo history and one workspace per model, without Qt."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.arithmetic import ConceptBin
from studio.core.direction_library import SavedDirection
from studio.core.history import History
from studio.core.project import Project
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.timeline import Segment, Timeline
from studio.core.units import UnitMask
from studio.core.workspace import UnitSelection, Workspace, default_bins
from studio.core.workspaces import Workspaces

A = ModelRef("/models/dcgan.safetensors", "aa" * 32)
B = ModelRef("/models/stylegan2.safetensors", "bb" * 32)


def _ws(ref: ModelRef = A, seed: int = 1) -> Workspace:
    return Workspace(Recipe(ref, SeedLatent(seed)))


def _direction(dim: int = 512, seed: int = 0) -> tuple[float, ...]:
    v = np.random.default_rng(seed).standard_normal(dim)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def test_every_component_is_undoable_and_redoable():
    h = History(_ws())
    w0 = h.present
    tl = Timeline().add(w0.recipe)
    steps = [
        ("Add keyframe", dict(timeline=tl)),
        ("Add to bin", dict(bins=(default_bins()[0].with_member(SeedLatent(5)),) + default_bins()[1:])),
        ("Paint mask", dict(mask=UnitMask(("10", "01")))),
        ("Select units", dict(units=UnitSelection("block1", frozenset({2, 9})))),
        ("Fit direction", dict(directions=(SavedDirection("Smiling", np.eye(1, 8, dtype=np.float32)),),
                              sliders=("Smiling",))),
        ("Walk", dict(recipe=w0.recipe.with_walk("pca:0", _direction(8), 2.0))),
    ]
    states = [w0]
    for text, changes in steps:
        assert h.push(h.present.with_(**changes), text)
        states.append(h.present)
    assert h.count == len(steps) and h.undo_text() == "Walk"
    for expected in reversed(states[:-1]):
        assert h.undo() is expected
    assert h.undo() is None and not h.can_undo() and h.redo_text() == "Add keyframe"
    for expected in states[1:]:
        assert h.redo() is expected
    assert h.redo() is None


def test_a_gesture_merges_into_one_step_and_a_round_trip_leaves_none():
    h = History(_ws())
    base = h.present
    d = _direction(16)
    for amount in (0.5, 1.0, 1.5):
        h.push(base.with_(recipe=base.recipe.with_walk("pca:0", d, amount)), "Walk", "pca:0", gesture=1)
    assert h.count == 1 and h.present.recipe.walk_amount("pca:0") == 1.5
    h.push(h.present.with_(recipe=base.recipe), "Walk", "pca:0", gesture=1)  # dragged back to the start
    assert h.count == 0 and h.present == base
    h.push(base.with_(recipe=base.recipe.with_walk("pca:0", d, 1.0)), "Walk", "pca:0", gesture=2)
    h.push(h.present.with_(recipe=base.recipe.with_walk("pca:0", d, 2.0)), "Walk", "pca:0", gesture=3)
    assert h.count == 2  # two drags, two steps


def test_a_new_edit_after_undo_discards_the_redo_branch():
    h = History(_ws())
    h.push(h.present.with_(recipe=h.present.recipe.with_seed(2)), "Seed")
    h.push(h.present.with_(recipe=h.present.recipe.with_seed(3)), "Seed")
    h.undo()
    h.push(h.present.with_(recipe=h.present.recipe.with_seed(9)), "Seed")
    assert h.count == 2 and not h.can_redo() and h.present.recipe.latent == SeedLatent(9)


def test_history_is_bounded_by_bytes_and_keeps_the_present():
    h = History(_ws(), max_bytes=200_000)
    for i in range(300):  # each step walks one of 4 sliders along a new 512-d direction (~10 kB as JSON)
        r = h.present.recipe.with_walk(f"random:{i % 4}", _direction(seed=i), 1.0)
        h.push(h.present.with_(recipe=r), "Walk")
    assert h.nbytes <= 200_000 and 0 < h.count < 30
    last = h.present
    while h.undo() is not None:
        pass
    assert h.present.recipe.edits != last.recipe.edits  # the oldest kept state is an earlier one
    assert h.redo() is not None and h.index == 1  # what is kept still steps forward to the present
    while h.redo() is not None:
        pass
    assert h.present is last


def test_the_present_state_is_kept_even_when_it_alone_exceeds_the_bound():
    h = History(_ws(), max_bytes=10_000)
    r = h.present.recipe
    for i in range(3):
        r = r.with_walk(f"random:{i}", _direction(seed=i), 1.0)
    h.push(h.present.with_(recipe=r), "Walk")
    assert h.present.recipe == r and h.count == 0


def test_directions_are_counted_once_across_states():
    """200 ordinary walk edits over 10 sliders of a 512-d W model: the history stays small (target <= 5 MB)."""
    h = History(_ws(), max_bytes=1 << 40)
    dirs = [_direction(seed=i) for i in range(10)]
    for i in range(200):
        r = h.present.recipe.with_walk(f"pca:{i % 10}", dirs[i % 10], 0.1 * (i + 1), "w")
        h.push(h.present.with_(recipe=r), "Walk", f"pca:{i % 10}", gesture=i)
    assert h.count == 200
    saved = Project.of(h.present, tuple(h.states()[0]), h.index)
    text = json.dumps(saved.to_dict(), separators=(",", ":"))
    assert h.nbytes < 1_000_000 and abs(len(text) - h.nbytes) < 0.05 * len(text)
    assert len(saved.to_dict()["vectors"]) == 10


def test_each_model_keeps_its_own_workspace_and_history():
    ws = Workspaces()
    ws.activate(A, lambda: _ws(A))
    tl = Timeline((ws.present.recipe,), (Segment(8),))
    ws.push(ws.present.with_(timeline=tl, units=UnitSelection("b", frozenset({1}))), "Key")
    a_state = ws.present
    fresh_b = ws.activate(B, lambda: _ws(B, seed=a_state.recipe.latent.seed))
    assert fresh_b.timeline == Timeline() and fresh_b.units == UnitSelection() and fresh_b.model == B
    assert ws.history is not None and not ws.history.can_undo()  # B's history has nothing of A's
    ws.push(fresh_b.with_(bins=(ConceptBin("cats"),)), "Bin")
    back = ws.activate(A, lambda: pytest.fail("A's workspace must be restored, not made anew"))
    assert back is a_state and ws.history.can_undo()
    assert ws.undo().timeline == Timeline()
    assert ws.activate(B, _ws).bins == (ConceptBin("cats"),)


def test_a_moved_checkpoint_finds_its_workspace_by_hash_and_is_repointed():
    ws = Workspaces()
    ws.activate(A, lambda: _ws(A))
    ws.push(ws.present.with_(timeline=Timeline((ws.present.recipe,))), "Key")
    ws.activate(B, lambda: _ws(B))
    moved = ModelRef("/elsewhere/dcgan.safetensors", A.sha256)
    got = ws.activate(moved, lambda: pytest.fail("found by hash"))
    assert got.model == moved and got.timeline.keyframes[0].model == moved
    assert ws.undo().model == moved  # every state follows the file


def test_revision_counts_changes_only():
    ws = Workspaces()
    ws.activate(A, lambda: _ws(A))
    r = ws.revision
    assert not ws.push(ws.present, "nothing")
    assert ws.revision == r
    ws.push(ws.present.with_(latents=()), "same")  # equal state: no step
    assert ws.revision == r
    ws.push(ws.present.with_(mask=UnitMask(("1",))), "Mask")
    assert ws.revision == r + 1


def test_saved_workspaces_round_trip_through_a_project():
    ws = Workspaces()
    ws.activate(A, lambda: _ws(A))
    ws.push(ws.present.with_(recipe=ws.present.recipe.with_walk("pca:0", _direction(), 1.0, "w")), "Walk")
    ws.activate(B, lambda: _ws(B))
    ws.push(ws.present.with_(panels=(("arithmetic.space", "w"),)), "Space")
    saved, active = ws.saved()
    p = Project.from_dict(json.loads(json.dumps(Project(saved, active).to_dict())))
    again = Workspaces()
    again.load(p.workspaces)
    assert again.present is None  # nothing is active until a model opens
    assert again.activate(B, _ws).panel("arithmetic.space") == "w"
    a = again.activate(A, _ws)
    assert a.recipe.walk_amount("pca:0") == 1.0 and again.history.can_undo()


def test_derived_data_reaches_every_state_without_a_step():
    """A PCA computed after some edits is the model's, not an edit's: undoing past it keeps it."""
    from studio.core.directions import random_directions

    ws = Workspaces()
    ws.activate(A, lambda: _ws(A))
    ws.push(ws.present.with_(recipe=ws.present.recipe.with_seed(4)), "Seed")
    pca = random_directions(3, 16, seed=1)
    ws.set_derived(pca=pca)
    assert ws.history.count == 1 and ws.present.pca is pca
    assert ws.undo().pca is pca

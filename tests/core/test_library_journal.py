"""Library-folder changes journaled in a workspace: undo and redo bring the folder along, never clobbering."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from studio.core.direction_library import SavedDirection, load_direction, save_direction
from studio.core.library_journal import LIBRARY_KEY, apply, free_path, journal, reconcile, with_file
from studio.core.recipe import ModelRef, Recipe, SeedLatent
from studio.core.vector_table import VectorTable
from studio.core.workspace import Workspace, workspace_from_dict, workspace_to_dict


def _d(name: str, seed: int = 0, dim: int = 32) -> SavedDirection:
    return SavedDirection(name, np.random.default_rng(seed).normal(size=(1, dim)), "z", "user")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.lsdir"))


def test_undo_and_redo_of_a_delete_and_a_rename_move_the_folder(tmp_path: Path):
    lib = tmp_path / "lib"
    a = _d("Smile")
    lib.mkdir()
    path = save_direction(a, free_path(lib, a.name))
    w0 = Workspace(Recipe(ModelRef("m.pt"), SeedLatent(0)))
    apply(lib, path.name, a.to_dict(), None)
    w1 = with_file(w0, path.name, a.to_dict(), None)              # delete
    assert _names(lib) == [] and journal(w1) == {"Smile.lsdir": (a.to_dict(), None)}
    assert reconcile(lib, w1, w0) == [] and _names(lib) == ["Smile.lsdir"]  # undo writes it back
    np.testing.assert_allclose(load_direction(path).vectors, a.vectors)
    assert reconcile(lib, w0, w1) == [] and _names(lib) == []    # redo deletes it again
    renamed = a.renamed("Grin")
    w2 = with_file(w1, "Grin.lsdir", None, renamed.to_dict())   # a later step adds another file
    assert reconcile(lib, w1, w2) == [] and _names(lib) == ["Grin.lsdir"]
    assert reconcile(lib, w2, w0) == [] and _names(lib) == ["Smile.lsdir"]  # two undos at once
    w3 = with_file(w1, path.name, None, a.to_dict())            # back where the file started: no entry
    assert LIBRARY_KEY in dict(w3.panels) and journal(w3) == {}


def test_a_file_someone_else_put_there_is_never_overwritten_or_deleted(tmp_path: Path):
    lib = tmp_path / "lib"
    lib.mkdir()
    a, other = _d("Smile"), _d("Smile", seed=9)
    w0 = Workspace(Recipe(ModelRef("m.pt"), SeedLatent(0)))
    w1 = with_file(w0, "Smile.lsdir", a.to_dict(), None)
    save_direction(other, lib / "Smile.lsdir")                  # the name was taken meanwhile
    assert reconcile(lib, w1, w0) == []                          # undo: a comes back under a free name
    assert _names(lib) == ["Smile-2.lsdir", "Smile.lsdir"]
    np.testing.assert_allclose(load_direction(lib / "Smile.lsdir").vectors, other.vectors)
    (lib / "Smile-2.lsdir").unlink()
    assert reconcile(lib, w0, w1) == [] and _names(lib) == ["Smile.lsdir"]  # redo leaves the other file


def test_the_journal_round_trips_with_its_vectors_stored_once(tmp_path: Path):
    a = _d("Smile", dim=64)
    w0 = Workspace(Recipe(ModelRef("m.pt"), SeedLatent(0)))
    w1 = with_file(w0, "Smile.lsdir", a.to_dict(), None)
    table = VectorTable()
    packed = workspace_to_dict(w1, table)
    assert len(table.vectors) == 1 and '"$vec"' in json.dumps(packed)  # the vector is a reference
    back = workspace_from_dict(packed, VectorTable(table.vectors))
    assert journal(back) == journal(w1)
    assert reconcile(tmp_path, back, w0) == [] and _names(tmp_path) == ["Smile.lsdir"]

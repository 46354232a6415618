"""What autosave costs the GUI thread, and how big the undo history is, after 200 walk edits (prints figures).

Targets (issue #25): after 200 ordinary walk edits on a 512-d W model, the GUI thread spends <= 20 ms per
autosave and the undo history holds <= 5 MB. The edits are what a StyleGAN user makes: 20 GANSpace sliders
in W (512 values each, as FFHQ's config-f has), dragged one at a time, each drag a gesture of 10 merged
moves, some with a layer range. "Before" is how autosave worked until now, measured side by side in this
run: every undo state with its directions inline, serialised on the calling (GUI) thread.
Run: `.venv/bin/python bench/workspace_autosave.py`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from studio.core.project import Autosave, Project  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.core.workspace import Workspace  # noqa: E402
from studio.core.workspaces import Workspaces  # noqa: E402

GUI_TARGET_MS = 20.0
HISTORY_TARGET_MB = 5.0


def make_edits(workspaces: Workspaces, edits: int, dim: int, sliders: int, num_ws: int) -> None:
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((dim, sliders)))[0].T
    directions = [tuple(float(v) for v in row) for row in basis]
    for i in range(edits):
        k = int(rng.integers(sliders))
        layers = (0, num_ws) if k % 3 else (int(rng.integers(0, 4)), int(rng.integers(6, num_ws)))
        start = workspaces.present.recipe.walk_amount(f"pca:{k}")
        for step in range(1, 11):  # one drag: ten moves merged into one undo step
            ws = workspaces.present
            r = ws.recipe.with_walk(f"pca:{k}", directions[k], start + 0.2 * step, "w", layers)
            workspaces.push(ws.with_(recipe=r), f"Walk pca:{k}", f"pca:{k}", gesture=i)


def before_autosave_s(workspaces: Workspaces) -> tuple[float, int]:
    """The previous autosave: the history's recipes inline (schema 1), json.dumps(indent=1) on this thread."""
    states, _texts, index = workspaces.history.states()
    t0 = time.perf_counter()
    d = {"format": "latent-studio-project", "schema": 1, "history": [s.recipe.to_dict() for s in states],
         "history_index": index, "recipe": states[index].recipe.to_dict()}
    text = json.dumps(d, indent=1)
    return time.perf_counter() - t0, len(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sliders", type=int, default=20)
    ap.add_argument("--num-ws", type=int, default=18)
    ap.add_argument("--repeats", type=int, default=15)
    ns = ap.parse_args()

    ref = ModelRef("ffhq-512w.pkl", "ab" * 32)
    workspaces = Workspaces(max_bytes=1 << 40)  # unbounded here: the figure is what 200 edits cost
    workspaces.activate(ref, lambda: Workspace(Recipe(ref, SeedLatent(7))))
    t0 = time.perf_counter()
    make_edits(workspaces, ns.edits, ns.dim, ns.sliders, ns.num_ws)
    edit_ms = (time.perf_counter() - t0) * 1e3 / (ns.edits * 10)
    h = workspaces.history
    assert h is not None and h.count == ns.edits

    def snapshot() -> Project:
        saved, active = workspaces.saved()
        return Project(saved, active)

    gui_s, before_s, written = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        store = Autosave(Path(tmp))
        store.begin()
        for i in range(ns.repeats):
            b, before_bytes = before_autosave_s(workspaces)
            before_s.append(b)
            workspaces.revision += 1  # the session changed since the last tick
            t0 = time.perf_counter()
            queued = store.save_soon(workspaces.revision, snapshot)  # exactly what MainWindow.autosave_now does
            gui_s.append(time.perf_counter() - t0)
            assert queued
            store.flush()
        t0 = time.perf_counter()
        store.save_soon(workspaces.revision, snapshot)  # nothing changed: a tick costs a comparison
        idle_us = (time.perf_counter() - t0) * 1e6
        written = store.path.stat().st_size
        assert Project.from_dict(json.loads(store.path.read_text())).recipe == workspaces.present.recipe

    gui_ms = statistics.median(gui_s) * 1e3
    mb = h.nbytes / 1e6
    print(f"{ns.edits} walk edits (x10 merged moves) on a {ns.dim}-d W model, {ns.sliders} sliders, "
          f"{ns.num_ws} style inputs; {edit_ms:.2f} ms per move to push")
    print(f"autosave on the GUI thread: {gui_ms:.2f} ms median (target <= {GUI_TARGET_MS:.0f} ms); "
          f"before: {statistics.median(before_s) * 1e3:.0f} ms "
          f"({statistics.median(before_s) / max(statistics.median(gui_s), 1e-9):.0f}x); "
          f"unchanged tick: {idle_us:.0f} us")
    print(f"undo history: {mb:.2f} MB (target <= {HISTORY_TARGET_MB:.0f} MB); autosave file {written / 1e6:.2f} MB; "
          f"before: {before_bytes / 1e6:.1f} MB")
    ok = gui_ms <= GUI_TARGET_MS and mb <= HISTORY_TARGET_MB
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

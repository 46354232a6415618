"""Directions > Import on the StyleGAN2 demo (z and w both 128): a _w_boundary lands in W, an unnamed one asks
which space (no answer imports nothing), and a boundary made for another model is one message."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from studio.bundled import resolve_demo
from studio.core.direction_library import DirectionLibrary
from studio.render.engine import ModelCache
from studio.render.worker import SyncWorker
from studio.ui.panels.directions_panel import DirectionsPanel
from studio.ui.session import Session


def test_import_infers_or_asks_the_space(qtbot, tmp_path: Path):
    s = Session(SyncWorker(), ModelCache(torch.device("cpu")))
    panel = DirectionsPanel(s, DirectionLibrary(tmp_path / "library"), fit_samples=40)
    qtbot.addWidget(panel)
    errors: list[str] = []
    s.error.connect(errors.append)
    with qtbot.waitSignal(s.modelChanged, timeout=20000):
        s.open_model(resolve_demo("demo:stylegan2"))
    info = s.generator.info
    assert info.z_dim == info.w_dim
    rng = np.random.default_rng(0)
    np.save(tmp_path / "toy_smile_w_boundary.npy", rng.normal(size=(1, info.w_dim)).astype(np.float32))
    np.save(tmp_path / "toy_smile_wp_boundary.npy", rng.normal(size=(1, info.num_ws, info.w_dim)).astype(np.float32))
    np.save(tmp_path / "smile_boundary.npy", rng.normal(size=(1, info.w_dim)).astype(np.float32))
    np.save(tmp_path / "ffhq_age_w_boundary.npy", rng.normal(size=(1, 512)).astype(np.float32))

    def never(options):
        raise AssertionError(f"asked for {options}")

    assert panel.import_path(tmp_path / "toy_smile_w_boundary.npy", "interfacegan", ask=never).space == "w"
    wp = panel.import_path(tmp_path / "toy_smile_wp_boundary.npy", "interfacegan", ask=never)
    assert wp.space == "w+" and wp.dim == info.num_ws * info.w_dim
    asked: list[list[str]] = []
    assert panel.import_path(tmp_path / "smile_boundary.npy", "interfacegan",
                             ask=lambda o: asked.append(o) or None) is None
    assert asked == [["z", "w"]] and not errors and len(panel.library.entries()) == 2
    d = panel.import_path(tmp_path / "smile_boundary.npy", "interfacegan", ask=lambda o: "z")
    assert d.space == "z" and len(panel.library.entries()) == 3
    assert panel.import_path(tmp_path / "ffhq_age_w_boundary.npy", "interfacegan", ask=never) is None
    assert "512 values and this model's W has 128" in errors[-1]

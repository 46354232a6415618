"""Hostile checkpoints are refused (or their embedded code ignored) and nothing in them ever runs."""
from __future__ import annotations

import builtins
import os
import pickle

import pytest
import torch

from latent_studio_plugins.stylegan.testing import fake_nvlabs_modules, nvlabs_tree, persistent, tiny_stylegan
from studio.errors import CheckpointError
from studio.model.registry import Registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


class ShellCommand:
    """Unpickling this with a plain pickle.load would run a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ExecSource:
    """Unpickling this would exec Python source (how a naive loader 'restores' NVlabs module_src)."""

    def __init__(self, src):
        self.src = src

    def __reduce__(self):
        return (builtins.exec, (self.src,))


def _writer_src(marker) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')\nclass Generator: pass\n"


def test_torch_file_whose_reduce_runs_a_shell_command(registry, tmp_path):
    marker = tmp_path / "shell_ran"
    torch.save({"g_ema": {"x": torch.zeros(1)}, "payload": ShellCommand(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refusing to execute"):
        registry.open(tmp_path / "evil.pt")
    assert not marker.exists()


def test_raw_pickle_whose_reduce_runs_a_shell_command(registry, tmp_path):
    marker = tmp_path / "shell_ran"
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"G_ema": ShellCommand(marker)}, f, protocol=4)
    with pytest.raises(CheckpointError, match="system"):
        registry.open(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_nvlabs_pickle_with_a_shell_command_inside_a_module(registry, tmp_path):
    marker = tmp_path / "shell_ran"
    with fake_nvlabs_modules():
        g = nvlabs_tree(tiny_stylegan())
        g.meta["state"]["z_dim"] = ShellCommand(marker)
        with open(tmp_path / "network-snapshot-000001.pkl", "wb") as f:
            pickle.dump({"G": g, "G_ema": g}, f, protocol=4)
    with pytest.raises(CheckpointError, match="not on the allow-list"):
        registry.open(tmp_path / "network-snapshot-000001.pkl")
    assert not marker.exists()


def test_nvlabs_pickle_whose_module_source_writes_a_file_is_refused(registry, tmp_path):
    marker = tmp_path / "source_ran"
    with fake_nvlabs_modules():
        evil = persistent("Payload", {"_parameters": {}, "_buffers": {}, "_modules": {}}, _writer_src(marker))
        with open(tmp_path / "network-snapshot-000002.pkl", "wb") as f:
            pickle.dump({"G": evil, "G_ema": evil}, f, protocol=4)
    with pytest.raises(CheckpointError, match="unknown class 'Payload'"):
        registry.open(tmp_path / "network-snapshot-000002.pkl")
    assert not marker.exists()


def test_nvlabs_pickle_that_execs_its_source_is_refused(registry, tmp_path):
    marker = tmp_path / "source_ran"
    with fake_nvlabs_modules():
        g = nvlabs_tree(tiny_stylegan())
        with open(tmp_path / "network-snapshot-000003.pkl", "wb") as f:
            pickle.dump({"hook": ExecSource(_writer_src(marker)), "G_ema": g}, f, protocol=4)
    with pytest.raises(CheckpointError, match="builtins.exec"):
        registry.open(tmp_path / "network-snapshot-000003.pkl")
    assert not marker.exists()


def test_real_module_source_is_never_executed(registry, tmp_path):
    """Genuine snapshots carry their source; a known class tree loads from tensors and kwargs alone."""
    marker = tmp_path / "source_ran"
    net = tiny_stylegan(seed=3)
    with fake_nvlabs_modules():
        g = nvlabs_tree(net, module_src=_writer_src(marker))
        with open(tmp_path / "network-snapshot-000004.pkl", "wb") as f:
            pickle.dump({"G": g, "G_ema": g}, f, protocol=4)
    gen = registry.open(tmp_path / "network-snapshot-000004.pkl")
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(gen.generate(z), net(z), atol=1e-5)
    assert not marker.exists()

"""--ray's refusals, each one line before any work (no cluster is started here: a process that has Ray
initialised uses that cluster whatever the address). Skipped without the `ray` extra."""
from __future__ import annotations

import pytest

pytest.importorskip("ray")

from conftest import run_cli  # noqa: E402
from studio.bundled import resolve_demo  # noqa: E402
from studio.distributed.cluster import ClusterError  # noqa: E402


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_bad_cluster_addresses_are_one_line_before_any_work(capsys, tmp_path):
    path = resolve_demo("demo:dcgan")
    for address, message in (("nonsense", "is not a cluster address"),
                             ("127.0.0.1:1", "cannot connect to the Ray cluster at 127.0.0.1:1")):
        code, _, err = run_cli(capsys, "walk", path, "--from-seed", 1, "--to-seed", 2, "--out",
                               tmp_path / "w.gif", "--ray", address)
        assert code == 2 and message in err and err.count("\n") == 1, err
    code, _, err = run_cli(capsys, "walk", path, "--from-seed", 1, "--to-seed", 2, "--out",
                           tmp_path / "w.gif", "--ray", "auto", "--backend", "onnx")
    assert code == 2 and "Ray workers render with torch" in err
    assert _names(tmp_path) == []


def test_connecting_without_the_extra_says_how_to_install_it(monkeypatch):
    import builtins

    from studio.distributed import cluster as mod

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ClusterError, match=r"pip install 'latent-studio\[ray\]'"):
        mod.import_ray()

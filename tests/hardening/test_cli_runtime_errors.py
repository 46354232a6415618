"""`info` and `convert` report their runtime failures (a forward pass that fails, a disk that fills up) as
one line and a non-zero exit, with nothing printed ahead of it (issue 26 item 6)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.cli import info as info_cli
from studio.cli import main



def test_info_forward_pass_failure_is_one_line(monkeypatch, capsys):
    """The demo loads (its load-time check passes); the failure comes in info's own pass over the stages,
    as a plugin's stage that fails on some inputs would."""
    loaded = {}

    def load_then_fail(path, device, **options):
        from studio.cli.common import load_model

        g = load_model(path, device, **options)
        steps = g.steps

        def failing_steps(ctx):
            for i, x in steps(ctx):
                if i == 2:
                    raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x64 and 32x8)\nmore detail")
                yield i, x
        g.steps = failing_steps
        loaded["g"] = g
        return g

    monkeypatch.setattr(info_cli, "load_model", load_then_fail)
    code = main(["info", "demo:dcgan"])
    captured = capsys.readouterr()
    assert "g" in loaded and code == 2 and captured.out == ""
    assert captured.err == ("latent-studio: error: dcgan_toyfaces.safetensors loaded, but its test forward "
                            "pass failed (RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x64 and "
                            "32x8))\n")


def _run_with_file_size_limit(args: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a process that may not write files over `limit` bytes: every write past it fails with
    EFBIG, as writes to a full disk fail with ENOSPC."""
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from studio.cli import main
        sys.exit(main({args!r}))
    """)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_convert_to_safetensors_on_a_full_disk_is_one_line(tmp_path):
    out = tmp_path / "sg2.safetensors"
    r = _run_with_file_size_limit(["convert", "demo:stylegan2", "--out", str(out)], 200_000, tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"latent-studio: error: cannot write {out}: ")
    assert "File too large" in r.stderr and "unexpected" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # no half-written file, no temporary left behind


def test_convert_to_onnx_on_a_full_disk_is_one_line(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "dcgan_onnx"
    r = _run_with_file_size_limit(["convert", "demo:dcgan", "--to", "onnx", "--out", str(out)], 100_000,
                                  tmp_path)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("latent-studio: error: "), r.stderr
    assert "File too large" in r.stderr and "unexpected" not in r.stderr, r.stderr
    assert not out.exists()

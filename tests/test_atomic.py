"""The one atomic-write helper: text, bytes and callbacks land whole or not at all, and leave no temporary."""
from __future__ import annotations

from pathlib import Path

import pytest

from studio.atomic import staged_dir, temp_path, write_atomic


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".old"))


def test_text_bytes_and_callback_replace_the_target(tmp_path):
    p = tmp_path / "out.json"
    write_atomic(p, "first é")
    assert p.read_text(encoding="utf-8") == "first é"
    write_atomic(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    seen: list[Path] = []

    def writer(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"from a callback")

    assert write_atomic(p, writer) == p
    assert p.read_bytes() == b"from a callback"
    assert seen == [temp_path(p)] and seen[0].suffix == ".json"  # encoders choosing by suffix still work
    assert _leftovers(tmp_path) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "state.pt"
    p.write_bytes(b"old")

    def half_then_crash(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomic(p, half_then_crash)
    assert p.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_without_replace_an_existing_file_is_never_overwritten(tmp_path):
    p = tmp_path / "a.png"
    write_atomic(p, b"new", replace=False)
    with pytest.raises(FileExistsError):
        write_atomic(p, b"newer", replace=False)
    assert p.read_bytes() == b"new" and _leftovers(tmp_path) == []


def test_staged_dir_appears_only_when_complete(tmp_path):
    out = tmp_path / "export"
    with pytest.raises(ValueError):
        with staged_dir(out) as tmp:
            (tmp / "half.onnx").write_bytes(b"x")
            raise ValueError
    assert not out.exists() and _leftovers(tmp_path) == []
    with staged_dir(out) as tmp:
        (tmp / "model.onnx").write_bytes(b"1")
    assert [p.name for p in out.iterdir()] == ["model.onnx"]
    with pytest.raises(FileExistsError):
        with staged_dir(out, replace=False) as tmp:
            (tmp / "model.onnx").write_bytes(b"2")
    with staged_dir(out) as tmp:
        (tmp / "other.onnx").write_bytes(b"3")
    assert [p.name for p in out.iterdir()] == ["other.onnx"] and _leftovers(tmp_path) == []

"""The ONNX family without onnx/onnxruntime installed: files are still recognised, and opening one says
what to install instead of failing obscurely."""
from __future__ import annotations

import sys

import pytest

from latent_studio_plugins.onnx import plugin as onnx_plugin
from latent_studio_plugins.onnx.header import looks_like_onnx
from studio.errors import CheckpointError
from studio.model.probe import Probe
from studio.model.registry import Registry

# a ModelProto's first bytes: ir_version 8, then producer_name "pytorch" (field 2, length-delimited)
HEAD = bytes([0x08, 0x08, 0x12, 0x07]) + b"pytorch"


def test_header_check_accepts_onnx_starts_and_rejects_others():
    assert looks_like_onnx(HEAD)
    assert looks_like_onnx(bytes([0x08, 0x0A, 0x3A, 0x10]))  # ir 10, then the graph (field 7)
    for head in (b"hello world", b"\x08", bytes([0x08, 0x08, 0x0F]), bytes([0x08, 0x7F, 0x12]),
                 b"PK\x03\x04zipfile", b"\x80\x02pickle", b"{\"format\": 1}"):
        assert not looks_like_onnx(head), head


def test_opening_without_the_packages_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    path = tmp_path / "g.onnx"
    path.write_bytes(HEAD + b"\x00" * 64)
    assert onnx_plugin.sniff(Probe(path)) > 0
    with pytest.raises(CheckpointError, match=r"latent-studio\[onnx\]"):
        Registry([onnx_plugin]).open(path)

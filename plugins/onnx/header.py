"""Recognising an ONNX file from its first bytes, without onnx installed and without parsing the graph.

An ONNX model is a protobuf ModelProto; serializers write fields in number order, so the file starts with
field 1 (ir_version, a varint) followed by another field of the message. A text file renamed .onnx fails
at the first byte.
"""
from __future__ import annotations

# ModelProto fields: number -> protobuf wire type (0 varint, 2 length-delimited)
_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
MAX_IR_VERSION = 64


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value, shift = 0, 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7
    return None


def looks_like_onnx(head: bytes) -> bool:
    """True when `head` (the file's first bytes) starts like a serialized ONNX ModelProto."""
    if len(head) < 3 or head[0] != 0x08:  # field 1, varint
        return False
    ir = _varint(head, 1)
    if ir is None or not 3 <= ir[0] <= MAX_IR_VERSION:
        return False
    tag = _varint(head, ir[1])
    if tag is None:
        return False
    field, wire = tag[0] >> 3, tag[0] & 7
    return _FIELDS.get(field) == wire

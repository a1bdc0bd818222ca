"""The metadata of an ONNX model file, read without onnx or onnxruntime.

An ONNX file is one protobuf ``ModelProto``; its ``metadata_props`` (field 14) are key/value
strings. rsdsva writes two there: ``rsdsva`` (the same JSON as a .safetensors model's header,
:mod:`rsdsva.models.info`) and ``rsdsva_onnx`` (how the graph was exported: its layers'
outputs, the weights' fingerprint, the source file's checksum). The other fields, the graph
above all, are skipped by their length, so reading the metadata of a large model is quick.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path

from rsdsva.errors import CheckpointError

ONNX_SUFFIX = ".onnx"
_METADATA_PROPS = 14


class NotOnnx(ValueError):
    """The bytes are not a protobuf ModelProto."""


def read_onnx_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX model at ``path`` (key -> value)."""
    with path.open("rb") as f:
        if path.stat().st_size == 0:
            raise NotOnnx("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _metadata(buf)


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise NotOnnx("a varint runs past the end")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf, start: int, end: int):
    """(field number, wire type, value or (start, end) of a length-delimited field) of one message."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise NotOnnx("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise NotOnnx("a field runs past the end (the file is cut short?)")
            yield number, wire, (pos, pos + n)
            pos += n
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield number, wire, None
        else:
            raise NotOnnx(f"wire type {wire}")
    if pos != end:
        raise NotOnnx("the last field runs past the end")


def _metadata(buf) -> dict[str, str]:
    props: dict[str, str] = {}
    seen_graph = False
    for number, wire, value in _fields(buf, 0, len(buf)):
        seen_graph |= number == 7 and wire == 2
        if number == _METADATA_PROPS and wire == 2:
            key = val = ""
            for n, w, v in _fields(buf, *value):
                if w == 2 and n in (1, 2):
                    text = bytes(buf[v[0] : v[1]]).decode("utf-8", errors="replace")
                    key, val = (text, val) if n == 1 else (key, text)
            props[key] = val
    if not seen_graph:
        raise NotOnnx("no graph")
    return props


def export_record(path: Path) -> dict:
    """The ``rsdsva_onnx`` record of an exported model (layers, fingerprint, source checksum)."""
    raw = read_onnx_metadata(path).get("rsdsva_onnx")
    try:
        record = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("layers"), list):
        raise CheckpointError(f"{path}: its rsdsva export record is missing or damaged; export the model again "
                              "(rsdsva export MODEL.safetensors --onnx OUT.onnx)")
    return record

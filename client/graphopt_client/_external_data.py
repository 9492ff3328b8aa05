"""Point an ONNX model's external-data references at a new file name, without onnx.

The server names a job's data file ``optimized.onnx.data``; local mode names it after the
output (``<output>.data``). To write the same files, the client renames the data file and
rewrites every ``location`` entry of the model's tensors (initializers, sparse
initializers, attribute tensors, in every subgraph and function) by walking the protobuf
wire format: every other byte is copied as it is.
"""

from __future__ import annotations

from pathlib import Path

# Message fields (by number) that hold messages which may hold tensors.
_SCHEMA: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
}
_LENGTH_DELIMITED = 2


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _skip(data: bytes, pos: int, wire_type: int) -> int:
    if wire_type == 0:
        return _varint(data, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    if wire_type == _LENGTH_DELIMITED:
        length, pos = _varint(data, pos)
        return pos + length
    raise ValueError(f"unsupported protobuf wire type {wire_type}")


def _entry(data: bytes, old: bytes, new: bytes) -> bytes:
    """A ``StringStringEntryProto``: ``value`` replaced when ``key`` is ``location``."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        tag, start = _varint(data, pos)
        end = _skip(data, start, tag & 7)
        if tag & 7 == _LENGTH_DELIMITED:
            length, body = _varint(data, start)
            fields[tag >> 3] = data[body : body + length]
        pos = end
    if fields.get(1) != b"location" or fields.get(2) != old:
        return data
    return b"".join(
        _encode_varint(number << 3 | _LENGTH_DELIMITED) + _encode_varint(len(v)) + v
        for number, v in ((1, b"location"), (2, new))
    )


def _rewrite(data: bytes, kind: str, old: bytes, new: bytes) -> bytes:
    if kind == "entry":
        return _entry(data, old, new)
    schema = _SCHEMA[kind]
    out = bytearray()
    pos = 0
    while pos < len(data):
        tag, start = _varint(data, pos)
        end = _skip(data, start, tag & 7)
        child = schema.get(tag >> 3)
        if child is None or tag & 7 != _LENGTH_DELIMITED:
            out += data[pos:end]
        else:
            length, body = _varint(data, start)
            value = _rewrite(data[body : body + length], child, old, new)
            out += data[pos:start] + _encode_varint(len(value)) + value
        pos = end
    return bytes(out)


def relocate_external_data(model: Path, old_name: str, new_name: str) -> None:
    """Rewrite ``model`` in place so that tensors stored in ``old_name`` name ``new_name``."""
    data = model.read_bytes()
    model.write_bytes(_rewrite(data, "model", old_name.encode(), new_name.encode()))

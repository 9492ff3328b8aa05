"""Tell apart the ways a byte string can fail to be an ONNX ModelProto.

protobuf's parser reports every failure as the same "wire format was corrupt". To give a
precise error code, the top-level fields are scanned by hand (tag, wire type, length):

- ``truncated_protobuf``: every field read is a ModelProto field of the right wire type,
  and the data ends in the middle of one;
- ``not_a_model``: the bytes are well-formed protobuf, but not a usable ModelProto;
- ``not_onnx``: anything else (random bytes, another file format).
"""

from __future__ import annotations

from graphopt.engine.errors import ErrorCode

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# ModelProto field number -> wire type (onnx.proto3, ModelProto)
_MODEL_FIELDS = {
    1: _VARINT,  # ir_version
    2: _LEN,  # producer_name
    3: _LEN,  # producer_version
    4: _LEN,  # domain
    5: _VARINT,  # model_version
    6: _LEN,  # doc_string
    7: _LEN,  # graph
    8: _LEN,  # opset_import
    14: _LEN,  # metadata_props
    20: _LEN,  # training_info
    25: _LEN,  # functions
    26: _LEN,  # configuration
}


class _Truncated(Exception):
    pass


class _Malformed(Exception):
    pass


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _Truncated
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Malformed


def classify_undecodable(data: bytes) -> ErrorCode:
    """Classify bytes that ``ModelProto.ParseFromString`` rejected (or parsed into nothing)."""
    pos = 0
    model_like = True
    try:
        while pos < len(data):
            tag, pos = _read_varint(data, pos)
            field, wire = tag >> 3, tag & 7
            if field == 0:
                raise _Malformed
            model_like = model_like and _MODEL_FIELDS.get(field) == wire
            if wire == _VARINT:
                _, pos = _read_varint(data, pos)
            elif wire == _I64:
                pos += 8
            elif wire == _I32:
                pos += 4
            elif wire == _LEN:
                length, pos = _read_varint(data, pos)
                pos += length
            else:
                raise _Malformed
            if pos > len(data):
                raise _Truncated
    except _Truncated:
        return ErrorCode.TRUNCATED_PROTOBUF if model_like and pos > 0 else ErrorCode.NOT_ONNX
    except _Malformed:
        return ErrorCode.NOT_ONNX
    return ErrorCode.NOT_A_MODEL

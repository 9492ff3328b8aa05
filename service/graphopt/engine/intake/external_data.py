"""Validation of external-data references before any tensor data is read.

Contract: for every tensor in the model (initializers, sparse initializers, Constant and
other tensor attributes, in every subgraph and model-local function) stored with
``data_location = EXTERNAL``, :func:`check_external_data` ensures that

- ``location`` is a relative path without ``..`` segments, backslashes, drive letters or
  NUL bytes (``external_data_outside_bundle``);
- the file exists inside ``base_dir`` (``external_data_missing``), and neither it nor any
  directory on the way to it is a symbolic link, and it has exactly one hard link
  (``external_data_link``);
- ``offset`` and ``length`` are non-negative integers and ``offset + length`` (or the
  tensor's byte size, whichever is larger) lies within the file (``external_data_out_of_range``).

These are the shapes of CVE-2022-25882, CVE-2024-27318, CVE-2026-27489 and CVE-2026-34445.
Only ``lstat`` calls are made: no byte of any file is read.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import onnx
import onnx_ir as ir

from graphopt.engine.errors import ErrorCode, GraphoptError


@dataclass(frozen=True)
class ExternalRef:
    """One tensor's external-data reference as written in the model."""

    tensor: str
    location: str
    offset: int
    length: int | None
    nbytes: int | None


def _tensors_in_graph(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _tensors_in_node(node)


def _tensors_in_node(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        if attr.HasField("sparse_tensor"):
            yield attr.sparse_tensor.values
            yield attr.sparse_tensor.indices
        yield from attr.tensors
        for sparse in attr.sparse_tensors:
            yield sparse.values
            yield sparse.indices
        if attr.HasField("g"):
            yield from _tensors_in_graph(attr.g)
        for sub in attr.graphs:
            yield from _tensors_in_graph(sub)


def iter_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto stored in the model, subgraphs and functions included."""
    yield from _tensors_in_graph(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _tensors_in_node(node)


def _nbytes(tensor: onnx.TensorProto) -> int | None:
    """Bytes the tensor's data needs, or None when the type has no fixed width (strings)."""
    try:
        bits = ir.DataType(tensor.data_type).bitwidth
    except (ValueError, TypeError):
        return None
    return (math.prod(tensor.dims) * bits + 7) // 8


def external_refs(model: onnx.ModelProto) -> list[ExternalRef]:
    """The external-data references of the model, parsed but not yet checked."""
    refs = []
    for tensor in iter_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        name = tensor.name or "<unnamed>"
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else None
        except ValueError as exc:
            raise GraphoptError(
                ErrorCode.EXTERNAL_DATA_OUT_OF_RANGE,
                f"Tensor {name!r} has a non-integer external-data offset or length.",
                tensor=name,
            ) from exc
        refs.append(ExternalRef(name, entries.get("location", ""), offset, length, _nbytes(tensor)))
    return refs


def _check_location(ref: ExternalRef) -> PurePosixPath:
    loc = ref.location
    bad = (
        not loc
        or "\x00" in loc
        or "\\" in loc
        or loc.startswith("/")
        or (len(loc) > 1 and loc[1] == ":")
        or any(part == ".." for part in PurePosixPath(loc).parts)
    )
    if bad:
        raise GraphoptError(
            ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE,
            f"Tensor {ref.tensor!r} points its external data at {loc!r}, which is not a plain "
            "relative path inside the bundle.",
            tensor=ref.tensor,
            location=loc,
        )
    return PurePosixPath(loc)


def _check_file(base_dir: Path, ref: ExternalRef, relative: PurePosixPath) -> os.stat_result:
    current = base_dir
    info: os.stat_result | None = None
    for part in relative.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise GraphoptError(
                ErrorCode.EXTERNAL_DATA_MISSING,
                f"External data file {ref.location!r} of tensor {ref.tensor!r} is not in the bundle.",
                tensor=ref.tensor,
                location=ref.location,
            ) from None
        if stat.S_ISLNK(info.st_mode):
            raise GraphoptError(
                ErrorCode.EXTERNAL_DATA_LINK,
                f"External data path {ref.location!r} of tensor {ref.tensor!r} goes through a "
                "symbolic link.",
                tensor=ref.tensor,
                location=ref.location,
            )
    assert info is not None
    if not stat.S_ISREG(info.st_mode):
        raise GraphoptError(
            ErrorCode.EXTERNAL_DATA_MISSING,
            f"External data {ref.location!r} of tensor {ref.tensor!r} is not a regular file.",
            tensor=ref.tensor,
            location=ref.location,
        )
    if info.st_nlink != 1:
        raise GraphoptError(
            ErrorCode.EXTERNAL_DATA_LINK,
            f"External data file {ref.location!r} of tensor {ref.tensor!r} has "
            f"{info.st_nlink} hard links; only a file with a single link is accepted.",
            tensor=ref.tensor,
            location=ref.location,
        )
    return info


def _check_range(ref: ExternalRef, file_size: int) -> None:
    needed = max(ref.length or 0, ref.nbytes or 0)
    if ref.offset < 0 or (ref.length is not None and ref.length < 0):
        problem = "a negative offset or length"
    elif ref.length is not None and ref.nbytes is not None and ref.length != ref.nbytes:
        problem = f"length {ref.length} but its shape and type need {ref.nbytes} bytes"
    elif ref.offset + needed > file_size:
        problem = f"bytes {ref.offset}..{ref.offset + needed} but the file has {file_size}"
    else:
        return
    raise GraphoptError(
        ErrorCode.EXTERNAL_DATA_OUT_OF_RANGE,
        f"Tensor {ref.tensor!r} declares {problem} in {ref.location!r}.",
        tensor=ref.tensor,
        location=ref.location,
        offset=ref.offset,
        length=ref.length,
    )


def check_external_data(model: onnx.ModelProto, base_dir: Path | None) -> list[ExternalRef]:
    """Check every external reference (see module contract); return them.

    ``base_dir`` is the bundle root; ``None`` means the model came as bare bytes, in which
    case any external reference is ``external_data_missing``.
    """
    refs = external_refs(model)
    root = base_dir.resolve() if base_dir is not None else None
    sizes: dict[PurePosixPath, int] = {}
    for ref in refs:
        relative = _check_location(ref)
        if root is None:
            raise GraphoptError(
                ErrorCode.EXTERNAL_DATA_MISSING,
                f"Tensor {ref.tensor!r} keeps its data in {ref.location!r}, but the model came "
                "without its external-data files: send a .zip/.tar bundle or a directory.",
                tensor=ref.tensor,
                location=ref.location,
            )
        if relative not in sizes:
            sizes[relative] = _check_file(root, ref, relative).st_size
        _check_range(ref, sizes[relative])
    return refs

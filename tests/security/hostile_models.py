"""The hostile-input corpus: files a service accepting models from the network must refuse.

Each :class:`Hostile` is an upload (file name and bytes) with the HTTP status and error
code it must get. Files that point outside the upload name ``outside`` (a secret file the
test places beside the server's data directory); archive entries with absolute paths name
``absolute_target`` (a path that must never come into existence).
"""

from __future__ import annotations

import io
import os
import random
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

FLOAT = TensorProto.FLOAT
W = np.arange(12, dtype=np.float32).reshape(3, 4)


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    data: bytes
    status: int
    code: str


def _vi(name: str, shape: list[int] | None, elem: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] | None = None,
    opsets: dict[str, int] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or [])
    imports = [helper.make_opsetid(domain, v) for domain, v in (opsets or {"": 17}).items()]
    proto = helper.make_model(graph, opset_imports=imports, producer_name="hostile")
    proto.ir_version = 8
    return proto


def relu() -> bytes:
    """A valid model: x[3,4] -> Relu -> y."""
    node = helper.make_node("Relu", ["x"], ["y"])
    return _model([node], [_vi("x", [3, 4])], [_vi("y", [3, 4])]).SerializeToString()


def external_model(location: str, offset: int = 0, length: int = W.nbytes) -> bytes:
    """y = x + W, with W (3x4 float) stored as external data at ``location``."""
    tensor = onnx.TensorProto(name="W", data_type=FLOAT, dims=[3, 4])
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("Add", ["x", "W"], ["y"])
    return _model([node], [_vi("x", [3, 4])], [_vi("y", [3, 4])], [tensor]).SerializeToString()


def zip_bytes(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries:
            archive.writestr(entry, data)
    return buffer.getvalue()


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info, data in entries:
            if data is None:
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip_info(name: str, mode: int | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    if mode is not None:
        info.external_attr = mode << 16
    return info


def _tar_info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _bundle(entry: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    """A zip bundle of model.onnx + weights.bin plus one more ``entry``."""
    return zip_bytes(
        [("model.onnx", external_model("weights.bin")), ("weights.bin", W.tobytes()), entry]
    )


def _tar_bundle(entry: tarfile.TarInfo, data: bytes | None) -> bytes:
    model = external_model("weights.bin")
    return tar_bytes([(_tar_info("model.onnx"), model), (entry, data)])


def corpus(outside: Path, absolute_target: Path) -> list[Hostile]:
    """Every hostile upload with its expected status and code."""
    secret, target = str(outside), str(absolute_target)
    escape = os.path.relpath(outside, "/")  # '..' enough times reaches '/' from anywhere
    dotdot = "../" * 32 + escape
    valid = onnx.load_from_string(relu())
    truncated = relu()[: len(relu()) * 2 // 3]
    not_a_model = onnx.TensorProto(name="t", data_type=FLOAT, dims=[2], float_data=[1, 2])
    huge = onnx.TensorProto(name="w", data_type=FLOAT, dims=[2**40], raw_data=b"\0" * 4)
    cyclic = _model(
        [helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
        [_vi("x", [2])],
        [_vi("b", [2])],
    )
    duplicate = _model(
        [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])],
        [_vi("x", [2])],
        [_vi("y", [2])],
    )
    undefined = _model(
        [helper.make_node("Add", ["x", "ghost"], ["y"])], [_vi("x", [2])], [_vi("y", [2])]
    )
    unknown_domain = _model(
        [helper.make_node("Evil", ["x"], ["y"], domain="com.evil")],
        [_vi("x", [2])],
        [_vi("y", [2])],
    )
    unknown_op = _model(
        [helper.make_node("Exfiltrate", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])]
    )
    future = onnx.load_from_string(relu())
    future.opset_import[0].version = 999
    bomb = zip_bytes([("model.onnx", relu()), ("weights.bin", bytes(64 << 20))])
    return [
        Hostile("empty", "model.onnx", b"", 422, "empty_file"),
        Hostile("random-bytes", "model.onnx", random.Random(0).randbytes(4096), 422, "not_onnx"),
        Hostile("truncated", "model.onnx", truncated, 422, "truncated_protobuf"),
        Hostile("not-a-model", "model.onnx", not_a_model.SerializeToString(), 422, "not_a_model"),
        Hostile(
            "dims-2**40",
            "model.onnx",
            _model(
                [helper.make_node("Shape", ["w"], ["y"])],
                [],
                [_vi("y", [1], TensorProto.INT64)],
                [huge],
            ).SerializeToString(),
            422,
            "checker_failed",
        ),
        Hostile("cycle", "model.onnx", cyclic.SerializeToString(), 422, "graph_cycle"),
        Hostile(
            "duplicate-producer",
            "model.onnx",
            duplicate.SerializeToString(),
            422,
            "duplicate_tensor_name",
        ),
        Hostile(
            "never-produced", "model.onnx", undefined.SerializeToString(), 422, "undefined_tensor"
        ),
        Hostile(
            "undeclared-domain",
            "model.onnx",
            unknown_domain.SerializeToString(),
            422,
            "unknown_operator",
        ),
        Hostile(
            "unknown-operator",
            "model.onnx",
            unknown_op.SerializeToString(),
            422,
            "unknown_operator",
        ),
        Hostile(
            "non-utf8-name",
            "model.onnx",
            relu().replace(b"Relu", b"R\xe9lu"),
            422,
            "checker_failed",
        ),
        Hostile("opset-999", "model.onnx", future.SerializeToString(), 422, "unsupported_opset"),
        Hostile("zip-bomb", "bomb.zip", bomb, 422, "bundle_too_large"),
        Hostile("zip-dotdot", "b.zip", _bundle(("../evil.bin", b"x")), 422, "bundle_unsafe_entry"),
        Hostile("zip-absolute", "b.zip", _bundle((target, b"x")), 422, "bundle_unsafe_entry"),
        Hostile(
            "zip-symlink",
            "b.zip",
            _bundle((_zip_info("link.bin", stat.S_IFLNK | 0o777), secret.encode())),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "tar-dotdot",
            "b.tar",
            _tar_bundle(_tar_info("../evil.bin"), b"x"),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "tar-absolute",
            "b.tar",
            _tar_bundle(_tar_info(target), b"x"),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "tar-symlink",
            "b.tar",
            _tar_bundle(_tar_info("weights.bin", tarfile.SYMTYPE, secret), None),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "tar-hardlink",
            "b.tar",
            _tar_bundle(_tar_info("weights.bin", tarfile.LNKTYPE, secret), None),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "external-dotdot",
            "b.zip",
            zip_bytes([("model.onnx", external_model(dotdot))]),
            422,
            "external_data_outside_bundle",
        ),
        Hostile(
            "external-absolute",
            "b.zip",
            zip_bytes([("model.onnx", external_model(secret)), ("weights.bin", W.tobytes())]),
            422,
            "external_data_outside_bundle",
        ),
        Hostile(
            "external-bare-file",
            "model.onnx",
            external_model(secret),
            422,
            "external_data_outside_bundle",
        ),
        Hostile(
            "external-symlink",
            "b.tar",
            tar_bytes(
                [
                    (_tar_info("model.onnx"), external_model("w.bin")),
                    (_tar_info("w.bin", tarfile.SYMTYPE, secret), None),
                ]
            ),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "external-hardlink",
            "b.tar",
            tar_bytes(
                [
                    (_tar_info("model.onnx"), external_model("w.bin")),
                    (_tar_info("w.bin", tarfile.LNKTYPE, secret), None),
                ]
            ),
            422,
            "bundle_unsafe_entry",
        ),
        Hostile(
            "external-offset-past-end",
            "b.zip",
            zip_bytes(
                [
                    ("model.onnx", external_model("weights.bin", offset=1 << 20)),
                    ("weights.bin", W.tobytes()),
                ]
            ),
            422,
            "external_data_out_of_range",
        ),
        Hostile(
            "external-length-past-end",
            "b.zip",
            zip_bytes(
                [
                    ("model.onnx", external_model("weights.bin", length=W.nbytes * 1000)),
                    ("weights.bin", W.tobytes()),
                ]
            ),
            422,
            "external_data_out_of_range",
        ),
        Hostile("valid-control", "model.onnx", valid.SerializeToString(), 201, ""),
    ]

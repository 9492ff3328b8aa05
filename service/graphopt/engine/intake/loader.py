"""Model intake: from a path, bytes or a bundle to a validated onnx-ir model.

Contract of :func:`load_model`: the result is an :class:`onnx_ir.Model` whose external
tensors are memory-mapped from files that passed :mod:`.external_data` (no tensor data is
read during intake), whose graphs passed :mod:`.structure` and the onnx checker. Any
failure is a :class:`GraphoptError` with a stable code; non-fatal findings are returned in
``LoadedModel.warnings``. Bundles given as archives are extracted (see :mod:`.archive`) into
a private directory that lives until :meth:`LoadedModel.close`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import onnx_ir as ir
from google.protobuf.message import DecodeError

from graphopt.engine import traversal
from graphopt.engine.errors import Diagnostic, ErrorCode, GraphoptError, WarningCode
from graphopt.engine.intake.archive import ArchiveLimits, archive_kind, extract_bundle
from graphopt.engine.intake.external_data import check_external_data
from graphopt.engine.intake.structure import check_structure
from graphopt.engine.intake.wire_format import classify_undecodable

PROTOBUF_LIMIT = 2**31 - 1
ModelSource = str | os.PathLike[str] | bytes


@dataclass
class LoadedModel:
    """A validated model and where it came from.

    ``sha256`` and ``size_bytes`` describe the ``.onnx`` protobuf file; ``data_bytes`` is
    the total size of the external-data files it references.
    """

    model: ir.Model
    name: str
    sha256: str
    size_bytes: int
    data_bytes: int
    path: Path | None
    base_dir: Path | None
    warnings: list[Diagnostic] = field(default_factory=list)
    _workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def has_external_data(self) -> bool:
        return self.data_bytes > 0

    def close(self) -> None:
        """Remove the private extraction directory, if any; the model is unusable after."""
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_model(source: ModelSource, *, limits: ArchiveLimits | None = None) -> LoadedModel:
    """Load and validate a model from a path (.onnx, directory, .zip, .tar) or bytes."""
    workdir: tempfile.TemporaryDirectory[str] | None = None
    try:
        if isinstance(source, bytes):
            if source[:4] == b"PK\x03\x04" or _looks_like_tar(source):
                workdir = tempfile.TemporaryDirectory(prefix="graphopt-bundle-")
                archive = Path(workdir.name) / "upload.bundle"
                archive.write_bytes(source)
                model_path = _extract(archive, Path(workdir.name) / "bundle", limits)
                return _load_file(model_path, workdir)
            return _load_proto(
                _parse(source),
                _Received(hashlib.sha256(source).hexdigest(), len(source)),
                name="model",
                path=None,
                base_dir=None,
                workdir=None,
            )
        path = Path(source)
        if not path.exists():
            raise GraphoptError(ErrorCode.BUNDLE_INVALID, f"{path} does not exist.", path=str(path))
        if path.is_dir():
            return _load_file(_find_model_file(path), None)
        if archive_kind(path) is not None:
            workdir = tempfile.TemporaryDirectory(prefix="graphopt-bundle-")
            model_path = _extract(path, Path(workdir.name) / "bundle", limits)
            return _load_file(model_path, workdir)
        return _load_file(path, None)
    except BaseException:
        if workdir is not None:
            workdir.cleanup()
        raise


def _looks_like_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar" or data[:2] == b"\x1f\x8b" or data[:3] == b"BZh"


def _extract(archive: Path, dest: Path, limits: ArchiveLimits | None) -> Path:
    extract_bundle(archive, dest, limits)
    return _find_model_file(dest)


def _find_model_file(bundle: Path) -> Path:
    candidates = sorted(p for p in bundle.rglob("*.onnx") if not p.name.startswith("._"))
    if not candidates:
        raise GraphoptError(ErrorCode.BUNDLE_INVALID, "The bundle holds no .onnx file.")
    if len(candidates) > 1:
        names = [str(p.relative_to(bundle)) for p in candidates]
        raise GraphoptError(
            ErrorCode.BUNDLE_INVALID,
            f"The bundle holds {len(names)} .onnx files; it must hold exactly one.",
            files=names,
        )
    if candidates[0].is_symlink():
        raise GraphoptError(
            ErrorCode.BUNDLE_UNSAFE_ENTRY, "The bundle's .onnx file is a symbolic link."
        )
    return candidates[0]


def _load_file(path: Path, workdir: tempfile.TemporaryDirectory[str] | None) -> LoadedModel:
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise GraphoptError(ErrorCode.BUNDLE_INVALID, f"{path.name} is not a regular file.")
    if info.st_size > PROTOBUF_LIMIT:
        raise GraphoptError(
            ErrorCode.PROTOBUF_TOO_LARGE,
            f"{path.name} is {info.st_size} bytes; a protobuf file cannot exceed 2 GiB. Store "
            "the weights as external data and send a bundle.",
            size=info.st_size,
        )
    data = path.read_bytes()
    received = _Received(hashlib.sha256(data).hexdigest(), len(data))
    proto = _parse(data)
    del data  # a large model is held once, as its proto, from here on
    return _load_proto(
        proto, received, name=path.stem, path=path, base_dir=path.parent, workdir=workdir
    )


@dataclass(frozen=True)
class _Received:
    """The model file as received: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size_bytes: int


def _parse(data: bytes) -> onnx.ModelProto:
    if not data:
        raise GraphoptError(ErrorCode.EMPTY_FILE, "The file is empty.")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except DecodeError:
        code = classify_undecodable(data)
        messages = {
            ErrorCode.TRUNCATED_PROTOBUF: "The ONNX protobuf ends before its last field does: "
            "the file is truncated.",
            ErrorCode.NOT_A_MODEL: "The file is valid protobuf but not an ONNX ModelProto.",
            ErrorCode.NOT_ONNX: "The file is not an ONNX model (not a protobuf ModelProto).",
        }
        raise GraphoptError(code, messages[code], size=len(data)) from None
    if not proto.HasField("graph"):
        raise GraphoptError(
            ErrorCode.NOT_A_MODEL, "The protobuf parsed, but it holds no graph: not an ONNX model."
        )
    return proto


def _load_proto(
    proto: onnx.ModelProto,
    received: _Received,
    *,
    name: str,
    path: Path | None,
    base_dir: Path | None,
    workdir: tempfile.TemporaryDirectory[str] | None,
) -> LoadedModel:
    refs = check_external_data(proto, base_dir)
    warnings = check_structure(proto)
    reordered = any(w.code == WarningCode.NODES_NOT_SORTED for w in warnings)
    warnings += _run_checker(proto, None if reordered else path, base_dir, bool(refs))
    model = ir.serde.deserialize_model(proto)
    if base_dir is not None:
        for tensor in traversal.all_tensors(model):
            if isinstance(tensor, ir.ExternalTensor):
                tensor.base_dir = base_dir
    data_files = {base_dir / ref.location for ref in refs} if base_dir is not None else set()
    return LoadedModel(
        model=model,
        name=name,
        sha256=received.sha256,
        size_bytes=received.size_bytes,
        data_bytes=sum(f.stat().st_size for f in data_files),
        path=path,
        base_dir=base_dir,
        warnings=warnings,
        _workdir=workdir,
    )


def _checker_error(exc: Exception) -> GraphoptError:
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    if "No Op registered for" in text or "No opset import for domain" in text:
        return GraphoptError(
            ErrorCode.UNKNOWN_OPERATOR,
            f"The model uses an operator that ONNX does not define: {first_line}",
            checker=text,
        )
    return GraphoptError(
        ErrorCode.CHECKER_FAILED, f"The onnx checker rejected the model: {first_line}", checker=text
    )


def _run_checker(
    proto: onnx.ModelProto, path: Path | None, base_dir: Path | None, external: bool
) -> list[Diagnostic]:
    """The full check (the basic one plus strict shape inference); when it fails, the
    basic check alone tells a fatal error from a warning (strict shape inference only).

    A model read from a file (``path``: unchanged since) is checked by path: the checker
    reads the file itself, so no serialized copy of a large model is made here, and it
    resolves external data files beside it. A model with external data and no such file (a
    reordered one) is written next to its data first.
    """
    scratch: Path | None = None
    try:
        if path is None and external and base_dir is not None:
            fd, name = tempfile.mkstemp(suffix=".onnx", prefix=".graphopt-check-", dir=base_dir)
            os.close(fd)
            scratch = Path(name)
            onnx.save(proto, scratch)
            path = scratch
        target: onnx.ModelProto | str = proto if path is None else str(path)
        try:
            onnx.checker.check_model(target, full_check=True)
        except Exception as exc:
            full_error = exc
        else:
            return []  # one pass over a large model instead of two
        try:
            onnx.checker.check_model(target)
        except onnx.checker.ValidationError as exc:
            raise _checker_error(exc) from None
        except UnicodeDecodeError:  # the checker's message quotes a name that is not UTF-8
            raise GraphoptError(
                ErrorCode.CHECKER_FAILED,
                "The onnx checker rejected the model, and a name it reported is not valid UTF-8.",
            ) from None
        first_line = str(full_error).strip().splitlines()[0] if str(full_error).strip() else ""
        return [
            Diagnostic(
                WarningCode.SHAPE_INFERENCE_INCONSISTENT,
                "onnx's strict shape inference disagrees with the model; it is optimized "
                f"anyway: {first_line or full_error!r}",
            )
        ]
    except OSError as exc:
        return [Diagnostic(WarningCode.CHECKER_SKIPPED, f"The onnx checker could not run: {exc}")]
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)

"""Writing models to disk.

Contract of :func:`save_model`: the model is written to ``path``; its tensors go to one
external-data file ``<path name>.data`` beside it when ``external_data`` is true, or, by
default, when the model already keeps any tensor in external data or its tensors total
more than :data:`EXTERNAL_DATA_THRESHOLD` bytes (a protobuf cannot exceed 2 GiB). Tensors
of 1 KiB or less stay inline. Data is streamed from the memory-mapped sources, never
loaded whole. The data file is written to a temporary name and renamed, so an existing
file that the model still maps is not overwritten in place.
"""

from __future__ import annotations

from pathlib import Path

import onnx_ir as ir

from graphopt.engine import traversal
from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.report import OutputFile

EXTERNAL_DATA_THRESHOLD = 1_800_000_000
INLINE_TENSOR_BYTES = 1024


def needs_external_data(model: ir.Model) -> bool:
    """Whether :func:`save_model` writes external data by default."""
    total = 0
    for tensor in traversal.all_tensors(model):
        if isinstance(tensor, ir.ExternalTensor):
            return True
        try:
            total += tensor.nbytes
        except (TypeError, ValueError):
            continue
    return total > EXTERNAL_DATA_THRESHOLD


def save_model(model: ir.Model, path: Path, *, external_data: bool | None = None) -> OutputFile:
    """Write ``model`` to ``path`` (see module contract); describe what was written."""
    path = Path(path)
    use_external = needs_external_data(model) if external_data is None else external_data
    data_name = f"{path.name}.data"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if use_external:
            ir.save(model, path, external_data=data_name, size_threshold_bytes=INLINE_TENSOR_BYTES)
        else:
            ir.save(model, path)
    except (OSError, ValueError) as exc:
        raise GraphoptError(
            ErrorCode.OUTPUT_WRITE_FAILED, f"Could not write {path}: {exc}", path=str(path)
        ) from exc
    data_path = path.parent / data_name
    has_data = use_external and data_path.exists()
    return OutputFile(
        path=str(path),
        size_bytes=path.stat().st_size,
        data_path=str(data_path) if has_data else None,
        data_bytes=data_path.stat().st_size if has_data else 0,
    )

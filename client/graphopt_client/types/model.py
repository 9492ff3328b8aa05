"""The model resource (``/v1/models``). Sizes in bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from graphopt_client.types._base import APIObject
from graphopt_client.types.report import GraphStats, TensorSpec


class Model(APIObject):
    """An uploaded, validated model; ``sha256``/``size_bytes`` are of the uploaded file."""

    id: str
    sha256: str
    size_bytes: int
    filename: str
    kind: Literal["onnx", "zip", "tar"] | str
    created_at: datetime
    ir_version: int
    opset: dict[str, int]
    producer: str = ""
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    node_count: int
    op_histogram: dict[str, int] = Field(default_factory=dict)
    data_bytes: int = 0
    stats: GraphStats | None = None
    warnings: list[dict[str, Any]] = Field(default_factory=list)

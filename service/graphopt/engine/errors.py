"""Typed errors with stable codes.

Every failure the engine reports to a caller is a :class:`GraphoptError` whose ``code`` is
one of :class:`ErrorCode`. Codes are part of the public contract (the CLI's exit message,
the API's ``{"error": {"code", ...}}`` body): they are never renamed, only added.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """Stable machine-readable error codes."""

    # The file itself
    EMPTY_FILE = "empty_file"
    NOT_ONNX = "not_onnx"
    TRUNCATED_PROTOBUF = "truncated_protobuf"
    NOT_A_MODEL = "not_a_model"
    PROTOBUF_TOO_LARGE = "protobuf_too_large"
    # Graph structure
    CHECKER_FAILED = "checker_failed"
    GRAPH_CYCLE = "graph_cycle"
    UNDEFINED_TENSOR = "undefined_tensor"
    DUPLICATE_TENSOR_NAME = "duplicate_tensor_name"
    UNKNOWN_OPERATOR = "unknown_operator"
    UNSUPPORTED_OPSET = "unsupported_opset"
    # Bundles and external data
    BUNDLE_INVALID = "bundle_invalid"
    BUNDLE_UNSAFE_ENTRY = "bundle_unsafe_entry"
    BUNDLE_TOO_LARGE = "bundle_too_large"
    EXTERNAL_DATA_OUTSIDE_BUNDLE = "external_data_outside_bundle"
    EXTERNAL_DATA_LINK = "external_data_link"
    EXTERNAL_DATA_MISSING = "external_data_missing"
    EXTERNAL_DATA_OUT_OF_RANGE = "external_data_out_of_range"
    # Caller-supplied options and inputs
    INVALID_INPUT_SHAPE = "invalid_input_shape"
    INVALID_INPUTS = "invalid_inputs"
    UNKNOWN_PASS = "unknown_pass"
    UNKNOWN_PIPELINE = "unknown_pipeline"
    INVALID_PASS_OPTIONS = "invalid_pass_options"
    # Output
    OUTPUT_WRITE_FAILED = "output_write_failed"
    # Size limits a caller sets (the service's GRAPHOPT_MAX_MODEL_NODES / _INITIALIZER_BYTES)
    TOO_MANY_NODES = "too_many_nodes"
    INITIALIZERS_TOO_LARGE = "initializers_too_large"


class GraphoptError(Exception):
    """An error with a stable ``code``, a one-sentence human ``message`` and a JSON ``detail``."""

    def __init__(self, code: ErrorCode, message: str, **detail: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON object used by the CLI, the report and the API."""
        return {"code": str(self.code), "message": self.message, "detail": self.detail}


class WarningCode(enum.StrEnum):
    """Stable codes of non-fatal findings carried in ``report.warnings``."""

    UNKNOWN_DOMAIN = "unknown_domain"
    NODES_NOT_SORTED = "nodes_not_sorted"
    SHAPE_INFERENCE_INCONSISTENT = "shape_inference_inconsistent"
    CHECKER_SKIPPED = "checker_skipped"
    PASS_FAILED = "pass_failed"
    PASS_ROLLED_BACK = "pass_rolled_back"
    VERIFICATION_SKIPPED = "verification_skipped"
    VERIFICATION_UNAVAILABLE = "verification_unavailable"
    NONDETERMINISTIC_OUTPUT = "nondeterministic_output"
    SHAPE_INFERENCE_FAILED = "shape_inference_failed"
    UNSUPPORTED_CONSTRUCT = "unsupported_construct"
    PROFILING_FAILED = "profiling_failed"
    MEMORY_UNPLANNED = "memory_unplanned"
    MEMORY_PLANNING_FAILED = "memory_planning_failed"


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """A non-fatal finding: stable ``code``, human ``message``, JSON ``detail``."""

    code: WarningCode
    message: str
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "detail": self.detail}

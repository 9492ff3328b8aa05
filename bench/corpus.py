"""The public corpus the peer benchmark runs on, with realistic input shapes.

- the PyPI-shipped models cached in ``GRAPHOPT_CORPUS`` (default ``/tmp/models/corpus``):
  RapidOCR's PP-OCRv4 det/rec and PP-OCR cls, and silero-vad's variants;
- onnx's ``light_*`` models (CNNs with small constant-generated weights), shipped in the
  ``onnx`` wheel's backend test data.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx

CORPUS_DIR = Path(os.environ.get("GRAPHOPT_CORPUS", "/tmp/models/corpus"))
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"

# dynamic image sizes pinned to the sizes the OCR pipeline feeds
PINS: dict[str, dict[str, list[int]]] = {
    "ch_PP-OCRv4_det_infer.onnx": {"x": [1, 3, 320, 320]},
    "ch_PP-OCRv4_rec_infer.onnx": {"x": [1, 3, 48, 320]},
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": {"x": [1, 3, 48, 192]},
}


def corpus_models() -> list[tuple[Path, dict[str, list[int]]]]:
    """``(model path, pinned input shapes)`` for every corpus model found on disk."""
    paths = sorted(CORPUS_DIR.glob("*.onnx")) + sorted(LIGHT_DIR.glob("light_*.onnx"))
    return [(p, PINS.get(p.name, {})) for p in paths]

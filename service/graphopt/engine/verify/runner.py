"""onnxruntime sessions for verification (CPU execution provider), errors as SessionError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from graphopt.engine.profiling.session_config import SessionConfig, open_session


class SessionError(Exception):
    """onnxruntime refused to load or run a model; the message is onnxruntime's."""


def start_session(path: Path, config: SessionConfig) -> ort.InferenceSession:
    """A CPU session for the model file at ``path`` (external data resolved beside it)."""
    try:
        return open_session(path, config)
    except Exception as exc:  # onnxruntime raises its own exception hierarchy
        raise SessionError(_first_line(exc)) from None


def run_session(
    session: ort.InferenceSession, feeds: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Run on ``feeds`` (extra keys ignored); outputs by name."""
    wanted = {i.name for i in session.get_inputs()}
    try:
        values = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
    except Exception as exc:
        raise SessionError(_first_line(exc)) from None
    names = [o.name for o in session.get_outputs()]
    flat: dict[str, np.ndarray] = {}
    for name, value in zip(names, values, strict=True):
        flat.update(flatten_output(name, value))
    return flat


def flatten_output(name: str, value: object) -> dict[str, np.ndarray]:
    """Arrays for one output: a tensor as itself; a sequence as ``name#len`` plus
    ``name[i]`` per element; a map as ``name{key}`` per key; a missing optional as
    ``name#none``."""
    if value is None:
        return {f"{name}#none": np.array(True)}
    if isinstance(value, list):
        flat = {f"{name}#len": np.array(len(value), dtype=np.int64)}
        for i, item in enumerate(value):
            flat.update(flatten_output(f"{name}[{i}]", item))
        return flat
    if isinstance(value, dict):
        return {f"{name}{{{key}}}": np.asarray(item) for key, item in sorted(value.items())}
    return {name: np.asarray(value)}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__

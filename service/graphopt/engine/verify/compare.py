"""Output comparison: exact for integers and booleans, tolerance-based for floats.

Per output and input set: shapes and dtypes must match exactly. For floating types,
``max_abs`` is the largest ``|actual - expected|`` over finite elements, ``max_rel`` the
largest ``|actual - expected| / max(|expected|, atol)``, ``cosine`` the cosine similarity of
the finite elements (1.0 when both are all zero, ``None`` - undefined - when only one is);
an element mismatches when it falls outside ``atol + rtol * |expected|`` or when NaN/±inf
do not coincide. Default tolerances depend on the dtype (:data:`DEFAULT_TOLERANCES`);
callers may override both.
"""

from __future__ import annotations

import numpy as np

from graphopt.engine.report import OutputComparison

DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-9, 1e-7),
    "float32": (1e-4, 1e-3),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
FALLBACK_FLOAT_TOLERANCE = (1e-1, 1e-1)


def tolerances(dtype: np.dtype, atol: float | None, rtol: float | None) -> tuple[float, float]:
    """The (atol, rtol) to use for ``dtype`` with optional overrides."""
    default_atol, default_rtol = DEFAULT_TOLERANCES.get(dtype.name, FALLBACK_FLOAT_TOLERANCE)
    return (default_atol if atol is None else atol, default_rtol if rtol is None else rtol)


def _is_float(array: np.ndarray) -> bool:
    return (
        array.dtype.kind == "f" or array.dtype.name in ("bfloat16",) or "float8" in array.dtype.name
    )


def compare_arrays(
    name: str,
    actual: np.ndarray,
    expected: np.ndarray,
    atol: float | None = None,
    rtol: float | None = None,
    *,
    values: bool = True,
) -> OutputComparison:
    """Compare one output (see module docstring); ``values=False`` checks shape/dtype only."""
    dtype_match = actual.dtype == expected.dtype
    shape_match = actual.shape == expected.shape

    def result(
        *,
        passed: bool,
        max_abs: float | None = None,
        max_rel: float | None = None,
        cosine: float | None = None,
        mismatched: int = 0,
        compared: bool = True,
        top1: float | None = None,
    ) -> OutputComparison:
        return OutputComparison(
            name=name,
            dtype=expected.dtype.name,
            shape_match=shape_match,
            dtype_match=dtype_match,
            max_abs=max_abs,
            max_rel=max_rel,
            cosine=cosine,
            mismatched=mismatched,
            compared=compared,
            passed=passed,
            top1_agreement=top1,
        )

    if not (dtype_match and shape_match):
        return result(passed=False)
    if not values:
        return result(passed=True, compared=False)
    if not _is_float(expected):
        equal = actual == expected if expected.dtype.kind in "OUS" else np.equal(actual, expected)
        mismatched = int(np.size(equal) - np.count_nonzero(equal))
        largest = 0.0
        if mismatched and expected.dtype.kind in "iub":
            largest = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
        return result(passed=mismatched == 0, max_abs=largest, mismatched=mismatched)
    atol_, rtol_ = tolerances(expected.dtype, atol, rtol)
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(e)
    special_ok = np.where(finite, True, (np.isnan(a) & np.isnan(e)) | (a == e))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(a - e), 0.0)
    outside = finite & (diff > atol_ + rtol_ * np.abs(e))
    mismatched = int(np.count_nonzero(outside) + np.count_nonzero(~special_ok))
    fa, fe, fd = a[finite], e[finite], diff[finite]
    norm = float(np.linalg.norm(fa) * np.linalg.norm(fe))
    cosine: float | None
    if norm > 0:
        cosine = float(np.dot(fa, fe) / norm)
    else:
        cosine = 1.0 if not fa.any() and not fe.any() else None
    return result(
        passed=mismatched == 0,
        max_abs=float(fd.max()) if fd.size else 0.0,
        max_rel=float((fd / np.maximum(np.abs(fe), atol_)).max()) if fd.size else 0.0,
        cosine=cosine,
        mismatched=mismatched,
        top1=top1_agreement(a, e),
    )


def top1_agreement(actual: np.ndarray, expected: np.ndarray) -> float | None:
    """Fraction of argmax positions over the last axis that agree, for classifier-like
    outputs (rank 2 or 3, last dim >= 2); None otherwise."""
    if expected.ndim not in (2, 3) or expected.shape[-1] < 2 or expected.size == 0:
        return None
    return float(np.mean(np.argmax(actual, axis=-1) == np.argmax(expected, axis=-1)))


def worst_of(comparisons: list[OutputComparison]) -> OutputComparison:
    """Combine one output's comparisons over several input sets into the worst case."""
    first = comparisons[0]

    def worst(values: list[float | None], pick) -> float | None:
        known = [v for v in values if v is not None]
        return pick(known) if known else None

    return OutputComparison(
        name=first.name,
        dtype=first.dtype,
        shape_match=all(c.shape_match for c in comparisons),
        dtype_match=all(c.dtype_match for c in comparisons),
        max_abs=worst([c.max_abs for c in comparisons], max),
        max_rel=worst([c.max_rel for c in comparisons], max),
        cosine=worst([c.cosine for c in comparisons], min),
        mismatched=sum(c.mismatched for c in comparisons),
        compared=all(c.compared for c in comparisons),
        passed=all(c.passed for c in comparisons),
        top1_agreement=worst([c.top1_agreement for c in comparisons], min),
    )

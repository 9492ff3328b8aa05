"""Pruning requests as short specs (``--prune`` and the job option ``prune``).

- ``structured:RATIO``: ``channel_pruning`` removing RATIO of each group's channels;
- ``unstructured:SPARSITY``: ``magnitude_pruning`` zeroing SPARSITY of the weights;
- ``nm:N:M``: ``magnitude_pruning`` keeping N of every M weights.

Further options go through the per-pass options (``channel_pruning.round_to=8``...).
"""

from __future__ import annotations

import re
from typing import Any

_FRACTION = r"(0(?:\.\d+)?|\.\d+)"
_SPECS: list[tuple[str, str, Any]] = [
    (rf"structured:{_FRACTION}", "channel_pruning", lambda m: {"ratio": float(m[1])}),
    (rf"unstructured:{_FRACTION}", "magnitude_pruning", lambda m: {"sparsity": float(m[1])}),
    (r"nm:(\d+):(\d+)", "magnitude_pruning", lambda m: {"nm": f"{m[1]}:{m[2]}"}),
]


def parse_prune_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """The pass name and its options for one spec; ValueError when it is not one."""
    for pattern, name, options in _SPECS:
        match = re.fullmatch(pattern, spec.strip())
        if match:
            return name, options(match)
    raise ValueError(
        f"{spec!r} is not a pruning spec: use structured:RATIO, unstructured:SPARSITY "
        "(fractions below 1) or nm:N:M"
    )

"""Unstructured magnitude pruning: masks that zero the smallest weights.

Scores are per element (``|w|`` for ``l1``, ``w**2`` for ``l2``: the same ranking) or per
kernel (the L1/L2 norm of each spatial kernel of a Conv, or of each element for
matrices), and the lowest-scoring fraction is zeroed. ``nm_mask`` keeps the ``n``
largest of every ``m`` consecutive weights along the reduction axis (2:4 keeps 2 of 4).
Nothing here changes shapes: the model stays dense, only values become zero.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Norm = Literal["l1", "l2"]
Granularity = Literal["element", "kernel"]


def block_scores(weights: np.ndarray, norm: Norm, granularity: Granularity) -> np.ndarray:
    """Scores broadcast back to ``weights``' shape (one per element or per kernel)."""
    data = np.abs(weights.astype(np.float64))
    if norm == "l2":
        data = data**2
    if granularity == "element" or weights.ndim <= 2:
        return data
    spatial = tuple(range(2, weights.ndim))
    return np.broadcast_to(data.sum(axis=spatial, keepdims=True), weights.shape)


def threshold_mask(scores: np.ndarray, sparsity: float) -> np.ndarray:
    """True where a weight is kept: all but the ``sparsity`` fraction of lowest scores.

    Ties at the threshold are broken by position so the zero count is exact.
    """
    flat = scores.reshape(-1)
    drop = round(sparsity * flat.size)
    keep = np.ones(flat.size, dtype=bool)
    if drop:
        keep[np.argsort(flat, kind="stable")[:drop]] = False
    return keep.reshape(scores.shape)


def global_threshold(all_scores: list[np.ndarray], sparsity: float) -> float:
    """The score below which weights are zeroed to reach ``sparsity`` over all tensors."""
    flat = np.concatenate([s.reshape(-1) for s in all_scores])
    drop = round(sparsity * flat.size)
    if drop == 0:
        return -np.inf
    return float(np.partition(flat, drop - 1)[drop - 1])


def nm_mask(weights: np.ndarray, n: int, m: int, axis: int) -> np.ndarray | None:
    """Keep the ``n`` largest-magnitude of every ``m`` consecutive weights along ``axis``.

    None when the axis length is not a multiple of ``m``.
    """
    moved = np.moveaxis(np.abs(weights), axis, -1)
    if moved.shape[-1] % m:
        return None
    blocks = moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)
    order = np.argsort(-blocks, axis=-1, kind="stable")
    keep = np.zeros(blocks.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    return np.moveaxis(keep.reshape(moved.shape), -1, axis)

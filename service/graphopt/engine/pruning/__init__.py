"""Pruning: graph pruning (keep named outputs), unstructured magnitude pruning, and
structured channel pruning on channel dependency groups (docs/pruning.md)."""

"""Pruning passes: ``keep_outputs`` (lossless), ``magnitude_pruning`` and
``channel_pruning`` (lossy)."""

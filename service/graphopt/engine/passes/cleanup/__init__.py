"""Lossless clean-up passes."""

"""Verification: run original and optimized with onnxruntime on the same inputs, compare."""

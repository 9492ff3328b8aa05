"""onnxruntime profiling: session settings, interleaved latency, per-op traces, peak RSS."""

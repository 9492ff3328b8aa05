"""graphopt: ONNX model-graph optimization (engine, service, CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("graphopt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

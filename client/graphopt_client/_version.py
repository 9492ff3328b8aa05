"""The installed distribution's version (``0+unknown`` when run from a bare checkout)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("graphopt")
except PackageNotFoundError:  # pragma: no cover - only outside an install
    __version__ = "0+unknown"

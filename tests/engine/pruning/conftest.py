"""Makes ``tests/engine/graphs.py`` importable as ``graphs`` from this directory's tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

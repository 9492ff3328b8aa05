"""Keep a service process's incidental files inside its data directory.

:func:`confine_to_data_dir` points ``TMPDIR`` (Python's tempfile, multiprocessing's fork
server socket, onnxruntime's session file) at ``<data_dir>/tmp`` and ``XDG_CACHE_HOME``
(onnxruntime's device-id cache) at ``<data_dir>/cache``, for this process and the
processes it starts. Called by ``serve`` and by every worker before any child starts.
"""

from __future__ import annotations

import os
import tempfile

from graphopt.settings import Settings


def confine_to_data_dir(settings: Settings) -> None:
    scratch = settings.data_dir / "tmp"
    cache = settings.data_dir / "cache"
    for path in (scratch, cache):
        path.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(scratch)
    os.environ["XDG_CACHE_HOME"] = str(cache)
    tempfile.tempdir = None  # recomputed from TMPDIR on next use

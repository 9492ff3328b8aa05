"""Private scratch directories for sandboxed work on a stored blob.

A sandboxed child sees the model through a hard link (or copy) inside a directory of its
own, never the blob store: a model's external-data references can then only resolve to
files of its own bundle, not to other blobs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graphopt.store.blobs import BlobStore


def expose(blobs: BlobStore, sha256: str, directory: Path, filename: str) -> Path:
    """Place blob ``sha256`` at ``directory/filename`` (hard link when possible)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / safe_filename(filename)
    source = blobs.local_path(sha256)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def safe_filename(name: str) -> str:
    """A file name without directories or odd characters (keeps the suffix)."""
    base = os.path.basename(name.replace("\\", "/")) or "model.onnx"
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return cleaned[:200] or "model.onnx"


@contextmanager
def scratch(root: Path, prefix: str) -> Iterator[Path]:
    """A fresh directory under ``root``, removed on exit."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

"""Safe extraction of model bundles (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz).

Contract: every member is checked before anything is written. A member whose name is
absolute, contains a ``..`` segment or a backslash/drive prefix, or that is a link, device
or FIFO is refused with ``bundle_unsafe_entry``; a bundle whose members declare more than
``max_total_bytes`` or more than ``max_members`` files, or compress better than
``max_ratio`` (zip bombs), is refused with ``bundle_too_large``. Only regular files and
directories are written, all strictly inside ``dest``, and the number of bytes actually
written is counted against the cap while streaming (declared sizes can lie).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from graphopt.engine.errors import ErrorCode, GraphoptError

DEFAULT_MAX_TOTAL_BYTES = 64 * 1024**3
DEFAULT_MAX_MEMBERS = 10_000
DEFAULT_MAX_RATIO = 200.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what an archive may expand to (bytes, member count, compression ratio)."""

    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS
    max_ratio: float = DEFAULT_MAX_RATIO


def archive_kind(path: Path) -> str | None:
    """``"zip"`` or ``"tar"`` when the file's content (not its name) is such an archive."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        return None
    return None


def safe_member_path(name: str) -> PurePosixPath:
    """The relative path a member may be written to, or ``bundle_unsafe_entry``."""
    if not name or "\x00" in name or "\\" in name:
        raise _unsafe(name, "the name is empty or holds a NUL byte or a backslash")
    path = PurePosixPath(name)
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise _unsafe(name, "the name is an absolute path")
    if any(part == ".." for part in path.parts):
        raise _unsafe(name, "the name climbs out of the bundle with '..'")
    return path


def _unsafe(name: str, why: str) -> GraphoptError:
    return GraphoptError(
        ErrorCode.BUNDLE_UNSAFE_ENTRY, f"Bundle entry {name!r} was refused: {why}.", entry=name
    )


def _too_large(why: str, **detail: object) -> GraphoptError:
    return GraphoptError(ErrorCode.BUNDLE_TOO_LARGE, f"The bundle is too large: {why}.", **detail)


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int


class _Tally:
    """Members as they are listed, refused as soon as one crosses a cap.

    Checking while listing matters for compressed tars: listing a .tar.gz decompresses
    every member's data to reach the next header, so a bomb is refused at the header that
    declares it, before its data is decompressed.
    """

    def __init__(self, archive_bytes: int, limits: ArchiveLimits) -> None:
        self.archive_bytes = archive_bytes
        self.limits = limits
        self.members: list[_Member] = []
        self.total = 0

    def add(self, member: _Member) -> None:
        safe_member_path(member.name)
        self.members.append(member)
        self.total += member.size
        limits, total = self.limits, self.total
        if len(self.members) > limits.max_members:
            raise _too_large(f"more than {limits.max_members} entries")
        if total > limits.max_total_bytes:
            raise _too_large(
                f"it expands to more than {limits.max_total_bytes} bytes", declared_bytes=total
            )
        ratio = total / max(self.archive_bytes, 1)
        if ratio > limits.max_ratio and total > _CHUNK:
            raise _too_large(
                f"it expands {ratio:.0f}x (limit {limits.max_ratio:.0f}x)", declared_bytes=total
            )


def _zip_members(archive: zipfile.ZipFile, tally: _Tally) -> list[_Member]:
    for info in archive.infolist():
        mode = (info.external_attr >> 16) & 0o170000
        if mode and mode not in (0o100000, 0o040000):
            raise _unsafe(info.filename, "it is a symbolic link or special file")
        tally.add(_Member(info.filename, info.is_dir(), info.file_size))
    return tally.members


def _tar_members(archive: tarfile.TarFile, tally: _Tally) -> list[tarfile.TarInfo]:
    infos = []
    for info in archive:
        if not (info.isfile() or info.isdir()):
            raise _unsafe(info.name, "it is a link, device or FIFO")
        tally.add(_Member(info.name, info.isdir(), info.size))
        infos.append(info)
    return infos


def _copy_capped(src: IO[bytes], dst: IO[bytes], budget: int) -> int:
    written = 0
    while chunk := src.read(_CHUNK):
        written += len(chunk)
        if written > budget:
            raise _too_large("an entry holds more data than it declared")
        dst.write(chunk)
    return written


def extract_bundle(archive_path: Path, dest: Path, limits: ArchiveLimits | None = None) -> None:
    """Extract a zip or tar bundle into the empty directory ``dest`` (see module contract)."""
    limits = limits or ArchiveLimits()
    kind = archive_kind(archive_path)
    archive_bytes = archive_path.stat().st_size
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    budget = limits.max_total_bytes
    tally = _Tally(archive_bytes, limits)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive_path) as zf:
                for member in _zip_members(zf, tally):
                    target = _prepare_target(root, member)
                    if target is not None:
                        with zf.open(member.name) as src, open(target, "xb") as dst:
                            budget -= _copy_capped(src, dst, min(budget, member.size))
        elif kind == "tar":
            with tarfile.open(archive_path) as tf:
                infos = _tar_members(tf, tally)
                for member, info in zip(tally.members, infos, strict=True):
                    target = _prepare_target(root, member)
                    source = tf.extractfile(info) if target is not None else None
                    if target is not None and source is not None:
                        with source, open(target, "xb") as dst:
                            budget -= _copy_capped(source, dst, min(budget, member.size))
        else:
            raise GraphoptError(
                ErrorCode.BUNDLE_INVALID, "The file is neither an ONNX model nor a zip/tar bundle."
            )
    except GraphoptError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise GraphoptError(
            ErrorCode.BUNDLE_INVALID, f"The bundle could not be read: {exc}", reason=str(exc)
        ) from exc


def _prepare_target(root: Path, member: _Member) -> Path | None:
    """Create the member's parent directories; return the file path to write, or None."""
    relative = safe_member_path(member.name)
    target = root.joinpath(*relative.parts)
    if os.path.commonpath([root, target.resolve()]) != str(root):
        raise _unsafe(member.name, "it resolves outside the bundle")
    if member.is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    return target

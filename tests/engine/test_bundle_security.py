"""Bundles and external data: valid bundles load with the right values; hostile ones are refused.

The hostile shapes follow CVE-2022-25882 and CVE-2024-27318 (external-data locations that
escape the model directory through ``..``, absolute paths or symbolic links), plus hard
links, out-of-range offsets, unsafe archive entries and decompression bombs.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from graphs import (
    FLOAT,
    assert_human_error,
    external_tensor,
    graph,
    model_proto,
    node,
    vi,
)

from graphopt.engine import ArchiveLimits, ErrorCode, GraphoptError, load_model
from graphopt.engine.intake.archive import extract_bundle

W = np.arange(12, dtype=np.float32).reshape(3, 4)
B = np.array([10.0, 20.0, 30.0, 40.0], dtype=np.float32)
B_OFFSET = 64
DATA = W.tobytes() + bytes(B_OFFSET - W.nbytes) + B.tobytes()
SECRET = b"top secret: never read me\n" * 4

Files = Mapping[str, bytes]


def bundle_model(
    location: str = "weights.bin", offset: int = 0, length: int = W.nbytes
) -> onnx.ModelProto:
    """y = x + W + B, with W (3x4 float) at ``location``/``offset`` and B in weights.bin."""
    return model_proto(
        [node("Add", ["x", "W"], ["t"]), node("Add", ["t", "B"], ["y"])],
        [vi("x", [3, 4])],
        [vi("y", [3, 4])],
        [
            external_tensor("W", FLOAT, [3, 4], location, offset, length),
            external_tensor("B", FLOAT, [4], "weights.bin", B_OFFSET, B.nbytes),
        ],
    )


def bundle_files(proto: onnx.ModelProto | None = None, model_dir: str = "") -> dict[str, bytes]:
    """The files of a bundle: the model and its weights.bin, in ``model_dir``."""
    proto = proto or bundle_model()
    return {
        f"{model_dir}model.onnx": proto.SerializeToString(),
        f"{model_dir}weights.bin": DATA,
    }


def write_dir(root: Path, files: Files) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_zip(path: Path, files: Files) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_tar(path: Path, files: Files, mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


Container = Callable[[Path, Files], Path]

CONTAINERS: dict[str, Container] = {
    "directory": lambda tmp, files: write_dir(tmp / "bundle", files),
    "zip": lambda tmp, files: write_zip(tmp / "bundle.zip", files),
    "tar": lambda tmp, files: write_tar(tmp / "bundle.tar", files),
    "tar.gz": lambda tmp, files: write_tar(tmp / "bundle.tar.gz", files, "w:gz"),
}


@pytest.fixture(params=list(CONTAINERS))
def container(request: pytest.FixtureRequest) -> Container:
    return CONTAINERS[request.param]


def refused(source: Path | bytes, code: ErrorCode, **kwargs: object) -> GraphoptError:
    with pytest.raises(GraphoptError) as caught:
        load_model(source, **kwargs).close()  # type: ignore[arg-type]
    assert_human_error(caught.value, code)
    return caught.value


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside every bundle, holding data a hostile model would like to read."""
    secret = tmp_path / "outside" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    return secret


# --------------------------------------------------------------------------- valid bundles


def assert_values(source: Path | bytes, *, extracted: bool) -> None:
    """The bundle loads W and B with their values; ``extracted``: it was an archive."""
    with load_model(source) as loaded:
        inits = loaded.model.graph.initializers
        w, b = inits["W"].const_value, inits["B"].const_value
        assert isinstance(w, ir.ExternalTensor) and isinstance(b, ir.ExternalTensor)
        np.testing.assert_array_equal(w.numpy(), W, strict=True)
        np.testing.assert_array_equal(b.numpy(), B, strict=True)
        assert loaded.has_external_data and loaded.data_bytes == len(DATA)
        assert loaded.warnings == []
        base_dir = loaded.base_dir
        assert base_dir is not None and base_dir.is_dir()
    # a private extraction directory lives exactly as long as the LoadedModel
    assert base_dir.exists() != extracted


def test_valid_bundle_loads_with_right_values(tmp_path: Path, container: Container) -> None:
    source = container(tmp_path, bundle_files())
    assert_values(source, extracted=not source.is_dir())


def test_valid_bundle_in_a_subdirectory(tmp_path: Path, container: Container) -> None:
    source = container(tmp_path, bundle_files(model_dir="exported/fp32/"))
    assert_values(source, extracted=not source.is_dir())


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_valid_bundle_from_bytes(tmp_path: Path, kind: str) -> None:
    assert_values(CONTAINERS[kind](tmp_path, bundle_files()).read_bytes(), extracted=True)


def test_data_of_a_bare_model_file_is_found_beside_it(tmp_path: Path) -> None:
    write_dir(tmp_path, bundle_files())
    assert_values(tmp_path / "model.onnx", extracted=False)


# --------------------------------------------------------------------------- hostile locations


@pytest.mark.parametrize(
    "location",
    [
        "/etc/passwd",
        "../outside/secret.bin",
        "sub/../../outside/secret.bin",
        "./../outside/secret.bin",
        "..\\outside\\secret.bin",
        "C:/Windows/win.ini",
        "weights.bin\x00.png",
        "",
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "dot-dotdot", "backslash", "drive", "nul", "empty"],
)
def test_location_outside_the_bundle_is_refused(
    tmp_path: Path, container: Container, outside: Path, location: str
) -> None:
    source = container(tmp_path, bundle_files(bundle_model(location)))
    error = refused(source, ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE)
    assert error.detail == {"tensor": "W", "location": location}


def test_absolute_location_naming_a_file_that_exists_is_refused(
    tmp_path: Path, container: Container, outside: Path
) -> None:
    source = container(tmp_path, bundle_files(bundle_model(str(outside))))
    refused(source, ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE)


def test_hostile_location_in_subgraph_constant_and_function_is_refused(tmp_path: Path) -> None:
    """Every tensor is checked, not only main-graph initializers."""
    leak = external_tensor("leak", FLOAT, [4], "../outside/secret.bin", 0, 16)
    then = graph(
        [onnx.helper.make_node("Constant", [], ["t"], value=leak)], [], [vi("t", [4])], name="then"
    )
    other = graph([node("Identity", ["x"], ["e"])], [], [vi("e", [4])], name="else")
    in_subgraph = model_proto(
        [node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        [vi("c", [], onnx.TensorProto.BOOL), vi("x", [4])],
        [vi("y", [4])],
    )
    fn = onnx.helper.make_function(
        "local",
        "Leak",
        [],
        ["o"],
        [onnx.helper.make_node("Constant", [], ["o"], value=leak)],
        [onnx.helper.make_opsetid("", 17)],
    )
    in_function = model_proto(
        [onnx.helper.make_node("Leak", [], ["y"], domain="local")],
        [],
        [vi("y", [4])],
        functions=[fn],
        extra_opsets={"local": 1},
    )
    for proto in (in_subgraph, in_function):
        source = write_dir(tmp_path / proto.graph.node[0].op_type, bundle_files(proto))
        error = refused(source, ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE)
        assert error.detail["tensor"] == "leak"


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize("target", ["outside", "/etc/passwd", "weights.bin"])
def test_symlinked_data_file_is_refused(tmp_path: Path, outside: Path, target: str) -> None:
    """Any symbolic link is refused, even one that stays inside the bundle."""
    root = write_dir(tmp_path / "bundle", bundle_files(bundle_model("w.bin")))
    os.symlink(outside if target == "outside" else target, root / "w.bin")
    error = refused(root, ErrorCode.EXTERNAL_DATA_LINK)
    assert error.detail["location"] == "w.bin"


def test_symlinked_directory_on_the_way_is_refused(tmp_path: Path, outside: Path) -> None:
    root = write_dir(tmp_path / "bundle", bundle_files(bundle_model("data/secret.bin")))
    os.symlink(outside.parent, root / "data", target_is_directory=True)
    refused(root, ErrorCode.EXTERNAL_DATA_LINK)


def test_hard_link_to_a_file_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    root = write_dir(tmp_path / "bundle", bundle_files(bundle_model("w.bin")))
    os.link(outside, root / "w.bin")
    error = refused(root, ErrorCode.EXTERNAL_DATA_LINK)
    assert "hard link" in error.message


def test_symlinked_model_file_in_a_directory_bundle_is_refused(tmp_path: Path) -> None:
    real = write_dir(tmp_path / "real", bundle_files())
    root = tmp_path / "bundle"
    root.mkdir()
    os.symlink(real / "model.onnx", root / "model.onnx")
    refused(root, ErrorCode.BUNDLE_UNSAFE_ENTRY)


# --------------------------------------------------------------------------- ranges and files


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (B_OFFSET, W.nbytes),  # W would end 48 bytes past the file's 80
        (len(DATA), W.nbytes),  # starts at the end
        (0, 4096),  # length past the end (and not what 3x4 float needs)
        (0, 16),  # length shorter than the shape needs
        (-8, W.nbytes),
        (0, -1),  # no length: the tensor's 48 bytes from offset 0 fit...
    ],
    ids=["offset-past-end", "offset-at-end", "length-past-end", "length-short", "negative", "ok"],
)
def test_offset_and_length_must_lie_within_the_file(
    tmp_path: Path, container: Container, offset: int, length: int
) -> None:
    source = container(tmp_path, bundle_files(bundle_model(offset=offset, length=length)))
    if length == -1:
        assert_values(source, extracted=not source.is_dir())
        return
    error = refused(source, ErrorCode.EXTERNAL_DATA_OUT_OF_RANGE)
    assert error.detail["tensor"] == "W"


def test_non_integer_offset_is_refused(tmp_path: Path) -> None:
    proto = bundle_model()
    proto.graph.initializer[0].external_data[1].value = "0x10"
    refused(write_dir(tmp_path, bundle_files(proto)), ErrorCode.EXTERNAL_DATA_OUT_OF_RANGE)


def test_missing_data_file(tmp_path: Path, container: Container) -> None:
    source = container(tmp_path, bundle_files(bundle_model("missing.bin")))
    error = refused(source, ErrorCode.EXTERNAL_DATA_MISSING)
    assert error.detail["location"] == "missing.bin"


def test_data_location_that_is_a_directory(tmp_path: Path) -> None:
    root = write_dir(tmp_path, bundle_files(bundle_model("shards")))
    (root / "shards").mkdir()
    refused(root, ErrorCode.EXTERNAL_DATA_MISSING)


def test_external_data_without_a_bundle(tmp_path: Path) -> None:
    """Bare bytes have no directory: their external references cannot be resolved."""
    error = refused(bundle_model().SerializeToString(), ErrorCode.EXTERNAL_DATA_MISSING)
    assert "bundle" in error.message


# --------------------------------------------------------------------------- archive entries


def zip_entry(name: str, data: bytes, mode: int | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    if mode is not None:
        info.external_attr = mode << 16
    return info


UNSAFE_ZIP = {
    "dotdot": zip_entry("../evil.bin", b""),
    "nested-dotdot": zip_entry("a/../../evil.bin", b""),
    "absolute": zip_entry("/tmp/evil.bin", b""),
    "backslash": zip_entry("..\\evil.bin", b""),
    "drive": zip_entry("C:evil.bin", b""),
    "symlink": zip_entry("weights.bin", b"", stat.S_IFLNK | 0o777),
    "char-device": zip_entry("dev.bin", b"", stat.S_IFCHR | 0o644),
    "fifo": zip_entry("pipe.bin", b"", stat.S_IFIFO | 0o644),
}


def tar_entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.devmajor, info.devminor = (1, 3) if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE) else (0, 0)
    return info


UNSAFE_TAR = {
    "dotdot": tar_entry("../evil.bin"),
    "nested-dotdot": tar_entry("a/../../evil.bin"),
    "absolute": tar_entry("/tmp/evil.bin"),
    "symlink": tar_entry("weights.bin", tarfile.SYMTYPE, "/etc/passwd"),
    "relative-symlink": tar_entry("w", tarfile.SYMTYPE, "../outside/secret.bin"),
    "hardlink": tar_entry("weights.bin", tarfile.LNKTYPE, "/etc/passwd"),
    "char-device": tar_entry("dev.bin", tarfile.CHRTYPE),
    "block-device": tar_entry("disk.bin", tarfile.BLKTYPE),
    "fifo": tar_entry("pipe.bin", tarfile.FIFOTYPE),
}

EVIL_PAYLOAD = b"/etc/passwd"


def hostile_zip(path: Path, entry: zipfile.ZipInfo) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.onnx", bundle_model().SerializeToString())
        zf.writestr(entry, EVIL_PAYLOAD)
        zf.writestr("weights.bin" if entry.filename != "weights.bin" else "w2.bin", DATA)
    return path


def hostile_tar(path: Path, entry: tarfile.TarInfo, mode: str) -> Path:
    with tarfile.open(path, mode) as tf:
        model = bundle_model().SerializeToString()
        info = tarfile.TarInfo("model.onnx")
        info.size = len(model)
        tf.addfile(info, io.BytesIO(model))
        if entry.isreg():
            entry.size = len(EVIL_PAYLOAD)
            tf.addfile(entry, io.BytesIO(EVIL_PAYLOAD))
        else:
            tf.addfile(entry)
    return path


def assert_nothing_extracted(tmp_path: Path, archive: Path) -> None:
    """``extract_bundle`` refuses the archive and leaves no file anywhere under tmp_path."""
    before = {p for p in tmp_path.rglob("*")}
    dest = tmp_path / "x" / "y" / "dest"
    with pytest.raises(GraphoptError) as caught:
        extract_bundle(archive, dest)
    assert_human_error(caught.value, ErrorCode.BUNDLE_UNSAFE_ENTRY)
    assert not dest.exists()
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_dir() for p in created), created
    assert not any(p.name.startswith("evil") for p in tmp_path.parent.rglob("evil*"))


@pytest.mark.parametrize("name", list(UNSAFE_ZIP))
def test_unsafe_zip_entry_is_refused(tmp_path: Path, name: str) -> None:
    archive = hostile_zip(tmp_path / "bundle.zip", UNSAFE_ZIP[name])
    error = refused(archive, ErrorCode.BUNDLE_UNSAFE_ENTRY)
    assert error.detail["entry"] == UNSAFE_ZIP[name].filename
    refused(archive.read_bytes(), ErrorCode.BUNDLE_UNSAFE_ENTRY)
    assert_nothing_extracted(tmp_path, archive)


@pytest.mark.parametrize("mode", ["w", "w:gz"])
@pytest.mark.parametrize("name", list(UNSAFE_TAR))
def test_unsafe_tar_entry_is_refused(tmp_path: Path, name: str, mode: str) -> None:
    archive = hostile_tar(tmp_path / "bundle.tar", UNSAFE_TAR[name], mode)
    error = refused(archive, ErrorCode.BUNDLE_UNSAFE_ENTRY)
    assert error.detail["entry"] == UNSAFE_TAR[name].name
    refused(archive.read_bytes(), ErrorCode.BUNDLE_UNSAFE_ENTRY)
    assert_nothing_extracted(tmp_path, archive)


# --------------------------------------------------------------------------- bombs


def forbid_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, fail the test if any archive member's data is opened."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member was extracted before the archive was refused")

    monkeypatch.setattr(zipfile.ZipFile, "open", forbidden)
    monkeypatch.setattr(tarfile.TarFile, "extractfile", forbidden)


def zeros_zip(path: Path, sizes: list[int], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method, compresslevel=9 if method else None) as zf:
        zf.writestr("model.onnx", bundle_model().SerializeToString())
        for index, size in enumerate(sizes):
            zf.writestr(f"weights{index}.bin", bytes(size))
    return path


def test_zip_bomb_by_ratio_is_refused_before_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = zeros_zip(tmp_path / "bomb.zip", [32 << 20])
    assert archive.stat().st_size < 64 << 10  # 32 MiB of zeros in well under 64 KiB
    forbid_extraction(monkeypatch)
    error = refused(archive, ErrorCode.BUNDLE_TOO_LARGE)
    assert error.detail["declared_bytes"] > 32 << 20
    refused(archive.read_bytes(), ErrorCode.BUNDLE_TOO_LARGE)


def test_total_size_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = zeros_zip(tmp_path / "big.zip", [600 << 10, 600 << 10], zipfile.ZIP_STORED)
    tar = write_tar(tmp_path / "big.tar", {"a.bin": bytes(600 << 10), "b.bin": bytes(600 << 10)})
    forbid_extraction(monkeypatch)
    refused(archive, ErrorCode.BUNDLE_TOO_LARGE, limits=ArchiveLimits(max_total_bytes=1 << 20))
    refused(tar, ErrorCode.BUNDLE_TOO_LARGE, limits=ArchiveLimits(max_total_bytes=1 << 20))


def test_too_many_members_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = zeros_zip(tmp_path / "many.zip", [1] * 10)
    forbid_extraction(monkeypatch)
    refused(archive, ErrorCode.BUNDLE_TOO_LARGE, limits=ArchiveLimits(max_members=5))


def test_tar_gz_bomb_by_ratio_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"model.onnx": bundle_model().SerializeToString(), "weights.bin": bytes(32 << 20)}
    archive = write_tar(tmp_path / "bomb.tar.gz", files, "w:gz")
    forbid_extraction(monkeypatch)
    refused(archive, ErrorCode.BUNDLE_TOO_LARGE)


def test_tar_gz_bomb_is_refused_at_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member declaring 1 TiB is refused when its header is read, before its data is.

    The stream holds only 1 MiB of the declared data: reading on to the next header (as a
    tar listing does) would hit the end of the stream and report a broken archive instead.
    """
    info = tarfile.TarInfo("weights.bin")
    info.size = 1 << 40
    stream = info.tobuf(tarfile.PAX_FORMAT) + bytes(1 << 20)
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(stream))
    forbid_extraction(monkeypatch)
    error = refused(archive, ErrorCode.BUNDLE_TOO_LARGE)
    assert error.detail["declared_bytes"] == 1 << 40


def test_not_a_bundle(tmp_path: Path) -> None:
    directory = write_dir(tmp_path / "empty", {"README.txt": b"no model here"})
    refused(directory, ErrorCode.BUNDLE_INVALID)
    two = write_dir(tmp_path / "two", {"a.onnx": b"", "b/c.onnx": b""})
    error = refused(two, ErrorCode.BUNDLE_INVALID)
    assert error.detail["files"] == ["a.onnx", "b/c.onnx"]
    refused(tmp_path / "nope.onnx", ErrorCode.BUNDLE_INVALID)


# --------------------------------------------------------------------------- audit


_AUDIT_CHILD = r"""
import json, os, sys
from graphopt.engine import GraphoptError, load_model

config = json.loads(sys.argv[1])
load_model(config["warm_up"]).close()  # imports everything intake uses, lazily or not
opened, relative, rmtree = [], [], [None]

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        if os.path.isabs(path):
            opened.append(path)
        else:  # os.open(name, dir_fd=...): the directory fd is not in the event
            relative.append([path, args[1], rmtree[0]])
    elif event == "shutil.rmtree":
        rmtree[0] = os.fsdecode(args[0])
    elif event == "mmap.__new__":
        opened.append(f"<mmap fd={args[0]}>")

sys.addaudithook(hook)
codes = {}
for source in config["hostile"]:
    try:
        load_model(source).close()
        codes[source] = "loaded"
    except GraphoptError as error:
        codes[source] = str(error.code)
result = json.dumps({"codes": codes, "opened": list(opened), "relative": list(relative)})
print(result)
"""


def test_hostile_bundles_open_no_file_outside_the_bundle(tmp_path: Path, outside: Path) -> None:
    """With an audit hook on ``open``: loading hostile bundles opens nothing outside them.

    Runs in a subprocess (an audit hook cannot be removed). Python-level opens and mmaps
    are audited; the onnx checker's C++ reads are not, but intake runs the checker only
    after every external reference passed its checks.
    """
    bundles = tmp_path / "bundles"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    hostile: dict[str, str] = {}

    def add(name: str, location: str, link: Callable[[Path], None] | None = None) -> None:
        root = write_dir(bundles / name, bundle_files(bundle_model(location)))
        if link is not None:
            link(root)
        hostile[str(root)] = name

    add("absolute", str(outside))
    add("etc-passwd", "/etc/passwd")
    add("dotdot", "../../outside/secret.bin")
    add("symlink", "w.bin", lambda root: os.symlink(outside, root / "w.bin"))
    add("symlink-passwd", "w.bin", lambda root: os.symlink("/etc/passwd", root / "w.bin"))
    add("hardlink", "w.bin", lambda root: os.link(outside, root / "w.bin"))
    zipped = write_zip(bundles / "dotdot.zip", bundle_files(bundle_model("../../../etc/passwd")))
    hostile[str(zipped)] = "zip-dotdot"
    linked = hostile_tar(bundles / "link.tar", UNSAFE_TAR["symlink"], "w")
    hostile[str(linked)] = "tar-symlink"
    warm_up = write_zip(tmp_path / "warm.zip", bundle_files())

    config = {"warm_up": str(warm_up), "hostile": list(hostile)}
    env = {**os.environ, "TMPDIR": str(scratch)}
    child = subprocess.run(
        [sys.executable, "-c", _AUDIT_CHILD, json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    codes = {hostile[source]: code for source, code in result["codes"].items()}
    assert codes == {
        "absolute": ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE,
        "etc-passwd": ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE,
        "dotdot": ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE,
        "symlink": ErrorCode.EXTERNAL_DATA_LINK,
        "symlink-passwd": ErrorCode.EXTERNAL_DATA_LINK,
        "hardlink": ErrorCode.EXTERNAL_DATA_LINK,
        "zip-dotdot": ErrorCode.EXTERNAL_DATA_OUTSIDE_BUNDLE,
        "tar-symlink": ErrorCode.BUNDLE_UNSAFE_ENTRY,
    }
    allowed = (str(bundles.resolve()) + os.sep, str(scratch.resolve()) + os.sep)
    secret = outside.stat()
    opened = result["opened"]
    assert opened, "the audit hook saw no open at all: it is not watching"
    for path in opened:
        assert not path.startswith("<mmap"), f"data was memory-mapped: {path}"
        real = os.path.realpath(path)
        assert real.startswith(allowed), f"opened {path} (-> {real}) outside the bundles"
        if os.path.exists(path):
            info = os.stat(path)
            assert (info.st_dev, info.st_ino) != (secret.st_dev, secret.st_ino), path
    # names opened relative to a directory fd: only shutil.rmtree removing a scratch dir does
    for name, mode, removing in result["relative"]:
        assert mode is None and removing is not None, (name, mode, removing)
        assert os.path.realpath(removing).startswith(allowed[1]), (name, removing)

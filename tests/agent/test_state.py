"""Atomic JSON state files: round trip, missing vs corrupt, failed writes keep the old file."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest

from agent import state
from agent.state import StateCorrupt, atomic_write_json, read_json


def test_round_trip_and_no_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.json"  # the parent is created
    atomic_write_json(path, {"a": [1, 2.5, None], "b": "x"})
    assert read_json(path) == {"a": [1, 2.5, None], "b": "x"}
    atomic_write_json(path, {"a": 2})
    assert read_json(path) == {"a": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.json"]


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_json(tmp_path / "nope.json") is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "must be an object"),
        (b'{"a": NaN}', "not valid JSON"),
    ],
)
def test_corrupt_content_raises_typed_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(StateCorrupt, match=reason) as info:
        read_json(path)
    assert info.value.path == path and isinstance(info.value, ValueError)


def test_unreadable_path_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "s.json").mkdir()  # a directory where the file should be
    with pytest.raises(StateCorrupt, match="cannot read"):
        read_json(tmp_path / "s.json")


def test_nan_is_refused_before_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    atomic_write_json(path, {"ok": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"bad": float("nan")})
    assert read_json(path) == {"ok": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_enospc_during_fsync_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    atomic_write_json(path, {"gen": 1})

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        atomic_write_json(path, {"gen": 2})
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert read_json(path) == {"gen": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # the temp file was removed


def test_read_only_directory_raises_oserror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    atomic_write_json(path, {"gen": 1})

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError, match="Read-only"):
        atomic_write_json(path, {"gen": 2})
    monkeypatch.undo()
    assert read_json(path) == {"gen": 1}


def test_failed_rename_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    atomic_write_json(path, {"gen": 1})

    def broken(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(state.os, "replace", broken)
    with pytest.raises(OSError):
        atomic_write_json(path, {"gen": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"gen": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_directory_fsync_unsupported_is_tolerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.fsync
    calls: list[int] = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the second fsync is the directory's
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_json(tmp_path / "s.json", {"a": 1})
    assert len(calls) == 2
    assert read_json(tmp_path / "s.json") == {"a": 1}

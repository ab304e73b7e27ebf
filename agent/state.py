"""Crash-safe JSON state files in the agent's state directory.

``atomic_write_json`` never leaves a half-written file behind: it writes a
temporary file in the same directory, fsyncs it, renames it over the target
and fsyncs the directory, so after a crash or power loss the path holds either
the previous document or the new one.  A failed write (read-only file system,
ENOSPC, ...) raises ``OSError`` for the caller to count and leaves the previous
file untouched.  ``read_json`` separates "no state yet" (None) from "state I
cannot trust" (:class:`StateCorrupt`), so callers can rebuild instead of dying.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class StateCorrupt(ValueError):
    """A state file exists but cannot be read or is not a JSON object."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: corrupt state file: {reason}")


def _fsync_dir(directory: Path) -> None:
    """Persist a rename; file systems that cannot fsync a directory are tolerated."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def atomic_write_json(path: Path | str, doc: Any, rows: tuple[str, Iterable[Any]] | None = None) -> None:
    """Replace ``path`` with ``doc`` as strict JSON (no NaN/Infinity), atomically.

    ``rows = (key, iterable)`` streams a long list as ``doc[key]`` one item at a
    time (the calibration's warm-up rows: building them as one document would
    hold ~55k Python objects and a few MB of text at once).

    Raises ``ValueError``/``TypeError`` if ``doc`` is not JSON-serialisable
    (before any file is touched, for ``doc`` itself) and ``OSError`` if writing
    fails; in both cases the previous file at ``path`` is unchanged.
    """
    path = Path(path)
    marker = "\u0000rows\u0000"
    if rows is not None:
        doc = {**doc, rows[0]: marker}
    text = json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n"
    head, _, tail = text.partition(json.dumps(marker)) if rows is not None else (text, "", "")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(head.encode("utf-8"))
            if rows is not None:
                fh.write(b"[")
                for i, item in enumerate(rows[1]):
                    fh.write((("," if i else "") + json.dumps(item, allow_nan=False, separators=(",", ":"))).encode())
                fh.write(b"]" + tail.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"non-standard constant {name}", name, 0)


def read_json(path: Path | str) -> dict[str, Any] | None:
    """Read a JSON object written by :func:`atomic_write_json`.

    Returns None when the file does not exist; raises :class:`StateCorrupt`
    when it exists but cannot be read, is not UTF-8 JSON, or is not an object.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        log.info("%s: no state file yet", path)
        return None
    except OSError as exc:
        raise StateCorrupt(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise StateCorrupt(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise StateCorrupt(path, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise StateCorrupt(path, f"top level must be an object, got {type(doc).__name__}")
    return doc

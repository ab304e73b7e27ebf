"""Log lines for the systemd journal: a ``<N>`` syslog priority on every line, no timestamp of our own.

Under systemd, stderr is a stream into journald, which stores every line at
the unit's default priority (info) unless the line starts with ``<N>``
(SyslogLevelPrefix=, on by default). Without the prefix ``journalctl -p err``
misses a rejected model reload or a configuration error, and each line
carries two timestamps. Outside the journal nothing changes.
"""

from __future__ import annotations

import logging
import os
import sys

# logging level -> syslog priority (sd-daemon.h SD_DEBUG .. SD_CRIT)
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def stderr_is_journal() -> bool:
    """True when stderr is the stream systemd connected to the journal ($JOURNAL_STREAM = its dev:inode)."""
    dev, _, ino = os.environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        st = os.fstat(sys.stderr.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (ValueError, OSError, AttributeError):  # unset/garbled variable, closed or replaced stderr
        return False


def priority(levelno: int) -> int:
    return next((p for level, p in _PRIORITY if levelno >= level), 7)


def prefixed(text: str, prio: int) -> str:
    """Every line of ``text`` with ``<prio>``: a traceback's lines are separate journal entries."""
    return "\n".join(f"<{prio}>{line}" for line in text.split("\n"))


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return prefixed(super().format(record), priority(record.levelno))


def adopt(logger: logging.Logger) -> None:
    """Give ``logger``'s stderr handlers the journal format when stderr is the journal."""
    if not stderr_is_journal():
        return
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__):
            handler.setFormatter(JournalFormatter())


def error(text: str) -> str:
    """``text`` for a fatal message printed to stderr: priority err in the journal, unchanged elsewhere."""
    return prefixed(text, 3) if stderr_is_journal() else text

"""Polling until a condition holds: the one way tests wait for a process or server."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    cond: Callable[[], T],
    timeout: float = 20.0,
    what: str = "condition",
    *,
    step: float = 0.05,
    procs: Iterable[subprocess.Popen[bytes]] = (),
) -> T:
    """Call ``cond`` until it returns a true value and return that value.

    An ``OSError`` from ``cond`` (a server not listening yet) counts as not yet.
    Fails at once when one of ``procs`` exits, and after ``timeout`` seconds
    naming ``what``.
    """
    procs = list(procs)
    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args!r} exited with {p.returncode} while waiting for {what}")
        try:
            got = cond()
            if got:
                return got
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)

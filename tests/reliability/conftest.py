"""Fixtures shared by the reliability suite (its helpers, rel_support.py, are on ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture
def keep_sighup() -> Iterator[None]:
    """``main()`` ignores SIGHUP while a daemon starts; give the test process its handler back."""
    old = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, old)

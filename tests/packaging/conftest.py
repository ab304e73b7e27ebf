"""Fixtures for the packaging tests: the external tools they drive."""

from __future__ import annotations

import pytest
from packaging_helpers import require_tool


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    return require_tool("systemd-analyze", "systemd")

"""Shared fixtures (helpers live in support.py, importable from every test directory)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import DEFAULT_BUNDLE, AgentProcess, StartAgent, free_port


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[StartAgent]:
    started: list[AgentProcess] = []

    def start(args: list[str], port: int | None = None) -> AgentProcess:
        p = AgentProcess(args, port or free_port(), tmp_path / f"agent-{len(started)}.log")
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def default_bundle(tmp_path: Path) -> Path:
    """A private copy of the shipped default bundle (tests may damage it)."""
    if not (DEFAULT_BUNDLE / "bundle.json").exists():
        pytest.fail("models/default is missing: it is produced by `anomaly-train fit` and must be committed")
    dst = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, dst)
    return dst

"""A repository module run as ``python -m`` in a subprocess, from the repository root (the bench entry points)."""

from __future__ import annotations

import subprocess
import sys

from support.paths import ROOT


def run_module(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from ``ROOT`` with this interpreter; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )

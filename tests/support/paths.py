"""Repository paths and the agent command line."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = ROOT / "models" / "default"
DEMO_DATA = ROOT / "data" / "smd-demo"
SHARED_SMD = ROOT.parent / "shared" / "data" / "smd"
AGENT = [sys.executable, "-m", "agent"]

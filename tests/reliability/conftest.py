"""The reliability suite imports its helpers (rel_support.py) from this directory.

pytest runs with ``--import-mode=importlib``, which puts no test directory on
``sys.path``; ``pythonpath`` in pyproject.toml lists ``tests`` (support.py)
but not this one, so it is added here, before any test module is imported.
The repository root goes there too, so ``bench.soak`` is the top-level
``bench`` package (not ``tests/bench``) under ``.venv/bin/pytest`` as well as
under ``python -m pytest``.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (str(HERE), str(HERE.parents[1])):
    if path not in sys.path:
        sys.path.insert(0, path)

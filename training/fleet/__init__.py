"""``anomaly-train fleet``: per-host bundles for many hosts (docs/fleet.md).

:mod:`~training.fleet.plan` (hosts, input digests, resumability),
:mod:`~training.fleet.task` (one host), :mod:`~training.fleet.run` (Ray or a
local loop, progress), :mod:`~training.fleet.manifest` (fleet.json, status
table), :mod:`~training.fleet.serve` (HTTP with ETags), :mod:`~training.fleet.cli`.
"""

from __future__ import annotations

from training.fleet.cli import register

__all__ = ["register"]

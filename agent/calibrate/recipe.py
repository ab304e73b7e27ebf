"""Which bundles calibrate on a host, and how: the policy between a bundle's metadata and the calibrator.

Min-max bundles trained on the host's own history are used as trained; every other bundle calibrates,
z-score ones with noise floors in the feature's units (or range) and the bundle's anchor.
"""

from __future__ import annotations

import os
from typing import Any

from agent.calibrate.fit import HostRecipe
from agent.calibrate.metric_tier import LEVEL_FLOOR
from agent.config import Config
from agent.model.bundle import Bundle
from agent.score.scoring import ZScaler


def needs_calibration(bundle_meta: dict[str, Any]) -> bool:
    """False only for a min-max bundle trained on this host's own history (``training.host_specific: true``).

    A z-score bundle always calibrates and recalibrates daily, host-specific or not: used as trained,
    machine-1-6's own bundle raised 3.32 false alerts/day on its test split against 0.22 calibrated
    by the agent, because the host drifts after training (docs/fleet.md).
    """
    training = bundle_meta.get("training")
    host_specific = isinstance(training, dict) and training.get("host_specific") is True
    scaler = bundle_meta.get("scaler")
    zscore = isinstance(scaler, dict) and scaler.get("method") == "zscore"
    return zscore or not host_specific


def host_recipe(bundle: Bundle, noise_floors: str = "units", metric_floor: float = LEVEL_FLOOR) -> HostRecipe | None:
    """How this host calibrates ``bundle``: z-score bundles get floors and the anchor; min-max ones None."""
    if not isinstance(bundle.scaler, ZScaler):
        return None
    units = noise_floors == "units"
    return HostRecipe(units=units, cpus=os.cpu_count() or 1, anchor=bundle.anchor, metric_floor=metric_floor)


def config_recipe(bundle: Bundle, cfg: Config) -> HostRecipe | None:
    """:func:`host_recipe` with the agent config's ``calibration.noise_floors`` and ``scoring.metric_level_floor``."""
    return host_recipe(bundle, cfg.calibration.noise_floors, cfg.scoring.metric_level_floor)

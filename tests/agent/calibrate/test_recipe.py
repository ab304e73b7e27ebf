"""agent.calibrate.recipe: which bundles calibrate on a host, and with which recipe."""

from __future__ import annotations

from support import DEFAULT_BUNDLE

from agent.calibrate.recipe import host_recipe, needs_calibration
from agent.model.bundle import load_bundle


def test_only_a_host_specific_min_max_bundle_skips_calibration() -> None:
    minmax, zscore = {"method": "minmax"}, {"method": "zscore"}
    assert needs_calibration({"scaler": minmax})
    assert not needs_calibration({"scaler": minmax, "training": {"host_specific": True}})
    assert needs_calibration({"scaler": zscore, "training": {"host_specific": True}})


def test_the_shipped_z_score_bundle_gets_floors_in_the_requested_units_and_its_anchor() -> None:
    b = load_bundle(DEFAULT_BUNDLE)
    units, rng = host_recipe(b, "units"), host_recipe(b, "range")
    assert units is not None and rng is not None
    assert units.units and not rng.units
    assert units.anchor == b.anchor and units.cpus >= 1

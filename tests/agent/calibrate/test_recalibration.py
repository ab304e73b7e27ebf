"""Recalibration of z-score bundles: provisional threshold, refinement, daily refits, the recent-rows ring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.calibrate.calibrator import Calibrator
from agent.calibrate.fit import CalibrationResult, HostRecipe
from agent.calibrate.recalibration import POT_ROWS, Recalibration
from agent.calibrate.recent import RecentRows
from agent.score.scoring import Scaler


def errors_fn(scaler, windows):  # stands in for the model: squared z values of the windows' last row
    return np.minimum(scaler.transform(windows)[:, -1, :] ** 2, 36.0)


def zscore_calibrator(
    make: Callable[..., Calibrator], state: Path, clock: Callable[[], float], sha: str = "sha", **kw: float
) -> Calibrator:
    """A z-score host of 4 features, window 5 and 30 warm-up rows, built by ``make`` (new or resumed)."""
    recipe = HostRecipe(units=False, anchor=0.5)
    return make(tuple("abcd"), 5, 30, 1e-3, state, sha, clock=clock, recipe=recipe, recent_samples=2000, **kw)


def test_zscore_calibration_is_provisional_then_refined_then_daily(tmp_path: Path) -> None:
    f, w = 4, 5
    now = [1_800_000_000.0]
    rng = np.random.default_rng(3)

    cal = zscore_calibrator(Calibrator, tmp_path / "cal.json", lambda: now[0], recalibrate_seconds=86400.0)
    for _ in range(cal.target_rows):
        cal.observe(rng.normal(0.5, 0.05, f))
    r = cal.calibrate(errors_fn)
    assert cal.state == "provisional" and r.details["threshold_kind"] == "provisional"
    assert r.threshold >= 0.5 and r.scaler.method == "zscore"
    assert np.allclose(r.feature_thresholds, f * r.threshold)  # feature scores add up to the window score
    assert not cal.recalibration_due()
    for _ in range(POT_ROWS + w):
        cal.record(rng.normal(0.5, 0.05, f), anomalous=False)
    assert cal.recalibration_due()
    r2 = cal.recalibrate(errors_fn)
    assert cal.state == "calibrated" and r2.details["source"] == "recent" and r2.threshold >= 0.5
    assert not cal.recalibration_due()
    now[0] += 86400.0 + 1
    cal.record(rng.normal(0.5, 0.05, f), anomalous=False)
    assert cal.recalibration_due()
    # a restart keeps the recalibrated result and the recent rows
    cal.save()
    back = zscore_calibrator(Calibrator.load, tmp_path / "cal.json", lambda: now[0])
    assert back.calibrated and back.result.threshold == r2.threshold and len(back.recalibration.recent) >= POT_ROWS


def test_anomalous_rows_are_left_out_of_the_scaler_only_when_few() -> None:
    ring = RecentRows(10, 1)
    for i in range(10):
        ring.append(np.array([float(i)]), anomalous=i == 9)
    assert ring.scaler_mask().tolist() == [True] * 9 + [False]
    for _ in range(5):
        ring.append(np.array([0.0]), anomalous=True)  # half the ring anomalous: a new normal, not an incident
    assert ring.scaler_mask().all()


def test_a_failed_ring_save_is_counted_with_the_calibrators_write_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cal = Calibrator(("a",), 2, 30, 1e-3, tmp_path / "cal.json", "sha", recipe=HostRecipe(units=False))
    cal.recalibration.path = tmp_path / "missing" / "cal.recent.npz"
    cal.recalibration.record(np.array([1.0]), anomalous=False)
    cal.recalibration.save()
    assert cal.recalibration.write_errors == 1 and cal.write_errors == 1
    assert "cannot save recent rows" in caplog.text


def test_due_when_the_next_recalibration_time_comes_and_never_when_off(tmp_path: Path) -> None:
    r = CalibrationResult(Scaler(np.zeros(1), np.ones(1)), 0.5, np.array([0.5]), "s", 1.0, 30, 25, {})
    off, daily = (Recalibration(40, 1, tmp_path / "r.npz", every) for every in (0.0, 86400.0))
    assert off.next_at(r) is None and daily.next_at(r) == 86401.0
    for rec in (off, daily):
        rec.reset(1, np.zeros((40, 1)))
    r.details["next_recalibration"] = off.next_at(r)
    assert not off.due(r, 30, 5, now=1e12)
    r.details["next_recalibration"] = daily.next_at(r)
    assert not daily.due(r, 30, 5, now=86400.0) and daily.due(r, 30, 5, now=86401.0)
    assert not daily.due(r, 41, 5, now=86401.0)  # fewer recent rows than a warm-up: wait


def warmed_up(state: Path, rng: np.random.Generator) -> Calibrator:
    """A z-score host that has collected its warm-up rows (around 0.5), not yet calibrated."""
    cal = zscore_calibrator(Calibrator, state, lambda: 1_800_000_000.0)
    for _ in range(cal.target_rows):
        cal.observe(rng.normal(0.5, 0.05, 4))
    return cal


def moved_on(state: Path, seed: int) -> Calibrator:
    """A host calibrated on its warm-up that then recorded 600 scored rows around 2.0."""
    rng = np.random.default_rng(seed)
    cal = warmed_up(state, rng)
    cal.calibrate(errors_fn)
    for _ in range(600):  # the host moved on after its warm-up: a new level, recorded while scoring
        cal.record(rng.normal(2.0, 0.05, 4), anomalous=False)
    return cal


def test_a_swapped_in_bundle_calibrates_from_the_recent_rows_not_the_old_warm_up(tmp_path: Path) -> None:
    cal = moved_on(tmp_path / "cal.json", 5)
    assert cal.rebind(tuple("abcd"), 5, "new-sha")  # a retrained bundle: rows kept, calibration dropped
    assert cal.ready
    r = cal.calibrate(errors_fn)
    assert r.bundle_sha == "new-sha" and r.details["source"] == "recent"
    assert r.rows > cal.target_rows  # the warm-up plus the recorded week, not the warm-up alone
    assert np.allclose(r.scaler.typical, 2.0, atol=0.1)  # the recent level, not the warm-up's 0.5
    assert len(cal.recalibration.recent) == cal.target_rows + 600  # the ring is kept


def test_the_first_calibration_uses_the_warm_up(tmp_path: Path) -> None:
    cal = warmed_up(tmp_path / "cal.json", np.random.default_rng(6))
    r = cal.calibrate(errors_fn)
    assert r.details.get("source") != "recent" and r.rows == cal.target_rows


def test_a_restart_with_another_bundle_calibrates_from_the_saved_recent_rows(tmp_path: Path) -> None:
    """A package upgrade shipping a new default model: the restart takes the hot-swap path."""
    cal = moved_on(tmp_path / "cal.json", 7)
    cal.recalibration.save()
    cal.save()
    back = zscore_calibrator(Calibrator.load, tmp_path / "cal.json", lambda: 1_800_000_000.0, sha="new-sha")
    assert not back.calibrated and back.ready  # another bundle: recalibrate, the kept rows suffice
    r = back.calibrate(errors_fn)
    assert r.bundle_sha == "new-sha" and r.details["source"] == "recent"
    assert np.allclose(r.scaler.typical, 2.0, atol=0.1)  # the recent level, not the warm-up's 0.5
    assert len(back.recalibration.recent) == cal.target_rows + 600


def test_a_restart_with_another_bundle_and_no_saved_ring_uses_the_warm_up(tmp_path: Path) -> None:
    cal = warmed_up(tmp_path / "cal.json", np.random.default_rng(8))
    cal.calibrate(errors_fn)
    cal.save()
    cal.recalibration.path.unlink(missing_ok=True)
    back = zscore_calibrator(Calibrator.load, tmp_path / "cal.json", lambda: 1_800_000_000.0, sha="new-sha")
    r = back.calibrate(errors_fn)
    assert r.details.get("source") != "recent" and r.rows == cal.target_rows


def test_rebase_re_expresses_the_ring_keeps_the_newest_flags_and_makes_a_refit_due(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    rng = np.random.default_rng(4)
    cal = zscore_calibrator(Calibrator, tmp_path / "cal.json", lambda: now[0], recalibrate_seconds=86400.0)
    rec = cal.recalibration
    rec.rebase(np.zeros((10, 4)))  # before calibration: the warm-up is the calibrator's, nothing happens
    assert not rec.rebased and len(rec.recent) == 0
    for _ in range(cal.target_rows):
        cal.observe(rng.normal(0.5, 0.05, 4))
    cal.calibrate(errors_fn)
    for i in range(POT_ROWS + 10):
        cal.record(rng.normal(0.5, 0.05, 4), anomalous=i >= POT_ROWS + 7)  # the last three anomalous
    cal.recalibrate(errors_fn)
    assert not cal.recalibration_due()
    n = len(rec.recent)
    residuals = np.full((n, 4), 0.25)
    rec.rebase(residuals)
    rows, flags = rec.recent.arrays()
    assert np.array_equal(rows, residuals) and flags[-3:].all() and not flags[:-3].any()
    assert cal.recalibration_due()  # at once, not at the next daily time
    cal.recalibrate(errors_fn)
    assert not rec.rebased and not cal.recalibration_due()

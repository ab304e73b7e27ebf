"""Cold-start calibration: progress, scaling, thresholds, persistence and failure handling.

The model is a fake: ``MeanPredictor`` "reconstructs" every window as its
per-feature mean, so errors measure how far the last step is from the recent
mean.  No TFLite needed.
"""

from __future__ import annotations

import errno
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.calibrate import calibrator as cal_mod
from agent.calibrate import fit as calibration_fit
from agent.calibrate import persist
from agent.calibrate.calibrator import (
    CalibrationError,
    CalibrationResult,
    Calibrator,
    fit_host_scaler,
    scorer_errors_fn,
)
from agent.calibrate.recipe import needs_calibration
from agent.calibrate.saved import STATE_KIND
from agent.score.scoring import Scaler, Scorer, ScoringSpec
from agent.state import read_json

FEATURES = ("cpu", "bytes", "count")
W = 6
WARMUP = 200


class MeanPredictor:
    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.broadcast_to(batch.mean(axis=1, keepdims=True), batch.shape)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 60.0
        return self.now


def host_rows(n: int, start: int = 0, seed: int = 0) -> np.ndarray:
    """(n, 3) raw rows in wildly different units: a ratio, bytes/s, a count."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + n)[:, None]
    base = np.sin(2 * np.pi * t / 40 + np.array([0.0, 1.0, 2.0]))
    return (
        np.array([0.3, 5e6, 120.0])
        + base * np.array([0.1, 2e6, 30.0])
        + rng.normal(0, 1, (n, 3)) * np.array([0.01, 1e5, 2.0])
    )


def spec() -> ScoringSpec:
    # the SMD-trained bundle's own scaler would be meaningless for raw values
    return ScoringSpec(FEATURES, W, "autoencoder", Scaler(np.zeros(3), np.ones(3)), 1, 1.0, np.ones(3))


def errors_fn():
    return scorer_errors_fn(Scorer(spec(), MeanPredictor()))


def make(tmp_path: Path, sha: str = "sha-a", **kw) -> Calibrator:
    args = dict(
        features=FEATURES,
        window=W,
        warmup_samples=WARMUP,
        pot_q=1e-3,
        state_path=tmp_path / "cal.json",
        bundle_sha=sha,
        clock=Clock(),
    )
    args.update(kw)
    return Calibrator.load(**args)


def feed(cal: Calibrator, rows: np.ndarray) -> None:
    for r in rows:
        cal.observe(r)


# -- pure parts ----------------------------------------------------------------
def test_needs_calibration() -> None:
    assert needs_calibration({"training": {"machine": "machine-1-6"}})
    assert needs_calibration({})
    assert needs_calibration({"training": {"host_specific": "yes"}})  # only a real true counts
    assert not needs_calibration({"training": {"host_specific": True}, "scaler": {"method": "minmax"}})
    # a z-score bundle calibrates (and recalibrates daily) even when it was trained on this host
    assert needs_calibration({"training": {"host_specific": True}, "scaler": {"method": "zscore"}})


def test_scaler_robust_range_and_constant_spans() -> None:
    x = np.column_stack(
        [
            np.arange(1001, dtype=float),  # 0..1000 with percentiles 0.1/99.9 -> 1..999
            np.zeros(1001),  # idle counter: span ZERO_SPAN
            np.full(1001, 8e9),  # total memory: span 1 % of the level
            np.full(1001, np.nan),  # never readable: like a constant 0
        ]
    )
    x[500, 0] = np.nan
    s = fit_host_scaler(x, clip=1.5)
    assert s.low[0] == pytest.approx(1.0, abs=0.01) and s.high[0] == pytest.approx(999.0, abs=0.01)
    assert (s.low[1], s.high[1]) == (0.0, 1.0)
    assert (s.low[2], s.high[2]) == (8e9, pytest.approx(8.08e9))
    assert (s.low[3], s.high[3]) == (0.0, 1.0)
    assert s.clip == 1.5
    later = s.transform(np.array([500.0, 2.0, 8.2e9, 0.0]))
    assert later[0] == pytest.approx(0.5, abs=0.01)
    assert later[1] == 2.0 and later[2] == 2.5  # a constant feature's movement shows (here clipped at 1 + 1.5)


def test_scaler_keeps_a_narrow_feature_from_amplifying_jitter() -> None:
    x = np.column_stack([1000.0 + np.random.default_rng(0).uniform(0, 0.5, 500)])
    s = fit_host_scaler(x)
    assert s.high[0] - s.low[0] >= 10.0 * 0.999  # at least 1 % of the level, not the 0.5 jitter


# -- warm-up and progress ------------------------------------------------------------
def test_progress_ready_and_calibrated(tmp_path: Path) -> None:
    cal = make(tmp_path)
    assert (cal.progress, cal.ready, cal.calibrated) == (0.0, False, False)
    feed(cal, host_rows(50))
    assert cal.progress == pytest.approx(50 / (WARMUP + 1))
    feed(cal, host_rows(WARMUP - 50, 50))
    assert cal.ready and not cal.calibrated and cal.progress < 1.0
    cal.calibrate(errors_fn())
    assert cal.calibrated and not cal.ready and cal.progress == 1.0
    feed(cal, host_rows(5))  # ignored once calibrated
    assert len(cal.rows) == WARMUP


def test_warmup_is_stretched_for_long_windows(tmp_path: Path) -> None:
    cal = make(tmp_path, warmup_samples=10)
    assert cal.target_rows == W + cal_mod.MIN_WINDOWS - 1
    feed(cal, host_rows(10))
    assert not cal.ready
    with pytest.raises(CalibrationError, match="needs 25 rows, has 10"):
        cal.calibrate(errors_fn())


def test_rows_with_nan_and_bad_shapes(tmp_path: Path) -> None:
    cal = make(tmp_path)
    cal.observe(np.array([np.nan, np.inf, 1.0]))
    assert np.isnan(cal.rows[0, :2]).all() and cal.rows[0, 2] == 1.0
    with pytest.raises(ValueError, match="row has 2 values, expected 3"):
        cal.observe(np.ones(2))


def test_late_calibration_keeps_the_latest_rows(tmp_path: Path) -> None:
    cal = make(tmp_path)
    rows = host_rows(WARMUP + 7)
    feed(cal, rows)
    np.testing.assert_array_equal(cal.rows, rows[7:])


# -- the point of it all: normalised scores on this host ---------------------------------
def test_calibrated_scores_normal_below_one_shift_above(tmp_path: Path) -> None:
    cal = make(tmp_path, warmup_samples=1000)
    feed(cal, host_rows(1000))
    result = cal.calibrate(errors_fn())
    assert result.windows == 1000 - W + 1 and result.rows == 1000
    scorer = Scorer(cal.apply(spec()), MeanPredictor())

    normal = scorer.score_series(host_rows(2000, start=1000, seed=1)).score[W - 1 :]
    assert np.median(normal) < 0.5
    assert np.mean(normal > 1) < 0.01

    shifted = host_rows(400, start=3000, seed=2)
    shifted[200:, 1] += 4e6  # bytes/s jump by twice its normal swing
    s = scorer.score_series(shifted).score
    assert s[200] > 1.0 and s[200 : 200 + W].max() > 2.0
    fs = scorer.score_window(shifted[200 - W + 1 : 201])
    assert np.argmax(fs.contributions) == 1 and fs.feature_scores[1] > 1


def test_apply_checks(tmp_path: Path) -> None:
    cal = make(tmp_path)
    with pytest.raises(CalibrationError, match="not calibrated"):
        cal.apply(spec())
    feed(cal, host_rows(WARMUP))
    cal.calibrate(errors_fn())
    with pytest.raises(ValueError, match="differ"):
        cal.apply(replace(spec(), window=W + 1))
    applied = cal.apply(spec())
    assert applied.threshold == cal.result.threshold and applied.kind == "autoencoder" and applied.tail == 1


def test_errors_fn_shape_is_checked(tmp_path: Path) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    with pytest.raises(CalibrationError, match="shape"):
        cal.calibrate(lambda scaler, w: np.zeros((len(w), 2)))
    with pytest.raises(CalibrationError, match="no finite"):
        cal.calibrate(lambda scaler, w: np.full((len(w), 3), np.nan))
    assert not cal.calibrated


def test_errors_fn_gets_batches_and_host_scaler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibration_fit, "BATCH", 64)
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    seen: list[tuple[int, float]] = []

    def fn(scaler: Scaler, windows: np.ndarray) -> np.ndarray:
        seen.append((len(windows), float(scaler.high[1])))
        return np.ones((len(windows), 3))

    result = cal.calibrate(fn)
    assert [n for n, _ in seen] == [64, 64, 64, WARMUP - W + 1 - 192]
    assert seen[0][1] > 5e6  # the host's bytes/s range, not the bundle's [0, 1]
    assert result.threshold == pytest.approx(1.0)  # constant errors: POT falls back to the quantile


# -- persistence -----------------------------------------------------------------------
def test_state_saved_every_10_rows_and_resumed(tmp_path: Path) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(25))
    doc = read_json(tmp_path / "cal.json")
    assert doc["version"] == 1 and doc["features"] == list(FEATURES) and doc["window"] == W
    assert len(doc["rows"]) == 20 and doc["calibration"] is None and doc["bundle_sha256"] == "sha-a"
    assert doc["updated"] > doc["created"]

    again = make(tmp_path)  # restart: the 5 rows after the last save are lost
    assert not again.calibrated and len(again.rows) == 20
    np.testing.assert_allclose(again.rows, host_rows(20))
    assert again.created == doc["created"]


def test_nan_cells_round_trip_as_null(tmp_path: Path) -> None:
    cal = make(tmp_path, save_every=1)
    cal.observe(np.array([np.nan, 2.0, 3.0]))
    assert read_json(tmp_path / "cal.json")["rows"] == [[None, 2.0, 3.0]]
    assert np.isnan(make(tmp_path).rows[0, 0])


def test_restart_same_bundle_reuses_calibration(tmp_path: Path) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    first = cal.calibrate(errors_fn())
    again = make(tmp_path)
    assert again.calibrated and again.progress == 1.0
    r = again.result
    assert r.threshold == first.threshold and r.calibrated_at == first.calibrated_at
    np.testing.assert_array_equal(r.feature_thresholds, first.feature_thresholds)
    np.testing.assert_array_equal(r.scaler.high, first.scaler.high)


def test_restart_new_bundle_same_features_recalibrates_at_once(tmp_path: Path) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    cal.calibrate(errors_fn())
    newer = make(tmp_path, sha="sha-b")
    assert not newer.calibrated and newer.ready and len(newer.rows) == WARMUP
    res = newer.calibrate(errors_fn())
    assert res.bundle_sha == "sha-b"
    assert read_json(tmp_path / "cal.json")["calibration"]["bundle_sha256"] == "sha-b"


@pytest.mark.parametrize("change", [{"pot_q": 1e-4}, {"warmup_samples": WARMUP - 20}])
def test_restart_with_other_settings_recalibrates(tmp_path: Path, change: dict) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    cal.calibrate(errors_fn())
    again = make(tmp_path, **change)
    assert not again.calibrated and again.ready


def test_restart_with_other_features_starts_over(tmp_path: Path) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    cal.calibrate(errors_fn())
    other = make(tmp_path, features=("a", "b"))
    assert not other.calibrated and len(other.rows) == 0 and other.corrupt_state == 0


def test_hot_reload_rebind_in_memory(tmp_path: Path) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))
    cal.calibrate(errors_fn())
    assert cal.rebind(FEATURES, W, "sha-a")  # same bundle: nothing to do
    assert cal.calibrated
    assert cal.rebind(FEATURES, W, "sha-b", clip=0.5)  # new model, same features: rows kept, recalibrate now
    assert cal.ready and read_json(tmp_path / "cal.json")["bundle_sha256"] == "sha-b"
    assert cal.calibrate(errors_fn()).scaler.clip == 0.5
    assert not cal.rebind(("x", "y", "z", "w"), W, "sha-c")  # new features: start over
    assert cal.progress == 0.0 and cal.rows.shape == (0, 4)


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        json.dumps({"kind": "other", "version": 1}).encode(),
        json.dumps({"kind": STATE_KIND, "version": 99}).encode(),
        json.dumps(
            {"kind": STATE_KIND, "version": 1, "features": list(FEATURES), "rows": [], "calibration": None}
        ).encode(),  # no "created"
        json.dumps(
            {
                "kind": STATE_KIND,
                "version": 1,
                "features": list(FEATURES),
                "window": W,
                "rows": [[1, 2]],
                "calibration": None,
                "created": 0,
                "pot_q": 1e-3,
            }
        ).encode(),
        json.dumps(
            {
                "kind": STATE_KIND,
                "version": 1,
                "features": list(FEATURES),
                "window": W,
                "rows": [],
                "calibration": {"threshold": -1},
                "created": 0,
                "pot_q": 1e-3,
            }
        ).encode(),
    ],
)
def test_corrupt_state_is_rebuilt(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "cal.json").write_bytes(content)
    cal = make(tmp_path)
    assert cal.corrupt_state == 1 and not cal.calibrated and len(cal.rows) == 0
    assert (tmp_path / "cal.json.corrupt").read_bytes() == content  # kept for inspection
    assert read_json(tmp_path / "cal.json")["rows"] == []  # a fresh, valid state
    assert "unusable" in caplog.text
    feed(cal, host_rows(WARMUP))
    assert cal.calibrate(errors_fn()).rows == WARMUP


def test_write_failures_are_counted_and_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(10))
    assert len(read_json(tmp_path / "cal.json")["rows"]) == 10

    def full(path: Path, doc: object, rows: object = None) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persist, "atomic_write_json", full)
    feed(cal, host_rows(12, 10))  # the save at row 20 fails, then each later row retries
    assert cal.write_errors == 3
    assert len(read_json(tmp_path / "cal.json")["rows"]) == 10  # the last good state survives
    monkeypatch.undo()
    cal.observe(host_rows(1, 22)[0])
    assert cal.write_errors == 3 and len(read_json(tmp_path / "cal.json")["rows"]) == 23
    feed(cal, host_rows(5, 23))  # back to the normal cadence
    assert len(read_json(tmp_path / "cal.json")["rows"]) == 23


def test_calibration_survives_a_failed_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cal = make(tmp_path)
    feed(cal, host_rows(WARMUP))

    def read_only(path: Path, doc: object, rows: object = None) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(persist, "atomic_write_json", read_only)
    cal.calibrate(errors_fn())
    assert cal.calibrated and cal.write_errors == 1
    monkeypatch.undo()
    assert cal.save() and read_json(tmp_path / "cal.json")["calibration"] is not None


def test_result_doc_round_trip() -> None:
    r = CalibrationResult(Scaler(np.zeros(2), np.ones(2), 2.0), 0.5, np.array([0.1, 0.2]), "s", 1.0, 30, 25, {"a": 1})
    back = CalibrationResult.from_doc(json.loads(json.dumps(r.to_doc())), 2)
    assert back.threshold == 0.5 and back.details == {"a": 1} and back.scaler.clip == 2.0
    with pytest.raises(ValueError, match="list of 3 numbers"):
        CalibrationResult.from_doc(r.to_doc(), 3)
    assert back.metric_levels is None and back.metric_threshold is None
    m = replace(r, fast_threshold=0.4, fast_tail=5, metric_levels=np.array([1.0, 3.0]), metric_threshold=2.5)
    back = CalibrationResult.from_doc(json.loads(json.dumps(m.to_doc())), 2)
    assert back.metric_threshold == 2.5 and back.metric_levels is not None and back.metric_levels.tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="metric_levels"):
        CalibrationResult.from_doc({**m.to_doc(), "metric_levels": [1.0, -1.0]}, 2)


def test_calibration_needs_numpy_only() -> None:
    """The agent ships without scipy: POT, state and calibration must not pull it (or TF) in."""
    import subprocess
    import sys

    code = (
        "import sys, agent.calibrate.calibrator, agent.calibrate.pot, agent.state\n"
        "heavy = ('scipy', 'sklearn', 'tensorflow', 'keras', 'training')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""Detection delay (hand-computed cases), and imported data (NAB, CSV) through fit -> evaluate -> report."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from training import evaluate as ev
from training import machine_scores as ms
from training.delay import detection_delays

# -- detection_delays ------------------------------------------------------------------------------------------------


def test_delays_by_hand() -> None:
    score = np.array([0, 2, 0, 0, 0, 0, 5, 0, 0, 0], float)
    labels = np.array([0, 1, 1, 0, 1, 1, 1, 1, 0, 1])
    r = detection_delays(score, labels, threshold=1.0)
    # events [1,3) [4,8) [9,10): flagged at rows 1 and 6, the last never
    assert r.delays == (0.0, 120.0, None) and r.events == 3 and r.detected == [0.0, 120.0]
    assert r.median_s == 60.0 and r.p90_s == pytest.approx(108.0)  # 0 + 0.9 * (120 - 0)
    assert r.detected_within == pytest.approx(2 / 3)
    d = r.as_dict()
    assert d == {
        "events": 3,
        "detected": 2,
        "median_s": 60.0,
        "p90_s": pytest.approx(108.0),
        "detected_within_5min": pytest.approx(2 / 3),
        "within_s": 300.0,
        "delays_s": [0.0, 120.0, None],
    }


def test_only_flags_inside_the_event_count_and_the_bound_is_inclusive() -> None:
    labels = np.array([0, 0, 1, 1, 1, 1, 0, 1, 1, 1])
    score = np.array([9, 9, 0, 0.5, 1.0, 3, 9, 0, 0, 2])  # rows 0-1 flag early: not a detection; 1.0 is not > 1.0
    r = detection_delays(score, labels, 1.0, interval_seconds=100)
    assert r.delays == (300.0, 200.0)  # rows 5 - 2 = 3 -> 300 s; rows 9 - 7 = 2 -> 200 s
    assert r.detected_within == 1.0  # 300 s is within 5 minutes (inclusive)
    assert detection_delays(score, labels, 1.0, interval_seconds=101).detected_within == 0.5


def test_nan_rows_are_never_flagged_and_no_event_is_undefined() -> None:
    r = detection_delays(np.array([np.nan, np.nan, 5.0]), np.array([1, 1, 1]), 1.0, interval_seconds=60)
    assert r.delays == (120.0,)
    none = detection_delays(np.ones(4), np.zeros(4, int), 0.5)
    assert none.events == 0 and none.detected_within is None and none.median_s is None and none.p90_s is None


def test_delays_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        detection_delays(np.ones(3), np.ones(4), 1.0)
    with pytest.raises(ValueError, match="0 or 1"):
        detection_delays(np.ones(3), np.array([0, 2, 1]), 1.0)
    with pytest.raises(ValueError, match="interval_seconds"):
        detection_delays(np.ones(3), np.ones(3), 1.0, interval_seconds=0)


def test_machine_metrics_carry_the_delay_and_the_mean_skips_the_list() -> None:
    labels = np.zeros(100, int)
    labels[10:20] = labels[50:60] = 1
    score = np.zeros(100)
    score[12] = score[58] = 2.0
    s = ms.ModelScores(score, None, 1.0, "pot", {})
    r = ms.machine_metrics(s, labels, [frozenset()] * 100, np.ones(100, bool), vus_max_buffer=2, interval_seconds=60)
    assert r["detection_delay"]["delays_s"] == [120.0, 480.0] and r["detection_delay"]["detected_within_5min"] == 0.5
    mean = ev._mean([r, r])["detection_delay"]
    assert "delays_s" not in mean and mean["median_s"] == 300.0


# -- imported data through the whole pipeline -------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _wave(n: int, rng: np.random.Generator, period: float = 48.0) -> np.ndarray:
    t = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.5, n)


@pytest.fixture(scope="module")
def nab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAB-layout checkout with one 5-minute series and one labelled window, imported to the SMD layout."""
    from training.importers import import_nab

    root = tmp_path_factory.mktemp("nab")
    rng = np.random.default_rng(0)
    v = _wave(2000, rng)
    v[1500:1530] += 25.0
    stamps = [T0 + timedelta(minutes=5 * i) for i in range(2000)]
    (root / "data" / "synthetic").mkdir(parents=True)
    with open(root / "data" / "synthetic" / "wave.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows([s.strftime("%Y-%m-%d %H:%M:%S"), f"{x:.4f}"] for s, x in zip(stamps, v))
    (root / "labels").mkdir()
    window = [stamps[1495].strftime("%Y-%m-%d %H:%M:%S.%f"), stamps[1535].strftime("%Y-%m-%d %H:%M:%S.%f")]
    (root / "labels" / "combined_windows.json").write_text(json.dumps({"synthetic/wave.csv": [window]}))
    out = root / "smd"
    import_nab(root, "synthetic/wave.csv", root / "labels" / "combined_windows.json", out)
    return out


def _write_csv(path: Path, rows: np.ndarray, step_s: int = 30) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "cpu_busy", "mem_used", "net_rx"])
        for i, r in enumerate(rows):
            w.writerow([(T0 + timedelta(seconds=step_s * i)).isoformat(), *(f"{x:.4f}" for x in r)])


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two CSV imports (30 s samples -> 60 s rows): one as train, the other's rows as test with labels."""
    from training.importers import import_csv

    root = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(1)
    for name, n, shift in (("train", 3000, False), ("test", 2000, True)):
        x = np.c_[_wave(n, rng, 96), _wave(n, rng, 96) * 0.5 + 20, _wave(n, rng, 60) * 3]
        if shift:
            x[1200:1260, 2] += 90.0  # rows 600..629 after resampling by two
        _write_csv(root / f"{name}.csv", x)
        import_csv(root / f"{name}.csv", "time", root / name, "host-a", interval=60.0)
    out = root / "smd"
    (out / "train").mkdir(parents=True)
    for suffix in (".txt", ".json"):
        (out / "train" / f"host-a{suffix}").write_bytes((root / "train" / "train" / f"host-a{suffix}").read_bytes())
    (out / "test").mkdir()
    (out / "test" / "host-a.txt").write_bytes((root / "test" / "train" / "host-a.txt").read_bytes())
    labels = np.zeros(1000, int)
    labels[600:630] = 1
    (out / "test_label").mkdir()
    (out / "test_label" / "host-a.txt").write_text("".join(f"{v}\n" for v in labels))
    (out / "interpretation_label").mkdir()
    (out / "interpretation_label" / "host-a.txt").write_text("600-630:3\n")
    return out


@pytest.mark.parametrize(
    "which, machine, names, interval",
    [("nab", "wave", ("value",), 300.0), ("csv_data", "host-a", ("cpu_busy", "mem_used", "net_rx"), 60.0)],
)
def test_import_fit_evaluate_report(
    which: str, machine: str, names: tuple[str, ...], interval: float, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from agent.model.bundle import load_bundle
    from training.cli import main

    data = request.getfixturevalue(which)
    bundle = tmp_path / "bundle"
    assert (
        main(
            [
                "fit",
                "--data",
                str(data),
                "--machine",
                machine,
                "--out",
                str(bundle),
                "--arch",
                "dense",
                "--epochs",
                "1",
                "--window",
                "10",
            ]
        )
        == 0
    )
    assert load_bundle(bundle).features == names  # the importer's sidecar names travel into the bundle
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(data),
                "--machines",
                machine,
                "--models",
                "dense,pca",
                "--bundles-dir",
                str(tmp_path / "bundles"),
                "--epochs",
                "1",
                "--fit-option",
                "window=10",
                "--vus-max-buffer",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    r = doc["results"]["dense"]["machines"][machine]
    assert r["data"]["interval_seconds"] == interval and r["data"]["events"] == 1
    delay = r["detection_delay"]
    assert delay["events"] == 1 and all(d is None or d % interval == 0 for d in delay["delays_s"])
    assert r["best_f1"]["f1"] > 0.5  # the fault is plain (PCA keeps every component of 1-3 features: blind)
    html = tmp_path / "r.html"
    assert (
        main(
            [
                "report",
                "--data",
                str(data),
                "--machine",
                machine,
                "--bundle",
                str(bundle),
                "--out",
                str(html),
                "--baselines",
                "pca,ocsvm",
                "--vus-max-buffer",
                "5",
                "--incidents",
                "2",
            ]
        )
        == 0
    )
    text = html.read_text()
    section = re.search(r'<section id="delay">(.*?)</section>', text, re.S).group(1)
    assert "data:image/png;base64," in section and "<td>ocsvm</td>" in section
    assert f"{interval / 60:g} min apart" in section
    assert 'id="tuning"' not in text  # not a tuned bundle

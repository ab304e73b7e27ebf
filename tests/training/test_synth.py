"""training.synth: normal behaviour looks like a host, anomalies are real, labelled and round-trip as SMD."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from agent.collect.features import SMD38_NAMES
from agent.history.smd import Interpretation, load_machine
from training import cli
from training.synth import CORRELATED, KINDS, SynthData, generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
col = {n: j for j, n in enumerate(SMD38_NAMES)}


@cache
def synth(seed: int = 0, **kw: object) -> SynthData:
    params = {"train_rows": 2000, "test_rows": 3000, "n_anomalies": 10, "seed": seed, **kw}
    return generate(**params)  # type: ignore[arg-type]


def robust(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median and MAD-based spread of (T, k) rows (floor 0.01: some columns are flat)."""
    med = np.median(x, axis=0)
    return med, 1.4826 * np.median(np.abs(x - med), axis=0) + 0.01


# --- shape, determinism, labels ---------------------------------------------------------------


def test_shapes_dtypes_and_range() -> None:
    d = synth()
    assert d.train.shape == (2000, 38) and d.test.shape == (3000, 38) and d.labels.shape == (3000,)
    assert d.train.dtype == d.test.dtype == np.float64 and d.labels.dtype == np.int8
    assert d.feature_names == SMD38_NAMES
    for x in (d.train, d.test):
        assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = (
        generate(train_rows=500, test_rows=800, n_anomalies=3, seed=5),
        generate(train_rows=500, test_rows=800, n_anomalies=3, seed=5),
    )
    c = generate(train_rows=500, test_rows=800, n_anomalies=3, seed=6)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.interpretation == b.interpretation and a.kinds == b.kinds
    assert not np.array_equal(a.train, c.train) and a.interpretation != c.interpretation


@pytest.mark.parametrize("seed", range(4))
def test_labels_are_exactly_the_interpretation_segments(seed: int) -> None:
    d = synth(seed)
    expected = np.zeros(3000, dtype=np.int8)
    for a in d.interpretation:
        assert 0 <= a.start < a.end <= 3000 and a.dims == tuple(sorted(set(a.dims)))
        assert 1 <= len(a.dims) <= 4 and all(0 <= j < 38 for j in a.dims)
        assert expected[a.start : a.end].sum() == 0, "segments overlap"
        expected[a.start : a.end] = 1
    np.testing.assert_array_equal(d.labels, expected)
    assert len(d.interpretation) == len(d.kinds) == 10
    assert sorted(d.kinds) == sorted(KINDS * 2)  # kinds take turns
    assert [a.start for a in d.interpretation] == sorted(a.start for a in d.interpretation)


@pytest.mark.parametrize("seed", range(4))
def test_anomalies_touch_only_their_rows_and_dims(seed: int) -> None:
    d, clean = synth(seed), synth(seed, n_anomalies=0)
    np.testing.assert_array_equal(d.train, clean.train)  # normal data does not depend on the anomalies
    assert clean.labels.sum() == 0 and clean.interpretation == []
    touched = np.zeros(d.test.shape, dtype=bool)
    for a in d.interpretation:
        touched[a.start : a.end, list(a.dims)] = True
        for j in a.dims:
            assert not np.array_equal(d.test[a.start : a.end, j], clean.test[a.start : a.end, j])
    np.testing.assert_array_equal(d.test[~touched], clean.test[~touched])


# --- each kind is visible to a simple detector ---------------------------------------------------


def _segments(kind: str) -> list[tuple[SynthData, Interpretation]]:
    return [(synth(s), a) for s in range(4) for a, k in zip(synth(s).interpretation, synth(s).kinds) if k == kind]


def test_spikes_are_far_outside_the_preceding_hour() -> None:
    for d, a in _segments("spike"):
        prev, seg = d.test[a.start - 60 : a.start][:, list(a.dims)], d.test[a.start : a.end][:, list(a.dims)]
        med, spread = robust(prev)
        assert (np.abs(seg - med) / spread).min(axis=0).min() > 4, a  # every row, every dim
        assert a.end - a.start <= 8


def test_level_shifts_move_the_median() -> None:
    for d, a in _segments("level_shift"):
        med, spread = robust(d.test[a.start - 60 : a.start][:, list(a.dims)])
        seg_med = np.median(d.test[a.start : a.end][:, list(a.dims)], axis=0)
        assert (np.abs(seg_med - med) / spread).min() > 3, a


def test_drifts_ramp_away_from_the_clean_series() -> None:
    for seed in range(4):
        d, clean = synth(seed), synth(seed, n_anomalies=0)
        for a, kind in zip(d.interpretation, d.kinds):
            if kind != "drift":
                continue
            dev = np.abs(d.test[a.start : a.end] - clean.test[a.start : a.end])[:, list(a.dims)]
            n = a.end - a.start
            assert (dev[: n // 10].mean(axis=0) < 0.1).all() and (dev[-n // 10 :].mean(axis=0) > 0.25).all(), a
            ramp = np.arange(n)
            assert all(np.corrcoef(ramp, dev[:, i])[0, 1] > 0.9 for i in range(dev.shape[1])), a
            med, spread = robust(d.test[a.start - 60 : a.start][:, list(a.dims)])
            end_med = np.median(d.test[a.end - n // 10 : a.end][:, list(a.dims)], axis=0)
            assert (np.abs(end_med - med) / spread).min() > 3, a


def test_variance_changes_raise_the_typical_step() -> None:
    for d, a in _segments("variance"):
        step = lambda x: np.median(np.abs(np.diff(x, axis=0)), axis=0)  # noqa: E731 - robust to bursts
        before = step(d.test[a.start - 60 : a.start][:, list(a.dims)])
        during = step(d.test[a.start : a.end][:, list(a.dims)])
        assert (during / (before + 1e-3)).min() > 3, a


def test_broken_correlation_decouples_one_group_member() -> None:
    segs = _segments("correlation")
    assert segs
    for d, a in segs:
        (j,) = a.dims
        group = next(g for g in CORRELATED if SMD38_NAMES[j] in g)
        others = [col[n] for n in group if col[n] != j]
        in_train = np.corrcoef(d.train[:, j], d.train[:, others].mean(axis=1))[0, 1]
        ref = d.test[a.start : a.end, others].mean(axis=1)
        before = d.test[a.start - 60 : a.start]
        assert in_train > 0.95
        assert np.corrcoef(before[:, j], before[:, others].mean(axis=1))[0, 1] > 0.8, a
        assert abs(np.corrcoef(d.test[a.start : a.end, j], ref)[0, 1]) < 0.3, a
        # level and spread stay plausible: only the relation breaks
        assert abs(d.test[a.start : a.end, j].mean() - d.test[a.start - 60 : a.start, j].mean()) < 0.15


# --- normal behaviour looks like SMD ---------------------------------------------------------------


def test_normal_structure_matches_smd() -> None:
    x = synth().train
    c = lambda a, b: np.corrcoef(x[:, col[a]], x[:, col[b]])[0, 1]  # noqa: E731
    lag1 = lambda n: np.corrcoef(x[:-1, col[n]], x[1:, col[n]])[0, 1]  # noqa: E731
    for n in ("total_mem", "in_errs", "listen_overflows", "udp_rcv_buf_errs", "udp_snd_buf_errs"):
        assert np.ptp(x[:, col[n]]) == 0, n
    for n in ("si", "so", "retransegs"):
        assert (x[:, col[n]] == 0).mean() > 0.99, n
    assert lag1("load_1") < lag1("load_5") < lag1("load_15")  # progressively smoothed
    assert x[:, col["load_1"]].std() > x[:, col["load_15"]].std()
    assert min(c("eth1_fi", n) for n in ("eth1_fo", "eth1_pi", "eth1_po")) > 0.95
    assert c("in_segs", "out_segs") > 0.99 and c("udp_in_dg", "udp_out_dg") > 0.99
    day = x[:1440, col["eth1_fi"]]  # daily seasonality: busy and quiet hours differ a lot
    hourly = day[: 1440 // 60 * 60].reshape(24, 60).mean(axis=1)
    assert np.ptp(hourly) > 0.15


def test_other_feature_counts_and_names() -> None:
    d = generate(n_features=42, train_rows=300, test_rows=600, kinds=("correlation",), n_anomalies=2, seed=1)
    assert d.feature_names[:38] == SMD38_NAMES and d.feature_names[38:] == tuple(f"feature_{i}" for i in range(39, 43))
    assert d.train.shape == (300, 42)
    d = generate(n_features=5, train_rows=300, test_rows=600, kinds=("spike", "level_shift"), n_anomalies=4)
    assert d.feature_names == SMD38_NAMES[:5] and all(max(a.dims) < 5 for a in d.interpretation)
    d = generate(
        n_features=3, train_rows=300, test_rows=300, n_anomalies=1, kinds=("drift",), feature_names=("a", "b", "c")
    )
    assert d.feature_names == ("a", "b", "c") and d.labels.sum() > 0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kinds": ("spike", "tsunami")}, "unknown anomaly kinds.*tsunami"),
        ({"kinds": ()}, "unknown anomaly kinds"),
        ({"kinds": "spike,nope"}, "unknown anomaly kinds.*nope"),
        ({"n_anomalies": 50}, "too short for 50 anomalies"),
        ({"n_features": 3, "kinds": ("correlation",)}, "correlated group"),
        ({"n_anomalies": -1}, ">= 0"),
        ({"feature_names": ("a", "a")}, "not unique"),
    ],
)
def test_bad_arguments_are_refused(kw: dict, match: str) -> None:
    params = {"train_rows": 200, "test_rows": 1000, "n_anomalies": 2, **kw}
    with pytest.raises(ValueError, match=match):
        generate(**params)  # type: ignore[arg-type]


def test_cli_writes_the_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(
        [
            "synth",
            "--out",
            str(tmp_path),
            "--machine",
            "synth-9",
            "--features",
            "20",
            "--train-rows",
            "300",
            "--test-rows",
            "900",
            "--kinds",
            "spike,drift",
            "--anomalies",
            "3",
            "--seed",
            "4",
        ]
    )
    assert rc == 0 and "synth-9" in capsys.readouterr().out
    m = load_machine(tmp_path, "synth-9")
    expected = generate(20, 300, 900, ("spike", "drift"), 3, 4)
    assert m.train.shape == (300, 20) and m.test.shape == (900, 20)
    np.testing.assert_allclose(m.test, expected.test, rtol=1e-5, atol=1e-12)
    assert m.interpretation == expected.interpretation and set(expected.kinds) == {"spike", "drift"}
    assert (
        cli.main(
            [
                "synth",
                "--out",
                str(tmp_path),
                "--machine",
                "z",
                "--gzip",
                "--train-rows",
                "50",
                "--test-rows",
                "300",
                "--anomalies",
                "1",
            ]
        )
        == 0
    )
    assert (tmp_path / "test" / "z.txt.gz").exists()


def test_cli_refuses_unknown_kind_and_impossible_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["synth", "--out", str(tmp_path), "--machine", "m", "--kinds", "spike,bogus"])
    assert exc.value.code == 2 and "bogus" in capsys.readouterr().err
    assert cli.main(["synth", "--out", str(tmp_path), "--machine", "m", "--test-rows", "100", "--anomalies", "9"]) == 2
    assert "too short" in capsys.readouterr().err


def test_importing_synth_does_not_load_tensorflow() -> None:
    code = "import sys, training.synth; sys.exit(any(m in sys.modules for m in ('tensorflow', 'keras')))"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2]).returncode == 0


# --- shipped fixture ---------------------------------------------------------------------------


def _regen_module():
    spec = importlib.util.spec_from_file_location("regen_fixtures", FIXTURES / "regen_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_shipped_fixture_matches_generator() -> None:
    """Fails when training.synth changes: run tests/fixtures/regen_fixtures.py."""
    regen = _regen_module()
    root = FIXTURES / "smd_tiny"
    m = load_machine(root, regen.SMD_TINY_MACHINE)
    assert m.train.shape == (1500, 38) and m.test.shape == (1500, 38)
    d = generate(**regen.SMD_TINY_PARAMS)
    np.testing.assert_allclose(m.train, d.train, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(m.test, d.test, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(m.labels, d.labels)
    assert m.interpretation == d.interpretation
    meta = json.loads((root / "meta.json").read_text())
    assert meta["params"] == regen.SMD_TINY_PARAMS and meta["kinds"] == list(d.kinds)
    assert sorted(meta["kinds"]) == sorted(KINDS)
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 300_000


def test_regen_script_is_reproducible(tmp_path: Path) -> None:
    regen = _regen_module()
    first, second = regen.regen_smd_tiny(tmp_path / "a"), regen.regen_smd_tiny(tmp_path / "b")
    for p, q in zip(first, second):
        assert p.read_bytes() == q.read_bytes(), p.name  # same bytes run to run (gzip mtime=0)
        shipped = FIXTURES / "smd_tiny" / p.relative_to(tmp_path / "a")
        if p.suffix == ".gz":  # compare text: another zlib may compress differently
            assert gzip.decompress(p.read_bytes()) == gzip.decompress(shipped.read_bytes()), shipped

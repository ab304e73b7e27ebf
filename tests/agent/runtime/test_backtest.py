"""``anomaly-agent backtest``: the live cycle driven row by row, its CSV, its summary and its errors."""

from __future__ import annotations

import csv
import gzip
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from support import DEFAULT_BUNDLE, ROOT

from agent.calibrate.calibrator import Calibrator
from agent.calibrate.recipe import config_recipe
from agent.cli import EXIT_CONFIG, main
from agent.config import Config
from agent.history import smd
from agent.history.reader import parse_rows, parse_timestamps
from agent.history.writer import HistoryWriter
from agent.model.loaded import LoadedModel, load_model
from agent.runtime.backtest import SimClock, backtest
from agent.runtime.cycle import Agent
from agent.runtime.sources import ReplaySource

TINY = ROOT / "tests" / "fixtures" / "smd_tiny"
TINY_TEST = TINY / "test" / "synth-1.txt.gz"
TINY_LABELS = TINY / "test_label" / "synth-1.txt.gz"
WARMUP = 100  # rows (> window 30 + 19, so not stretched)
WINDOW = 30


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model(str(DEFAULT_BUNDLE))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yml"
    path.write_text(f"calibration:\n  warmup_samples: {WARMUP}\nseasonal:\n  enabled: false\n")
    return path


@pytest.fixture
def run_backtest(config: Path) -> Callable[..., int]:
    """``anomaly-agent backtest --bundle <default bundle> ARGS --config.file <config>``, its exit code;
    ``config_file=None``: no config file, or another file."""

    def run(*args: str | Path, config_file: Path | None = config) -> int:
        argv = ["backtest", "--bundle", str(DEFAULT_BUNDLE), *map(str, args)]
        return main(argv if config_file is None else [*argv, "--config.file", str(config_file)])

    return run


def _cfg(**calibration: object) -> Config:
    cfg = Config()
    return replace(
        cfg,
        model=replace(cfg.model, bundle=str(DEFAULT_BUNDLE)),
        calibration=replace(cfg.calibration, warmup_samples=WARMUP, **calibration),
    )


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _scores(rows: list[list[str]], col: int) -> np.ndarray:
    return np.array([float(r[col]) if r[col] else np.nan for r in rows])


def test_warmup_gives_empty_scores_then_scores(
    tmp_path: Path, run_backtest: Callable[..., int], model: LoadedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    assert run_backtest("--input", TINY_TEST, "--output", out) == 0
    header, rows = _read_csv(out)
    assert header == ["row", "score", "anomalous", *model.bundle.features]
    assert len(rows) == 1500 and [r[0] for r in rows[:3]] == ["0", "1", "2"]
    assert all(all(c == "" for c in r[1:]) for r in rows[: WARMUP - 1])  # warm-up: nothing published
    scored = rows[WARMUP - 1 :]  # calibrated at the WARMUP-th row; the window is full by then
    assert all(r[1] != "" and r[2] in ("0", "1") and all(c != "" for c in r[3:]) for r in scored)
    assert all(r[2] == str(int(float(r[1]) > 1)) for r in scored)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith(f"{out}: 1500 rows, {1500 - WARMUP + 1} scored, ")
    assert "alerts (score > 1 for 5 samples)" in line and "rows/s" in line


def test_scores_equal_a_live_agent_driven_row_by_row(
    tmp_path: Path, model: LoadedModel, run_backtest: Callable[..., int]
) -> None:
    """The reference: an Agent built by hand on the replay source, stepped with a fake clock."""
    cfg = _cfg()
    clock = SimClock(1_700_000_000.0)
    cal = Calibrator.load(
        model.bundle.features,
        model.bundle.window,
        WARMUP,
        cfg.calibration.pot_q,
        tmp_path / "live" / "calibration.json",
        model.bundle.sha256,
        clip=model.bundle.scaler.clip,
        recipe=config_recipe(model.bundle, cfg),
        recent_samples=cfg.calibration.recent_samples,
        recalibrate_seconds=cfg.calibration.recalibrate_hours * 3600.0,
        clock=clock,
    )
    live = Agent(
        cfg,
        ReplaySource(TINY, "synth-1", len(model.bundle.features)),
        model,
        CollectorRegistry(auto_describe=False),
        clock=clock,
        monotonic=clock,
        calibrator=cal,
    )
    expected, expected_features = [], []
    for _ in range(1500):
        clock.now += 60.0
        live.cycle()
        res = live.snapshot.result
        expected.append(np.nan if res is None else res.score)
        expected_features.append(np.full(38, np.nan) if res is None else res.feature_scores)

    rows = smd.load_rows(TINY_TEST)
    got = backtest(cfg, model, rows, 1_700_000_000.0 + 60.0 * np.arange(1, 1501), tmp_path / "state")
    np.testing.assert_array_equal(got.score, np.array(expected))
    np.testing.assert_array_equal(got.feature_scores, np.array(expected_features))
    assert got.scored == 1500 - WARMUP + 1

    out = tmp_path / "out.csv"  # the CLI writes the same numbers (6 significant digits)
    live_config = tmp_path / "live.yml"  # as _cfg(): the seasonal default, not the fixture's "off"
    live_config.write_text(f"calibration:\n  warmup_samples: {WARMUP}\n")
    # as _cfg(); --input defaults to range
    assert run_backtest("--input", TINY_TEST, "--output", out, "--noise-floors", "units", config_file=live_config) == 0
    _, csv_rows = _read_csv(out)
    np.testing.assert_allclose(_scores(csv_rows, 1), got.score, rtol=1e-5)
    np.testing.assert_allclose(_scores(csv_rows, 3 + 37), got.feature_scores[:, 37], rtol=1e-5, atol=1e-12)


def test_without_calibration_the_scores_are_the_bundles(tmp_path: Path, model: LoadedModel) -> None:
    """calibration.enabled: false -> the bundle's own scaler and thresholds, as ``anomaly-agent score``."""
    rows = smd.load_rows(TINY_TEST)[:300]
    got = backtest(_cfg(enabled=False), model, rows, 60.0 * np.arange(300), tmp_path)
    offline = model.scorer.score_series(rows)
    assert np.isnan(got.score[: WINDOW - 1]).all()
    np.testing.assert_allclose(got.score, offline.score, rtol=1e-4)  # float32: batch of 1 vs many
    np.testing.assert_allclose(
        got.feature_scores[WINDOW - 1 :], offline.feature_scores[WINDOW - 1 :], rtol=1e-4, atol=1e-5
    )


def test_state_dir_keeps_the_calibration_across_runs(tmp_path: Path, run_backtest: Callable[..., int]) -> None:
    """A second run on the same state directory reuses the calibration, like a restarted agent."""
    args = ("--input", TINY_TEST, "--state-dir", tmp_path / "state")
    assert run_backtest(*args, "--output", tmp_path / "first.csv") == 0
    assert (tmp_path / "state" / "calibration.json").is_file()
    assert run_backtest(*args, "--output", tmp_path / "second.csv") == 0
    first, second = (_scores(_read_csv(tmp_path / f)[1], 1) for f in ("first.csv", "second.csv"))
    assert np.isnan(second[: WINDOW - 1]).all() and np.isfinite(second[WINDOW - 1 :]).all()
    # not equal to the first run's scores: the restart resumes from the first run's last daily recalibration
    assert not (tmp_path / "state" / "history").exists()  # no history unless asked
    assert run_backtest(*args, "--output", tmp_path / "third.csv", "--record-history") == 0
    assert len(list((tmp_path / "state" / "history").glob("history-*.txt"))) == 1
    # what was recorded replays to the same scores (fresh state: the warm-up again)
    history = tmp_path / "state" / "history"  # the rows recorded from --input are SMD rows: range floors
    assert run_backtest("--history", history, "--output", tmp_path / "replayed.csv", "--noise-floors", "range") == 0
    replayed = _scores(_read_csv(tmp_path / "replayed.csv")[1], 2)
    np.testing.assert_array_equal(replayed, first)


def _gzip_set(directory: Path, stem: str) -> None:
    for suffix in (".txt", ".ts", ".json"):
        p = directory / (stem + suffix)
        with open(p, "rb") as src, gzip.open(p.with_name(p.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        p.unlink()


def test_history_gap_resets_the_window(
    tmp_path: Path, run_backtest: Callable[..., int], model: LoadedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = smd.load_rows(TINY_TEST)[:400]
    gap_at = 250  # the row after a 10-minute gap (max 3 intervals of 60 s)
    ts = 1_700_000_000.0 + 60.0 * np.arange(400)
    ts[gap_at:] += 600.0
    hist = tmp_path / "history"
    # the agent's own writer: rotated file sets, an extra feature and an empty (unread) cell
    names = (*model.bundle.features, "extra")
    with HistoryWriter(hist, names, rows_per_file=150, interval=60.0, hostname="t") as w:
        for i, (r, t) in enumerate(zip(rows, ts)):
            values = np.append(r, 7.0)
            if i == 300:
                values[3] = np.nan
            w.append(values, t)
    stems = sorted(p.name[:-5] for p in hist.glob("history-*.json"))
    assert len(stems) == 3
    _gzip_set(hist, stems[0])  # an archived set

    out = tmp_path / "out.csv"
    assert run_backtest("--history", hist, "--output", out) == 0
    header, csv_rows = _read_csv(out)
    assert header == ["row", "timestamp", "score", "anomalous", *model.bundle.features]
    assert len(csv_rows) == 400
    np.testing.assert_allclose([float(r[1]) for r in csv_rows], ts)
    score = _scores(csv_rows, 2)
    assert np.isnan(score[: WARMUP - 1]).all() and np.isfinite(score[WARMUP - 1 : gap_at]).all()
    # after the gap the window refills: no score until WINDOW rows have been seen again
    assert np.isnan(score[gap_at : gap_at + WINDOW - 1]).all()
    assert np.isfinite(score[gap_at + WINDOW - 1 :]).all()
    assert "400 rows, " in capsys.readouterr().out


def test_labels_add_alert_figures(
    tmp_path: Path, run_backtest: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_backtest("--input", TINY_TEST, "--output", tmp_path / "o.csv", "--labels", TINY_LABELS) == 0
    line = capsys.readouterr().out
    assert "false alerts in" in line and "/day)" in line and "incidents alerted" in line and "median delay" in line


def _bad_smd(tmp_path: Path) -> Path:
    p = tmp_path / "bad.txt"
    p.write_text("0.1," * 37 + "0.2\n" + "0.1," * 37 + "oops\n")
    return p


def _narrow_smd(tmp_path: Path) -> Path:
    p = tmp_path / "narrow.txt"
    p.write_text("0.1,0.2,0.3\n" * 50)
    return p


def _bad_config(tmp_path: Path) -> Path:
    p = tmp_path / "bad.yml"
    p.write_text("sampling:\n  interval_seconds: -1\n")
    return p


def _empty_history(tmp_path: Path) -> Path:
    (tmp_path / "h").mkdir()
    return tmp_path / "h"


@pytest.mark.parametrize(
    "make_args, needle",
    [
        (lambda t: ["--input", str(t / "missing.txt")], "missing.txt"),
        (lambda t: ["--input", str(_bad_smd(t))], "bad.txt:2: non-numeric cell 'oops'"),
        (lambda t: ["--input", str(_narrow_smd(t))], "3 columns but the bundle expects 38 features"),
        (lambda t: ["--input", str(TINY_TEST), "--config.file", str(_bad_config(t))], "sampling.interval_seconds"),
        (lambda t: ["--input", str(TINY_TEST), "--labels", str(_narrow_smd(t))], "narrow.txt"),
        (lambda t: ["--input", str(TINY_TEST), "--labels", str(TINY / "meta.json")], "meta.json"),
        (lambda t: ["--history", str(t / "nowhere")], "history directory not found"),
        (lambda t: ["--history", str(_empty_history(t))], "no history-*.json file sets"),
    ],
    ids=[
        "missing",
        "bad-row",
        "feature-count",
        "bad-config",
        "labels-width",
        "labels-text",
        "no-history-dir",
        "empty-history",
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    tmp_path: Path, run_backtest: Callable[..., int], make_args, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_backtest("--output", tmp_path / "o.csv", *make_args(tmp_path), config_file=None)
    assert code == EXIT_CONFIG
    assert needle in capsys.readouterr().err


def test_history_with_other_features_is_refused(
    tmp_path: Path, run_backtest: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    with HistoryWriter(tmp_path / "h", ("cpu_r", "load_1"), interval=60.0, hostname="t") as w:
        w.append(np.array([0.1, 0.2]), 1_700_000_000.0)
    assert run_backtest("--history", tmp_path / "h", "--output", tmp_path / "o.csv", config_file=None) == EXIT_CONFIG
    assert "lacks 36 of the bundle's features (load_5" in capsys.readouterr().err


def test_input_and_history_are_exclusive(run_backtest: Callable[..., int]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_backtest("--input", "a", "--history", "b", "--output", "o.csv", config_file=None)
    assert exc.value.code == 2


def test_history_rows_parse_empty_cells_and_drop_a_torn_line() -> None:
    x = parse_rows("1,2,3\n4,,6\n7,8", 3, "h.txt")  # "7,8" has no newline: torn by a crash
    assert x.shape == (2, 3) and np.isnan(x[1, 1]) and x[1, 2] == 6
    np.testing.assert_array_equal(parse_rows("1,2\n3,4\n", 2, "h.txt"), [[1, 2], [3, 4]])
    with pytest.raises(smd.SMDFormatError, match=r"h.txt:2: expected 3 cells"):
        parse_rows("1,2,3\n4,5\n", 3, "h.txt")
    with pytest.raises(smd.SMDFormatError, match=r"h.txt:1: non-numeric"):
        parse_rows("1,x,3\n", 3, "h.txt")
    np.testing.assert_array_equal(parse_timestamps("1.5\n2.5\n3", "h.ts"), [1.5, 2.5])
    with pytest.raises(smd.SMDFormatError, match=r"h.ts:2: not a timestamp"):
        parse_timestamps("1\nnope\n", "h.ts")

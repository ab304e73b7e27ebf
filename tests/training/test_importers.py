"""training.importers: Prometheus (fake HTTP), CSV and NAB into the SMD layout, hand-checked values."""

from __future__ import annotations

import argparse
import io
import json
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.collect.features import SMD38_NAMES
from agent.history.smd import load_interpretation, load_labels, load_rows
from training import importers
from training.importers import (
    ImporterError,
    PrometheusAPI,
    build_queries,
    chunks,
    fetch_grid,
    fill_columns,
    import_csv,
    import_nab,
    import_prometheus,
    interpretation_lines,
    nab_probation,
    parse_duration,
    parse_time,
    rate_window,
    resample,
    sidecar_features,
)

N = np.nan


def main(argv: list[str]) -> int:
    """``anomaly-train`` with only this command registered (other commands may be under construction)."""
    parser = argparse.ArgumentParser(prog="anomaly-train")
    importers.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_durations_and_times() -> None:
    assert [parse_duration(s) for s in ("60s", "1m", "1h30m", "500ms", "90", "1d")] == [60, 60, 5400, 0.5, 90, 86400]
    for bad in ("", "1x", "-5s", "0", "5s3"):
        with pytest.raises(ImporterError):
            parse_duration(bad)
    assert parse_time("now-1h", now=10_000) == 6400 and parse_time("now", now=5.0) == 5.0
    assert parse_time("1700000000.5") == 1700000000.5
    assert parse_time("2024-01-01T00:00:00Z") == parse_time("2024-01-01 00:00:00") == 1704067200
    assert parse_time("2024-01-01T02:00:00+02:00") == 1704067200
    with pytest.raises(ImporterError, match="not a time"):
        parse_time("yesterday")


def test_rate_window_and_chunks() -> None:
    assert (rate_window(60, 15), rate_window(1, 1), rate_window(60, 60)) == (75, 4, 240)
    parts = chunks(0, 25000, 1)
    assert parts == [(0, 10000), (10000, 20000), (20000, 25001)]
    assert chunks(0, 59, 60) == [(0, 1)] and chunks(0, 120, 60) == [(0, 3)]
    with pytest.raises(ImporterError, match="empty time range"):
        chunks(10, 0, 1)


def test_queries_cover_smd38_and_quote_labels() -> None:
    q = build_queries('h"1:9100', 75, job="node")
    assert tuple(q) == SMD38_NAMES
    assert q["load_1"] == 'max(node_load1{instance="h\\"1:9100",job="node"})'
    assert q["si"] == 'sum(rate(node_vmstat_pswpin{instance="h\\"1:9100",job="node"}[75s]))'
    assert all("$" not in v for v in q.values())
    assert build_queries("h", 1.5)["in_segs"].endswith("[1500ms]))")


def test_fill_columns_hand_checked() -> None:
    x = np.array([[N, 1, N], [2, N, N], [N, N, N], [4, 5, N]])
    out, counts, empty = fill_columns(x)
    assert out.tolist() == [[2, 1, 0], [2, 1, 0], [2, 1, 0], [4, 5, 0]]
    assert counts == {0: 2, 1: 2} and empty == [2]


# --- a fake Prometheus HTTP API -------------------------------------------------------------------------
class FakeProm:
    """Answers query_range like Prometheus: series per query, points on the start + i*step grid."""

    def __init__(self, series: dict[str, Any], targets: list[dict] | None = None) -> None:
        self.series = series  # substring of the query -> f(t) (None = no data) or "error"
        self.targets = targets or []
        self.calls: list[dict[str, str]] = []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        parsed = urllib.parse.urlparse(url)
        p = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        if parsed.path.endswith("/targets"):
            return io.BytesIO(json.dumps({"status": "success", "data": {"activeTargets": self.targets}}).encode())
        self.calls.append(p)
        start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
        assert (end - start) / step + 1 <= 11000, "over Prometheus' points limit"
        f = next((fn for key, fn in self.series.items() if key in p["query"]), lambda t: 1.0)
        if f == "error":
            body = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})
            fp = io.BytesIO(body.encode())
            raise urllib.error.HTTPError(url, 400, "Bad Request", {}, fp)  # type: ignore[arg-type]
        ts = np.arange(start, end + step / 2, step)
        values = [[t, str(f(t))] for t in ts if f(t) is not None]
        result = [{"metric": {}, "values": values}] if values else []
        doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return io.BytesIO(json.dumps(doc).encode())


def test_fetch_grid_chunks_and_places_points() -> None:
    fake = FakeProm({"a": lambda t: t * 2, "b": lambda t: None if 100 <= t < 103 else 7})
    ts, v = fetch_grid(PrometheusAPI("http://p", urlopen=fake), {"x": "a", "y": "b"}, 0.0, 25000.0, 1.0)
    assert len(ts) == 25001 and ts[-1] == 25000
    assert len(fake.calls) == 6  # 3 chunks x 2 queries
    assert np.array_equal(v[:, 0], 2 * ts)
    assert np.isnan(v[100:103, 1]).all() and not np.isnan(v[:100, 1]).any()


def test_import_prometheus_writes_smd38_with_missing_and_filled(tmp_path: Path) -> None:
    fake = FakeProm(
        {
            "node_load1{": lambda t: t / 60,
            "TCPTimeouts": lambda t: None,
            "node_memory_MemTotal": lambda t: 8e9,
            "node_sockstat_TCP_tw": lambda t: None if t == 1_000_060 else 3,
        },
        targets=[{"labels": {"instance": "h:9100"}, "scrapeInterval": "15s"}],
    )
    res = import_prometheus(
        PrometheusAPI("http://p/", urlopen=fake), "h:9100", 1_000_000, 1_000_300, 60, tmp_path, "host"
    )
    x = load_rows(tmp_path / "train" / "host.txt", n_cols=38)
    col = dict(zip(SMD38_NAMES, x.T))
    assert x.shape == (6, 38)
    assert col["load_1"].tolist() == [(1_000_000 + 60 * i) / 60 for i in range(6)]
    assert col["total_mem"].tolist() == [8e9] * 6  # written as 8000000000, read back exactly
    assert col["tcp_timeouts"].tolist() == [0] * 6 and res.missing == ("tcp_timeouts",)
    assert col["tcp_tw"].tolist() == [3] * 6 and res.filled == {"tcp_tw": 1}
    meta = json.loads((tmp_path / "train" / "host.json").read_text())
    assert meta["timestamps"] == {"start": 1_000_000, "step": 60, "count": 6}
    assert meta["source"]["scrape_interval"] == 15 and meta["source"]["rate_window"] == 75
    assert meta["missing"] == ["tcp_timeouts"] and meta["mapping"]["load_1"] == 'max(node_load1{instance="h:9100"})'
    assert sidecar_features(tmp_path, "host") == SMD38_NAMES
    assert all("[75s]" in c["query"] for c in fake.calls if "rate(" in c["query"])


def test_import_prometheus_errors(tmp_path: Path) -> None:
    api = PrometheusAPI("http://p", urlopen=FakeProm({"node_load1": "error"}))
    with pytest.raises(ImporterError, match="bad_data: parse error at char 3"):
        import_prometheus(api, "h", 0, 60, 60, tmp_path, "m", scrape_interval=15)
    nothing = PrometheusAPI("http://p", urlopen=FakeProm({"": lambda t: None}))
    with pytest.raises(ImporterError, match="no node_exporter data for instance='h'"):
        import_prometheus(nothing, "h", 0, 60, 60, tmp_path, "m", scrape_interval=15)

    def refuse(url: str, timeout: float) -> None:
        raise urllib.error.URLError("Connection refused")

    with pytest.raises(ImporterError, match="cannot query Prometheus at http://p"):
        PrometheusAPI("http://p", urlopen=refuse).query_range("up", 0, 1, 1)


# --- CSV ------------------------------------------------------------------------------------------------
CSV = """ts,a,b,c
2024-01-01T00:00:30Z,5,,x1
2024-01-01T00:00:00Z,1,10,x2
2024-01-01T00:01:10Z,2,20,x3
2024-01-01T00:04:00Z,4,NaN,x4
2024-01-01T00:04:59Z,6,60,x5
"""


def test_resample_means_per_bin() -> None:
    t = np.array([0, 30, 70, 240, 299.0])
    x = np.array([[1, 10], [5, N], [2, 20], [4, N], [6, 60]])
    grid, v = resample(t, x, 60)
    assert grid.tolist() == [0, 60, 120, 180, 240]
    assert np.array_equal(v, [[3, 10], [2, 20], [N, N], [N, N], [5, 60]], equal_nan=True)


def test_import_csv_hand_checked(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(CSV)
    rc = main(
        [
            "import",
            "csv",
            "--input",
            str(src),
            "--time-column",
            "ts",
            "--out",
            str(tmp_path / "out"),
            "--machine",
            "web1",
            "--interval",
            "1m",
            "--columns",
            "b,a",
        ]
    )
    assert rc == 0
    x = load_rows(tmp_path / "out" / "train" / "web1.txt")
    # bins 00:00 (rows 0s, 30s), 00:01, 00:02 + 00:03 empty (forward-filled), 00:04 (b: NaN and 60 -> 60)
    assert x.tolist() == [[10, 3], [20, 2], [20, 2], [20, 2], [60, 5]]
    meta = json.loads((tmp_path / "out" / "train" / "web1.json").read_text())
    assert meta["features"] == ["b", "a"] and meta["timestamps"] == {"start": 1704067200, "step": 60, "count": 5}
    assert meta["gaps"] == [{"start": 1704067320, "rows": 2}]
    assert meta["filled_cells"] == {"b": 2, "a": 2}
    assert sidecar_features(tmp_path / "out", "web1") == ("b", "a")


def test_import_csv_refuses_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(CSV)
    with pytest.raises(ImporterError, match=r"in.csv:2: column 'c': not a number: 'x1'"):
        import_csv(src, "ts", tmp_path, "m", columns=["a", "c"])
    with pytest.raises(ImporterError, match="no time column 'time'"):
        import_csv(src, "time", tmp_path, "m")
    with pytest.raises(ImporterError, match=r"columns \['zz'\] not found"):
        import_csv(src, "ts", tmp_path, "m", columns=["zz"])
    src.write_text("ts,a\n0,\n60,inf\n")  # Inf is a gap like NaN: SMD rows are finite
    with pytest.raises(ImporterError, match="hold no number at all"):
        import_csv(src, "ts", tmp_path, "m")
    src.write_text("ts,a\n0,1\nlater,2\n")
    with pytest.raises(ImporterError, match=r"in.csv:3: column 'ts': not a time: 'later'"):
        import_csv(src, "ts", tmp_path, "m")


# --- NAB ------------------------------------------------------------------------------------------------
def make_nab(root: Path, n: int = 40) -> str:
    rel = "realKnownCause/tiny_failure.csv"
    data = root / "data" / rel
    data.parent.mkdir(parents=True)
    t0 = np.datetime64("2014-04-01T00:00:00")
    lines = ["timestamp,value"] + [
        f"{str(t0 + np.timedelta64(5 * i, 'm')).replace('T', ' ')},{i * 1.5}" for i in range(n)
    ]
    data.write_text("\n".join(lines) + "\n")
    (root / "labels").mkdir()
    windows = {
        rel: [
            ["2014-04-01 01:40:00.000000", "2014-04-01 02:00:00.000000"],  # rows 20..24
            ["2014-04-01 03:10:00.000000", "2014-04-01 03:15:00.000000"],
        ]
    }  # rows 38, 39
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return rel


def test_nab_probation_is_nabs() -> None:
    assert [nab_probation(n) for n in (40, 1000, 4000, 5000, 22695)] == [6, 150, 600, 750, 750]


def test_import_nab_hand_checked(tmp_path: Path) -> None:
    rel = make_nab(tmp_path / "NAB")
    out = tmp_path / "smd"
    rc = main(["import", "nab", "--data", str(tmp_path / "NAB"), "--file", rel, "--out", str(out)])
    assert rc == 0
    train = load_rows(out / "train" / "tiny_failure.txt")
    test = load_rows(out / "test" / "tiny_failure.txt")
    assert train[:, 0].tolist() == [i * 1.5 for i in range(6)]  # floor(0.15 * 40) = 6 probation rows
    assert test[:, 0].tolist() == [i * 1.5 for i in range(6, 40)]
    labels = load_labels(out / "test_label" / "tiny_failure.txt", len(test))
    assert np.flatnonzero(labels).tolist() == [14, 15, 16, 17, 18, 32, 33]  # rows 20..24, 38, 39 minus 6
    spans = load_interpretation(out / "interpretation_label" / "tiny_failure.txt")
    assert [(s.start, s.end, s.dims) for s in spans] == [(14, 19, (0,)), (32, 34, (0,))]
    meta = json.loads((out / "train" / "tiny_failure.json").read_text())
    assert meta["features"] == ["value"] and meta["splits"]["train_rows"] == 6
    assert meta["timestamps"]["step"] == 300 and meta["timestamps"]["regular"] is True


def test_import_nab_unknown_file(tmp_path: Path) -> None:
    make_nab(tmp_path / "NAB")
    (tmp_path / "NAB" / "data" / "other.csv").write_text("timestamp,value\n2014-04-01 00:00:00,1\n")
    with pytest.raises(ImporterError, match="no windows for 'other.csv'"):
        import_nab(tmp_path / "NAB", "other.csv", tmp_path / "NAB" / "labels" / "combined_windows.json", tmp_path)


def test_interpretation_lines() -> None:
    assert interpretation_lines(np.array([0, 1, 1, 0, 0, 1])) == "1-3:1\n5-6:1\n"
    assert interpretation_lines(np.zeros(4)) == ""

"""The benchmark suite: pure helpers on hand-computed cases, and one quick end-to-end run.

The end-to-end test runs ``python -m bench --quick --only cycle_cpu,scrape``
into a temporary directory (never over the committed results) with the
shipped default bundle, and checks the JSON documents and ``summary.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import BENCHMARKS
from bench.common import dist, format_table, ratio, sample_value, spread
from bench.machine import busy_note
from bench.procmem import proc_mem
from bench.summary import render

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = ROOT / "models" / "default"


def test_dist_percentiles_on_a_known_sample() -> None:
    d = dist(range(1, 101))  # 1..100
    assert d["n"] == 100 and d["min"] == 1 and d["max"] == 100
    assert d["p50"] == pytest.approx(50.5)
    assert d["p99"] == pytest.approx(99.01)
    assert d["mean"] == pytest.approx(50.5)
    assert dist([]) == {"n": 0}


def test_spread_and_ratio() -> None:
    assert spread([3.0, 1.0, 2.0]) == {"n": 3, "min": 1.0, "median": 2.0, "max": 3.0}
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None and ratio(None, 2.0) is None


def test_sample_value_ignores_labelled_and_prefixed_names() -> None:
    text = (
        "# HELP host_anomaly_score x\nhost_anomaly_score_total 9\n"
        'host_anomaly_score{a="b"} 7\nhost_anomaly_score 0.25\n'
    )
    assert sample_value(text, "host_anomaly_score") == 0.25
    assert sample_value(text, "host_anomaly_missing") is None


def test_proc_mem_reads_this_process() -> None:
    m = proc_mem()
    assert 1 < m["VmRSS"] < 10_000
    assert m["RssAnon"] + m["RssFile"] == pytest.approx(m["VmRSS"], abs=m.get("RssShmem", 0) + 0.01)
    assert m["Threads"] >= 1


def test_busy_note_only_when_loaded() -> None:
    assert busy_note((0.1, 0, 0), (0.2, 0, 0)) is None
    assert "noisy" in (busy_note((50.0, 0, 0), (0.2, 0, 0)) or "")


def test_format_table_aligns_columns() -> None:
    out = format_table([{"a": 1.23456, "b": "x"}, {"a": 1234.5, "c": None}], "T")
    lines = out.splitlines()
    assert lines[0] == "T"
    assert lines[1].split() == ["a", "b", "c"]
    assert lines[3].split() == ["1.23", "x", "-"]
    assert lines[4].split() == ["1234", "-", "-"] or lines[4].split()[0] == "1234"


def test_summary_render_marks_missed_targets() -> None:
    doc = {
        "benchmark": "memory",
        "quick": False,
        "date": "2026-01-01T00:00:00+00:00",
        "default_bundle": "d",
        "machine": {"cpu": "X", "cores": 2, "kernel": "6", "python": "3.11", "numpy": "2", "ai_edge_litert": "2"},
        "summary": [
            {"metric": "rss", "value": 70.0, "unit": "MB", "target": "<= 60", "met": False},
            {"metric": "growth", "value": 0.1, "unit": "MB", "target": "<= 1", "met": True},
        ],
        "notes": ["n1"],
    }
    md = render([doc])
    assert "| memory | rss | 70.00 | MB | - | - | <= 60 | **no** |" in md
    assert "| memory | growth | 0.1 | MB | - | - | <= 1 | yes |" in md
    assert "- memory: n1" in md


def test_every_benchmark_module_has_the_interface() -> None:
    import importlib

    for name, module in BENCHMARKS.items():
        mod = importlib.import_module(f"bench.{module}")
        assert name == mod.NAME and mod.TITLE and callable(mod.run)


@pytest.mark.skipif(
    not (DEFAULT_BUNDLE / "bundle.json").exists(),
    reason="models/default (the shipped bundle, produced by anomaly-train fit) is not there yet",
)
def test_quick_run_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "cycle_cpu,scrape",
            "--out-dir",
            str(tmp_path),
            "--bundle",
            str(DEFAULT_BUNDLE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for name in ("cycle_cpu", "scrape"):
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        assert doc["benchmark"] == name and doc["quick"] is True
        for key in ("cpu", "cores", "kernel", "python", "numpy", "ai_edge_litert"):
            assert doc["machine"][key], key
        assert doc["date"].endswith("+00:00")
        assert doc["summary"] and all({"metric", "value", "unit"} <= set(r) for r in doc["summary"])
        assert all(isinstance(r["value"], (int, float)) for r in doc["summary"])
        assert isinstance(doc["results"], dict) and isinstance(doc["notes"], list)
        assert f"== {name}:" in proc.stdout
    cyc = json.loads((tmp_path / "cycle_cpu.json").read_text())["results"]["split"]["cpu_ms"]
    assert set(cyc) == {"collect", "score", "publish", "render"}
    assert all(0 < cyc[s]["p50"] <= cyc[s]["p99"] for s in cyc)
    scrape = json.loads((tmp_path / "scrape.json").read_text())["results"]["agent"]
    assert scrape["sequential"]["requests"] > 0 and scrape["concurrent"]["requests"] > 0
    md = (tmp_path / "summary.md").read_text()
    assert "| cycle_cpu (quick) |" in md and "| scrape (quick) |" in md

"""bench.frontier: one ``--quick`` run end to end writes the pooled frontier of each candidate."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_module


def test_quick_run_writes_every_candidates_frontier_and_ranking(tmp_path: Path) -> None:
    out = tmp_path / "frontier.json"
    proc = run_module("bench.frontier", "--quick", "--candidates", "shipped,metric5", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["kind"] == "frontier" and doc["protocol"]["budget_fa_per_host_day"] == 0.2
    assert set(doc["hosts"]) == {"units-1", "seasonal-1"}
    assert {r["candidate"] for r in doc["ranking"]} >= {"shipped", "metric5"}
    for c in ("shipped", "metric5"):
        fr = doc["candidates"][c]["frontier"]
        assert len(fr["multipliers"]) == len(fr["fa_per_host_day"]) == len(fr["long_alerted_share"]) > 10
        assert all(f >= 0 for f in fr["fa_per_host_day"]) and fr["fa_per_host_day"][0] >= fr["fa_per_host_day"][-1]
    bad = run_module("bench.frontier", "--candidates", "nope")
    assert bad.returncode == 2 and "unknown nope" in bad.stderr

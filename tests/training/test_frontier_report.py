"""training.frontier_report: the frontier JSON as a table, a figure, a report section and `evaluate --frontier`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from training.cli import main
from training.frontier_report import ranking_rows, ranking_text, section_frontier


def doc() -> dict[str, Any]:
    curve = {"multiplier": [1.0, 2.0], "fa_per_host_day": [0.5, 0.1], "long_alerted_share": [0.6, 0.4]}
    chosen = {"multiplier": 2.0, "fa_per_host_day": 0.1, "long_alerted_share": 0.4}
    row = {
        "multiplier": 2.0,
        "long_alerted": 0.4,
        "all_alerted": 0.3,
        "fa_per_host_day": 0.1,
        "worst_host": 0.2,
        "median_delay": 4.0,
        "at_1_long_alerted": 0.6,
        "at_1_fa": 0.5,
    }
    return {
        "protocol": {"budget_fa_per_host_day": 0.2, "host_ceiling_fa_per_day": 0.5},
        "hosts": {"a": {}, "b": {}},
        "ranking": [{"candidate": "metric5", **row}, {"candidate": "metric5+critical", **row}],
        "candidates": {"metric5": {"frontier": curve, "chosen": chosen}, "metric5+critical": {"frontier": curve}},
    }


def test_rows_skip_the_rule_variants_unless_asked_and_the_text_names_the_protocol() -> None:
    assert [r[0] for r in ranking_rows(doc())] == ["metric5"]
    assert len(ranking_rows(doc(), rules=True)) == 2
    text = ranking_text(doc())
    assert "2 held-out hosts" in text and "<= 0.2" in text and "0.6 @ 0.5/day" in text


def test_the_report_section_draws_only_with_a_frontier() -> None:
    assert section_frontier(SimpleNamespace(frontier=None)) is None  # type: ignore[arg-type]
    s = section_frontier(SimpleNamespace(frontier=doc()))  # type: ignore[arg-type]
    assert s is not None and s.key == "frontier" and "metric5" in s.text
    assert any(not isinstance(b, str) for b in s.blocks)  # the figure


def test_evaluate_frontier_prints_the_table_and_writes_the_figure(tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "frontier.json"
    src.write_text(json.dumps(doc()))
    png = tmp_path / "frontier.png"
    assert main(["evaluate", "--frontier", str(src), "--frontier-plot", str(png)]) == 0
    assert "metric5" in capsys.readouterr().out and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate"]) == 2  # neither --data nor --frontier: a clear error

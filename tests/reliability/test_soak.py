"""The soak (bench/soak.py) in its short form: nothing grows after warm-up.

``SOAK_CYCLES`` replay cycles (default 20,000) and a tenth of that on the
live collector (at least 2,000), scraped throughout.  After warm-up, resident
memory may grow by at most 1 MB and descriptors and threads stay within 2.
The figures go to ``bench/results/soak.json`` and are printed.  The full form
is ``SOAK_CYCLES=100000`` (or ``python -m bench.soak``).
"""

from __future__ import annotations

import os

import pytest

from bench.soak import RESULTS, format_table, run_soak


@pytest.mark.slow
def test_soak_nothing_grows() -> None:
    replay = int(os.environ.get("SOAK_CYCLES", "20000"))
    live = max(2000, replay // 10)
    doc = run_soak(replay, live, RESULTS / "soak.json")
    print("\n" + format_table(doc))
    for r in doc["results"]:
        assert r["scrape_errors"] == 0 and r["scoring_errors"] == 0, r
        assert r["growth"]["rss_kb"] <= 1024, r
        assert abs(r["growth"]["fds"]) <= 2 and abs(r["growth"]["threads"]) <= 2, r
    assert doc["passed"]

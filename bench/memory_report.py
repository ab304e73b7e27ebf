"""The memory benchmark's figures: repeated runs aggregated, the table, and the summary against the targets.

:func:`aggregate` reduces the runs of one agent configuration (replay or live,
per model) to min/median/max of RSS, PSS, anonymous and file-backed memory,
growth after warm-up, its slope over cycles, threads and cycles per second;
:func:`memory_report` lays the configurations out next to the
``prometheus-node-exporter`` reference and judges the default model against
``RSS_TARGET_MB`` after warm-up and every run against ``GROWTH_TARGET_MB``.
Measuring is :mod:`bench.memory`.
"""

from __future__ import annotations

from typing import Any

from bench.common import Report, ratio, spread

RSS_TARGET_MB = 60.0
GROWTH_TARGET_MB = 1.0


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max over repeated runs of one configuration (:func:`bench.memory.watch` documents)."""
    return {
        "rss_warm_mb": spread(r["warm"]["VmRSS"] for r in runs),
        "rss_end_mb": spread(r["end"]["VmRSS"] for r in runs),
        "pss_end_mb": spread(r["end"].get("Pss", 0) for r in runs),
        "anon_end_mb": spread(r["end"]["RssAnon"] for r in runs),
        "file_end_mb": spread(r["end"]["RssFile"] for r in runs),
        "growth_mb": spread(r["growth_mb"] for r in runs),
        "slope_mb_per_10k": spread(r["slope_mb_per_10k_cycles"] for r in runs),
        "threads": spread(r["end"].get("Threads", 0) for r in runs),
        "cycles_per_second": spread(r["cycles_per_second"] for r in runs),
    }


LABELS = {
    "replay": "replay",
    "run": "live run, calibrating + history",
    "run-nocal": "live run, calibration off, history on",
}


def memory_report(results: dict[str, Any], notes: list[str], params: dict[str, Any]) -> Report:
    """The memory benchmark's :class:`bench.common.Report`: a table row per process, the summary against targets."""
    ne = results["node_exporter"]
    ne_rss = ne["rss_mb"]["median"] if ne else None
    ne_pss = ne["pss_mb"]["median"] if ne else None
    table, summary = [], []
    for key, a in results["agent"].items():
        table.append(
            {
                "process": f"agent {key}",
                "RSS warm MB": a["rss_warm_mb"]["median"],
                "RSS end MB": a["rss_end_mb"]["median"],
                "PSS end MB": a["pss_end_mb"]["median"],
                "anon MB": a["anon_end_mb"]["median"],
                "file MB": a["file_end_mb"]["median"],
                "growth MB (max)": a["growth_mb"]["max"],
                "MB/10k cycles": a["slope_mb_per_10k"]["median"],
                "threads": a["threads"]["median"],
                "cycles/s": a["cycles_per_second"]["median"],
                "runs": a["rss_end_mb"]["n"],
            }
        )
        kind, label = key.split(":", 1)
        what = f"{label} model, {LABELS.get(kind, kind)}"
        default = label == "default"
        summary.append(
            {
                "metric": f"agent RSS after warm-up ({what})",
                "value": a["rss_warm_mb"]["median"],
                "unit": "MB",
                "reference": ne_rss,
                "ratio": ratio(a["rss_warm_mb"]["median"], ne_rss),
                **(
                    {"target": f"<= {RSS_TARGET_MB:g}", "met": a["rss_warm_mb"]["max"] <= RSS_TARGET_MB}
                    if default
                    else {}
                ),
            }
        )
        if default:
            summary.append(
                {
                    "metric": f"agent PSS at end ({what})",
                    "value": a["pss_end_mb"]["median"],
                    "unit": "MB",
                    "reference": ne_pss,
                    "ratio": ratio(a["pss_end_mb"]["median"], ne_pss),
                }
            )
    if results["agent"]:
        worst = max(results["agent"].items(), key=lambda kv: kv[1]["growth_mb"]["max"])
        n = sum(a["growth_mb"]["n"] for a in results["agent"].values())
        summary.append(
            {
                "metric": f"agent RSS growth warm-up -> +{params['cycles']} cycles, worst of {n} runs ({worst[0]})",
                "value": worst[1]["growth_mb"]["max"],
                "unit": "MB",
                "target": f"<= {GROWTH_TARGET_MB:g}",
                "met": worst[1]["growth_mb"]["max"] <= GROWTH_TARGET_MB,
            }
        )
    if ne:
        table.append(
            {
                "process": "prometheus-node-exporter",
                "RSS warm MB": ne["runs"][0]["before_scrapes"]["VmRSS"],
                "RSS end MB": ne_rss,
                "PSS end MB": ne_pss,
                "anon MB": ne["runs"][0]["end"]["RssAnon"],
                "file MB": ne["runs"][0]["end"]["RssFile"],
                "threads": ne["runs"][0]["end"].get("Threads"),
                "runs": ne["rss_mb"]["n"],
            }
        )
        summary.append({"metric": "node_exporter RSS after scrapes (reference)", "value": ne_rss, "unit": "MB"})
    notes.append(
        "RSS counts shared-library pages (RssFile) in full; PSS splits them between the processes mapping "
        "them. 'warm' = after the warm-up cycles; replay holds the whole demo test file in memory "
        "(see startup_steps: ReplaySource), the live 'run' path does not"
    )
    return Report(params=params, results=results, summary=summary, table=table, notes=notes)

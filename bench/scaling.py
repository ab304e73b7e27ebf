"""Scaling benchmark: memory and time per cycle as features (38 -> 128 -> 512) and window (30 -> 120) grow.

Untrained dense and conv_bigru autoencoders of each shape are built with
``training.models.build_model`` and converted with ``training.convert`` in a
TensorFlow subprocess (:mod:`bench.scaling_models`, cached under /tmp).  Each
bundle is then measured in a fresh agent-only interpreter
(:mod:`bench.agent_worker` ``scale``): RSS before and after ``load_model`` and
after the scored cycles, and per-cycle CPU of ``Scorer.score_window`` plus one
render of the agent's collector (so label cardinality, 2 series per feature,
shows up too).  Reference: the 38-feature, 30-step model of the same
architecture.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, Context, Report, dist, ratio

NAME = "scaling"
TITLE = "Scaling: features 38/128/512 x window 30/120 -> RSS and per-cycle time (untrained models)"
FEATURES = (38, 128, 512)
WINDOWS = (30, 120)
ARCHS = ("dense", "conv_bigru")
log = logging.getLogger(__name__)


def ensure_models(out: Path, specs: list[tuple[str, int, int]]) -> list[str]:
    """Build the missing bundles in one TensorFlow subprocess; returns notes on failures."""
    from bench.scaling_models import bundle_dir

    todo = [f"{a}:{f}:{w}" for a, f, w in specs if not (bundle_dir(out, a, f, w) / "bundle.json").exists()]
    if not todo:
        return []
    log.info("building %d scaling bundles (TensorFlow subprocess): %s", len(todo), " ".join(todo))
    proc = subprocess.run(
        [PY, "-m", "bench.scaling_models", str(out), *todo],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3 * 3600,
        env=_env(),
    )
    if proc.returncode != 0:
        return [f"building scaling bundles failed: {proc.stderr.strip()[-400:]}"]
    return []


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def measure(bundle: Path, repeats: int) -> dict[str, Any]:
    proc = subprocess.run(
        [PY, "-m", "bench.agent_worker", "scale", str(bundle), "--repeats", str(repeats)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"agent_worker scale {bundle.name} failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


SUMMARY_SHAPES = ((512, 30), (38, 120), (512, 120))  # the summary keeps the extremes; the JSON has every shape


def summarize(
    results: dict[str, Any], shapes: tuple[tuple[int, int], ...] | None = SUMMARY_SHAPES
) -> list[dict[str, Any]]:
    """Summary rows (RSS and cycle CPU vs the 38 x 30 model) for ``shapes`` (None: all but the reference)."""
    rows = []
    for r in results.values():
        ref = results.get(f"{r['arch']}-f38-w30")
        shape = (r["features"], r["window"])
        shape_ok = shape != (38, 30) if shapes is None else shape in shapes
        if ref is None or not shape_ok:
            continue
        name = f"{r['arch']} {r['features']} features x {r['window']} steps"
        rows.append(
            {
                "metric": f"{name}: RSS after scoring",
                "value": r["rss_after_mb"],
                "unit": "MB",
                "reference": ref["rss_after_mb"],
                "ratio": ratio(r["rss_after_mb"], ref["rss_after_mb"]),
            }
        )
        rows.append(
            {
                "metric": f"{name}: cycle CPU p50 (score + render)",
                "value": round(r["cycle_cpu_us"]["p50"] / 1e3, 3),
                "unit": "ms",
                "reference": round(ref["cycle_cpu_us"]["p50"] / 1e3, 3),
                "ratio": ratio(r["cycle_cpu_us"]["p50"], ref["cycle_cpu_us"]["p50"]),
            }
        )
    return rows


def run(ctx: Context) -> Report:
    from bench.scaling_models import bundle_dir

    feats = (38, 128) if ctx.quick else FEATURES
    wins = (30,) if ctx.quick else WINDOWS
    archs = ("dense",) if ctx.quick else ARCHS
    repeats = 50 if ctx.quick else 300
    out = ctx.cache / "scaling"
    specs = [(a, f, w) for a in archs for w in wins for f in feats]
    notes = ensure_models(out, specs)
    results: dict[str, Any] = {}
    for a, f, w in specs:
        path = bundle_dir(out, a, f, w)
        if not (path / "bundle.json").exists():
            continue
        try:
            d = measure(path, repeats)
        except RuntimeError as exc:
            notes.append(str(exc))
            continue
        results[f"{a}-f{f}-w{w}"] = {
            "arch": a,
            "features": f,
            "window": w,
            "model_bytes": d["model_bytes"],
            "load_ms": round(d["load_seconds"] * 1e3, 2),
            "rss_before_load_mb": d["rss_before_load"]["VmRSS"],
            "rss_loaded_mb": d["rss_loaded"]["VmRSS"],
            "rss_after_mb": d["rss_after"]["VmRSS"],
            "pss_after_mb": d["rss_after"].get("Pss"),
            "model_rss_mb": round(d["rss_after"]["VmRSS"] - d["rss_before_load"]["VmRSS"], 2),
            "score_us": dist(d["score_us"], 1),
            "render_us": dist(d["render_us"], 1),
            "cycle_cpu_us": dist(d["cycle_cpu_us"], 1),
            "render_bytes": d["render_bytes"],
        }
    table = []
    for r in results.values():
        ref = results.get(f"{r['arch']}-f38-w30")
        r["ratio_vs_f38_w30"] = {
            "rss": ratio(r["rss_after_mb"], ref["rss_after_mb"]) if ref else None,
            "cycle_cpu_p50": ratio(r["cycle_cpu_us"]["p50"], ref["cycle_cpu_us"]["p50"]) if ref else None,
        }
    summary = summarize(results, None if ctx.quick else SUMMARY_SHAPES)
    for key, r in results.items():
        table.append(
            {
                "model": key,
                "model KiB": round(r["model_bytes"] / 1024),
                "RSS MB": r["rss_after_mb"],
                "model+buffers MB": r["model_rss_mb"],
                "score p50 µs": r["score_us"]["p50"],
                "score p99 µs": r["score_us"]["p99"],
                "render p50 µs": r["render_us"]["p50"],
                "cycle CPU p50 µs": r["cycle_cpu_us"]["p50"],
                "x RSS": r["ratio_vs_f38_w30"]["rss"],
                "x cycle": r["ratio_vs_f38_w30"]["cycle_cpu_p50"],
            }
        )
    notes.append(
        "reference = the same architecture at 38 features x 30 steps (the shipped shape); untrained "
        "weights; 'model+buffers' = RSS after the cycles minus RSS after importing the agent and the "
        "interpreter module; "
        "cycles back to back (warm caches)"
    )
    return Report(
        params={"features": list(feats), "windows": list(wins), "archs": list(archs), "repeats": repeats},
        results=results,
        summary=summary,
        table=table,
        notes=notes,
    )

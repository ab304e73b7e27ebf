"""Inference benchmark: per-window time and model load time, ai-edge-litert vs tflite-runtime.

Both runtimes run the same standalone worker (:mod:`bench.tflite_worker`) on the
same .tflite files, pinned to CPU 0 with one interpreter thread.  tflite-runtime
2.14 (its last release) needs numpy < 2 and Python <= 3.11, so it lives in a
side venv (``/tmp/bench-tflite-venv``), created on first use.  Rounds alternate
the runtimes so that drifting background load hits both alike.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from bench.bundles import trained
from bench.common import ARCHS, PY, ROOT, TFLITE_VENV, Context, Report, dist, ratio, spread

NAME = "inference"
TITLE = "Per-window inference and model load: ai-edge-litert vs tflite-runtime (1 thread, CPU 0)"
WORKER = Path(__file__).resolve().parent / "tflite_worker.py"
log = logging.getLogger(__name__)


def ensure_tflite_venv(venv: Path = TFLITE_VENV) -> tuple[Path | None, str | None]:
    """The side venv's python, creating it if needed; (None, reason) when that is impossible."""
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import tflite_runtime.interpreter"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py, None
    base = shutil.which("python3.11") or shutil.which("python3")
    if base is None:
        return None, "no python3 to build the tflite-runtime venv"
    ver = subprocess.run(
        [base, "-c", "import sys; print(sys.version_info[:2] <= (3, 11))"], capture_output=True, text=True
    ).stdout.strip()
    if ver != "True":
        return None, f"{base} is newer than 3.11: tflite-runtime 2.14 has no wheel for it"
    log.info("creating %s with tflite-runtime 2.14.0 and numpy<2", venv)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(py), "-m", "pip", "install", "--quiet", "tflite-runtime==2.14.0", "numpy<2"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            return None, f"{' '.join(cmd[:4])} failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return py, None


def run_worker(python: Path | str, runtime: str, model: Path, loads: int, repeats: int) -> dict[str, Any]:
    proc = subprocess.run(
        [str(python), str(WORKER), runtime, str(model), "--loads", str(loads), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{runtime} worker failed on {model}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> Report:
    rounds, loads, repeats = (1, 5, 300) if ctx.quick else (3, 20, 2000)
    tfl_py, why = ensure_tflite_venv()
    runtimes: list[tuple[str, Path | str]] = [("ai_edge_litert", PY)]
    notes = []
    if tfl_py is not None:
        runtimes.append(("tflite_runtime", tfl_py))
    else:
        notes.append(f"tflite-runtime not measured: {why}")
    archs = ("dense",) if ctx.quick else ARCHS
    results: dict[str, Any] = {}
    table, summary = [], []
    for arch in archs:
        model = trained(arch, 1, ctx.cache) / "model.tflite"
        raw: dict[str, dict[str, list[Any]]] = {
            rt: {
                "invoke": [],
                "load": [],
                "p50s": [],
                "import": [],
                "sum": [],
                "rss_import": [],
                "rss_load": [],
                "rss_end": [],
            }
            for rt, _ in runtimes
        }
        meta: dict[str, Any] = {}
        for r in range(rounds):
            order = runtimes if r % 2 == 0 else runtimes[::-1]
            for rt, py in order:
                d = run_worker(py, rt, model, loads, repeats)
                raw[rt]["invoke"] += d["invoke_us"]
                raw[rt]["load"] += d["load_ms"][1:] or d["load_ms"]  # the first load also pages the file in
                raw[rt]["p50s"].append(float(np.median(d["invoke_us"])))
                raw[rt]["import"].append(d["import_ms"])
                raw[rt]["sum"].append(d["output_sum"])
                raw[rt]["rss_import"].append(d["rss_mb"]["interpreter_import"] - d["rss_mb"]["numpy"])
                raw[rt]["rss_load"].append(d["rss_mb"]["first_load"] - d["rss_mb"]["interpreter_import"])
                raw[rt]["rss_end"].append(d["rss_mb"]["end"])
                meta[rt] = {"version": d["version"], "numpy": d["numpy"], "input_shape": d["input_shape"]}
        res: dict[str, Any] = {"model_bytes": model.stat().st_size}
        for rt, _ in runtimes:
            res[rt] = {
                **meta[rt],
                "invoke_us": dist(raw[rt]["invoke"], 2),
                "round_p50_us": spread(raw[rt]["p50s"], 2),
                "load_ms": dist(raw[rt]["load"], 3),
                "import_ms": spread(raw[rt]["import"], 1),
                "import_rss_mb": spread(raw[rt]["rss_import"], 2),
                "load_rss_mb": spread(raw[rt]["rss_load"], 2),
                "process_rss_mb": spread(raw[rt]["rss_end"], 2),
            }
        if len(runtimes) == 2:
            a, b = res["ai_edge_litert"], res["tflite_runtime"]
            res["ratio_litert_over_tflite"] = {
                "invoke_p50": ratio(a["invoke_us"]["p50"], b["invoke_us"]["p50"]),
                "invoke_p99": ratio(a["invoke_us"]["p99"], b["invoke_us"]["p99"]),
                "load_p50": ratio(a["load_ms"]["p50"], b["load_ms"]["p50"]),
            }
            sa, sb = raw["ai_edge_litert"]["sum"][0], raw["tflite_runtime"]["sum"][0]
            res["output_sum_rel_diff"] = abs(sa - sb) / max(abs(sb), 1e-12)
        results[arch] = res
        for rt, _ in runtimes:
            x = res[rt]
            table.append(
                {
                    "arch": arch,
                    "runtime": f"{rt} {x['version']}",
                    "invoke p50 µs": x["invoke_us"]["p50"],
                    "p99 µs": x["invoke_us"]["p99"],
                    "load p50 ms": x["load_ms"]["p50"],
                    "import ms": x["import_ms"]["median"],
                    "import RSS MB": x["import_rss_mb"]["median"],
                    "load RSS MB": x["load_rss_mb"]["median"],
                    "process RSS MB": x["process_rss_mb"]["median"],
                    "ratio p50": res.get("ratio_litert_over_tflite", {}).get("invoke_p50")
                    if rt == "ai_edge_litert"
                    else None,
                }
            )
        a = res["ai_edge_litert"]
        ref = res.get("tflite_runtime")
        summary.append(
            {
                "metric": f"{arch}: invoke p50 (litert)",
                "value": a["invoke_us"]["p50"],
                "unit": "µs",
                "reference": ref["invoke_us"]["p50"] if ref else None,
                "ratio": res.get("ratio_litert_over_tflite", {}).get("invoke_p50"),
            }
        )
        summary.append(
            {
                "metric": f"{arch}: model load p50 (litert)",
                "value": a["load_ms"]["p50"],
                "unit": "ms",
                "reference": ref["load_ms"]["p50"] if ref else None,
                "ratio": res.get("ratio_litert_over_tflite", {}).get("load_p50"),
            }
        )
    notes.append(
        "reference = tflite-runtime 2.14 on the same file in the same run; ratio = litert / tflite-runtime; "
        "load = Interpreter(model_path) + allocate_tensors, first (cold) load excluded"
    )
    return Report(
        params={
            "rounds": rounds,
            "loads_per_round": loads,
            "repeats_per_round": repeats,
            "cpu": 0,
            "num_threads": 1,
            "archs": list(archs),
            "bundles": "1-epoch fits on the demo machine",
        },
        results=results,
        summary=summary,
        table=table,
        notes=notes,
    )

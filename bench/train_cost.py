"""Training benchmark: wall time, CPU time and peak memory of ``anomaly-train fit`` per architecture.

Each fit runs at the fit defaults (40 epochs max, early stopping with patience
4) on the shipped demo machine (machine-1-6) in its own subprocess; the
subprocess's rusage comes from ``os.wait4`` (the per-child form of
``getrusage(RUSAGE_CHILDREN)``, which would report the largest child so far).
Reported: wall seconds, user+system CPU seconds, peak RSS, epochs run, the
converted model's size and parameter count.  Long: full mode only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import ARCHS, DEMO_DATA, DEMO_MACHINE, PY, ROOT, Context, Report

NAME = "training"
TITLE = "Training cost per architecture at the fit defaults (anomaly-train fit, demo machine-1-6)"
TIMEOUT_S = 3 * 3600


def fit(arch: str, out: Path, log: Path) -> dict[str, Any]:
    if out.exists():
        shutil.rmtree(out)
    argv = [
        PY,
        "-m",
        "training",
        "--log.level",
        "warning",
        "fit",
        "--data",
        str(DEMO_DATA),
        "--machine",
        DEMO_MACHINE,
        "--out",
        str(out),
        "--arch",
        arch,
    ]
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        )
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # wait4 with WNOHANG so a runaway fit can be stopped
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.5)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so tell Popen
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"fit {arch} exited {proc.returncode}; log {log}: {log.read_text(errors='replace')[-400:]}")
    meta = json.loads((out / "bundle.json").read_text())
    tr, model = meta.get("training", {}), meta.get("model", {})
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "fit_seconds": tr.get("seconds"),
        "epochs": tr.get("epochs"),
        "best_epoch": tr.get("best_epoch"),
        "val_loss": tr.get("val_loss"),
        "model_bytes": (out / "model.tflite").stat().st_size,
        "params": model.get("params"),
        "inference_us_at_fit": model.get("inference_us"),
        "threshold": meta.get("threshold", {}).get("value"),
    }


def run(ctx: Context) -> Report:
    work = ctx.cache / "train-bench"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    notes = []
    for arch in ARCHS:
        try:
            results[arch] = fit(arch, work / arch, work / f"{arch}.log")
        except RuntimeError as exc:
            notes.append(str(exc)[:600])
    table = [{"arch": a, **r} for a, r in results.items()]
    summary = []
    for a, r in results.items():
        summary.append({"metric": f"{a}: fit wall time ({r['epochs']} epochs)", "value": r["wall_s"], "unit": "s"})
        summary.append({"metric": f"{a}: fit peak RSS", "value": r["peak_rss_mb"], "unit": "MB"})
        summary.append(
            {"metric": f"{a}: converted model size", "value": round(r["model_bytes"] / 1024, 1), "unit": "KiB"}
        )
    notes.append(
        "one fit per architecture (no repeats: each takes minutes); wall time includes TensorFlow import, "
        "conversion, parity check and thresholds; the CPU count limits TensorFlow's parallelism"
    )
    return Report(
        params={
            "data": str(DEMO_DATA.relative_to(ROOT)),
            "machine": DEMO_MACHINE,
            "options": "fit defaults",
            "archs": list(ARCHS),
        },
        results=results,
        summary=summary,
        table=table,
        notes=notes,
    )

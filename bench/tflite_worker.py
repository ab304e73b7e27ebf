"""Standalone TFLite timing worker: runs under the agent's venv *and* under a tflite-runtime venv.

It imports neither the agent nor anything but numpy and one interpreter, so it
runs with tflite-runtime 2.14 (numpy < 2, Python <= 3.11) as well as with
ai-edge-litert.  Usage::

    python bench/tflite_worker.py RUNTIME MODEL.tflite [--loads N] [--repeats N] [--warmup N]

RUNTIME is ``ai_edge_litert`` or ``tflite_runtime``.  Pinned to CPU 0, one
interpreter thread.  Prints one JSON object: load times (ms: construct +
allocate_tensors), per-window times (µs: set_tensor + invoke + get_tensor, as
the agent's predictor does) and a checksum of the output for a fixed input,
so the two runtimes can be checked to compute the same thing, and VmRSS
after numpy, after the interpreter import, after the first load and at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("runtime", choices=["ai_edge_litert", "tflite_runtime"])
    ap.add_argument("model")
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--cpu", type=int, default=0)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {args.cpu})
    except (AttributeError, OSError):
        pass
    rss = {"numpy": _rss_mb()}
    t_import = time.perf_counter()
    Interpreter = importlib.import_module(f"{args.runtime}.interpreter").Interpreter
    import_ms = (time.perf_counter() - t_import) * 1e3
    rss["interpreter_import"] = _rss_mb()

    loads = []
    for _ in range(max(1, args.loads)):
        t0 = time.perf_counter()
        interp = Interpreter(model_path=args.model, num_threads=1)
        interp.allocate_tensors()
        loads.append((time.perf_counter() - t0) * 1e3)
        rss.setdefault("first_load", _rss_mb())

    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    shape = [int(d) for d in inp["shape"]]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(args.warmup):
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        interp.get_tensor(out["index"]).copy()
    times = np.empty(args.repeats)
    cpu0 = time.thread_time()
    for i in range(args.repeats):
        t0 = time.perf_counter_ns()
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"]).copy()
        times[i] = (time.perf_counter_ns() - t0) / 1e3
    cpu_us = (time.thread_time() - cpu0) / args.repeats * 1e6
    rss["end"] = _rss_mb()
    print(
        json.dumps(
            {
                "runtime": args.runtime,
                "version": _version(args.runtime),
                "numpy": np.__version__,
                "import_ms": import_ms,
                "load_ms": loads,
                "invoke_us": times.tolist(),
                "cpu_us_mean": cpu_us,
                "rss_mb": rss,
                "input_shape": shape,
                "output_sum": float(np.asarray(y, np.float64).sum()),
                "output_first": [float(v) for v in np.asarray(y).ravel()[:4]],
            }
        )
    )
    return 0


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _version(runtime: str) -> str | None:
    import importlib.metadata as md

    for name in (runtime.replace("_", "-"), runtime):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return None


if __name__ == "__main__":
    raise SystemExit(main())

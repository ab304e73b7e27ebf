"""``python -m bench [--quick] [--only NAME,...]``: run the footprint/speed benchmarks.

Prints one table per benchmark, writes ``<out>/<name>.json`` (with date,
machine and load) and rebuilds ``<out>/summary.md`` from every result file
present, so ``--only`` refreshes some rows and keeps the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import BENCHMARKS
from bench.common import RESULTS, Context, format_table
from bench.machine import busy_note, machine_info
from bench.summary import write_summary

log = logging.getLogger("bench")


def run_one(name: str, ctx: Context, machine: dict[str, Any], out: Path) -> dict[str, Any]:
    mod = importlib.import_module(f"bench.{BENCHMARKS[name]}")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    report = mod.run(ctx)
    load1 = os.getloadavg()
    notes = list(report.notes)
    busy = busy_note(load0, load1)
    if busy:
        notes.append(busy)
    doc = {
        "benchmark": name,
        "title": mod.TITLE,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": ctx.quick,
        "seconds": round(time.monotonic() - t0, 1),
        "machine": machine,
        "load_1min": {"before": round(load0[0], 2), "after": round(load1[0], 2)},
        "default_bundle": ctx.bundle_note,
        "params": report.params,
        "summary": report.summary,
        "results": report.results,
        "notes": notes,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")
    print()
    print(format_table(report.table, f"== {name}: {mod.TITLE} ({doc['seconds']:.0f} s)"))
    for n in notes:
        print(f"  note: {n}")
    return doc


def _jsonable(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions (smoke test); skips training")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON and summary.md go")
    ap.add_argument("--bundle", type=Path, default=None, help="default model bundle (default: models/default)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if args.quick and "training" in names and args.only:
        print("note: training is skipped in --quick mode", file=sys.stderr)
    if args.quick:
        names = [n for n in names if n != "training"]
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from bench.bundles import default_bundle

    if args.bundle is not None:
        bundle, note = args.bundle.resolve(), str(args.bundle)
    else:
        bundle, note = default_bundle()
    ctx = Context(quick=args.quick, bundle=bundle, bundle_note=note)
    machine = machine_info()
    failed = []
    for name in names:
        log.info("running %s%s", name, " (quick)" if args.quick else "")
        try:
            run_one(name, ctx, machine, args.out_dir)
        except Exception:  # one broken benchmark must not lose the others' results
            failed.append(name)
            traceback.print_exc()
    summary = write_summary(args.out_dir)
    print(f"\nwritten {args.out_dir}/<name>.json and {summary}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

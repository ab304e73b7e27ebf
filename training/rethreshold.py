"""``anomaly-train threshold``: set a bundle's window threshold on labelled validation rows.

The unsupervised POT threshold is the default because most hosts have no
labels.  When a labelled validation set exists (an SMD ``test``/``test_label``
pair, or incidents an operator has labelled), the F1-optimal threshold on it
is usually better.  This command scores the chosen rows with the bundle
(the agent's own scorer), picks the threshold by ``training.thresholds``
(``best_f1``, ``pot`` or ``quantile``), and writes a copy of the bundle with the
new overall threshold, recording the method, the rows and the F1 it reached.
Per-feature thresholds and the model are unchanged (same sha256).

Evaluate only on rows that were not used here (``--rows`` picks the
validation part), or the figures peek at the answer.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agent.history.smd import load_machine
from agent.model.bundle import BUNDLE_FILE, load_bundle
from agent.model.loaded import load_model
from training import thresholds
from training.normal_ranges import raise_threshold


def parse_rows(text: str, n: int) -> slice:
    """``a:b`` (either side optional) -> slice within 0..n."""
    a, sep, b = text.partition(":")
    if not sep:
        raise ValueError(f"--rows: expected A:B, got {text!r}")
    start, stop = int(a or 0), int(b or n)
    if not 0 <= start < stop <= n:
        raise ValueError(f"--rows {text}: must satisfy 0 <= A < B <= {n}")
    return slice(start, stop)


def rethreshold(
    bundle: Path, data: Path, machine: str, out: Path, method: str = "best_f1", rows: str = ":"
) -> dict[str, Any]:
    """Write ``out``: ``bundle`` with its overall threshold set by ``method`` on labelled rows."""
    model = load_model(bundle)
    m = load_machine(data, machine, ("test",))
    if m.test is None:
        raise FileNotFoundError(f"{data}/test/{machine}.txt not found")
    if method == "best_f1" and m.labels is None:
        raise ValueError(f"best_f1 needs labels: {data}/test_label/{machine}.txt not found")
    sl = parse_rows(rows, len(m.test))
    raw = model.scorer.score_series(m.test[sl]).raw_error  # thresholds live on the raw window error
    if method == "best_f1":
        assert m.labels is not None  # checked above
        th = thresholds.best_f1(raw, m.labels[sl])
    elif method == "pot":
        th = thresholds.pot(raw[np.isfinite(raw)])
    else:
        th = thresholds.quantile(raw[np.isfinite(raw)])
    if out.resolve() != Path(bundle).resolve():
        shutil.copytree(bundle, out, dirs_exist_ok=True)
    doc = json.loads((out / BUNDLE_FILE).read_text())
    previous = doc["threshold"]
    doc["threshold"] = {
        "value": th.value,
        "method": th.method,
        "params": {
            **th.params,
            "data": str(Path(data).resolve()),
            "machine": machine,
            "rows": [sl.start, sl.stop],
            "previous": previous,
        },
    }
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out / BUNDLE_FILE)
    load_bundle(out)  # verify what was written
    return doc["threshold"]


def _run(args: argparse.Namespace) -> int:
    if args.normal_ranges is not None:
        return _run_normal_ranges(args)
    if args.data is None or args.machine is None:
        raise ValueError("threshold: --data and --machine are required (or --normal-ranges with --history)")
    th = rethreshold(args.bundle, args.data, args.machine, args.out, args.method, args.rows)
    prev = th["params"]["previous"]
    extra = f", F1 {th['params']['f1']:.3f} on the chosen rows" if "f1" in th["params"] else ""
    print(f"{args.out}: threshold {prev['value']:.4g} ({prev['method']}) -> {th['value']:.4g} ({th['method']}){extra}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "threshold",
        help="set a bundle's threshold on labelled validation rows (best F1)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--data", type=Path, help="SMD root whose test/ and test_label/ hold the rows")
    p.add_argument("--machine")
    p.add_argument("--rows", default=":", help="A:B, the validation rows of the test file (default: all)")
    p.add_argument("--method", choices=["best_f1", "pot", "quantile"], default="best_f1")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write (may be --bundle)")
    nr = p.add_argument_group("operator feedback (docs/feedback.md)")
    nr.add_argument(
        "--normal-ranges",
        type=Path,
        metavar="FILE",
        help="CSV start,end (ISO 8601 or unix s) of false alarms: raise the threshold just past them",
    )
    nr.add_argument("--history", type=Path, help="with --normal-ranges: the host's history directory")
    nr.add_argument(
        "--config.file",
        dest="config_file",
        type=Path,
        help="with --normal-ranges: the agent's config (calibration, seasonal, scoring)",
    )
    p.set_defaults(func=_run)


def _run_normal_ranges(args: argparse.Namespace) -> int:
    if args.history is None:
        raise ValueError("threshold --normal-ranges: needs --history DIR (rows with timestamps)")
    th = raise_threshold(args.bundle, args.history, args.normal_ranges, args.out, args.config_file)
    nr = th["params"]["normal_ranges"]
    prev = nr["previous"]["value"]
    print(
        f"{args.out}: threshold {prev:.4g} -> {th['value']:.4g} (x{nr['factor']:.3f}) past {nr['ranges']} "
        f"normal range(s), sha256 {nr['sha256'][:12]}"
    )
    return 0

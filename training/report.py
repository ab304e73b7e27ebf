"""``anomaly-train report``: one self-contained HTML page (optionally a PDF) about a bundle on one machine.

The machine's test split is scored through the shipped path (a
:class:`training.bundle_detector.BundleDetector`: :func:`agent.model.loaded.load_model`
-> ``scorer.score_series``) next to the baselines of :mod:`training.baselines`;
every figure is measured on the rows where all of them have a score, as in
``anomaly-train evaluate``.

Gathering is :mod:`training.report_data` (:func:`gather` -> :class:`ReportData`),
rendering is a list of section functions (:data:`SECTIONS`, from
:mod:`training.report_sections`), each mapping ``ReportData`` to a
:class:`~training.report_writer.Section`; a new section is one more function appended
to that list.  Figures: :mod:`training.plots`; the HTML/PDF writers: :mod:`training.report_writer`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training import evaluate as ev
from training import metrics as M
from training.baselines import BASELINES, REPORT_BASELINES
from training.frontier_report import section_frontier
from training.report_data import ReportData, gather
from training.report_sections import (
    section_delay,
    section_incidents,
    section_metrics,
    section_model_card,
    section_pr,
    section_timeline,
    section_tuning,
)
from training.report_writer import Section, write_report

__all__ = ["SECTIONS", "ReportData", "SectionFn", "build_sections", "gather", "header", "make_report", "register"]


SectionFn = Callable[[ReportData], "Section | None"]  # None: the section does not apply to this bundle
SECTIONS: list[SectionFn] = [
    section_timeline,
    section_incidents,
    section_pr,
    section_metrics,
    section_model_card,
    section_delay,
    section_tuning,
    section_frontier,
]


def header(d: ReportData) -> list[tuple[str, str]]:
    """The summary lines at the top of the report."""
    y, n = d.labels, len(d.labels)
    events = len(M.segments(y))
    return [
        ("machine", f"{d.machine} ({d.data_dir})"),
        ("bundle", f"{d.model.bundle.model_id} ({d.bundle_dir})"),
        (
            "test rows",
            f"{n}; {int(d.mask.sum())} scored by every model; {int(y.sum())} labelled anomalous "
            f"({y.mean():.1%}) in {events} event(s)",
        ),
        ("models", ", ".join(d.scores)),
        (
            "generated",
            datetime.now(UTC).isoformat(timespec="seconds")
            + " in "
            + ", ".join(f"{k} {v:.1f} s" for k, v in d.timings.items()),
        ),
        ("command", d.command or "n/a"),
    ]


def build_sections(d: ReportData, sections: Sequence[SectionFn] = SECTIONS) -> list[Section]:
    return [s for s in (fn(d) for fn in sections) if s is not None]


def make_report(d: ReportData, out: Path, pdf: Path | None = None, sections: Sequence[SectionFn] = SECTIONS) -> None:
    """Render ``sections`` of ``d`` into ``out`` (HTML) and optionally ``pdf``."""
    t0 = time.monotonic()
    built = build_sections(d, sections)
    d.timings["sections"] = time.monotonic() - t0
    title = f"Anomaly report: {d.model.bundle.architecture} on {d.machine}"
    write_report(built, title, header(d), Path(out), pdf)


def _run(args: argparse.Namespace) -> int:
    evaluation = json.loads(Path(args.evaluation).read_text(encoding="utf-8")) if args.evaluation else None
    t0 = time.monotonic()
    d = gather(
        args.data,
        args.machine,
        args.bundle,
        baselines=[b for b in args.baselines.split(",") if b],
        evaluation=evaluation,
        incidents=args.incidents,
        merge_gap=args.merge_gap,
        rank_by=args.rank_by,
        seed=args.seed,
        vus_max_buffer=args.vus_max_buffer,
    )
    d.command = shlex.join(["anomaly-train", *sys.argv[1:]])
    if args.frontier is not None:
        d.frontier = json.loads(args.frontier.read_text(encoding="utf-8"))
    make_report(d, args.out, args.pdf)
    print(f"report      {args.out}" + (f" and {args.pdf}" if args.pdf else "") + f" ({time.monotonic() - t0:.1f} s)")
    return 0


def register(subparsers: Any) -> None:
    """Add ``report`` to the ``anomaly-train`` subcommands."""
    p = subparsers.add_parser(
        "report",
        help="self-contained HTML report (optional PDF) of a bundle on one machine",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--data", type=Path, required=True, help="SMD root (train/, test/, test_label/, ...)")
    p.add_argument("--machine", required=True, help="machine name, e.g. machine-1-6")
    p.add_argument("--bundle", type=Path, required=True, help="bundle directory (bundle.json + model.tflite)")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument(
        "--evaluation",
        type=Path,
        default=None,
        help="metrics table from this `anomaly-train evaluate --out` JSON instead of computing it",
    )
    p.add_argument(
        "--baselines",
        default=",".join(REPORT_BASELINES),
        help=f"comma-separated baselines ('' for none; known: {', '.join(BASELINES)})",
    )
    p.add_argument("--pdf", type=Path, default=None, help="also write a PDF (matplotlib only)")
    p.add_argument(
        "--frontier", type=Path, default=None, help="add the candidates' alert-level frontier (bench/frontier.py JSON)"
    )
    p.add_argument("--incidents", type=int, default=5, help="incidents to detail")
    p.add_argument("--rank-by", choices=["area", "peak"], default="area", help="incident ranking")
    p.add_argument("--merge-gap", type=int, default=0, help="join runs above threshold separated by <= N rows")
    p.add_argument("--vus-max-buffer", type=int, default=ev.VUS_MAX_BUFFER, help="VUS-PR buffer lengths 0..L")
    p.add_argument("--seed", type=int, default=0, help="seed for IsolationForest")
    p.set_defaults(func=_run)

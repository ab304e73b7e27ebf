"""``anomaly-train report``: one self-contained HTML page (optionally a PDF) about a bundle on one machine.

The machine's test split is scored through the shipped path
(:func:`agent.model.load_model` -> ``scorer.score_series``) next to the
baselines of :mod:`training.baselines`; every figure is measured on the rows
where all of them have a score, as in ``anomaly-train evaluate``.

The report is a list of section functions (:data:`SECTIONS`), each mapping
:class:`ReportData` to a :class:`Section`; a new section (e.g. detection
delay) is one more function appended to that list.  Plots: :mod:`training.plots`.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from training import evaluate as ev
from training import metrics as M
from training import plots
from training.baselines import BASELINES, REPORT_BASELINES
from training.plots import Section, esc, fmt, html_table, text_table

if TYPE_CHECKING:
    from agent.model import LoadedModel
    from agent.scoring import SeriesScores

log = logging.getLogger(__name__)

TOP_FEATURES = 10
TIMING_WINDOWS = 200


@dataclass(frozen=True)
class Incident:
    """A run of test rows [start, end) whose score is above the threshold."""

    start: int
    end: int
    peak: float
    peak_row: int
    area: float  # sum of (score - threshold) over the rows above it
    labelled: bool  # overlaps a labelled anomaly
    shares: np.ndarray  # (F,) mean contribution share over the run
    truth: frozenset[int]  # ground-truth dimensions (interpretation_label), empty if none

    @property
    def duration(self) -> int:
        return self.end - self.start


def find_runs(score: np.ndarray, threshold: float = 1.0, merge_gap: int = 0) -> np.ndarray:
    """Runs of ``score > threshold`` as (E, 2) [start, end) rows; gaps of <= ``merge_gap`` rows are bridged."""
    runs = M.segments(np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf) > threshold)
    if merge_gap <= 0 or len(runs) < 2:
        return runs
    merged = [list(runs[0])]
    for a, b in runs[1:]:
        if a - merged[-1][1] <= merge_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return np.asarray(merged, dtype=runs.dtype)


def find_incidents(
    score: np.ndarray, contributions: np.ndarray, labels: np.ndarray, dims: Sequence[frozenset[int]], n: int,
    threshold: float = 1.0, merge_gap: int = 0, rank_by: str = "area",
) -> list[Incident]:
    """The ``n`` largest runs above ``threshold``, ranked by ``area`` or ``peak`` (the other breaks ties).

    Parameters
    ----------
    score : (T,) normalised score; contributions : (T, F) shares; labels : (T,) 0/1
    dims : T sets of 0-indexed ground-truth dimensions (:func:`training.metrics.interpretation_dims`)
    """
    if rank_by not in ("area", "peak"):
        raise ValueError(f"rank_by must be 'area' or 'peak', got {rank_by!r}")
    s = np.asarray(score, np.float64)
    out = []
    for a, b in find_runs(s, threshold, merge_gap):
        seg = s[a:b]
        k = int(np.nanargmax(seg))
        out.append(Incident(
            int(a), int(b), float(seg[k]), int(a + k), float(np.nansum(np.clip(seg - threshold, 0, None))),
            bool(np.any(labels[a:b])), np.nanmean(contributions[a:b], axis=0), frozenset().union(*dims[a:b])))
    key = (lambda i: (i.area, i.peak)) if rank_by == "area" else (lambda i: (i.peak, i.area))
    return sorted(out, key=key, reverse=True)[:n]


@dataclass
class ReportData:
    """Everything the sections draw from; built once by :func:`gather`."""

    machine: str
    data_dir: Path
    bundle_dir: Path  # as given, so a report made in the repo shows repo paths
    model: LoadedModel
    test: np.ndarray  # (T, F) raw test rows
    labels: np.ndarray  # (T,)
    dims: list[frozenset[int]]  # (T,) ground-truth dimensions per row
    series: SeriesScores  # the bundle on the test rows
    scores: dict[str, ev.ModelScores]  # display name -> scores; the bundle first
    mask: np.ndarray  # (T,) rows every model scored
    incidents: list[Incident]
    incidents_total: int
    metrics: list[tuple[str, dict[str, Any]]]  # table rows: (name, machine_metrics-style dict)
    metrics_source: str
    inference_us: dict[str, float]
    rank_by: str = "area"
    merge_gap: int = 0
    train_sha256: str | None = None  # of --data's train split, to check the bundle's provenance
    timings: dict[str, float] = field(default_factory=dict)
    command: str = ""
    interval_seconds: float = 60.0  # between rows (SMD: a minute; imported data: the sidecar's step)


def measure_inference(model: LoadedModel, test: np.ndarray, n: int = TIMING_WINDOWS) -> dict[str, float]:
    """Median and p95 µs of ``scorer.score_window`` over ``n`` test windows (after 5 warm-up calls)."""
    from agent.window import make_windows

    windows = make_windows(test[: model.bundle.window + n - 1], model.bundle.window)
    for w in windows[:5]:
        model.scorer.score_window(w)
    us = []
    for w in windows:
        t0 = time.perf_counter()
        model.scorer.score_window(w)
        us.append((time.perf_counter() - t0) * 1e6)
    return {"median": float(np.median(us)), "p95": float(np.percentile(us, 95)), "windows": len(us)}


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Baselines and VUS-PR are small or memory-bound BLAS work: a second thread mostly spins
    (VUS-PR on 2 shared cores: 1.2 vs 2.2 s CPU, 3.7 vs 11 s wall per model)."""
    try:
        from threadpoolctl import threadpool_limits  # ships with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _check_evaluation(doc: dict[str, Any], machine: str) -> None:
    if not isinstance(doc, dict) or doc.get("kind") != "anomaly-train evaluate" or "results" not in doc:
        raise ValueError("--evaluation: not a document written by `anomaly-train evaluate --out`")
    if machine not in doc.get("machines", []):
        raise ValueError(f"--evaluation: machine {machine!r} is not in it (has: {', '.join(doc.get('machines', []))})")


def _evaluation_rows(doc: dict[str, Any], machine: str, model_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every model of ``doc`` on ``machine``, then every model's mean over the document's machines."""
    rows = []
    for name, r in doc["results"].items():
        res = r["machines"][machine]
        mine = res.get("info", {}).get("model_id") == model_id
        rows.append((f"{name} (this bundle)" if mine else name, res))
    n = len(doc["machines"])
    rows += [(f"{name}: mean of {n}", r["mean"]) for name, r in doc["results"].items()]
    return rows


def gather(
    data_dir: Path | str, machine: str, bundle: Path | str, *, baselines: Sequence[str] = REPORT_BASELINES,
    evaluation: dict[str, Any] | None = None, incidents: int = 5, merge_gap: int = 0, rank_by: str = "area",
    seed: int = 0, vus_max_buffer: int = ev.VUS_MAX_BUFFER,
) -> ReportData:
    """Load, score and measure: every number the report shows."""
    from agent.model import load_model
    from agent.smd import load_machine

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)} (known: {', '.join(BASELINES)})")
    if evaluation is not None:
        _check_evaluation(evaluation, machine)
    t: dict[str, float] = {}
    t0 = time.monotonic()
    m = load_machine(Path(data_dir), machine)
    if m.test is None or m.labels is None or (baselines and m.train is None):
        raise FileNotFoundError(f"{machine}: the report needs test/, test_label/ (and train/ for baselines) "
                                f"under {data_dir}")
    if m.labels.sum() == 0:
        raise ValueError(f"{machine}: test_label holds no anomaly, nothing to measure")
    model = load_model(bundle)
    b = model.bundle
    if len(b.features) != m.test.shape[1]:
        raise ValueError(f"{bundle}: bundle has {len(b.features)} features, "
                         f"{machine} test data {m.test.shape[1]} columns")
    from training.importers import sidecar_features

    named = sidecar_features(Path(data_dir), machine)
    if named is not None and named != b.features:
        raise ValueError(f"{bundle}: bundle features {', '.join(b.features[:5])}... are not the columns the importer "
                         f"recorded for {machine} ({', '.join(named[:5])}...)")
    t["load"] = time.monotonic() - t0
    log.info("%s: scoring %d test rows with %s", machine, len(m.test), b.model_id)
    t0 = time.monotonic()
    series = model.scorer.score_series(m.test)
    name = f"{b.architecture} (this bundle)"
    scores = {name: ev.ModelScores(series.score, series.contributions, 1.0, b.threshold.method,
                                   {"_feature_scores_normalised": series.feature_scores, "model_id": b.model_id})}
    inference = measure_inference(model, m.test)
    t["score bundle"] = time.monotonic() - t0
    log.info("%s: baselines %s", machine, ", ".join(baselines) or "none")
    t0 = time.monotonic()
    with _one_blas_thread():
        for bl in baselines:
            scores[bl] = ev.baseline_scores(bl, m, seed)
    t["baselines"] = time.monotonic() - t0
    log.info("%s: metrics (%s)", machine, "from the evaluation" if evaluation is not None else "computing")
    t0 = time.monotonic()
    mask = np.logical_and.reduce([np.isfinite(s.score) for s in scores.values()])
    dims = M.interpretation_dims(m.interpretation or [], len(m.test))
    if evaluation is not None:
        rows = _evaluation_rows(evaluation, machine, b.model_id)
        source = f"evaluation of {evaluation.get('created', '?')}"
    else:
        with _one_blas_thread():
            rows = [(k, ev.machine_metrics(s, m.labels, dims, mask, vus_max_buffer)) for k, s in scores.items()]
        source = f"computed now on {int(mask.sum())} common rows (VUS-PR buffers 0..{vus_max_buffer})"
    t["metrics"] = time.monotonic() - t0
    runs = find_runs(series.score, 1.0, merge_gap)
    train_sha = None if m.train is None else hashlib.sha256(np.ascontiguousarray(m.train).tobytes()).hexdigest()
    top = find_incidents(series.score, series.contributions, m.labels, dims, incidents, 1.0, merge_gap, rank_by)
    return ReportData(machine, Path(data_dir), Path(bundle), model, m.test, m.labels, dims, series, scores, mask, top,
                      len(runs), rows, source, inference, rank_by, merge_gap, train_sha, t,
                      interval_seconds=ev.row_interval(data_dir, machine))


# -- sections ----------------------------------------------------------------------------------------------------


def section_timeline(d: ReportData) -> Section:
    marks = [(i.peak_row, f"#{k}") for k, i in enumerate(d.incidents, 1)]
    s = d.series.score
    flagged = np.isfinite(s) & (s > 1.0)
    note = (f"<p>Normalised score of <code>{esc(d.model.bundle.model_id)}</code> on {len(s)} test rows "
            f"(the first {d.model.bundle.window - 1} have no full window). Threshold 1.0; {int(flagged.sum())} rows "
            f"({flagged.mean():.1%}) above it; labelled anomalies shaded; #k marks incident k's peak.</p>")
    return Section("timeline", "Score timeline", [note, plots.timeline(s, d.labels, 1.0, marks)])


def section_incidents(d: ReportData) -> Section:
    names = d.model.bundle.features
    header = ("#", "rows", "duration (rows)", "peak", "peak row", "area", "labelled", "ground truth hit")
    rows, blocks = [], []
    for k, inc in enumerate(d.incidents, 1):
        order = np.argsort(-inc.shares, kind="stable")[:TOP_FEATURES]
        top = [names[j] for j in order]
        truth = [names[j] for j in sorted(inc.truth)]
        hits = [n for n in truth if n in top]
        hit = f"{len(hits)}/{len(truth)} in top {TOP_FEATURES}" if truth else "no interpretation"
        rows.append((k, f"{inc.start}-{inc.end - 1}", inc.duration, fmt(inc.peak), inc.peak_row, fmt(inc.area),
                     fmt(inc.labelled), hit))
        blocks.append(f'<h3 id="incident-{k}">Incident #{k}: rows {inc.start}-{inc.end - 1}</h3>')
        if truth:
            missed = [n for n in truth if n not in hits]
            blocks.append(f"<p>Ground truth names {len(truth)} feature(s): hit <b>{esc(', '.join(hits) or 'none')}</b>"
                          f"; missed {esc(', '.join(missed) or 'none')}.</p>")
        blocks.append(plots.contribution_bars(top, inc.shares[order].tolist(), hits,
                                              f"#{k}: top {len(top)} features (✓ = named by interpretation_label)"))
    if not d.incidents:
        return Section("incidents", "Top incidents", ["<p>No row scored above the threshold.</p>"], "no incidents")
    by = "area (sum of score − 1 over the run)" if d.rank_by == "area" else "peak score"
    summary = (f"<p>{d.incidents_total} run(s) of score &gt; 1.0"
               + (f" (gaps of up to {d.merge_gap} rows bridged)" if d.merge_gap else "")
               + f"; the {len(d.incidents)} largest by {by}. Bars: each feature's mean share of the window error "
               "over the run (the agent's <code>host_anomaly_feature_contribution_ratio</code>).</p>")
    return Section("incidents", "Top incidents", [summary, html_table(header, rows), *blocks],
                   f"{d.incidents_total} runs above threshold; top {len(rows)}:\n" + text_table(header, rows))


def section_pr(d: ReportData) -> Section:
    y = d.labels[d.mask]
    curves = []
    for name, s in d.scores.items():
        x = s.score[d.mask]
        _, tp, fp, fn = M.pr_curve(x, y)
        op = M.at_threshold(x, y, s.threshold)
        curves.append((name, tp / (tp + fn), tp / (tp + fp), M.auc_pr(x, y), (op["recall"], op["precision"])))
    note = (f"<p>Point-wise precision-recall on the {int(d.mask.sum())} rows every model scored; dots: the "
            "unsupervised threshold each model ships (bundle: score &gt; 1, baselines: POT on held-out train).</p>")
    return Section("pr", "Precision-recall", [note, plots.pr_curves(curves, float(y.mean()))])


def section_metrics(d: ReportData) -> Section:
    header = ["model"] + [h.replace("PA-F1*", "PA-F1 (inflated)") for h, _ in ev.COLUMNS]
    rows = [[name] + [_num(_get(r, key)) for _, key in ev.COLUMNS] for name, r in d.metrics]
    note = (f"<p>Source: {esc(d.metrics_source)}. best F1 peeks at the labels (upper bound); @thr = at the shipped "
            "threshold; evF1 = composite event F1; <b>PA-F1 is point-adjusted and inflated</b> (a random score "
            "reaches high values on SMD), never a headline; HR = HitRate@100/150 % of the top contributors against "
            "interpretation_label. Definitions: docs/evaluation.md.</p>")
    return Section("metrics", "Metrics", [note, html_table(header, rows, "metrics")],
                   f"Metrics ({d.metrics_source})\n" + text_table(header, rows))


def _num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else "n/a"


def _get(r: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        r = r.get(part) if isinstance(r, dict) else None  # type: ignore[assignment]
    return r


def model_card(d: ReportData) -> list[tuple[str, str]]:
    """(field, value) pairs describing the bundle, from bundle.json and measured now."""
    import matplotlib

    b, meta = d.model.bundle, d.model.bundle.meta
    tr, conv, mdl = meta.get("training", {}), meta.get("conversion", {}), meta.get("model", {})
    fth = meta.get("feature_thresholds", {})
    par = conv.get("parity_max_abs_diff")
    tol = conv.get("tolerance")
    parity = "n/a" if par is None else f"max |keras − tflite| = {par:.2g} (tolerance {fmt(tol)}): " + (
        "pass" if tol is None or par <= tol else "FAIL")
    data = ", ".join(f"{k} {fmt(tr[k])}" for k in ("data_dir", "machine", "split", "rows", "train_rows", "val_rows")
                     if k in tr)
    same = ("n/a" if d.train_sha256 is None or "data_sha256" not in tr else "the train split of this report's data"
            if d.train_sha256 == tr["data_sha256"] else "NOT the train split of this report's data")
    return [
        ("model id", b.model_id), ("created", b.created), ("bundle", str(d.bundle_dir)), ("sha256", b.sha256),
        ("training data", data or "n/a"), ("data sha256", f"{tr.get('data_sha256', 'n/a')}: " + same),
        ("training", f"{fmt(tr.get('epochs'))} epochs (best {fmt(tr.get('best_epoch'))}), train loss "
         f"{fmt(tr.get('train_loss'), 4)}, val loss {fmt(tr.get('val_loss'), 4)}, {fmt(tr.get('seconds'))} s"),
        ("architecture", f"{b.architecture} ({b.kind}), {fmt(mdl.get('params'))} parameters"),
        ("window", f"{b.window} rows"), ("features", str(len(b.features))),
        ("score", f"tail {b.tail}: {meta.get('score', {}).get('reduction', '')}"),
        ("scaler", f"{meta.get('scaler', {}).get('method')}, clip {fmt(b.scaler.clip)}, "
         f"{int((b.scaler.high <= b.scaler.low).sum())} constant feature(s)"),
        ("model size", f"{fmt(mdl.get('size_bytes', b.model_path.stat().st_size))} bytes"),
        ("inference", f"{d.inference_us['median']:.0f} µs median, {d.inference_us['p95']:.0f} µs p95 per "
         f"score_window over {d.inference_us['windows']} windows ({d.model.runtime}, 1 thread); at fit: "
         f"{fmt(mdl.get('inference_us'))} µs"),
        ("threshold", f"{b.threshold.value:.6g} ({b.threshold.method}; {fmt(b.threshold.params)})"),
        ("feature thresholds", f"{b.feature_threshold_method}, {fmt(float(b.feature_thresholds.min()))}.."
         f"{fmt(float(b.feature_thresholds.max()))}, floor {fmt(fth.get('floor'))}, floored {fmt(fth.get('floored'))}, "
         f"fallbacks {fmt(fth.get('fallbacks'))}"),
        ("parity", parity), ("ops", ", ".join(conv.get("op_names", [])) or "n/a"),
        ("versions", f"trained with tensorflow {tr.get('tensorflow', '?')}, keras {tr.get('keras', '?')}; report: "
         f"python {platform.python_version()}, numpy {np.__version__}, matplotlib {matplotlib.__version__}"),
        ("options", fmt(tr.get("options", {})) or "n/a"), ("command", tr.get("command", "n/a")), ("argv", tr.get("argv", "n/a")),
    ]


def section_model_card(d: ReportData) -> Section:
    card = model_card(d)
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in card)
    return Section("model", "Model card", [f'<table class="card">{rows}</table>'],
                   "Model card\n" + "\n".join(f"{k:<20}{v}" for k, v in card))


# -- detection delay and tuning (docs/breadth.md) -------------------------------------------------------------------


def delay_cdf(curves: Sequence[tuple[str, Sequence[float | None]]], within_minutes: float = 5.0) -> Any:
    """Share of events detected within x minutes, per model (missed events keep a curve below 1)."""
    fig = plots._figure(7, 4)
    ax = fig.add_subplot()
    top = max([d for _, ds in curves for d in ds if d is not None] + [within_minutes * 2.0])
    for i, (name, delays) in enumerate(curves):
        got = np.sort([d for d in delays if d is not None])
        if not len(delays):
            continue
        x = np.r_[0.0, got, top * 1.05]
        y = np.r_[0.0, np.arange(1, len(got) + 1), len(got)] / len(delays)
        ax.step(x, y, where="post", lw=1.6 if i == 0 else 1.0, color=f"C{i}",
                label=f"{name} ({len(got)}/{len(delays)} detected)")
    ax.axvline(within_minutes, color="grey", ls=":", lw=1, label=f"{within_minutes:g} min")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("delay from the event's start to its first flagged row (minutes, symlog)")
    ax.set_ylabel("share of labelled events detected")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def section_delay(d: ReportData) -> Section:
    y = d.labels[d.mask]
    minutes = d.interval_seconds / 60.0
    header = ("model", "events", "detected", "median (min)", "p90 (min)", "within 5 min")
    rows, curves = [], []
    for name, s in d.scores.items():
        r = M.detection_delays(s.score[d.mask], y, s.threshold, d.interval_seconds)
        rows.append((name, r.events, len(r.detected), fmt(None if r.median_s is None else r.median_s / 60),
                     fmt(None if r.p90_s is None else r.p90_s / 60), fmt(r.detected_within)))
        curves.append((name, [None if v is None else v / 60 for v in r.delays]))
    note = (f"<p>For each labelled event: time from its first row to the first row flagged at the model's shipped "
            f"threshold inside the event (rows are {fmt(minutes)} min apart); an event never flagged is missed. "
            "Median and p90 over the detected events; <i>within 5 min</i> over all events.</p>")
    return Section("delay", "Detection delay", [note, html_table(header, rows), delay_cdf(curves)],
                   "Detection delay\n" + text_table(header, rows))


def tuning_plot(trials: Sequence[dict[str, Any]], direction: str, objective: str) -> Any:
    """Objective value per trial and the best so far."""
    fig = plots._figure(7, 3.5)
    ax = fig.add_subplot()
    done = [(t["number"], t["value"]) for t in trials if isinstance(t.get("value"), (int, float))]
    if done:
        n, v = map(np.asarray, zip(*done))
        best = np.maximum.accumulate(v) if direction == "maximize" else np.minimum.accumulate(v)
        ax.plot(n, v, "o", ms=4, color="C0", label="trial")
        ax.step(n, best, where="post", color="C3", lw=1.4, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def section_tuning(d: ReportData) -> Section | None:
    rec = d.model.bundle.meta.get("training", {}).get("tuning")
    if not isinstance(rec, dict):
        return None  # not a tuned bundle: no section
    trials = [t for t in rec.get("trials", []) if isinstance(t, dict)]
    best = rec.get("best", {})
    states: dict[str, int] = {}
    for t in trials:
        states[str(t.get("state"))] = states.get(str(t.get("state")), 0) + 1
    card = [("objective", f"{rec.get('objective')} ({rec.get('direction')}): {rec.get('objective_doc', '')}"),
            ("search", f"{len(trials)} trials ({fmt(states)}), {fmt(rec.get('seconds'))} s, sampler "
             f"{rec.get('sampler')}, optuna {rec.get('optuna')}"),
            ("space", fmt(rec.get("space", {}))), ("validation", str(rec.get("validation", ""))),
            ("best", f"trial {best.get('number')}: {fmt(best.get('value'), 4)} with {fmt(best.get('params', {}))}")]
    keys = sorted({k for t in trials for k in t.get("params", {})})
    ranked = sorted((t for t in trials if isinstance(t.get("value"), (int, float))), key=lambda t: t["value"],
                    reverse=rec.get("direction") == "maximize")
    header = ("trial", "value", *keys, "seconds")
    rows = [(t["number"], fmt(t["value"], 4), *(fmt(t["params"].get(k)) for k in keys), fmt(t.get("seconds")))
            for t in ranked[:10]]
    card_html = ('<table class="card">' + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in card)
            + "</table>")
    return Section("tuning", "Tuning", [card_html, html_table(header, rows),
                                         tuning_plot(trials, str(rec.get("direction")), str(rec.get("objective")))],
                   "Tuning\n" + "\n".join(f"{k:<20}{v}" for k, v in card) + "\n" + text_table(header, rows))


SectionFn = Callable[[ReportData], "Section | None"]  # None: the section does not apply to this bundle
SECTIONS: list[SectionFn] = [section_timeline, section_incidents, section_pr, section_metrics, section_model_card,
                             section_delay, section_tuning]


def header(d: ReportData) -> list[tuple[str, str]]:
    """The summary lines at the top of the report."""
    y, n = d.labels, len(d.labels)
    events = len(M.segments(y))
    return [
        ("machine", f"{d.machine} ({d.data_dir})"), ("bundle", f"{d.model.bundle.model_id} ({d.bundle_dir})"),
        ("test rows", f"{n}; {int(d.mask.sum())} scored by every model; {int(y.sum())} labelled anomalous "
         f"({y.mean():.1%}) in {events} event(s)"),
        ("models", ", ".join(d.scores)),
        ("generated", datetime.now(timezone.utc).isoformat(timespec="seconds") + " in "
         + ", ".join(f"{k} {v:.1f} s" for k, v in d.timings.items())),
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
    plots.write_report(built, title, header(d), Path(out), pdf)


def _run(args: argparse.Namespace) -> int:
    import json

    evaluation = json.loads(Path(args.evaluation).read_text(encoding="utf-8")) if args.evaluation else None
    t0 = time.monotonic()
    d = gather(args.data, args.machine, args.bundle, baselines=[b for b in args.baselines.split(",") if b],
               evaluation=evaluation, incidents=args.incidents, merge_gap=args.merge_gap, rank_by=args.rank_by,
               seed=args.seed, vus_max_buffer=args.vus_max_buffer)
    d.command = shlex.join(["anomaly-train", *sys.argv[1:]])
    make_report(d, args.out, args.pdf)
    print(f"report      {args.out}" + (f" and {args.pdf}" if args.pdf else "") + f" ({time.monotonic() - t0:.1f} s)")
    return 0


def register(subparsers: Any) -> None:
    """Add ``report`` to the ``anomaly-train`` subcommands."""
    p = subparsers.add_parser("report", help="self-contained HTML report (optional PDF) of a bundle on one machine",
                              description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="SMD root (train/, test/, test_label/, ...)")
    p.add_argument("--machine", required=True, help="machine name, e.g. machine-1-6")
    p.add_argument("--bundle", type=Path, required=True, help="bundle directory (bundle.json + model.tflite)")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--evaluation", type=Path, default=None,
                   help="metrics table from this `anomaly-train evaluate --out` JSON instead of computing it")
    p.add_argument("--baselines", default=",".join(REPORT_BASELINES),
                   help=f"comma-separated baselines ('' for none; known: {', '.join(BASELINES)})")
    p.add_argument("--pdf", type=Path, default=None, help="also write a PDF (matplotlib only)")
    p.add_argument("--incidents", type=int, default=5, help="incidents to detail")
    p.add_argument("--rank-by", choices=["area", "peak"], default="area", help="incident ranking")
    p.add_argument("--merge-gap", type=int, default=0, help="join runs above threshold separated by <= N rows")
    p.add_argument("--vus-max-buffer", type=int, default=ev.VUS_MAX_BUFFER, help="VUS-PR buffer lengths 0..L")
    p.add_argument("--seed", type=int, default=0, help="seed for IsolationForest")
    p.set_defaults(func=_run)

"""The sections of ``anomaly-train report``: each maps :class:`~training.report_data.ReportData` to a
:class:`~training.report_writer.Section` (or None when it does not apply).  Figures: :mod:`training.plots`."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import numpy as np

from training import metrics as M
from training import plots
from training.delay import detection_delays
from training.report_data import ReportData
from training.report_writer import Section, esc, fmt, html_table, text_table
from training.tables import COLUMNS, get

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOP_FEATURES = 10


def section_timeline(d: ReportData) -> Section:
    marks = [(i.peak_row, f"#{k}") for k, i in enumerate(d.incidents, 1)]
    s = d.series.score
    flagged = np.isfinite(s) & (s > 1.0)
    note = (
        f"<p>Normalised score of <code>{esc(d.model.bundle.model_id)}</code> on {len(s)} test rows "
        f"(the first {d.model.bundle.window - 1} have no full window). Threshold 1.0; {int(flagged.sum())} rows "
        f"({flagged.mean():.1%}) above it; labelled anomalies shaded; #k marks incident k's peak.</p>"
    )
    return Section("timeline", "Score timeline", [note, plots.timeline(s, d.labels, 1.0, marks)])


def section_incidents(d: ReportData) -> Section:
    names = d.model.bundle.features
    header = ("#", "rows", "duration (rows)", "peak", "peak row", "area", "labelled", "ground truth hit")
    rows: list[tuple[Any, ...]] = []
    blocks: list[str | Figure] = []
    for k, inc in enumerate(d.incidents, 1):
        order = np.argsort(-inc.shares, kind="stable")[:TOP_FEATURES]
        top = [names[j] for j in order]
        truth = [names[j] for j in sorted(inc.truth)]
        hits = [n for n in truth if n in top]
        hit = f"{len(hits)}/{len(truth)} in top {TOP_FEATURES}" if truth else "no interpretation"
        rows.append(
            (
                k,
                f"{inc.start}-{inc.end - 1}",
                inc.duration,
                fmt(inc.peak),
                inc.peak_row,
                fmt(inc.area),
                fmt(inc.labelled),
                hit,
            )
        )
        blocks.append(f'<h3 id="incident-{k}">Incident #{k}: rows {inc.start}-{inc.end - 1}</h3>')
        if truth:
            missed = [n for n in truth if n not in hits]
            blocks.append(
                f"<p>Ground truth names {len(truth)} feature(s): hit <b>{esc(', '.join(hits) or 'none')}</b>"
                f"; missed {esc(', '.join(missed) or 'none')}.</p>"
            )
        blocks.append(
            plots.contribution_bars(
                top,
                inc.shares[order].tolist(),
                hits,
                f"#{k}: top {len(top)} features (✓ = named by interpretation_label)",
            )
        )
    if not d.incidents:
        return Section("incidents", "Top incidents", ["<p>No row scored above the threshold.</p>"], "no incidents")
    by = "area (sum of score − 1 over the run)" if d.rank_by == "area" else "peak score"
    summary = (
        f"<p>{d.incidents_total} run(s) of score &gt; 1.0"
        + (f" (gaps of up to {d.merge_gap} rows bridged)" if d.merge_gap else "")
        + f"; the {len(d.incidents)} largest by {by}. Bars: each feature's mean share of the window error "
        "over the run (the agent's <code>host_anomaly_feature_contribution_ratio</code>).</p>"
    )
    return Section(
        "incidents",
        "Top incidents",
        [summary, html_table(header, rows), *blocks],
        f"{d.incidents_total} runs above threshold; top {len(rows)}:\n" + text_table(header, rows),
    )


def section_pr(d: ReportData) -> Section:
    y = d.labels[d.mask]
    curves = []
    for name, s in d.scores.items():
        x = s.score[d.mask]
        _, tp, fp, fn = M.pr_curve(x, y)
        op = M.at_threshold(x, y, s.threshold)
        curves.append((name, tp / (tp + fn), tp / (tp + fp), M.auc_pr(x, y), (op["recall"], op["precision"])))
    note = (
        f"<p>Point-wise precision-recall on the {int(d.mask.sum())} rows every model scored; dots: the "
        "unsupervised threshold each model ships (bundle: score &gt; 1, baselines: POT on held-out train).</p>"
    )
    return Section("pr", "Precision-recall", [note, plots.pr_curves(curves, float(y.mean()))])


def section_metrics(d: ReportData) -> Section:
    header = ["model"] + [h.replace("PA-F1*", "PA-F1 (inflated)") for h, _ in COLUMNS]
    rows = [[name] + [_num(get(r, key)) for _, key in COLUMNS] for name, r in d.metrics]
    note = (
        f"<p>Source: {esc(d.metrics_source)}. best F1 peeks at the labels (upper bound); @thr = at the shipped "
        "threshold; evF1 = composite event F1; <b>PA-F1 is point-adjusted and inflated</b> (a random score "
        "reaches high values on SMD), never a headline; HR = HitRate@100/150 % of the top contributors against "
        "interpretation_label. Alert level, the shipped rule (5 consecutive samples above the shipped threshold): "
        "FA/day = false alerts per normal day, IncAl / Inc5Al = share of incidents alerted (all / at least 5 "
        "samples long), Delay = median samples from incident start to the alert. "
        "Definitions: docs/evaluation.md.</p>"
    )
    return Section(
        "metrics",
        "Metrics",
        [note, html_table(header, rows, "metrics")],
        f"Metrics ({d.metrics_source})\n" + text_table(header, rows),
    )


def _num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else "n/a"


def model_card(d: ReportData) -> list[tuple[str, str]]:
    """(field, value) pairs describing the bundle, from bundle.json and measured now."""
    b, meta = d.model.bundle, d.model.bundle.meta
    tr, conv, mdl = meta.get("training", {}), meta.get("conversion", {}), meta.get("model", {})
    fth = meta.get("feature_thresholds", {})
    par = conv.get("parity_max_abs_diff")
    tol = conv.get("tolerance")
    parity = (
        "n/a"
        if par is None
        else f"max |keras − tflite| = {par:.2g} (tolerance {fmt(tol)}): "
        + ("pass" if tol is None or par <= tol else "FAIL")
    )
    data = ", ".join(
        f"{k} {fmt(tr[k])}" for k in ("data_dir", "machine", "split", "rows", "train_rows", "val_rows") if k in tr
    )
    same = (
        "n/a"
        if d.train_sha256 is None or "data_sha256" not in tr
        else "the train split of this report's data"
        if d.train_sha256 == tr["data_sha256"]
        else "NOT the train split of this report's data"
    )
    return [
        ("model id", b.model_id),
        ("created", b.created),
        ("bundle", str(d.bundle_dir)),
        ("sha256", b.sha256),
        ("training data", data or "n/a"),
        ("data sha256", f"{tr.get('data_sha256', 'n/a')}: " + same),
        (
            "training",
            f"{fmt(tr.get('epochs'))} epochs (best {fmt(tr.get('best_epoch'))}), train loss "
            f"{fmt(tr.get('train_loss'), 4)}, val loss {fmt(tr.get('val_loss'), 4)}, {fmt(tr.get('seconds'))} s",
        ),
        ("architecture", f"{b.architecture} ({b.kind}), {fmt(mdl.get('params'))} parameters"),
        ("window", f"{b.window} rows"),
        ("features", str(len(b.features))),
        ("score", f"tail {b.tail}: {meta.get('score', {}).get('reduction', '')}"),
        (
            "scaler",
            f"{meta.get('scaler', {}).get('method')}, clip {fmt(b.scaler.clip)}, "
            f"{int((b.scaler.spread <= 0).sum())} constant feature(s)",
        ),
        ("model size", f"{fmt(mdl.get('size_bytes', b.model_path.stat().st_size))} bytes"),
        (
            "inference",
            f"{d.inference_us['median']:.0f} µs median, {d.inference_us['p95']:.0f} µs p95 per "
            f"score_window over {d.inference_us['windows']} windows ({d.model.runtime}, 1 thread); at fit: "
            f"{fmt(mdl.get('inference_us'))} µs",
        ),
        ("threshold", f"{b.threshold.value:.6g} ({b.threshold.method}; {fmt(b.threshold.params)})"),
        (
            "feature thresholds",
            f"{b.feature_threshold_method}, {fmt(float(b.feature_thresholds.min()))}.."
            f"{fmt(float(b.feature_thresholds.max()))}, floor {fmt(fth.get('floor'))}, "
            f"floored {fmt(fth.get('floored'))}, fallbacks {fmt(fth.get('fallbacks'))}",
        ),
        ("parity", parity),
        ("ops", ", ".join(conv.get("op_names", [])) or "n/a"),
        (
            "versions",
            f"trained with tensorflow {tr.get('tensorflow', '?')}, keras {tr.get('keras', '?')}; report: "
            f"python {platform.python_version()}, numpy {np.__version__}, matplotlib {plots.matplotlib_version()}",
        ),
        ("options", fmt(tr.get("options", {})) or "n/a"),
        ("command", tr.get("command", "n/a")),
        ("argv", tr.get("argv", "n/a")),
    ]


def section_model_card(d: ReportData) -> Section:
    card = model_card(d)
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in card)
    return Section(
        "model",
        "Model card",
        [f'<table class="card">{rows}</table>'],
        "Model card\n" + "\n".join(f"{k:<20}{v}" for k, v in card),
    )


# -- detection delay and tuning (docs/breadth.md) -------------------------------------------------------------------


def section_delay(d: ReportData) -> Section:
    y = d.labels[d.mask]
    minutes = d.interval_seconds / 60.0
    header = ("model", "events", "detected", "median (min)", "p90 (min)", "within 5 min")
    rows, curves = [], []
    for name, s in d.scores.items():
        r = detection_delays(s.score[d.mask], y, s.threshold, d.interval_seconds)
        rows.append(
            (
                name,
                r.events,
                len(r.detected),
                fmt(None if r.median_s is None else r.median_s / 60),
                fmt(None if r.p90_s is None else r.p90_s / 60),
                fmt(r.detected_within),
            )
        )
        curves.append((name, [None if v is None else v / 60 for v in r.delays]))
    note = (
        f"<p>For each labelled event: time from its first row to the first row flagged at the model's shipped "
        f"threshold inside the event (rows are {fmt(minutes)} min apart); an event never flagged is missed. "
        "Median and p90 over the detected events; <i>within 5 min</i> over all events.</p>"
    )
    return Section(
        "delay",
        "Detection delay",
        [note, html_table(header, rows), plots.delay_cdf(curves)],
        "Detection delay\n" + text_table(header, rows),
    )


def section_tuning(d: ReportData) -> Section | None:
    rec = d.model.bundle.meta.get("training", {}).get("tuning")
    if not isinstance(rec, dict):
        return None  # not a tuned bundle: no section
    trials = [t for t in rec.get("trials", []) if isinstance(t, dict)]
    best = rec.get("best", {})
    states: dict[str, int] = {}
    for t in trials:
        states[str(t.get("state"))] = states.get(str(t.get("state")), 0) + 1
    card = [
        ("objective", f"{rec.get('objective')} ({rec.get('direction')}): {rec.get('objective_doc', '')}"),
        (
            "search",
            f"{len(trials)} trials ({fmt(states)}), {fmt(rec.get('seconds'))} s, sampler "
            f"{rec.get('sampler')}, optuna {rec.get('optuna')}",
        ),
        ("space", fmt(rec.get("space", {}))),
        ("validation", str(rec.get("validation", ""))),
        ("best", f"trial {best.get('number')}: {fmt(best.get('value'), 4)} with {fmt(best.get('params', {}))}"),
    ]
    keys = sorted({k for t in trials for k in t.get("params", {})})
    ranked = sorted(
        (t for t in trials if isinstance(t.get("value"), (int, float))),
        key=lambda t: t["value"],
        reverse=rec.get("direction") == "maximize",
    )
    header = ("trial", "value", *keys, "seconds")
    rows = [
        (t["number"], fmt(t["value"], 4), *(fmt(t["params"].get(k)) for k in keys), fmt(t.get("seconds")))
        for t in ranked[:10]
    ]
    card_html = (
        '<table class="card">' + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in card) + "</table>"
    )
    return Section(
        "tuning",
        "Tuning",
        [
            card_html,
            html_table(header, rows),
            plots.tuning_plot(trials, str(rec.get("direction")), str(rec.get("objective"))),
        ],
        "Tuning\n" + "\n".join(f"{k:<20}{v}" for k, v in card) + "\n" + text_table(header, rows),
    )

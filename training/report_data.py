"""Everything ``anomaly-train report`` shows, loaded, scored and measured once (:func:`gather`).

The bundle is scored through the shipped path (:class:`training.bundle_detector.BundleDetector`:
:func:`agent.model.loaded.load_model` -> ``scorer.score_series``) next to the baselines of
:mod:`training.baselines`, through the same detector path as ``anomaly-train evaluate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.history.smd import load_machine
from agent.model.loaded import LoadedModel
from agent.score.window import make_windows
from training import evaluate as ev
from training import machine_scores as ms
from training import metrics as M
from training.baselines import BASELINES, REPORT_BASELINES, make_baseline
from training.bundle_detector import BundleDetector
from training.detector import Scores
from training.importers.core import sidecar_features
from training.incidents import Incident, find_incidents, find_runs

log = logging.getLogger(__name__)

TIMING_WINDOWS = 200


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
    series: Scores  # the bundle on the test rows (feature_scores: contribution shares)
    scores: dict[str, ms.ModelScores]  # display name -> scores; the bundle first
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
    frontier: dict[str, Any] | None = None  # bench/frontier.py's JSON (report --frontier): the candidates' section


def measure_inference(model: LoadedModel, test: np.ndarray, n: int = TIMING_WINDOWS) -> dict[str, float]:
    """Median and p95 µs of ``scorer.score_window`` over ``n`` test windows (after 5 warm-up calls)."""
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
    data_dir: Path | str,
    machine: str,
    bundle: Path | str,
    *,
    baselines: Sequence[str] = REPORT_BASELINES,
    evaluation: dict[str, Any] | None = None,
    incidents: int = 5,
    merge_gap: int = 0,
    rank_by: str = "area",
    seed: int = 0,
    vus_max_buffer: int = ev.VUS_MAX_BUFFER,
) -> ReportData:
    """Load, score and measure: every number the report shows."""
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)} (known: {', '.join(BASELINES)})")
    if evaluation is not None:
        _check_evaluation(evaluation, machine)
    t: dict[str, float] = {}
    t0 = time.monotonic()
    m = load_machine(Path(data_dir), machine)
    if m.test is None or m.labels is None or (baselines and m.train is None):
        raise FileNotFoundError(
            f"{machine}: the report needs test/, test_label/ (and train/ for baselines) under {data_dir}"
        )
    if m.labels.sum() == 0:
        raise ValueError(f"{machine}: test_label holds no anomaly, nothing to measure")
    det = BundleDetector.load(bundle)
    model = det.loaded
    b = model.bundle
    if len(b.features) != m.test.shape[1]:
        raise ValueError(
            f"{bundle}: bundle has {len(b.features)} features, {machine} test data {m.test.shape[1]} columns"
        )
    named = sidecar_features(Path(data_dir), machine)
    if named is not None and named != b.features:
        raise ValueError(
            f"{bundle}: bundle features {', '.join(b.features[:5])}... are not the columns the importer "
            f"recorded for {machine} ({', '.join(named[:5])}...)"
        )
    t["load"] = time.monotonic() - t0
    log.info("%s: scoring %d test rows with %s", machine, len(m.test), b.model_id)
    t0 = time.monotonic()
    series = det.score_series(m.test)
    name = f"{b.architecture} (this bundle)"
    scores = {
        name: ms.ModelScores(
            series.score,
            series.feature_scores,
            det.threshold,
            det.threshold_method,
            {"model_id": b.model_id},
            series.feature_scores_normalised,
        )
    }
    inference = measure_inference(model, m.test)
    t["score bundle"] = time.monotonic() - t0
    log.info("%s: baselines %s", machine, ", ".join(baselines) or "none")
    t0 = time.monotonic()
    with _one_blas_thread():
        for bl in baselines:
            scores[bl] = ms.model_scores(make_baseline(bl, seed=seed), m)
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
            interval = ms.row_interval(data_dir, machine)
            rows = [
                (k, ms.machine_metrics(s, m.labels, dims, mask, vus_max_buffer, interval)) for k, s in scores.items()
            ]
        source = f"computed now on {int(mask.sum())} common rows (VUS-PR buffers 0..{vus_max_buffer})"
    t["metrics"] = time.monotonic() - t0
    runs = find_runs(series.score, 1.0, merge_gap)
    train_sha = None if m.train is None else hashlib.sha256(np.ascontiguousarray(m.train).tobytes()).hexdigest()
    assert series.feature_scores is not None  # a bundle always has the contribution shares
    top = find_incidents(series.score, series.feature_scores, m.labels, dims, incidents, 1.0, merge_gap, rank_by)
    return ReportData(
        machine,
        Path(data_dir),
        Path(bundle),
        model,
        m.test,
        m.labels,
        dims,
        series,
        scores,
        mask,
        top,
        len(runs),
        rows,
        source,
        inference,
        rank_by,
        merge_gap,
        train_sha,
        t,
        interval_seconds=ms.row_interval(data_dir, machine),
    )

"""Prometheus exposition: the collector that turns a :class:`Snapshot` into metric families.

Families are created afresh from each snapshot, so a feature that leaves the
top k leaves the output (no stale label sets); :class:`SnapshotCache` builds
them once per snapshot for the served registry.  Example output::

    # HELP host_anomaly_score Normalised anomaly score of the latest window (1.0 = threshold), computed on the ...
    # TYPE host_anomaly_score gauge
    host_anomaly_score 0.42
    host_anomaly_top_contributor{feature="cpu_r",rank="1"} 0.61
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.score.scoring import WindowScore, top_k
from agent.score.snapshot import Snapshot

# every result a reload or a model.url pull can have, exported from 0 so that increase() sees the first one:
# accepted, a bundle that does not load or verify, the server unreachable, and the refused fleet manifests
RELOAD_RESULTS = ("accepted", "rejected", "unreachable", "unsigned", "bad_signature", "replayed")

NAMESPACE = "host_anomaly"
SCHEDULE_NOTE = "computed on the sampling schedule, not at scrape time"


def _g(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, labels=list(labels))


class AnomalyCollector(Collector):
    """Exports the anomaly score, per-feature scores, contributors and agent health."""

    def __init__(self, snapshot: Callable[[], Snapshot], top_k: int = 5, per_feature: bool = True) -> None:
        self._snapshot = snapshot
        self._k = top_k
        self._per_feature = per_feature  # exporter.per_feature_metrics: 2 series per feature

    def describe(self) -> list[Metric]:
        # Explicit (empty) describe: registering must not run collect() (auto_describe pitfall).
        return []

    def collect(self) -> Iterable[Metric]:
        return self.families(self._snapshot())

    def families(self, snap: Snapshot) -> Iterable[Metric]:
        """Every family of ``snap`` (built afresh: no stale label sets)."""
        yield from self._model_families(snap)
        yield from self._health_families(snap)

    def _model_families(self, snap: Snapshot) -> Iterable[Metric]:
        if snap.model is not None:
            info = _g(
                "model_info",
                "The model bundle in use (value is always 1).",
                ("model_id", "architecture", "window", "sha256"),
            )
            m = snap.model
            info.add_metric([m.model_id, m.architecture, str(m.window), m.sha256], 1.0)
            yield info
        res = snap.result
        if res is None or snap.model is None:
            return
        names = snap.model.features
        yield self._single(
            "score", f"Normalised anomaly score of the latest window (1.0 = threshold), {SCHEDULE_NOTE}.", res.score
        )
        yield self._single(
            "anomalous",
            f"1 when the latest window score is above 1 (the threshold), {SCHEDULE_NOTE}.",
            1.0 if res.anomalous else 0.0,
        )
        if self._per_feature:
            yield from self._feature_families(names, res)
        top = _g(
            "top_contributor",
            f"Share of the window error for the top {self._k} features only (rank 1 = largest), {SCHEDULE_NOTE}.",
            ("rank", "feature"),
        )
        for rank, (name, share) in enumerate(top_k(res.contributions, names, self._k), start=1):
            if share > 0:
                top.add_metric([str(rank), name], share)
        yield top

    @staticmethod
    def _feature_families(names: tuple[str, ...], res: WindowScore) -> Iterable[Metric]:
        fs = _g(
            "feature_score", f"Per-feature error normalised by that feature's threshold, {SCHEDULE_NOTE}.", ("feature",)
        )
        cr = _g(
            "feature_contribution_ratio",
            f"Share (0-1) of the window error from each feature, {SCHEDULE_NOTE}.",
            ("feature",),
        )
        for i, name in enumerate(names):
            fs.add_metric([name], float(res.feature_scores[i]))
            cr.add_metric([name], float(res.contributions[i]))
        yield fs
        yield cr

    @staticmethod
    def _single(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, value=value)

    def _health_families(self, snap: Snapshot) -> Iterable[Metric]:
        if snap.scored_at is not None:
            yield self._single("last_score_timestamp_seconds", "Unix time of the last computed score.", snap.scored_at)
        yield self._single(
            "window_fill_ratio", "Warm-up progress: share of the window filled with samples (0-1).", snap.fill_ratio
        )
        yield self._single(
            "calibration_progress_ratio",
            "Host calibration progress (0-1); scores are published once it reaches 1.",
            snap.calibration_ratio,
        )
        if snap.replay_label is not None:
            yield self._single(
                "replay_label", "Ground-truth label of the replayed row (replay mode only).", float(snap.replay_label)
            )
        errs = CounterMetricFamily(f"{NAMESPACE}_collector_errors", "Metric source read failures.", labels=["source"])
        for source, n in sorted(snap.collector_errors.items()):
            errs.add_metric([source], float(n))
        yield errs
        yield CounterMetricFamily(
            f"{NAMESPACE}_scoring_errors",
            "Sampling cycles that failed with an unexpected error.",
            value=float(snap.scoring_errors),
        )
        yield CounterMetricFamily(
            f"{NAMESPACE}_cycles_skipped",
            "Sampling cycles skipped because the previous one was still running or the schedule was missed.",
            value=float(snap.cycles_skipped),
        )
        state = CounterMetricFamily(
            f"{NAMESPACE}_state_errors",
            "Failures to write or read the state directory (history, calibration); scoring goes on.",
            labels=["kind"],
        )
        for kind, n in sorted(snap.state_errors.items()):
            state.add_metric([kind], float(n))
        yield state
        reloads = CounterMetricFamily(
            f"{NAMESPACE}_model_reloads",
            "Model bundle reloads by result (all but accepted keep the running model).",
            labels=["result"],
        )
        for result in (*RELOAD_RESULTS, *sorted(set(snap.reloads) - set(RELOAD_RESULTS))):
            reloads.add_metric([result], float(snap.reloads.get(result, 0)))
        yield reloads
        yield CounterMetricFamily(
            f"{NAMESPACE}_model_rollbacks",
            "New model bundles rolled back to the previous one after scoring far worse on the same rows.",
            value=float(snap.rollbacks),
        )
        yield self._single(
            "model_probation",
            "1 while a new model bundle scores beside the previous one and may still be rolled back.",
            float(snap.probation),
        )


class SnapshotCache(Collector):
    """The snapshot families, built once per snapshot, behind the served registry.

    They change only once per sampling cycle while scrapes may come from
    several Prometheus servers at once, so the families are built on the
    first scrape after a cycle and reused (read-only) until the next one.
    """

    def __init__(self, collector: AnomalyCollector, snapshot: Callable[[], Snapshot]) -> None:
        self._collector = collector
        self._snapshot = snapshot
        self._cached: tuple[Snapshot | None, list[Metric]] = (None, [])

    def describe(self) -> list[Metric]:
        return []  # registering must not run collect()

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot()
        key, families = self._cached  # one read of one tuple: consistent without a lock
        if key is not snap:
            families = list(self._collector.families(snap))
            self._cached = (snap, families)  # two scrapes may both build it: same result, no harm
        return families

"""Ensembles: several member models behind one :class:`~agent.scoring.Scorer`.

An ensemble bundle (``architecture: "ensemble"``) lists its members in
``bundle.json``; each member is its own builtin-ops ``.tflite`` file in the
bundle directory with its own sha256, window, tail, weight and normalisation::

    "members": [{"file": "member-0-dense.tflite", "sha256": "…", "architecture": "dense",
                 "kind": "autoencoder", "window": 30, "tail": 1, "weight": 0.5,
                 "norm": {"method": "z", "std": [F floats], "mean": [F floats]}}, …]

Combined per-feature error of a window (member m sees its last ``window_m`` rows)::

    e_j = sum_m weight_m * norm_m(e_mj)

``norm`` makes members comparable (statistics from the validation split):
``z`` divides by a standard deviation of the member's validation errors,
either one for the whole member (``scope: "member"``: the std of its window
error, so the member's own balance between features is kept) or one per
feature (``scope: "feature"``); centring would add a constant per feature:
no ranking changes, but negative errors and undefined shares.  ``rank`` maps the error to its
empirical CDF (``quantiles``: K values per feature at probabilities 0..1,
ties at their lowest probability), continued linearly above the top quantile
with the slope of the top decile so large errors keep growing instead of
saturating at 1.

The ensemble plugs into the unchanged scorer as an autoencoder with
``tail = 1``: :meth:`EnsemblePredictor.predict` returns the input window
offset by ``sqrt(e)`` on every row, so the scorer's squared error is exactly
``e`` (float64).  Daemon, replay, score, evaluation and host calibration (which
re-creates a ``Scorer`` around ``scorer.predictor`` with its own scaler) all
run it as they run any model.  The bundle's ``sha256`` is the digest of the
member list (``file``, ``sha256`` per member, in order).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.model import TFLitePredictor
from agent.scoring import feature_errors

MAX_MEMBERS = 8
NORM_METHODS = ("z", "rank")
RANK_TAIL = 0.9  # rank: the linear continuation uses the CDF slope between this quantile and the top
RANK_MIN_WIDTH = 1e-4  # ... over at least this error span (squared scaled error: 1 % of the range, squared)


class EnsembleError(ValueError):
    """An ensemble description is unusable; bundle loading re-raises it as a BundleError."""


@dataclass(frozen=True)
class Norm:
    """How one member's per-feature errors are made comparable with the others'."""

    method: str  # "z" or "rank"
    std: np.ndarray | None = None  # z: (F,) > 0 (all equal for scope "member")
    quantiles: np.ndarray | None = None  # rank: (K, F), non-decreasing along K
    scope: str = "feature"  # "member": one statistic for the member's window error, "feature": one per feature

    def apply(self, errors: np.ndarray) -> np.ndarray:
        """Normalise (N, F) raw member errors; the result is >= 0."""
        if self.method == "z":
            assert self.std is not None
            return errors / self.std
        assert self.quantiles is not None
        return rank_normalise(errors, self.quantiles)

    def to_doc(self) -> dict[str, Any]:
        if self.method == "z":
            assert self.std is not None
            return {"method": "z", "scope": self.scope, "std": self.std.tolist()}
        assert self.quantiles is not None
        return {"method": "rank", "scope": self.scope, "quantiles": self.quantiles.tolist()}


def rank_normalise(errors: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Empirical CDF of (N, F) errors from (K, F) quantiles at probabilities 0, 1/(K-1), ..., 1.

    Tied quantiles (a feature whose error is always 0) give their lowest
    probability, P(E < e).  Above the top quantile q_K the value continues as
    1 + s (e - q_K) where s is the CDF slope over the top decile (taken over
    at least :data:`RANK_MIN_WIDTH`), so it never saturates.
    """
    k = quantiles.shape[0]
    probs = np.linspace(0.0, 1.0, k)
    out = np.empty_like(errors, dtype=np.float64)
    top = int(math.floor(RANK_TAIL * (k - 1)))
    for j in range(errors.shape[1]):
        q = quantiles[:, j]
        # ties (e.g. a feature whose error is always 0) take their lowest probability: P(E < e)
        xs, first = np.unique(q, return_index=True)
        out[:, j] = np.interp(errors[:, j], xs, probs[first])
        width = max(float(q[-1] - q[top]), RANK_MIN_WIDTH)
        above = errors[:, j] > q[-1]
        out[above, j] = 1.0 + (1.0 - probs[top]) / width * (errors[above, j] - q[-1])
    return out


def fit_norm(errors: np.ndarray, method: str, floor: float = 1e-4, n_quantiles: int = 51,
             scope: str = "feature") -> Norm:
    """Normalisation statistics of one member from its (N, F) validation errors.

    ``z`` with ``scope="member"``: every feature is divided by the std of the
    member's window error (mean over features); ``scope="feature"``: each by
    the std of its own error.  Stds are floored at ``floor``.  ``rank`` is per feature.
    """
    errors = np.asarray(errors, np.float64)
    if scope not in ("feature", "member") or (method == "rank" and scope != "feature"):
        raise EnsembleError(f"normalisation {method!r} has no scope {scope!r}")
    if method == "z" and scope == "member":
        return Norm("z", std=np.full(errors.shape[1], max(float(errors.mean(axis=1).std()), floor)), scope="member")
    if method == "z":
        return Norm("z", std=np.maximum(errors.std(axis=0), floor))
    if method == "rank":
        q = np.quantile(errors, np.linspace(0.0, 1.0, n_quantiles), axis=0)
        return Norm("rank", quantiles=np.maximum.accumulate(q, axis=0))
    raise EnsembleError(f"unknown normalisation {method!r} (known: {', '.join(NORM_METHODS)})")


@dataclass(frozen=True)
class Member:
    """One verified member of an ensemble bundle."""

    file: str
    path: Path
    sha256: str
    architecture: str
    kind: str  # "autoencoder" or "forecaster"
    window: int  # rows it consumes (forecaster: input + 1)
    tail: int
    weight: float
    norm: Norm

    @property
    def input_length(self) -> int:
        return self.window - 1 if self.kind == "forecaster" else self.window


def members_digest(members: list[tuple[str, str]] | tuple[Member, ...]) -> str:
    """sha256 identifying an ensemble: over ``file NUL sha256 LF`` of every member, in order."""
    pairs = [(m.file, m.sha256) if isinstance(m, Member) else m for m in members]
    return hashlib.sha256("".join(f"{f}\0{h}\n" for f, h in pairs).encode()).hexdigest()


def _num_list(values: Any, n: int, name: str, positive: bool = False) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise EnsembleError(f"{name} must be a list of {n} numbers")
    arr = np.asarray(values, np.float64)
    if not np.isfinite(arr).all() or (positive and (arr <= 0).any()):
        raise EnsembleError(f"{name} must hold finite numbers{' > 0' if positive else ''}")
    return arr


def parse_norm(doc: Any, n: int, where: str) -> Norm:
    if not isinstance(doc, dict) or doc.get("method") not in NORM_METHODS:
        raise EnsembleError(f"{where}.norm.method must be one of {', '.join(NORM_METHODS)}")
    scope = doc.get("scope", "feature")
    if scope not in ("feature", "member"):
        raise EnsembleError(f"{where}.norm.scope must be 'feature' or 'member', got {scope!r}")
    if doc["method"] == "z":
        return Norm("z", std=_num_list(doc.get("std"), n, f"{where}.norm.std", positive=True), scope=scope)
    rows = doc.get("quantiles")
    if not isinstance(rows, list) or not 2 <= len(rows) <= 1001:
        raise EnsembleError(f"{where}.norm.quantiles must be a list of 2..1001 rows of {n} numbers")
    q = np.stack([_num_list(r, n, f"{where}.norm.quantiles[{i}]") for i, r in enumerate(rows)])
    if (np.diff(q, axis=0) < 0).any():
        raise EnsembleError(f"{where}.norm.quantiles must be non-decreasing for every feature")
    return Norm("rank", quantiles=q)


def parse_members(doc: dict[str, Any], root: Path, n_features: int, window: int,
                  confine: Any, sha256_file: Any, max_bytes: int) -> tuple[Member, ...]:
    """Validate ``doc["members"]``: every file confined to ``root``, present, bounded and hash-checked.

    ``confine``/``sha256_file``/``max_bytes`` are :mod:`agent.bundle`'s own checks, passed in so both
    files share one definition without an import cycle.
    """
    items = doc.get("members")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_MEMBERS:
        raise EnsembleError(f"'members' must be a list of 1..{MAX_MEMBERS} members")
    out, seen = [], set()
    for i, m in enumerate(items):
        where = f"members[{i}]"
        if not isinstance(m, dict):
            raise EnsembleError(f"{where} must be an object")
        for key, typ in (("file", str), ("sha256", str), ("architecture", str), ("kind", str), ("window", int),
                         ("tail", int), ("weight", (int, float))):
            if not isinstance(m.get(key), typ) or isinstance(m.get(key), bool):
                raise EnsembleError(f"{where}.{key} is missing or not {getattr(typ, '__name__', 'a number')}")
        if m["architecture"] == "ensemble":
            raise EnsembleError(f"{where}: an ensemble cannot be a member")
        if m["kind"] not in ("autoencoder", "forecaster"):
            raise EnsembleError(f"{where}.kind must be 'autoencoder' or 'forecaster', got {m['kind']!r}")
        lowest = 2 if m["kind"] == "forecaster" else 1
        if not lowest <= m["window"] <= window:
            raise EnsembleError(f"{where}.window must be in {lowest}..{window} (the bundle window), got {m['window']}")
        if not 1 <= m["tail"] <= m["window"]:
            raise EnsembleError(f"{where}.tail must be in 1..{m['window']}, got {m['tail']}")
        weight = float(m["weight"])
        if not math.isfinite(weight) or weight <= 0:
            raise EnsembleError(f"{where}.weight must be a finite number > 0, got {m['weight']}")
        if m["file"] in seen:
            raise EnsembleError(f"{where}.file {m['file']!r} is listed twice")
        seen.add(m["file"])
        path = confine(root, m["file"])
        if not path.is_file():
            raise EnsembleError(f"{m['file']}: member model file missing")
        if path.stat().st_size > max_bytes:
            raise EnsembleError(f"{m['file']}: larger than the {max_bytes} byte limit")
        actual = sha256_file(path)
        if actual != m["sha256"].lower():
            raise EnsembleError(f"{m['file']}: sha256 mismatch (bundle.json says {m['sha256'][:12]}…, "
                                f"file is {actual[:12]}…)")
        out.append(Member(m["file"], path, actual, m["architecture"], m["kind"], m["window"], m["tail"], weight,
                          parse_norm(m.get("norm"), n_features, where)))
    if max(m.window for m in out) != window:
        raise EnsembleError(f"window {window} must equal the longest member window ({max(m.window for m in out)})")
    return tuple(out)


class EnsemblePredictor:
    """The members as one :class:`~agent.scoring.Predictor`: (N, W, F) scaled windows -> pseudo-reconstruction.

    ``predict(x)`` returns ``x + sqrt(e)`` (float64, every row) where ``e`` (N, F) is
    the combined member error, so ``Scorer`` (autoencoder, tail 1) computes ``e``.
    """

    def __init__(self, members: tuple[Member, ...], predictors: list[Any], n_features: int,
                 runtime: str = "") -> None:
        if len(members) != len(predictors) or not members:
            raise EnsembleError("one predictor per member is needed")
        self.members, self.predictors, self.n_features, self.runtime = members, predictors, n_features, runtime
        self.window = max(m.window for m in members)

    @classmethod
    def load(cls, members: tuple[Member, ...], n_features: int, num_threads: int = 1) -> "EnsemblePredictor":
        """Open every member with the TFLite interpreter and check its tensor shapes."""
        preds = []
        for m in members:
            p = TFLitePredictor(m.path, num_threads=num_threads, sha256=m.sha256)
            want_in = (m.input_length, n_features)
            want_out = (m.window, n_features) if m.kind == "autoencoder" else (n_features,)
            if p.input_shape[1:] != want_in or p.output_shape[1:] != want_out:
                raise EnsembleError(f"{m.file}: tensors {p.input_shape} -> {p.output_shape} do not match the member "
                                    f"(batch, {want_in[0]}, {n_features}) -> (batch, {', '.join(map(str, want_out))})")
            preds.append(p)
        return cls(members, preds, n_features, getattr(preds[0], "runtime", ""))

    def member_errors(self, x: np.ndarray) -> list[np.ndarray]:
        """Raw per-feature errors (N, F) of each member on scaled (N, W, F) windows, W >= every member window."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] < self.window or x.shape[2] != self.n_features:
            raise ValueError(f"expected (N, >={self.window}, {self.n_features}) windows, got {x.shape}")
        out = []
        for m, p in zip(self.members, self.predictors):
            xm = x[:, x.shape[1] - m.window:]
            if m.kind == "forecaster":
                out.append(feature_errors(xm[:, -1], p.predict(xm[:, :-1]), 1))
            else:
                out.append(feature_errors(xm, p.predict(xm), m.tail))
        return out

    def combined_errors(self, x: np.ndarray) -> np.ndarray:
        """(N, F) weighted sum of the normalised member errors."""
        errs = self.member_errors(x)
        return np.sum([m.weight * m.norm.apply(e) for m, e in zip(self.members, errs)], axis=0)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, np.float64)
        return x + np.sqrt(np.maximum(self.combined_errors(batch), 0.0))[:, None, :]


def write_ensemble(out: Path, members: list[tuple[dict[str, Any], bytes]], meta: dict[str, Any]) -> Path:
    """Write member files ``member-<i>-<architecture>.tflite`` and ``bundle.json``, then verify the bundle.

    ``members`` pairs each member's bundle.json entry (without ``file``/``sha256``) with its model bytes.
    Used by training; lives next to :func:`parse_members` so writer and reader share one definition.
    """
    from agent.bundle import BUNDLE_FILE, FORMAT_VERSION, load_bundle

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (entry, data) in enumerate(members):
        name = f"member-{i}-{entry['architecture']}.tflite"
        (out / name).write_bytes(data)
        entries.append({"file": name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), **entry})
    doc = dict(meta)
    doc["format_version"] = FORMAT_VERSION
    doc["members"] = entries
    doc["model"] = {**doc.get("model", {}), "sha256": members_digest([(e["file"], e["sha256"]) for e in entries]),
                    "size_bytes": sum(e["size_bytes"] for e in entries), "members": len(entries)}
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / BUNDLE_FILE)
    load_bundle(out)
    return out

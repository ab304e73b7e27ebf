"""Pure scoring: scaling, reconstruction/forecast error, normalised scores, contributors.

Conventions (DESIGN.md "Scores"): higher is more anomalous everywhere; the
window score is the raw error divided by the bundle's threshold, so 1.0 is the
threshold; a per-feature score is that feature's error divided by its own
threshold; a contribution is the feature's share of the window error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from agent.score.window import make_windows

ModelKind = Literal["autoencoder", "forecaster"]

# Constants training and agent must agree on, defined here only.
SCALER_CLIP = 2.0  # scaled values live in [-clip, 1 + clip]: one wild sample cannot drown the others
FEATURE_ERROR_FLOOR = 1e-4  # squared scaled error: 1 % of a feature's range; floors thresholds and norms
Z_CLIP = 10.0  # z-scored inputs live in [-10, 10] (docs/detection.md)
ERROR_CAP = 36.0  # per-feature squared z error cap: a feature 6 sigma off for the whole window (docs/detection.md)


class Predictor(Protocol):
    """Anything that maps a float32 batch (N, W, F) to the model output."""

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Scaler:
    """Per-feature min-max scaling learned on training data.

    Scaled values are clipped to [-clip, 1 + clip] so one wild sample cannot
    drown every other feature's error.
    """

    low: np.ndarray  # (F,)
    high: np.ndarray  # (F,)
    clip: float = SCALER_CLIP

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale (..., F) raw values; constant features map to 0 (their offset)."""
        span = self.high - self.low
        span = np.where(span > 0, span, 1.0)
        return np.clip((x - self.low) / span, -self.clip, 1.0 + self.clip)

    method: ClassVar[str] = "minmax"

    @property
    def typical(self) -> np.ndarray:
        """A plausible raw row (for probes): the low end of the range."""
        return self.low

    @property
    def spread(self) -> np.ndarray:
        return self.high - self.low

    @classmethod
    def fit(cls, x: np.ndarray, clip: float = SCALER_CLIP) -> Scaler:
        """Learn min/max per feature from (T, F) data, ignoring NaN."""
        return cls(np.nanmin(x, axis=0), np.nanmax(x, axis=0), clip)

    def to_doc(self) -> dict[str, Any]:
        return {"method": self.method, "min": self.low.tolist(), "max": self.high.tolist(), "clip": self.clip}


@dataclass(frozen=True)
class ZScaler:
    """Per-feature z-scoring ``(x - center) / scale``, clipped to [-clip, clip].

    ``scale`` is already floored (a noise floor in the feature's own units on a
    live host, a share of the range on SMD rows), so a feature that was
    constant while the statistics were learned does not turn an ordinary
    change into thousands of sigmas.
    """

    center: np.ndarray  # (F,)
    scale: np.ndarray  # (F,) > 0
    clip: float = Z_CLIP
    method: ClassVar[str] = "zscore"

    @property
    def typical(self) -> np.ndarray:
        """A plausible raw row (for probes): the centre."""
        return self.center

    @property
    def spread(self) -> np.ndarray:
        return self.scale

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.center) / self.scale, -self.clip, self.clip)

    def to_doc(self) -> dict[str, Any]:
        return {"method": self.method, "center": self.center.tolist(), "scale": self.scale.tolist(), "clip": self.clip}


AnyScaler = Scaler | ZScaler


@dataclass(frozen=True)
class ScoringSpec:
    """Everything the scorer needs besides the model itself (from bundle.json)."""

    features: tuple[str, ...]
    window: int  # rows the scorer consumes (forecaster: input length + 1)
    kind: ModelKind
    scaler: AnyScaler
    tail: int  # autoencoder: per-feature error = mean over the last `tail` steps
    threshold: float  # on the raw window error
    feature_thresholds: np.ndarray  # (F,) on the raw per-feature errors
    error_cap: float | None = None  # per-feature error ceiling: bounds one feature's share of the score
    # the fast tier (docs/detection.md): the error of the last `fast_tail` steps beside the whole window's,
    # against its own host-calibrated threshold; the score is the larger of the two normalised scores
    fast_tail: int | None = None
    fast_threshold: float | None = None
    # the per-metric tier (docs/detection.md): each feature's fast-tail error over its own host level; the
    # tier's value is the largest ratio, against its own host-calibrated threshold
    metric_levels: np.ndarray | None = None
    metric_threshold: float | None = None

    @property
    def fast(self) -> bool:
        return self.fast_tail is not None and self.fast_threshold is not None and self.kind == "autoencoder"

    @property
    def metric(self) -> bool:
        return self.fast and self.metric_levels is not None and self.metric_threshold is not None

    @property
    def input_length(self) -> int:
        return self.window - 1 if self.kind == "forecaster" else self.window


def impute(windows: np.ndarray) -> np.ndarray:
    """Fill NaN in scaled (N, W, F) windows: forward along time, then 0.

    A source that failed for a sample yields NaN; carrying the last good value
    forward keeps a transient read error from looking like an anomaly.
    """
    if not np.isnan(windows).any():
        return windows
    out = np.array(windows, copy=True)
    for t in range(1, out.shape[1]):
        gap = np.isnan(out[:, t])
        out[:, t][gap] = out[:, t - 1][gap]
    return np.nan_to_num(out, nan=0.0)


def model_io(spec: ScoringSpec, raw_windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split raw (N, window, F) windows into (model input, target), both scaled float32.

    Autoencoder: input and target are the same window.  Forecaster: input is
    every row but the last, the target is the last row, shape (N, F).
    """
    scaled = impute(spec.scaler.transform(raw_windows)).astype(np.float32)
    if spec.kind == "forecaster":
        return scaled[:, :-1], scaled[:, -1]
    return scaled, scaled


def feature_errors(target: np.ndarray, output: np.ndarray, tail: int) -> np.ndarray:
    """Per-feature squared error.

    Parameters
    ----------
    target, output : (N, W, F) for an autoencoder, (N, F) for a forecaster
    tail : autoencoder only; average over the last ``tail`` time steps

    Returns
    -------
    ndarray (N, F) float64
    """
    err = (np.asarray(output, np.float64) - np.asarray(target, np.float64)) ** 2
    if err.ndim == 3:
        err = err[:, -tail:, :].mean(axis=1)
    return err


def window_error(errors: np.ndarray) -> np.ndarray:
    """Raw window error (N,) = mean of the per-feature errors (N, F)."""
    return errors.mean(axis=1)


def contributions(errors: np.ndarray) -> np.ndarray:
    """Each feature's share (0-1) of the window error; all zero for a perfect reconstruction."""
    total = errors.sum(axis=-1, keepdims=True)
    return np.divide(errors, total, out=np.zeros_like(errors), where=total > 0)


def top_k(shares: np.ndarray, names: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    """The k features with the largest share, largest first (ties by catalog order)."""
    order = np.argsort(-shares, kind="stable")[:k]
    return [(names[i], float(shares[i])) for i in order]


@dataclass(frozen=True)
class WindowScore:
    """The result of scoring one window; immutable so exporters can share it."""

    score: float  # normalised: 1.0 == threshold
    raw_error: float
    feature_scores: np.ndarray  # (F,) normalised per feature
    contributions: np.ndarray  # (F,) shares summing to 1 (or all 0)
    # the two tiers when the fast one is on (score is the larger; feature scores and shares are its)
    window_score: float | None = None
    fast_score: float | None = None
    metric_score: float | None = None

    @property
    def anomalous(self) -> bool:
        return self.score > 1.0


@dataclass(frozen=True)
class SeriesScores:
    """Scores for a whole (T, F) series; rows before the first full window are NaN."""

    score: np.ndarray  # (T,)
    feature_scores: np.ndarray  # (T, F)
    contributions: np.ndarray  # (T, F)
    raw_error: np.ndarray  # (T,)
    feature_errors: np.ndarray  # (T, F)


class Scorer:
    """Scores windows with a predictor; the one scorer used by daemon, replay, score and evaluation."""

    def __init__(self, spec: ScoringSpec, predictor: Predictor) -> None:
        self.spec = spec
        self.predictor = predictor

    def errors(self, raw_windows: np.ndarray) -> np.ndarray:
        """Per-feature raw errors (N, F) for raw windows (N, window, F)."""
        return self.errors_at(raw_windows, (self.spec.tail,))[0]

    def errors_at(self, raw_windows: np.ndarray, tails: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Per-feature raw errors (N, F) averaged over each of ``tails`` last steps, from one inference."""
        x, target = model_io(self.spec, raw_windows)
        out = self.predictor.predict(x)
        cap = self.spec.error_cap
        errs = (feature_errors(target, out, tail) for tail in tails)
        return tuple(e if cap is None else np.minimum(e, cap) for e in errs)

    def score_window(self, raw_window: np.ndarray) -> WindowScore:
        spec = self.spec
        tails = (spec.tail,) if spec.fast_tail is None or not spec.fast else (spec.tail, spec.fast_tail)
        err, *fast = (e[0] for e in self.errors_at(raw_window[None], tails))
        raw = float(err.mean())
        score, lead, scores = raw / spec.threshold, err, err / spec.feature_thresholds
        window_score = fast_score = metric_score = None
        if fast and spec.fast_threshold is not None:
            window_score, fast_score = score, float(fast[0].mean()) / spec.fast_threshold
            if fast_score > window_score:  # the fast tier leads: its feature scores add up to the score
                score, lead, scores = fast_score, fast[0], fast[0] / (len(fast[0]) * spec.fast_threshold)
            if spec.metric_levels is not None and spec.metric_threshold is not None:
                ratios = fast[0] / spec.metric_levels
                metric_score = float(ratios.max()) / spec.metric_threshold
                if metric_score > score:  # one metric far from its own normal leads: it is the top contributor
                    score, lead, scores = metric_score, ratios, ratios / spec.metric_threshold
        return WindowScore(
            score=score,
            raw_error=raw,
            feature_scores=scores,
            contributions=contributions(lead),
            window_score=window_score,
            fast_score=fast_score,
            metric_score=metric_score,
        )

    def score_series(self, x: np.ndarray, batch: int = 256) -> SeriesScores:
        """Score every window of a (T, F) series; row t gets the window ending at t."""
        windows = make_windows(np.asarray(x, np.float64), self.spec.window)
        t, f = x.shape
        errs = np.full((t, f), np.nan)
        first = self.spec.window - 1
        for i in range(0, len(windows), batch):
            chunk = windows[i : i + batch]
            errs[first + i : first + i + len(chunk)] = self.errors(chunk)
        raw = errs.mean(axis=1)
        return SeriesScores(
            score=raw / self.spec.threshold,
            feature_scores=errs / self.spec.feature_thresholds,
            contributions=contributions(np.nan_to_num(errs)) * np.where(np.isnan(raw), np.nan, 1.0)[:, None],
            raw_error=raw,
            feature_errors=errs,
        )

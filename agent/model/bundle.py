"""The model bundle contract: ``bundle.json`` + ``model.tflite`` in one directory.

The schema (``Bundle``, ``Threshold``) and its parsing live here, for
single-model and ensemble bundles alike; the field checks and the scaler
section are the pure :mod:`agent.model.fields`, an ensemble's members and the
model-file checks :mod:`agent.model.members`.  ``load_bundle`` verifies
every field DESIGN.md lists and raises :class:`BundleError` naming the field
that is wrong.  Nothing in a bundle is executed: JSON and flatbuffers only,
paths confined to the bundle directory.  The writer is :mod:`agent.model.write`,
the interpreters :mod:`agent.model.predictors`, the whole check :func:`agent.model.loaded.load_model`.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.fields import BundleError, parse_scaler
from agent.model.fields import float_array as _floats
from agent.model.fields import get_field as _get
from agent.model.members import MAX_MODEL_BYTES, Member, confined, members_digest, parse_members, sha256_file
from agent.score.scoring import AnyScaler, ScoringSpec

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
MODEL_FILE = "model.tflite"
MAX_JSON_BYTES = 4 * 1024 * 1024
ARCHITECTURES = ("dense", "lstm", "conv_bigru", "lstm_forecaster", "ensemble")
THRESHOLD_METHODS = ("pot", "quantile", "best_f1", "calibrated")


@dataclass(frozen=True)
class Threshold:
    value: float
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle.json plus the path and bytes of its model."""

    path: Path
    model_id: str
    created: str
    architecture: str
    kind: str
    window: int
    features: tuple[str, ...]
    scaler: AnyScaler
    tail: int
    threshold: Threshold
    feature_thresholds: np.ndarray
    feature_threshold_method: str
    sha256: str
    model_path: Path
    meta: dict[str, Any]  # the whole document, for /model and provenance
    members: tuple[Member, ...] = ()  # ensemble only, each verified like model.file
    error_cap: float | None = None  # score.error_cap: per-feature error ceiling
    anchor: float | None = None  # threshold.anchor: the model's own 1-in-1000 window error on its training data

    def spec(self) -> ScoringSpec:
        return ScoringSpec(
            features=self.features,
            window=self.window,
            kind=self.kind,  # type: ignore[arg-type]
            scaler=self.scaler,
            tail=self.tail,
            threshold=self.threshold.value,
            feature_thresholds=self.feature_thresholds,
            error_cap=self.error_cap,
        )


def parse_bundle(doc: Any, root: Path) -> Bundle:
    """Validate a decoded bundle.json (no model I/O except hashing)."""
    if not isinstance(doc, dict):
        raise BundleError("bundle.json: top level must be an object")
    version = _get(doc, "format_version", int)
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle.json: format_version {version} is not supported (this agent reads {FORMAT_VERSION})")
    arch = _get(doc, "architecture", str)
    if arch not in ARCHITECTURES:
        raise BundleError(f"bundle.json: unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
    kind = _get(doc, "kind", str)
    if kind not in ("autoencoder", "forecaster"):
        raise BundleError(f"bundle.json: kind must be 'autoencoder' or 'forecaster', got {kind!r}")
    window = _get(doc, "window", int)
    if not 2 <= window <= 10_000:
        raise BundleError(f"bundle.json: window must be in 2..10000, got {window}")
    features = _get(doc, "features", list)
    if not features or not all(isinstance(f, str) and f for f in features):
        raise BundleError("bundle.json: 'features' must be a non-empty list of names")
    if len(set(features)) != len(features):
        raise BundleError("bundle.json: 'features' has duplicate names")
    n = len(features)
    sc = _get(doc, "scaler", dict)
    scaler = parse_scaler(sc, n)
    red = _get(doc, "score", dict)
    tail = _get(red, "tail", int, "score.")
    if not 1 <= tail <= window:
        raise BundleError(f"bundle.json: score.tail must be in 1..window ({window}), got {tail}")
    error_cap = _optional_positive(red, "error_cap", "score.")
    th = _get(doc, "threshold", dict)
    value = _get(th, "value", (int, float), "threshold.")
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise BundleError(f"bundle.json: threshold.value must be a finite number > 0, got {value}")
    anchor = _optional_positive(th, "anchor", "threshold.")
    th_method = _get(th, "method", str, "threshold.")
    if th_method not in THRESHOLD_METHODS:
        raise BundleError(f"bundle.json: threshold.method {th_method!r} unknown ({', '.join(THRESHOLD_METHODS)})")
    fth = _get(doc, "feature_thresholds", dict)
    fvalues = _floats(fth.get("values"), n, "feature_thresholds.values", positive=True)
    fmethod = _get(fth, "method", str, "feature_thresholds.")
    model = _get(doc, "model", dict)
    members: tuple[Member, ...] = ()
    if arch == "ensemble":
        model_path, actual, members = _ensemble_members(doc, root, n, window, kind, tail)
        digest = model.get("sha256")
        if digest is not None and (not isinstance(digest, str) or digest.lower() != actual):
            raise BundleError(f"bundle.json: model.sha256 is not the digest of the members ({actual[:12]}…)")
    else:
        fname = _get(model, "file", str, "model.")
        digest = _get(model, "sha256", str, "model.")
        model_path = confined(root, fname)
        if not model_path.is_file():
            raise BundleError(f"{fname}: model file missing")
        size = model_path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise BundleError(f"{fname}: {size} bytes is larger than the {MAX_MODEL_BYTES} byte limit")
        actual = sha256_file(model_path)
        if actual != digest.lower():
            raise BundleError(f"{fname}: sha256 mismatch (bundle.json says {digest[:12]}…, file is {actual[:12]}…)")
    return Bundle(
        path=root,
        model_id=_get(doc, "model_id", str),
        created=_get(doc, "created", str),
        architecture=arch,
        kind=kind,
        window=window,
        features=tuple(features),
        scaler=scaler,
        tail=tail,
        threshold=Threshold(float(value), th_method, _params(th)),
        feature_thresholds=fvalues,
        feature_threshold_method=fmethod,
        sha256=actual,
        model_path=model_path,
        meta=doc,
        members=members,
        error_cap=error_cap,
        anchor=anchor,
    )


def _optional_positive(doc: dict[str, Any], key: str, where: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise BundleError(f"bundle.json: {where}{key} must be a finite number > 0, got {value!r}")
    return float(value)


def _params(th: dict[str, Any]) -> dict[str, Any]:
    params = th.get("params") or {}
    if not isinstance(params, dict):
        raise BundleError(f"bundle.json: threshold.params must be an object, got {type(params).__name__}")
    return dict(params)


def _ensemble_members(
    doc: dict[str, Any], root: Path, n: int, window: int, kind: str, tail: int
) -> tuple[Path, str, tuple[Member, ...]]:
    """Verify an ensemble's ``members``; returns (first member path, members digest, members)."""
    if kind != "autoencoder" or tail != 1:
        raise BundleError("bundle.json: an ensemble is scored as kind 'autoencoder' with score.tail 1")
    members = parse_members(doc, root, n, window)
    return members[0].path, members_digest(members), members


def load_bundle(path: Path | str) -> Bundle:
    """Read and verify ``bundle.json`` in directory ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory")
    meta_path = confined(root, BUNDLE_FILE)
    try:
        # O_NONBLOCK: a FIFO planted as bundle.json must not hang open() or read()
        with os.fdopen(os.open(meta_path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise BundleError(f"{BUNDLE_FILE}: not a regular file")
            raw = fh.read(MAX_JSON_BYTES + 1)  # bounded even if the file grows after a size check
        if len(raw) > MAX_JSON_BYTES:
            raise BundleError(f"{BUNDLE_FILE}: larger than {MAX_JSON_BYTES} bytes")
        doc = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{root}: no {BUNDLE_FILE}") from None
    except OSError as exc:
        raise BundleError(f"{BUNDLE_FILE}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{BUNDLE_FILE}: not valid JSON ({exc})") from None
    except RecursionError:
        raise BundleError(f"{BUNDLE_FILE}: not valid JSON (nested too deeply)") from None
    try:
        return parse_bundle(doc, root.resolve())
    except BundleError:
        raise
    except (OSError, ValueError, TypeError) as exc:  # e.g. a file name the OS refuses (NUL, too long)
        raise BundleError(f"{BUNDLE_FILE}: unusable ({type(exc).__name__}: {exc})") from None


def bundle_signature(path: str) -> tuple[Any, ...]:
    """Cheap change detector for the bundle files (mtime and size of each)."""
    root = Path(path).resolve()
    sig: list[Any] = [str(root)]
    for name in (BUNDLE_FILE, MODEL_FILE):
        try:
            st = (root / name).stat()
            sig += [st.st_mtime_ns, st.st_size]
        except OSError:
            sig += [None, None]
    return tuple(sig)

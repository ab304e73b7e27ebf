"""Bundle verification without an interpreter: every field checked, clear messages."""

import copy
import hashlib
import json
import os
from pathlib import Path

import pytest

from agent.model.bundle import BundleError, load_bundle

FEATURES = ["a", "b", "c"]
MODEL = b"TFL3 not a real model but hashed all the same"


def good_doc() -> dict:
    return {
        "format_version": 1,
        "model_id": "t",
        "created": "2026-01-01T00:00:00Z",
        "architecture": "dense",
        "kind": "autoencoder",
        "window": 4,
        "features": FEATURES,
        "scaler": {"method": "minmax", "min": [0, 0, 0], "max": [1, 1, 1], "clip": 2.0},
        "score": {"tail": 1},
        "threshold": {"value": 0.1, "method": "pot", "params": {}},
        "feature_thresholds": {"values": [0.1, 0.2, 0.3], "method": "pot"},
        "model": {"file": "model.tflite", "sha256": hashlib.sha256(MODEL).hexdigest()},
    }


def write(tmp: Path, doc: dict, model: bytes = MODEL) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "model.tflite").write_bytes(model)
    (tmp / "bundle.json").write_text(json.dumps(doc))
    return tmp


def test_good_bundle_loads(tmp_path: Path) -> None:
    b = load_bundle(write(tmp_path, good_doc()))
    assert b.features == tuple(FEATURES) and b.window == 4 and b.threshold.method == "pot"


def mutate(path: str, value: object) -> dict:
    doc = copy.deepcopy(good_doc())
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("format_version", 99, "format_version 99 is not supported"),
        ("architecture", "transformer", "unknown architecture"),
        ("window", 1, "window must be in 2..10000"),
        ("window", "30", "field 'window' must be int"),
        ("features", ["a", "a", "b"], "duplicate names"),
        ("scaler.min", [0, 0], "'scaler.min' must be a list of 3 numbers"),
        ("feature_thresholds.values", [0.1, 0.2], "must be a list of 3 numbers (one per feature)"),
        ("feature_thresholds.values", [0.1, -0.2, 0.3], "must be > 0"),
        ("threshold.value", float("nan"), "threshold.value must be a finite number > 0"),
        ("threshold.value", -1, "threshold.value must be a finite number > 0"),
        ("threshold.method", "magic", "threshold.method 'magic' unknown"),
        ("score.tail", 10, "score.tail must be in 1..window"),
        ("model.sha256", "0" * 64, "sha256 mismatch"),
        ("model_id", KeyError, "missing field 'model_id'"),
        ("model.file", "../model.tflite", "resolves outside the bundle directory"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, path: str, value: object, message: str) -> None:
    with pytest.raises(BundleError) as exc:
        load_bundle(write(tmp_path / "b", mutate(path, value)))
    assert message in str(exc.value)


def test_truncated_model_fails_hash(tmp_path: Path) -> None:
    d = write(tmp_path, good_doc(), MODEL[:10])
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(d)


def test_not_json_and_missing(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no bundle.json"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text("{nope")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="not a directory"):
        load_bundle(tmp_path / "absent")


def test_symlink_out_of_bundle_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.tflite"
    outside.write_bytes(MODEL)
    d = write(tmp_path / "b", good_doc())
    (d / "model.tflite").unlink()
    os.symlink(outside, d / "model.tflite")
    with pytest.raises(BundleError, match="outside the bundle directory"):
        load_bundle(d)

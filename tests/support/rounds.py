"""Fleet rounds for the rollback tests: a good round, a bad round, and publishing one as `fleet fit` + `fleet sign`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from agent.model.bundle import load_bundle
from agent.model.loaded import load_model
from agent.model.members import sha256_file
from training.fleet.manifest import read_manifest, write_host_record, write_manifest
from training.fleet.signing import sign


def good_round(src: Path, dst: Path) -> Path:
    """The same network in another file (16 bytes of padding): a new sha256, the same scores."""
    shutil.copytree(src, dst)
    with open(dst / "model.tflite", "ab") as fh:
        fh.write(b"\0" * 16)
    return rehash(dst, "good-round")


def bad_round(src: Path, dst: Path, rows: np.ndarray | None = None) -> Path:
    """A host-specific min-max bundle (no host calibration) whose thresholds put every window far above 1:
    a million times too low, or with ``rows``, set so that the median window of ``rows`` scores 5."""
    dst = good_round(src, dst)
    with open(dst / "model.tflite", "ab") as fh:
        fh.write(b"\0" * 16)
    doc = json.loads((dst / "bundle.json").read_text())
    n = len(doc["features"])
    doc["scaler"] = {"method": "minmax", "min": [0.0] * n, "max": [1.0] * n, "clip": 0.0}
    doc["training"]["host_specific"] = True
    doc["threshold"]["value"], doc["feature_thresholds"]["values"] = 1e-6, [1e-6] * n
    (dst / "bundle.json").write_text(json.dumps(doc))
    rehash(dst, "bad-round")
    if rows is not None:  # the raw error of each window, divided by 5: scores around 5 on these rows
        doc = json.loads((dst / "bundle.json").read_text())
        w, scorer = doc["window"], load_model(dst).scorer
        raw = [scorer.score_window(rows[i : i + w]).score * 1e-6 for i in range(0, len(rows) - w, 10)]
        doc["threshold"]["value"] = float(np.median(raw)) / 5
        doc["feature_thresholds"]["values"] = [float(np.median(raw)) / 5] * n
        (dst / "bundle.json").write_text(json.dumps(doc))
    return dst


def rehash(d: Path, model_id: str) -> Path:
    doc = json.loads((d / "bundle.json").read_text())
    doc["model"]["sha256"] = sha256_file(d / "model.tflite")
    doc["model_id"] = model_id
    (d / "bundle.json").write_text(json.dumps(doc))
    return d


def publish(fleet: Path, host: str, bundle: Path, key: Path, share: float | None = None) -> None:
    """`fleet fit` leaving ``bundle`` for ``host``, then `fleet sign`: a new generation (at share 0.1 unless
    ``share``)."""
    shutil.rmtree(fleet / host, ignore_errors=True)
    shutil.copytree(bundle, fleet / host)
    rec = {"host": host, "status": "ok", "sha256": load_bundle(fleet / host).sha256}
    write_host_record(fleet, rec)
    doc = read_manifest(fleet) if (fleet / "fleet.json").exists() else {"hosts": {}}
    write_manifest(fleet, {**doc, "hosts": {host: rec}})
    sign(fleet, key, share=share)

"""One host's training task: read its rows, fit, write ``OUT/<host>/``, return its fleet.json record.

Runs in a Ray worker or in the local loop alike.  Every failure is caught and
returned as a ``failed`` record with the error, so one host's bad data never
stops the others.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.bundle import BUNDLE_FILE, load_bundle
from agent.model.members import sha256_file
from training.data import feature_names_for, history_train, load_train
from training.fit import fit_bundle
from training.fleet.plan import HostJob
from training.importers.prometheus import PrometheusAPI, import_prometheus

log = logging.getLogger(__name__)


def _rows(job: HostJob, scratch: Path) -> tuple[np.ndarray, tuple[str, ...], dict[str, Any]]:
    src = job.source
    if job.kind == "history":
        train, names, prov = history_train(Path(src["history_dir"]), job.options.window)
        return train, names, {**prov, "machine": job.host}
    if job.kind == "prometheus":
        import_prometheus(
            PrometheusAPI(src["url"]),
            src["instance"],
            src["start"],
            src["end"],
            src["step"],
            scratch,
            job.host,
            job=src.get("job"),
        )
        data, machine = scratch, job.host
        extra = {"prometheus": {k: src[k] for k in ("url", "instance", "start", "end", "step")}, "host_specific": True}
    else:
        data, machine, extra = Path(src["data_dir"]), src["machine"], {}
    train, _ = load_train(data, machine)
    names = feature_names_for(data, machine, train.shape[1])
    return (
        train,
        names,
        {"data_dir": str(src.get("data_dir", "prometheus")), "machine": job.host, "split": "train", **extra},
    )


def train_host(job: HostJob, out: str) -> dict[str, Any]:
    """Train ``job`` into ``out/<host>/`` (written beside and moved in, so a failure leaves the old bundle)."""
    t0 = time.monotonic()
    record: dict[str, Any] = {
        "host": job.host,
        "kind": job.kind,
        "machine": job.source.get("machine"),
        "input_digest": job.input_digest,
        "options_digest": job.options_digest,
        "arch": job.arch,
        "pid": os.getpid(),
    }
    final = Path(out) / job.host
    try:
        with tempfile.TemporaryDirectory(prefix=f".{job.host}-", dir=out) as tmp:
            train, names, prov = _rows(job, Path(tmp) / "import")
            prov = {**prov, "fleet": {"input_digest": job.input_digest, "options_digest": job.options_digest}}
            staged = Path(tmp) / "bundle"
            r = fit_bundle(train, arch=job.arch, out=staged, options=job.options, feature_names=names, provenance=prov)
            b = load_bundle(staged)
            meta = b.meta
            old = Path(tmp) / "old"
            if final.exists():
                final.rename(old)
            staged.rename(final)
        record.update(
            {
                "status": "ok",
                "rows": int(len(train)),
                "features": len(names),
                "sha256": b.sha256,
                "bundle_json_sha256": sha256_file(final / BUNDLE_FILE),
                "model_id": meta.get("model_id"),
                "threshold": {
                    "value": r.threshold.value,
                    "method": r.threshold.method,
                    "feature_min": float(np.min(r.feature_thresholds)),
                    "feature_max": float(np.max(r.feature_thresholds)),
                },
                "validation": {
                    "train_loss": r.train_loss,
                    "val_loss": r.val_loss,
                    "epochs": r.epochs,
                    "parity_max_abs_diff": r.parity_max_diff,
                },
                "model_bytes": r.model_bytes,
            }
        )
    except Exception as exc:  # one host's failure is its record, never the run's
        log.warning("host %s failed: %s", job.host, exc)
        record.update(
            {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=4)}
        )
        if not (final / BUNDLE_FILE).is_file():
            shutil.rmtree(final, ignore_errors=True)
    finally:
        _release_keras()
    record["seconds"] = round(time.monotonic() - t0, 2)
    return record


def _release_keras() -> None:
    """Drop Keras' global graph state: a worker (or the local loop) trains host after host in one process."""
    import keras

    keras.backend.clear_session()

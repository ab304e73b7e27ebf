"""Helpers of the reliability suite: bundles built from the fixtures, an in-process agent, process figures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry
from support import DEFAULT_BUNDLE

from agent.config import Config
from agent.model.loaded import LoadedModel
from agent.runtime.cycle import Agent
from agent.runtime.hoststate import host_state
from agent.runtime.sources import Row

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# the fixture models: y = scale * x (see fixtures/regen_models.py)
HALF, QUARTER = FIXTURES / "half_w30_f38.tflite", FIXTURES / "quarter_w30_f38.tflite"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bundle_doc(path: Path) -> dict[str, Any]:
    return json.loads((path / "bundle.json").read_text())


def write_doc(path: Path, doc: Any) -> None:
    (path / "bundle.json").write_text(json.dumps(doc))


def make_bundle(dst: Path, model: Path | None = None, threshold: float | None = None) -> Path:
    """A copy of models/default, optionally with another model file (hash updated) and threshold."""
    shutil.copytree(DEFAULT_BUNDLE, dst)
    doc = bundle_doc(dst)
    if model is not None:
        shutil.copy(model, dst / "model.tflite")
        doc["model"] = {
            **doc["model"],
            "sha256": sha256(dst / "model.tflite"),
            "size_bytes": (dst / "model.tflite").stat().st_size,
        }
    if threshold is not None:
        doc["threshold"] = {**doc["threshold"], "value": threshold}
    write_doc(dst, doc)
    return dst


class Clock:
    """A settable clock for ``Agent(clock=..., monotonic=...)``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ListSource:
    """Rows in the [0, 1] SMD scale, endless; ``fail`` makes ``next`` raise."""

    def __init__(self, n_features: int = 38, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = n_features
        self.count = 0
        self.fail: BaseException | None = None

    def next(self) -> Row:
        if self.fail is not None:
            raise self.fail
        self.count += 1
        return Row(self.rng.uniform(0.2, 0.4, self.n))

    def error_counts(self) -> dict[str, int]:
        return {"list": 0}


def make_agent(
    model: LoadedModel,
    source: Any = None,
    interval: float = 60.0,
    max_gap: float = 3.0,
    clock: Callable[[], float] | None = None,
    monotonic: Callable[[], float] | None = None,
    bundle: Path | None = None,
    **kw: Any,
) -> tuple[Agent, CollectorRegistry]:
    cfg = Config()
    cfg = replace(
        cfg,
        sampling=replace(cfg.sampling, interval_seconds=interval, max_gap_intervals=max_gap),
        model=replace(cfg.model, bundle=str(bundle or model.bundle.path)),
    )
    registry = CollectorRegistry(auto_describe=False)
    agent = Agent(
        cfg,
        source or ListSource(len(model.bundle.features)),
        model,
        registry,
        clock=clock or time.time,
        monotonic=monotonic or time.monotonic,
        **kw,
    )
    return agent, registry


def live_agent(
    model: LoadedModel, state_dir: Path, source: Any = None, interval: float = 60.0, **kw: Any
) -> tuple[Agent, CollectorRegistry]:
    """An agent wired like ``anomaly-agent run``: calibration and history in ``state_dir`` (small bounds)."""
    cfg = Config()
    cfg = replace(
        cfg,
        state_directory=str(state_dir),
        sampling=replace(cfg.sampling, interval_seconds=interval),
        model=replace(cfg.model, bundle=str(model.bundle.path)),
        calibration=replace(cfg.calibration, warmup_samples=10),
        history=replace(cfg.history, max_bytes=64 * 1024, rows_per_file=20),
    )
    calibrator, history = host_state(cfg, model)
    registry = CollectorRegistry(auto_describe=False)
    agent = Agent(
        cfg,
        source or ListSource(len(model.bundle.features)),
        model,
        registry,
        calibrator=calibrator,
        history=history,
        **kw,
    )
    return agent, registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def proc_figures(pid: int) -> dict[str, float]:
    """Resident memory (kB), open file descriptors and threads of a process, from /proc."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key == "VmRSS":
                out["rss_kb"] = int(rest.split()[0])
            elif key == "Threads":
                out["threads"] = int(rest)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out

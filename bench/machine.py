"""The machine a benchmark run measured on: CPU, cores, memory, kernel, library versions and its load.

:mod:`bench.__main__` stores :func:`machine_info` with every result file, so
a figure can be read against the hardware and the exact versions (the agent's
libraries, TensorFlow, the side venv's tflite-runtime, the reference
``prometheus-node-exporter``) that produced it, and :func:`busy_note` flags a
run that shared its CPUs with other work (its timings are pessimistic).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Sequence
from typing import Any

from bench.common import NODE_EXPORTER, TFLITE_VENV


def _version(dist_name: str) -> str | None:
    try:
        return importlib.metadata.version(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, cores, kernel and the versions of everything the figures depend on."""
    tflite_rt = None
    if (TFLITE_VENV / "bin" / "python").exists():
        try:
            tflite_rt = (
                subprocess.run(
                    [
                        str(TFLITE_VENV / "bin" / "python"),
                        "-c",
                        "import importlib.metadata as m; print(m.version('tflite-runtime'), m.version('numpy'))",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=30,
                ).stdout.strip()
                or None
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "mem_total_mb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "ai_edge_litert": _version("ai-edge-litert"),
        "tflite_runtime_venv": tflite_rt,  # "<tflite-runtime> <numpy>" in the side venv
        "prometheus_client": _version("prometheus-client"),
        "psutil": _version("psutil"),
        "apscheduler": _version("apscheduler"),
        "tensorflow": _version("tensorflow-cpu") or _version("tensorflow"),
        "keras": _version("keras"),
        "node_exporter": _node_exporter_version(),
    }


def _node_exporter_version() -> str | None:
    if not NODE_EXPORTER.exists():
        return None
    try:
        out = subprocess.run([str(NODE_EXPORTER), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else None


def busy_note(load_before: Sequence[float], load_after: Sequence[float]) -> str | None:
    """A note when other work shared the CPUs (1-minute load above half the cores)."""
    cores = os.cpu_count() or 1
    peak = max(load_before[0], load_after[0])
    if peak > cores / 2:
        return (
            f"machine shared with other jobs while measuring (1-min load {load_before[0]:.1f} -> "
            f"{load_after[0]:.1f} on {cores} cores): timings are noisy and pessimistic"
        )
    return None

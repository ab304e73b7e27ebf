"""Benchmarks of the agent's footprint and speed (``python -m bench``), plus detection quality.

``BENCHMARKS`` maps each benchmark name (also its ``bench/results/<name>.json``)
to its module; ``bench.detection`` runs separately (``python -m bench.detection``).
"""

BENCHMARKS: dict[str, str] = {
    "memory": "memory",
    "cycle_cpu": "cycle_cpu",
    "scrape": "scrape",
    "inference": "inference",
    "startup": "startup",
    "training": "train_cost",
    "scaling": "scaling",
}

__all__ = ["BENCHMARKS"]

"""CPU of one recalibration with the shipped model: 10080 recent rows (7 days at 1/min), 3 runs.

python docs/research/scripts/recal_time.py [SMD root, default ../shared/data/smd]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from agent.calibrate.calibrator import Calibrator, host_recipe, scorer_errors_fn
from agent.model.loaded import load_model
from agent.history.smd import load_machine

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    smd = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "smd"
    model = load_model(ROOT / "models" / "default", 1)
    b = model.bundle
    rows = load_machine(smd, "machine-1-6").train
    assert rows is not None
    fn = scorer_errors_fn(model.scorer)
    with tempfile.TemporaryDirectory() as d:
        cal = Calibrator(
            tuple(b.features), b.window, 1440, 1e-3, Path(d) / "cal.json", b.sha256, recipe=host_recipe(b, "range")
        )
        for r in rows[:1440]:
            cal.observe(r)
        cal.calibrate(fn)
        for r in rows[1440 : 1440 + 8640]:
            cal.record(r, False)
        for _ in range(3):
            t = time.process_time()
            cal.recalibrate(fn)
            print(f"recalibrate {len(cal.recalibration.recent)} rows: {time.process_time() - t:.2f} s CPU")
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

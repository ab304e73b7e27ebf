"""How far the per-feature errors reach in each incident: the largest level some feature holds
for 5 consecutive samples inside the incident or within 5 samples after it (the best any fixed
feature threshold could do), by host kind; and the incidents' lengths."""

from __future__ import annotations

import numpy as np

from agent.score.alerts import incidents
from research.feature_rule import HOSTS, IN

for kind in ("synth", "machine"):
    reach, lens = [], []
    for h in [h for h in HOSTS if h.startswith(kind)]:
        d = np.load(IN / f"{h}.npz")
        e = np.nan_to_num(d["errors"], nan=0.0)
        run_min = np.min(np.stack([np.roll(e, k, axis=0) for k in range(5)]), axis=0)  # (T, F) min over 5 samples
        for a, b in incidents(d["labels"]):
            seg = run_min[a + 4 : min(b + 5, len(e))]
            reach.append(float(seg.max()) if len(seg) else 0.0)
            lens.append(b - a)
    r = np.array(reach)
    print(kind, f"{len(r)} incidents, median length {np.median(lens):g} samples;",
          " ".join(f"reach>{t:g}: {np.mean(r > t):.2f}" for t in (4, 9, 16, 25, 35.9)))

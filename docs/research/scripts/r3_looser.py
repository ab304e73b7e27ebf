"""r3: machine-3-3 (the worst host) at looser false-alert budgets: does any reduction move it at all?
Prints the oracle share of incidents alerted at <= 0.2 / 0.5 / 1 / 2 false alerts a day per candidate;
writes research/r3_looser.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from research.r3_rank import ORACLE_Q, SRC, WARMUP, Alerts, candidates, smooth

HOST = "machine-3-3"
CAPS = (0.2, 0.5, 1.0, 2.0)


def main() -> None:
    d = dict(np.load(SRC / f"{HOST}.npz"))
    nw = WARMUP - int(d["window"]) + 1
    y = d["labels"][int(d["window"]) - 1 :][nw:]
    al = Alerts(y)
    cands = candidates(d)
    cands["current (mean) +sm5"] = smooth(cands["current (mean)"])
    qs = np.unique(np.concatenate([ORACLE_Q, np.linspace(0.5, 0.99, 50)]))
    out = {}
    for n, s_all in cands.items():
        s = s_all[nw:]
        figs = [al.figures(s, float(np.quantile(s, q))) for q in qs]
        out[n] = {str(c): max([f["alerted"] for f in figs if f["fa_day"] <= c], default=0.0) for c in CAPS}
    order = sorted(out, key=lambda n: [-out[n][str(c)] for c in CAPS])
    print(f"| candidate ({HOST}) | " + " | ".join(f"<= {c} FA/day" for c in CAPS) + " |")
    print("|---|" + "---|" * len(CAPS))
    for n in order:
        print(f"| {n} | " + " | ".join(f"{out[n][str(c)]:.2f}" for c in CAPS) + " |")
    Path(__file__).with_name("r3_looser.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

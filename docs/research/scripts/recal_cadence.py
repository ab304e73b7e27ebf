"""Live-path false alerts and incidents vs recalibration cadence / recent-window length (issue 13).

    python docs/research/scripts/recal_cadence.py 6h/7d machine-3-3 machine-1-6 machine-2-1 synth-1 ... synth-6

One config (CADENCE/DAYS from CONFIGS) over the hosts named: SMD machines with the lomo fleet bundle of the
other two (bench.lomo's cache in /tmp/anomaly-lomo-cache), synthetic hosts with the shipped model; the first
day calibrates, everything after is scored by agent.backtest as the live agent would. Writes one JSON per run
beside itself in /work/runs/recal (docs/research/recal_cadence.json gathers them).
"""

import json, sys, tempfile, glob
from dataclasses import replace
from pathlib import Path
import numpy as np
from bench.lomo import synth_hosts
from bench.lomo_live import live_config, INTERVAL, END
from agent.runtime.backtest import backtest, input_timestamps
from agent.model.loaded import load_model
from agent.score.alerts import alert_figures
from agent.history.smd import load_machine

SMD = Path("/work/shared/data/smd")
FLEET = {
    "machine-1-6": "machine-2-1+machine-3-3",
    "machine-2-1": "machine-1-6+machine-3-3",
    "machine-3-3": "machine-1-6+machine-2-1",
}
CONFIGS = {
    "24h/7d": (24.0, 10080),
    "6h/7d": (6.0, 10080),
    "24h/3d": (24.0, 4320),
    "6h/3d": (6.0, 4320),
    "24h/14d": (24.0, 20160),
    "6h/14d": (6.0, 20160),
    "12h/14d": (12.0, 20160),
    "12h/7d": (12.0, 10080),
}


def hosts(names):
    out = []
    for n in names:
        if n.startswith("machine"):
            m = load_machine(SMD, n)
            b = Path(glob.glob(f"/tmp/anomaly-lomo-cache/fleet-{FLEET[n]}-*")[0])
            out.append((n, m.train, m.test, m.labels, b))
        else:
            seed = int(n.split("-")[1])
            h = synth_hosts([seed], 7 * 1440, 7 * 1440, 10)[0]
            out.append((n, h.machine.train, h.machine.test, h.machine.labels, Path("/work/main/models/default")))
    return out


def main():
    cfg_name, names = sys.argv[1], sys.argv[2:]
    hours, recent = CONFIGS[cfg_name]
    res = {}
    for name, train, test, labels, bundle in hosts(names):
        cfg = live_config(bundle, 1440)
        cfg = replace(cfg, calibration=replace(cfg.calibration, recalibrate_hours=hours, recent_samples=recent))
        model = load_model(bundle, 1)
        rows = np.concatenate([train, test])
        lab = np.concatenate([np.zeros(len(train), np.int64), labels])
        with tempfile.TemporaryDirectory() as st:
            r = backtest(
                cfg,
                model,
                rows,
                input_timestamps(len(rows), INTERVAL, END),
                Path(st),
                record_history=cfg.seasonal.enabled,
            )
        n = len(train)
        res[name] = {
            "all": alert_figures(r.score, lab).to_dict(),
            "test": alert_figures(r.score[n:], lab[n:]).to_dict(),
        }
        a, t = res[name]["all"], res[name]["test"]
        print(
            cfg_name,
            name,
            f"FA/day all {a['false_alerts_per_day']:.2f} ({a['false_alerts']}) test inc {t['incidents_alerted']}/{t['incidents']}",
            flush=True,
        )
    Path(f"/work/runs/recal/seasonal-{cfg_name.replace('/', '_')}-{names[0]}.json").write_text(
        json.dumps(res, indent=1)
    )


main()

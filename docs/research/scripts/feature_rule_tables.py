"""Markdown tables of research/feature_rule.json (pasted into research/feature-rule.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

R = json.loads(Path(__file__).with_name("feature_rule.json").read_text())
H = list(R["hosts"])


def f(x: dict) -> str:
    return f"{x['fa_per_day']:.2f} / {x['alerted']}/{x['incidents']}"


def summary() -> None:
    print("| candidate (tau_f) | max FA/day (union) | mean FA/day | max added FA/day over HostAnomaly | min share alerted | mean share | synth mean | SMD mean |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for c, s in R["summary"].items():
        per = R["candidates"].get(c)
        add = (
            max(per[h]["union"]["fa_per_day"] - R["hosts"][h]["HostAnomaly"]["fa_per_day"] for h in H) if per else 0.0
        )
        rows.append((s["max_fa_per_day"], c, s, add))
    for mx, c, s, add in sorted(rows, key=lambda r: (r[0], -r[2]["mean_recall"])):
        print(
            f"| {c} | {mx:.2f} | {s['mean_fa_per_day']:.2f} | {add:+.2f} | {s['min_recall']:.2f} | "
            f"{s['mean_recall']:.2f} | {s['synth_mean_recall']:.2f} | {s['smd_mean_recall']:.2f} |"
        )


def per_host(cands: list[str]) -> None:
    head = "| host | HostAnomaly alone |" + "".join(f" {c}: feature rule | {c}: union |" for c in cands)
    print(head)
    print("|---" * (2 + 2 * len(cands)) + "|")
    for h in H:
        line = f"| {h} | {f(R['hosts'][h]['HostAnomaly'])} |"
        for c in cands:
            x = R["candidates"][c][h]
            line += f" {f(x['feature'])} | {f(x['union'])} |"
        print(line)


if __name__ == "__main__":
    if sys.argv[1:] and sys.argv[1] == "summary":
        summary()
    else:
        per_host(sys.argv[1:])

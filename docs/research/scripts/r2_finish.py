"""Fill the tables of SUMMARY.md and write summary.json from the r2 result files."""
import json, sys
from pathlib import Path
OUT = Path("/work/research/r2")
CHOSEN = sys.argv[1]
ALTS = sys.argv[2:]
res = {}
for f in ("results.json", "results2.json", "results3.json"):
    p = OUT / f
    if p.exists():
        for h, r in json.loads(p.read_text()).items():
            res.setdefault(h, {}).update(r)
hosts = list(res)
def f(v, d=2):
    return "-" if v is None else f"{v:.{d}f}"
KEYS = ("false_per_day", "false_alerts", "normal_days", "incidents", "alerted_share", "alerted_share_ge5",
        "median_delay", "normal_share_above1")
out = ["## Per host: before (current agent method) and after (chosen recipe)", "",
       f"after = `{CHOSEN}`: z-scored AE, units-aware floors (SMD: 1 % of range), cap 36, T = max(POT 1e-3, 1.5 A), trailing mean of 5 scores, "
       "daily recalibration of scaler + T on the last 7 days, first day warm-up.", "",
       "| host | method | FA/day | false alerts | normal days | incidents | alerted | alerted (≥5) | median delay | normal share > 1 |",
       "|---|---|---|---|---|---|---|---|---|---|"]
js = {"chosen": CHOSEN, "hosts": {}}
for h in hosts:
    js["hosts"][h] = {}
    for m in ["before", CHOSEN] + ALTS:
        if m not in res[h]:
            continue
        r = res[h][m]
        js["hosts"][h][m] = {k: r.get(k) for k in KEYS}
        out.append(f"| {h} | {'**before**' if m == 'before' else ('**after**' if m == CHOSEN else m)} | {f(r['false_per_day'])} | {r['false_alerts']} | {r['normal_days']} | {r['incidents']} | {f(r['alerted_share'])} | {f(r['alerted_share_ge5'])} | {f(r['median_delay'], 0)} | {f(r['normal_share_above1'], 3)} |")
out += ["", "## Worst host per method (all hosts that finished; sorted by worst FA/day)", "",
        "| method | hosts | worst FA/day | worst alerted | worst alerted (≥5) | mean alerted | worst normal share > 1 |",
        "|---|---|---|---|---|---|---|"]
methods = sorted({m for h in hosts for m in res[h]})
rows = []
for m in methods:
    hs = [h for h in hosts if m in res[h]]
    if len(hs) < len(hosts):
        continue
    fa = max(res[h][m]["false_per_day"] for h in hs)
    al = min(res[h][m]["alerted_share"] for h in hs)
    a5 = min(res[h][m]["alerted_share_ge5"] or 0 for h in hs)
    ma = sum(res[h][m]["alerted_share"] for h in hs) / len(hs)
    ab = max(res[h][m]["normal_share_above1"] for h in hs)
    rows.append((m, len(hs), fa, al, a5, ma, ab))
    js.setdefault("worst", {})[m] = {"worst_fa": fa, "worst_alerted": al, "worst_alerted_ge5": a5, "mean_alerted": ma,
                                     "worst_share_above1": ab}
rows.sort(key=lambda r: r[2])
for r in rows:
    out.append(f"| {r[0]} | {r[1]} | {f(r[2])} | {f(r[3])} | {f(r[4])} | {f(r[5])} | {f(r[6], 3)} |")
out += ["", "Method names: `z_f<floor>_cap<C>_` + `pot` (static warm-up POT) | `potfloor<m>_sm<k>` (T = max(POT, m·A), "
        "trailing mean of k) | `dspot_floor<m>` | `roll<d>d_floor<m>_sm<k>` (daily recalibration on the last d days; "
        "`_exclboth` = alerted rows excluded from scaler and threshold) | `warm60_…` (60-row warm-up, provisional "
        "threshold, refined at 1 day, then daily; FA counted from row 60)."]
fr = json.loads((OUT / "frontier.json").read_text())
fr2 = json.loads((OUT / "frontier_trainscaler.json").read_text()) if (OUT / "frontier_trainscaler.json").exists() else {}
out += ["", "## Oracle frontier: best share of incidents alerted at ≤ 0.2 FA/day over threshold multiples k", "",
        "Static scaler from the 1-day warm-up (all scored rows) / from the whole normal train split (test split scored). "
        "Cells: alerted (alerted ≥5) at the best k.", "",
        "| host | cap 16, 1-day scaler | cap 36, 1-day scaler | cap 16, train-split scaler | cap 36, train-split scaler | AUC-PR (cap 36, train-split scaler) |",
        "|---|---|---|---|---|---|"]
def cell(b):
    return "-" if not b else f"{b['alerted']:.2f} ({b['alerted5']:.2f}) k={b['k']:g}"
for h in fr:
    a = fr[h]; b = fr2.get(h, {})
    out.append(f"| {h} | {cell(a['cap16_sm1']['best_at_fa0.2'])} | {cell(a['cap36_sm1']['best_at_fa0.2'])} | "
               f"{cell(b.get('cap16', {}).get('best_at_fa0.2'))} | {cell(b.get('cap36', {}).get('best_at_fa0.2'))} | "
               f"{f(b.get('cap36', {}).get('auc_pr'))} |")
js["frontier"] = {h: {k: v["best_at_fa0.2"] for k, v in fr[h].items()} for h in fr}
js["frontier_trainscaler"] = {h: {k: v["best_at_fa0.2"] for k, v in fr2[h].items()} for h in fr2}
js["cases"] = json.loads((OUT / "cases.json").read_text())
p = OUT / "SUMMARY.md"
s = p.read_text()
start, end = "<!-- TABLES -->", "<!-- /TABLES -->"
block = start + "\n" + "\n".join(out) + "\n" + end
if "TABLES_PLACEHOLDER" in s:
    s = s.replace("TABLES_PLACEHOLDER", block)
else:
    s = s[: s.index(start)] + block + s[s.index(end) + len(end):]
p.write_text(s)
(OUT / "summary.json").write_text(json.dumps(js, indent=1))
print("\n".join(out))

"""Tables from /work/research/r2/results*.json (per host and worst-host)."""
import json, sys
from pathlib import Path
OUT = Path("/work/research/r2")
res = {}
for f in ("results.json", "results2.json", "results3.json"):
    p = OUT / f
    if p.exists():
        for h, r in json.loads(p.read_text()).items():
            res.setdefault(h, {}).update(r)
hosts = list(res)
methods = sorted({m for h in hosts for m in res[h]})
def f(v, d=2):
    return "-" if v is None else f"{v:.{d}f}"
if len(sys.argv) > 1 and sys.argv[1] == "worst":
    rows = []
    for m in methods:
        hs = [h for h in hosts if m in res[h]]
        fa = max(res[h][m]["false_per_day"] for h in hs)
        al = min(res[h][m]["alerted_share"] for h in hs)
        a5 = min(res[h][m]["alerted_share_ge5"] or 0 for h in hs)
        ab = max(res[h][m]["normal_share_above1"] for h in hs)
        rows.append((m, len(hs), fa, al, a5, ab))
    rows.sort(key=lambda r: r[2])
    print("| method | hosts | worst FA/day | worst alerted | worst alerted (>=5) | worst normal share >1 |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {f(r[2])} | {f(r[3])} | {f(r[4])} | {f(r[5], 3)} |")
else:
    for m in sys.argv[1:]:
        print(f"\n**{m}**\n\n| host | FA/day | false alerts | normal days | incidents | alerted | alerted (>=5) | median delay | normal share >1 |\n|---|---|---|---|---|---|---|---|---|")
        for h in hosts:
            if m in res[h]:
                r = res[h][m]
                print(f"| {h} | {f(r['false_per_day'])} | {r['false_alerts']} | {r['normal_days']} | {r['incidents']} | {f(r['alerted_share'])} | {f(r['alerted_share_ge5'])} | {f(r['median_delay'], 0)} | {f(r['normal_share_above1'], 3)} |")

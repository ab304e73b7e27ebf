"""Fill /work/research/r1/SUMMARY.md from SUMMARY.template.md, selection.json and tables.md (run in that directory)."""
import json, re, numpy as np
d = json.load(open('selection.json')); c = d['candidates']; pca = d['pca']
name = 'mm_c2_w10_e40/mean'; cur = 'mm_c2_w30/last'
rows = ['| host | PCA F1 / AUC-PR / Hit150 | default F1 / AUC-PR / Hit150 | ΔF1 | ΔAUC-PR | ΔHit150 | current `fit` choices (mm, W30, last, 15 ep) F1 / AUC-PR / Hit150 |', '|---|---|---|---|---|---|---|']
for h in d['hosts']:
    r, p, q = c[name]['per_host'][h], pca[h], c[cur]['per_host'][h]
    rows.append(f"| {h} | {p['best_f1']:.3f} / {p['auc_pr']:.3f} / {p['hitrate@150']:.3f} | {r['best_f1']:.3f} / {r['auc_pr']:.3f} / {r['hitrate@150']:.3f} | {r['d_best_f1']:+.3f} | {r['d_auc_pr']:+.3f} | {r['d_hitrate@150']:+.3f} | {q['best_f1']:.3f} / {q['auc_pr']:.3f} / {q['hitrate@150']:.3f} |")
for grp, hs in (('mean ± std, SMD', d['hosts'][:3]), ('mean ± std, synthetic', d['hosts'][3:]), ('mean ± std, all 7', d['hosts'])):
    def ms(src, k):
        v = np.array([src[h][k] for h in hs]); return f"{v.mean():.3f}±{v.std():.3f}"
    per = c[name]['per_host']; cp = c[cur]['per_host']
    dm = lambda k: np.array([per[h]['d_' + k] for h in hs])
    rows.append(f"| {grp} | {ms(pca,'best_f1')} / {ms(pca,'auc_pr')} / {ms(pca,'hitrate@150')} | {ms(per,'best_f1')} / {ms(per,'auc_pr')} / {ms(per,'hitrate@150')} | {dm('best_f1').mean():+.3f} (min {dm('best_f1').min():+.3f}) | {dm('auc_pr').mean():+.3f} (min {dm('auc_pr').min():+.3f}) | {dm('hitrate@150').mean():+.3f} (min {dm('hitrate@150').min():+.3f}) | {ms(cp,'best_f1')} / {ms(cp,'auc_pr')} / {ms(cp,'hitrate@150')} |")
tables = open('tables.md').read()
def section(title):
    m = re.search(r'## ' + re.escape(title) + r'.*?\n(.*?)(?=\n## |\Z)', tables, re.S)
    return m.group(1).strip() if m else '(not available)'
s = open('SUMMARY.template.md').read()
s = s.replace('FINAL_TABLE', '\n'.join(rows))
s = s.replace('SEED_NOISE', '### Seed noise (same candidate, training seed 0 vs 1; best F1 / AUC-PR)\n\n' + section('Seed noise') + '\n\nsummary: ' + json.dumps({k: {a: round(b, 3) for a, b in v.items()} for k, v in d.get('seed_noise', {}).items()}))
s = s.replace('FLEET_TABLE', section('Fleet'))
s = s.replace('TABLES', tables.split('\n', 1)[1])
open('SUMMARY.md', 'w').write(s)

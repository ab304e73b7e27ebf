"""training.frontier: the pooled alert-level frontier agrees with the agent's alert figures and chooses by budget."""

from __future__ import annotations

import numpy as np

from agent.score.alerts import alert_figures
from training.frontier import MULTIPLIERS, choose, host_curve, pooled


def _host(seed: int, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.gamma(2.0, 0.15, n)
    labels = np.zeros(n, np.int8)
    for start in rng.choice(np.arange(100, n - 200, 300), 25, replace=False):
        length = int(rng.integers(2, 40))
        labels[start : start + length] = 1
        score[start : start + length] += rng.uniform(0.3, 2.5)
    score[:1440] = np.nan  # the warm-up publishes nothing
    return score, labels


def test_at_multiplier_one_the_curve_equals_the_agents_alert_figures() -> None:
    score, labels = _host(0)
    c = host_curve("h", score, labels)
    i = int(np.flatnonzero(MULTIPLIERS == 1.0)[0])
    f = alert_figures(score, labels)
    assert c.false_alerts[i] == f.false_alerts
    assert c.alerted[i] == f.incidents_alerted and c.incidents == f.incidents
    assert c.long_incidents == f.long_incidents
    assert c.long_alerted[i] / c.long_incidents == f.long_incident_recall
    assert np.isclose(c.normal_days, f.normal_days)


def test_the_sweep_spans_paging_always_to_never_and_the_choice_respects_budget_and_ceiling() -> None:
    # not monotone in general: a higher level can split one run into two, or start a run inside an
    # incident that a lower level had entered already above the threshold
    curves = [host_curve(f"h{s}", *_host(s)) for s in range(3)]
    fr = pooled(curves)
    assert fr["fa_per_host_day"][0] > 1.0 and fr["fa_per_host_day"][-1] < fr["fa_per_host_day"][0]
    assert fr["long_alerted_share"][0] > fr["long_alerted_share"][-1]
    i = choose(fr, budget=0.2, ceiling=0.5)
    assert i is not None
    assert fr["fa_per_host_day"][i] <= 0.2 and fr["worst_host_fa_per_day"][i] <= 0.5
    feasible = [
        j for j in range(len(MULTIPLIERS)) if fr["fa_per_host_day"][j] <= 0.2 and fr["worst_host_fa_per_day"][j] <= 0.5
    ]
    assert max(fr["long_alerted_share"][j] for j in feasible) == fr["long_alerted_share"][i]
    assert choose(fr, budget=-1.0) is None


def test_a_critical_rule_pages_a_short_strong_incident_earlier_and_once_per_episode() -> None:
    score = np.full(200, 0.2)
    labels = np.zeros(200, np.int8)
    score[50:53] = 3.0  # 3 samples far above: the 5-sample rule cannot page, the critical one can
    labels[50:53] = 1
    score[100:120] = 1.5  # a long episode above 1, once critical at 110-111
    score[110:112] = 2.5
    labels[100:120] = 1
    plain = host_curve("h", score, labels, multipliers=np.array([1.0]))
    fast = host_curve("h", score, labels, multipliers=np.array([1.0]), critical=(2, 2.0))
    assert (plain.alerted[0], plain.delays[0]) == (1, [4])  # only the long episode, at its 5th sample
    assert fast.alerted[0] == 2 and fast.false_alerts[0] == 0  # one page per episode
    assert fast.delays[0] == [4]  # the long episode pages at its 5th sample, before its critical stretch

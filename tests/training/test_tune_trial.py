"""training.tune_trial: the injected faults and the two objectives of one tuning trial."""

from __future__ import annotations

import numpy as np

from training import tune_trial as TT
from training.fit import FitOptions


def test_injections_touch_only_the_newest_rows_of_a_few_features() -> None:
    val = np.random.default_rng(0).random((200, 6))
    clean, bad = TT.inject(val, span=12, n=50, seed=3)
    assert clean.shape == (189, 12, 6) and bad.shape == (50, 12, 6) and clean.dtype == np.float32
    again = TT.inject(val, span=12, n=50, seed=3)[1]
    np.testing.assert_array_equal(bad, again)  # every trial sees the same faults
    # each injected window is some clean window plus a fault on its last 1..10 rows and 1..3 features
    for w in bad:
        diff = w - clean[np.argmin(np.abs(clean - w).sum(axis=(1, 2)))]
        rows, feats = np.nonzero(np.abs(diff) > 1e-6)
        assert 1 <= len(set(feats)) <= 3 and rows.min() >= 2 and rows.max() == 11
        assert np.abs(diff[rows, feats]).min() >= 0.3 - 1e-6 and np.abs(diff).max() <= 1.0 + 1e-6


def test_trial_objectives(sine_data: np.ndarray) -> None:
    opt = FitOptions(window=10, latent=4, epochs=2, batch_size=32, verbose=0)
    auc, facts = TT.run_trial(sine_data, "dense", opt, "injection", n_injected=100)
    assert 0.5 < auc <= 1.0 and facts["injection_auc"] == auc and facts["epochs"] == 2
    err, facts = TT.run_trial(sine_data, "dense", opt, "val_error")
    assert err == facts["val_error"] > 0 and "injection_auc" not in facts

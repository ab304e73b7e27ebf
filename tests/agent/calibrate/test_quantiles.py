"""agent.calibrate.quantiles: numpy's linear quantile bit for bit, and no numpy.ma import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from agent.calibrate.quantiles import nanpercentile_columns, quantile, unique_sorted


@pytest.mark.parametrize("seed", range(20))
def test_quantile_is_numpys_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(rng.integers(1, 2000))) * 10 ** rng.uniform(-5, 5)
    if seed % 2:
        x = np.round(x, 1)  # ties
    for q in (0.0, 0.001, 0.5, 0.98, 0.99, 0.999, 1.0, float(rng.random())):
        assert quantile(x, q) == np.quantile(x, q)


def test_nanpercentile_columns_is_numpys() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1440, 38))
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 3] = 5.0
    for pct in (0.1, 25.0, 50.0, 99.9):
        np.testing.assert_array_equal(nanpercentile_columns(x, pct), np.nanpercentile(x, pct, axis=0))
    assert np.isnan(nanpercentile_columns(np.full((4, 1), np.nan), 50.0)).all()


def test_unique_sorted_is_numpys() -> None:
    y = np.random.default_rng(2).integers(0, 20, 200).astype(float)
    np.testing.assert_array_equal(unique_sorted(y), np.unique(y))
    assert unique_sorted(np.array([])).size == 0


def test_calibration_maths_leave_numpy_ma_unimported() -> None:
    code = (
        "import sys, numpy as np; from agent.calibrate.fit import fit_host_scaler; "
        "from agent.calibrate.pot import error_thresholds; r = np.random.default_rng(0).random((1440, 38)); "
        "fit_host_scaler(r); error_thresholds(r[:, :5] ** 3, 0.01, 1e-4); print('numpy.ma' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

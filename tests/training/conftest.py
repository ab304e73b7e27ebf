"""Training tests need TensorFlow (the ``[train]`` extra); skip the directory without it.

Shared fixtures: a small generated dataset (sinusoids + noise) and one tiny
fitted bundle per architecture, built once per session because conversion is
the slow part.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner out of test output

import numpy as np
import pytest

pytest.importorskip("tensorflow")

TINY_WINDOW = 8
TINY_FEATURES = ("a", "b", "c", "d", "e")


def sine_rows(n: int = 400, seed: int = 0) -> np.ndarray:
    """(n, 5) sinusoids of different periods and offsets plus Gaussian noise, unscaled."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    period = np.array([20.0, 35.0, 50.0, 12.0, 80.0])
    x = 10 * np.sin(2 * np.pi * t / period + np.arange(5)) + np.array([0.0, 5.0, 50.0, -3.0, 100.0])
    return x + rng.normal(0, 0.5, x.shape)


@pytest.fixture(scope="session")
def sine_data() -> np.ndarray:
    return sine_rows()


@pytest.fixture(scope="session")
def make_sine():  # returns sine_rows itself, for tests that need other lengths/seeds
    return sine_rows


@pytest.fixture(scope="session")
def tiny_fits(tmp_path_factory: pytest.TempPathFactory, sine_data: np.ndarray) -> dict:
    """``{arch: FitResult}`` for every architecture: 2 epochs, window 8, latent 4, tail 3."""
    from training.fit import FitOptions, fit_bundle
    from training.models import ARCHITECTURES

    out = {}
    for arch in ARCHITECTURES:
        opt = FitOptions(window=TINY_WINDOW, latent=4, epochs=2, batch_size=32, tail=3, verbose=0, parity_windows=64)
        out[arch] = fit_bundle(
            sine_data,
            arch=arch,
            out=tmp_path_factory.mktemp(arch),
            options=opt,
            feature_names=TINY_FEATURES,
            provenance={"machine": "sine", "command": "pytest"},
        )
    return out

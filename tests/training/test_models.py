"""Architectures, the unrolled batch-1 clone, builtin-only conversion and the parity check."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from agent.model.predictors import TFLitePredictor
from training.convert import ParityError, convert, inference_clone, parity
from training.models import ARCHITECTURES, DEFAULT_ARCH, arch_spec, build_model

W, F, LATENT = 8, 5, 4


def _windows(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, W, F), dtype=np.float32)


def test_registry_names_and_defaults() -> None:
    assert set(ARCHITECTURES) == {"dense", "lstm", "conv_bigru"}
    assert DEFAULT_ARCH in ARCHITECTURES
    assert [a for a, s in ARCHITECTURES.items() if s.recurrent] == ["lstm", "conv_bigru"]
    assert all(s.window >= 2 and s.latent >= 1 for s in ARCHITECTURES.values())
    with pytest.raises(ValueError, match="unknown architecture 'transformer'.*dense"):
        arch_spec("transformer")


def test_registry_does_not_load_tensorflow() -> None:
    # `anomaly-train --help` must stay fast: only build_model may import keras
    code = (
        "import sys, training.cli as c; c.build_parser(); print(any(m in sys.modules for m in ('keras', 'tensorflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_model_maps_windows_to_windows(arch: str) -> None:
    model = build_model(arch, W, F, latent=LATENT)
    assert model.input_shape == (None, W, F)
    assert model.output_shape == (None, W, F)
    assert model.loss == "mse"
    assert model.predict(_windows(3), verbose=0).shape == (3, W, F)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        build_model("dense", 1, F)
    with pytest.raises(ValueError, match="latent"):
        build_model("dense", W, F, latent=0)


@pytest.mark.parametrize("arch", ["lstm", "conv_bigru"])
def test_unrolled_clone_is_the_same_function(arch: str) -> None:
    model = build_model(arch, W, F, latent=LATENT)
    clone = inference_clone(model, arch, LATENT)
    assert clone is not model and clone.input_shape == (1, W, F)
    x = _windows(4)
    want = model.predict(x, verbose=0)
    got = np.concatenate([clone.predict(x[i : i + 1], verbose=0) for i in range(len(x))])
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_dense_keeps_dynamic_batch() -> None:
    model = build_model("dense", W, F, latent=LATENT)
    assert inference_clone(model, "dense") is model


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_builtin_only_conversion_matches_keras(arch: str, tmp_path) -> None:
    model = build_model(arch, W, F, latent=LATENT)
    conv = convert(model, arch, LATENT)
    assert conv.ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in conv.ops)
    assert conv.fixed_batch == arch_spec(arch).recurrent
    path = tmp_path / "model.tflite"
    path.write_bytes(conv.tflite)
    pred = TFLitePredictor(path)
    assert pred.input_shape[1:] == (W, F)
    assert parity(model, path, _windows(5)) < 1e-5


def test_parity_fails_for_a_different_model(tmp_path) -> None:
    import keras

    keras.utils.set_random_seed(1)
    a = build_model("dense", W, F, latent=LATENT)
    keras.utils.set_random_seed(2)
    b = build_model("dense", W, F, latent=LATENT)
    path = tmp_path / "model.tflite"
    path.write_bytes(convert(b, "dense").tflite)
    with pytest.raises(ParityError, match="differs from Keras"):
        parity(a, path, _windows(5), tolerance=1e-4)
    with pytest.raises(ValueError, match="at least one window"):
        parity(a, path, _windows(0))

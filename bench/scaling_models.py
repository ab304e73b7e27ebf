"""Build untrained bundles of given shapes for the scaling benchmark (imports TensorFlow: run as a subprocess).

``python -m bench.scaling_models OUT arch:features:window ...`` writes one
bundle per spec to ``OUT/<arch>-f<features>-w<window>/`` with
:func:`training.models.build_model` (random weights: cost does not depend on
them), :func:`training.convert.convert` (the real builtin-ops conversion) and
:func:`agent.model.bundle.write_bundle`, skipping bundles that already exist.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.score.scoring import SCALER_CLIP


def bundle_dir(out: Path, arch: str, features: int, window: int) -> Path:
    return out / f"{arch}-f{features}-w{window}"


def meta(arch: str, features: int, window: int, params: int, fixed_batch: bool) -> dict[str, Any]:
    names = [f"f{i:03d}" for i in range(features)]
    return {
        "model_id": f"scaling-{arch}-f{features}-w{window}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": arch,
        "kind": "autoencoder",
        "window": window,
        "features": names,
        "scaler": {"method": "minmax", "min": [0.0] * features, "max": [1.0] * features, "clip": SCALER_CLIP},
        "score": {"tail": 1},
        "threshold": {"value": 0.05, "method": "quantile", "params": {}},
        "feature_thresholds": {"values": [0.05] * features, "method": "quantile"},
        "model": {
            "input_shape": [1 if fixed_batch else -1, window, features],
            "fixed_batch": fixed_batch,
            "params": params,
        },
        "training": {"note": "untrained (random weights): for footprint/speed benchmarks only"},
    }


def build(out: Path, arch: str, features: int, window: int) -> Path:
    from agent.model.write import write_bundle
    from training.convert import convert
    from training.models import build_model

    path = bundle_dir(out, arch, features, window)
    if (path / "bundle.json").exists():
        return path
    model = build_model(arch, window, features)
    conv = convert(model, arch)
    write_bundle(path, conv.tflite, meta(arch, features, window, int(model.count_params()), conv.fixed_batch))
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    for spec in argv[1:]:
        arch, f, w = spec.split(":")
        t0 = time.monotonic()
        path = build(out, arch, int(f), int(w))
        print(f"{path} {time.monotonic() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

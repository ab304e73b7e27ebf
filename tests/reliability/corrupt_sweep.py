"""Load many corrupted copies of a model whose bundle hash was updated to match (run as a subprocess).

``python corrupt_sweep.py BUNDLE_DIR MODEL SEED COUNT`` prints one JSON line:
``{"outcomes": {"loaded": n, "BundleError": n}, "unexpected": [...]}``.  Run in
its own process so that an interpreter crash (SIGSEGV on a hostile
flatbuffer) shows up as an exit status instead of killing pytest.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np

from agent.model.bundle import BundleError
from agent.model.loaded import load_model


def corrupt(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    b = bytearray(data)
    mode = rng.choice(["truncate", "bitflip", "byte", "zero-run"])
    if mode == "truncate":
        b = b[: rng.randrange(len(b))]
    elif mode == "bitflip":
        for _ in range(rng.randrange(1, 4)):
            j = rng.randrange(len(b))
            b[j] ^= 1 << rng.randrange(8)
    elif mode == "byte":
        b[rng.randrange(len(b))] = rng.randrange(256)
    else:
        j = rng.randrange(len(b))
        b[j : j + 16] = bytes(len(b[j : j + 16]))
    return mode, bytes(b)


def main(bundle: Path, model: Path, seed: int, count: int) -> dict:
    good = model.read_bytes()
    doc = json.loads((bundle / "bundle.json").read_text())
    rng = random.Random(seed)
    outcomes: dict[str, int] = {}
    unexpected = []
    for i in range(count):
        mode, data = corrupt(good, rng)
        (bundle / "model.tflite").write_bytes(data)
        doc["model"]["sha256"] = hashlib.sha256(data).hexdigest()
        (bundle / "bundle.json").write_text(json.dumps(doc))
        try:
            m = load_model(bundle)
            out = m.scorer.errors(np.random.default_rng(i).random((2, m.bundle.window, len(m.bundle.features))))
            result = "loaded" if np.isfinite(out).all() else "loaded-nonfinite"
        except BundleError:
            result = "BundleError"
        except Exception as exc:  # what the test looks for
            result = type(exc).__name__
            unexpected.append(f"#{i} {mode}: {exc!r}"[:200])
        outcomes[result] = outcomes.get(result, 0) + 1
    return {"outcomes": outcomes, "unexpected": unexpected}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))

"""Model bundles for the benchmarks: the shipped default and short-trained ones per architecture.

Bundles are trained with ``anomaly-train fit`` on the shipped demo machine into a
cache directory under /tmp (never committed) and reused while they load.
Footprint and speed depend on the architecture and shapes, not on how well a
model is trained, so one epoch is enough here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from agent.model.bundle import BundleError, load_bundle
from agent.model.members import sha256_file
from bench.common import CACHE, DEMO_DATA, DEMO_MACHINE, PY, ROOT

log = logging.getLogger(__name__)
DEFAULT = ROOT / "models" / "default"


def _valid(path: Path) -> bool:
    if not (path / "bundle.json").exists():
        return False
    try:
        load_bundle(path)
        return True
    except BundleError:
        return False


def trained(arch: str, epochs: int = 1, cache: Path = CACHE, timeout: float = 3600.0) -> Path:
    """A bundle of ``arch`` trained for ``epochs`` on the demo machine (cached)."""
    out = cache / "bundles" / f"{arch}-e{epochs}"
    if _valid(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    logf = out.parent / f"{out.name}.log"
    log.info("training a %s bundle (%d epoch(s)) into %s", arch, epochs, out)
    t0 = time.monotonic()
    with open(logf, "wb") as fh:
        proc = subprocess.run(
            [
                PY,
                "-m",
                "training",
                "--log.level",
                "warning",
                "fit",
                "--data",
                str(DEMO_DATA),
                "--machine",
                DEMO_MACHINE,
                "--out",
                str(out),
                "--arch",
                arch,
                "--epochs",
                str(epochs),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            timeout=timeout,
            env=_quiet_env(),
        )
    if proc.returncode != 0 or not _valid(out):
        raise RuntimeError(f"training {arch} failed (exit {proc.returncode}); see {logf}")
    log.info("trained %s in %.0f s", arch, time.monotonic() - t0)
    return out


def default_bundle(cache: Path = CACHE) -> tuple[Path, str]:
    """``models/default`` when it is there and valid, else a 2-epoch dense stand-in (and a note saying so)."""
    if _valid(DEFAULT):
        return DEFAULT, "models/default"
    path = trained("dense", epochs=2, cache=cache)
    return path, f"models/default absent: stand-in dense bundle trained 2 epochs ({path})"


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def symlinked(bundle: Path | str) -> tuple[Path, Path]:
    """(bundle path, its temporary directory): a copy of ``bundle`` behind a symlink, as a ``model.url`` pull
    leaves a host's bundle path; the caller removes the directory."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    (tmp / "bundle").symlink_to(shutil.copytree(bundle, tmp / "a"))
    return tmp / "bundle", tmp


def switch_to_twin(link: Path) -> None:
    """Point ``link`` at a twin of its bundle: the same network in a padded file (another sha256, the same
    scores), so the agent's next reload swaps bundles and starts a probation (agent.runtime.swap)."""
    twin = link.parent / "twin"
    shutil.copytree(link.resolve(), twin)
    meta = json.loads((twin / "bundle.json").read_text())
    with open(twin / meta["model"]["file"], "ab") as fh:
        fh.write(b"\0" * 16)
    meta["model"]["sha256"] = sha256_file(twin / meta["model"]["file"])
    (twin / "bundle.json").write_text(json.dumps(meta))
    (link.parent / "next").symlink_to(twin)
    (link.parent / "next").replace(link)

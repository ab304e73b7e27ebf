"""``pip install`` of the built wheel gives a working agent, its default model included.

The wheel is built from a copy of the sources (``pip wheel --no-deps``: the
working tree gets no build/ directory), installed with its dependencies into a
fresh venv (no system site-packages, nothing from the dev venv), and
``anomaly-agent replay`` runs from there with no ``--bundle`` and no
``model.bundle``: the bundle must come from the package data
(agent/default_model, mapped from models/default in pyproject.toml).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import pytest
from packaging_helpers import REPO
from support import free_port

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "setup.py", "README.md", "agent", "training", "models/default")
FIXTURE = REPO / "tests" / "fixtures" / "smd_tiny"  # 38 features, like the default bundle


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin directory."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)], check=True, timeout=600
    )
    (wheel,) = dist.glob("host_anomaly_exporter-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    bin_dir = env_dir / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=1200)
    return bin_dir


def test_wheel_ships_the_default_bundle(installed: Path) -> None:
    out = subprocess.run(
        [str(installed / "python"), "-c", "import agent.config as c, pathlib; print(c.load_config(None).model.bundle)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()
    bundle = Path(out)
    assert bundle.parent.name == "agent" and bundle.name == "default_model", out  # inside site-packages
    for name in ("bundle.json", "model.tflite"):
        assert (bundle / name).read_bytes() == (REPO / "models" / "default" / name).read_bytes()


def test_replay_without_bundle_scores_and_exits_cleanly(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(f"state_directory: {tmp_path / 'state'}\n")  # no model section at all
    port = free_port()
    log = tmp_path / "agent.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                str(installed / "anomaly-agent"),
                "replay",
                "--config.file",
                str(config),
                "--data",
                str(FIXTURE),
                "--machine",
                "synth-1",
                "--end",
                "200",
                "--speed",
                "40",
                "--exit-at-end",
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            body, deadline = "", time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                        body = r.read().decode()
                    if re.search(r"^host_anomaly_score [0-9.e+-]+$", body, re.M):
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert re.search(r"^host_anomaly_score [0-9.e+-]+$", body, re.M), body or text
    assert re.search(r"^host_anomaly_model_info\{[^}]*model_id=\"dense-", body, re.M), body

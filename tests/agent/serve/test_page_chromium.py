"""The landing page in a real browser: headless Chromium draws the score timeline with its points and alert band."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from agent.history.scores import ScoreHistory
from agent.serve.http import make_app, serve
from agent.serve.timeline import HEIGHT, WIDTH

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make system-deps)")
NOW = 1_800_000_000.0
LINE, BAND = (0x22, 0x33, 0x55), (0xF4, 0xB6, 0xB6)  # agent.serve.timeline's stroke and alert fill


def _pixels(png: Path) -> np.ndarray:
    from PIL import Image  # pillow comes with matplotlib, in the [train] extra the tests install

    return np.asarray(Image.open(png).convert("RGB"), np.int16)


def _near(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 24) -> np.ndarray:
    return (np.abs(img - np.array(rgb)) <= tol).all(axis=-1)


def test_headless_chromium_renders_the_timeline_points_and_the_alert_band(tmp_path: Path) -> None:
    ring = ScoreHistory(1440, ("cpu_r", "load_1", "mem_u"))
    rng = np.random.default_rng(3)
    for i in range(1440):
        t = NOW - 60.0 * (1439 - i)
        s = 3.0 if 900 <= i < 960 else float(rng.uniform(0.05, 0.5))  # an hour-long incident
        ring.append(t, s, s > 1, [("cpu_r", 0.7), ("load_1", 0.2), ("mem_u", 0.1)])
    health = {"status": "ok", "score": 0.3}
    app = make_app(CollectorRegistry(), lambda: (True, health), lambda: {}, history=ring.entries, clock=lambda: NOW)
    httpd, _ = serve("127.0.0.1:0", app)
    png = tmp_path / "page.png"
    try:
        subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--screenshot={png}",
                "--window-size=900,700",
                f"http://127.0.0.1:{httpd.server_address[1]}/",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    img = _pixels(png)
    band = _near(img, BAND, tol=6)  # tight: the red threshold line's anti-aliasing is pinkish too
    assert band.sum() > 1000, "no alert band"
    rows_band = np.flatnonzero(band.any(axis=1))
    assert rows_band.max() - rows_band.min() > 0.5 * HEIGHT, "the alert band does not span the plot's height"
    line = _near(img[rows_band.min() : rows_band.max() + 1], LINE)  # within the plot's rows: no heading text
    assert line.sum() > 500, "the score line is not drawn"
    cols = np.flatnonzero(line.any(axis=0))
    assert cols.max() - cols.min() > 0.8 * (WIDTH - 60), "the line does not span the last 24 h"
    band_cols = np.flatnonzero(band.sum(axis=0) > 0.5 * (rows_band.max() - rows_band.min()))  # full-height columns
    # the incident is rows 900-960 of 1440: about 62-67 % of the way along the time axis
    frac = (band_cols.mean() - cols.min()) / (cols.max() - cols.min())
    assert 0.55 < frac < 0.72, frac

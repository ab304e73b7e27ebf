"""anomaly-train threshold --normal-ranges: operator-marked false alarms raise the threshold just past them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.config import load_config
from agent.history.reader import load_recorded
from agent.model.loaded import load_model
from agent.runtime.backtest import backtest
from agent.score.alerts import alert_fires
from training.cli import main
from training.normal_ranges import MARGIN, parse_ranges, required_factor
from training.synth_seasonal import generate, write_history


def test_parse_ranges_iso_epoch_header_comments() -> None:
    data = b"start,end\n2026-10-05T00:00:00Z,2026-10-05T00:40:00+00:00\n# a comment\n\n1791158400,1791160800\n"
    nr = parse_ranges(data)
    t0 = datetime(2026, 10, 5, tzinfo=UTC).timestamp()
    assert nr.ranges == ((t0, t0 + 2400), (1791158400.0, 1791160800.0))
    assert nr.sha256 == hashlib.sha256(data).hexdigest()
    assert parse_ranges(b"2026-10-05T00:00:00,2026-10-05T01:00:00\n").ranges[0][0] == t0  # naive = UTC
    for bad, msg in ((b"", "no ranges"), (b"5,4\n", "before end"), (b"x,y\n", "neither ISO"), (b"5\n", "start,end")):
        with pytest.raises(ValueError, match=msg):
            parse_ranges(bad)


def test_required_factor_is_the_largest_run_minimum() -> None:
    t = np.arange(20.0)
    s = np.full(20, 0.5)
    s[5:11] = [2.0, 3.0, 4.0, 5.0, 6.0, 1.5]  # runs of 5 > 1 end at 9 (min 2) and 10 (min 1.5)
    assert required_factor(s, t, ((0, 19),)) == [2.0]
    assert required_factor(s, t, ((10, 19),)) == [1.5]  # only the run ending inside the range counts
    assert required_factor(s, t, ((15, 19),)) == [0.5]  # nothing alerts there: no raise needed
    s2 = s / (2.0 * MARGIN)
    assert len(alert_fires(s2)) == 0


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nr")
    write_history(out / "h", generate(days=3), "h")
    (out / "raw.yml").write_text("calibration:\n  enabled: false\nseasonal:\n  enabled: false\n")
    return out


def _alerts(bundle: Path, host: Path, tmp: Path) -> np.ndarray:
    cfg = load_config(host / "raw.yml", check_files=False)
    model = load_model(str(bundle))
    rec = load_recorded(host / "h" / "history", model.bundle.features)
    res = backtest(cfg, model, rec.values, rec.timestamps, tmp)
    return rec.timestamps[alert_fires(res.score)]


def test_marked_nights_stop_alerting_and_the_bundle_records_the_digest(host: Path, tmp_path: Path) -> None:
    """The bundle used as it is (calibration off): the nightly backups alert; marking two nights silences them."""
    before = _alerts(DEFAULT_BUNDLE, host, tmp_path / "a")
    nights = [t for t in before if datetime.fromtimestamp(t, UTC).hour == 0]
    assert len(nights) >= 2
    ranges = host / "normal.csv"
    ranges.write_text("".join(f"{int(t) - 600},{int(t) + 1800}\n" for t in nights[:2]))
    out = tmp_path / "raised"
    assert (
        main(
            [
                "--log.level",
                "warning",
                "threshold",
                "--bundle",
                str(DEFAULT_BUNDLE),
                "--normal-ranges",
                str(ranges),
                "--history",
                str(host / "h" / "history"),
                "--config.file",
                str(host / "raw.yml"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    th = json.loads((out / "bundle.json").read_text())["threshold"]
    nr = th["params"]["normal_ranges"]
    assert nr["sha256"] == hashlib.sha256(ranges.read_bytes()).hexdigest() and nr["ranges"] == 2
    assert th["value"] == pytest.approx(nr["previous"]["value"] * nr["factor"]) and nr["factor"] > 1
    after = _alerts(out, host, tmp_path / "b")
    assert not any(a - 600 <= t <= a + 1800 + 600 for t in after for a in nights[:2])
    # same model, same sha256: only the threshold moved
    assert load_model(str(out)).bundle.sha256 == load_model(str(DEFAULT_BUNDLE)).bundle.sha256

"""anomaly-agent explain: the feature that was injected leads, against its learned normal, offline and live."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from support import DEFAULT_BUNDLE, http_get

from agent.cli import main
from agent.config import Config
from agent.history.scores import ScoreHistory
from agent.history.writer import HistoryWriter
from agent.model.loaded import load_model
from agent.runtime.cycle import Agent
from agent.runtime.explain import OutsideHistory, explain_live, explain_offline
from agent.runtime.hoststate import host_state
from agent.runtime.sources import RowsSource
from agent.serve.http import make_app, serve
from agent.serve.timeline import iso

T0 = 1_800_000_000.0
ROWS, BURST, WARMUP = 900, 800, 300  # cpu_r burns from row BURST on, for 10 minutes


def host_rows(features: tuple[str, ...]) -> np.ndarray:
    """A quiet host in its units (levels per feature, 3 % noise), then CPU from 20 % to 95 %."""
    rng = np.random.default_rng(5)
    level = np.where(np.char.startswith(np.array(features), "disk") | (np.array(features) == "cpu_r"), 0.2, 50.0)
    x = level * (1 + 0.03 * rng.standard_normal((ROWS, len(features))))
    x[BURST : BURST + 10, features.index("cpu_r")] = 0.95
    return x


def config(tmp_path: Path) -> Config:
    cfg = Config()
    return replace(
        cfg,
        state_directory=str(tmp_path / "state"),
        calibration=replace(cfg.calibration, warmup_samples=WARMUP),
        seasonal=replace(cfg.seasonal, enabled=False),
    )


def recorded(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    model = load_model(str(DEFAULT_BUNDLE))
    rows = host_rows(model.bundle.features)
    stamps = T0 + 60.0 * np.arange(ROWS)
    w = HistoryWriter(tmp_path / "history", model.bundle.features, clock=lambda: T0)
    for r, t in zip(rows, stamps):
        w.append(r, float(t))
    w.close()
    return tmp_path / "history", rows, stamps


def test_offline_explain_names_the_injected_feature_and_a_time_outside_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history, rows, stamps = recorded(tmp_path)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"calibration:\n  warmup_samples: {WARMUP}\nseasonal:\n  enabled: false\n")
    at = iso(float(stamps[BURST + 4]))
    args = ["explain", "--at", at, "--history", str(history), "--bundle", str(DEFAULT_BUNDLE)]
    assert main([*args, "--config.file", str(cfg_file), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    lead = doc["features"][0]
    assert lead["feature"] == "cpu_r" and lead["value"] == pytest.approx(0.95)
    assert (
        lead["z"] > 5 and lead["share"] > 0.3 and doc["rank"] <= 10 and doc["of"] > 400
    )  # the burn's ten samples lead the day
    assert main([*args, "--config.file", str(cfg_file)]) == 0
    table = capsys.readouterr().out
    assert "rank" in table and table.splitlines()[4].startswith("cpu_r") and "ratio" in table.splitlines()[4]
    before = iso(T0 - 3600)
    assert main(["explain", "--at", before, "--history", str(history), "--bundle", str(DEFAULT_BUNDLE)]) == 2
    assert "outside the history" in capsys.readouterr().err
    assert main(["explain", "--at", "noon", "--history", str(history), "--bundle", str(DEFAULT_BUNDLE)]) == 2


def test_live_explain_reads_the_agents_history_and_ranks_in_its_score_ring(tmp_path: Path) -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    cfg = config(tmp_path)
    rows = host_rows(model.bundle.features)
    now = [T0]
    cal, history = host_state(cfg, model)
    assert cal is not None and history is not None
    cal.clock = history.clock = lambda: now[0]
    scores = ScoreHistory(1440, model.bundle.features)
    agent = Agent(
        cfg,
        RowsSource(rows),
        model,
        CollectorRegistry(),
        clock=lambda: now[0],
        monotonic=lambda: now[0],
        calibrator=cal,
        history=history,
        scores=scores,
    )
    for i in range(BURST + 20):
        now[0] = T0 + 60.0 * i
        agent.cycle()
    doc = explain_live(agent, T0 + 60.0 * (BURST + 4))
    assert doc["features"][0]["feature"] == "cpu_r" and doc["rank"] <= 10
    with pytest.raises(OutsideHistory, match="outside the history"):
        explain_live(agent, T0 + 86400.0)
    app = make_app(CollectorRegistry(), agent.health, agent.model_doc, explain=lambda at: explain_live(agent, at))
    httpd, _ = serve("127.0.0.1:0", app)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api/v1/explain"
    try:
        code, body = http_get(f"{url}?at={iso(T0 + 60.0 * (BURST + 4))}")
        assert code == 200 and json.loads(body)["features"][0]["feature"] == "cpu_r"
        assert http_get(f"{url}?at={iso(T0 - 86400)}")[0] == 404
        assert http_get(f"{url}?at=noon")[0] == 400
    finally:
        httpd.shutdown()
        httpd.server_close()
    history.close()


def test_explain_offline_refuses_a_time_before_the_first_window() -> None:
    model = load_model(str(DEFAULT_BUNDLE))
    rows = host_rows(model.bundle.features)[:50]
    with pytest.raises(OutsideHistory, match="a window needs"):
        explain_offline(Config(), model, rows, T0 + 60.0 * np.arange(50), T0 + 60.0 * 5)

"""``anomaly-train tune``: search space, the study, the record in the bundle and the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from agent.history.smd import format_rows
from agent.model.bundle import load_bundle
from training import tune as T
from training.fit import FitOptions


def test_search_space_per_arch_and_objective() -> None:
    dense = T.search_space("dense", "injection")
    assert set(dense) == {"window", "learning_rate", "batch_size", "latent", "tail"}
    assert dense["learning_rate"][2] == "log" and dense["window"] == list(T.WINDOWS)
    assert "tail" not in T.search_space("dense", "val_error")  # the loss cannot choose a tail
    assert T.search_space("lstm_forecaster", "injection")["latent"] == [32, 64, 96]
    assert "tail" not in T.search_space("lstm_forecaster", "injection")


def test_tune_refuses_what_it_cannot_search(sine_data: np.ndarray) -> None:
    with pytest.raises(ValueError, match="objective"):
        T.tune(sine_data, "dense", FitOptions(), objective="test_f1")
    with pytest.raises(ValueError, match="tune the members"):
        T.tune(sine_data, "ensemble", FitOptions())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, make_sine) -> tuple[Path, Path]:
    """`anomaly-train tune` on a directory that holds train/ only: test data cannot be read."""
    from training.cli import main

    data = tmp_path_factory.mktemp("data")
    (data / "train").mkdir()
    (data / "train" / "m.txt").write_text(format_rows(make_sine(700)))
    out = tmp_path_factory.mktemp("tuned")
    assert (
        main(
            [
                "tune",
                "--data",
                str(data),
                "--machine",
                "m",
                "--arch",
                "dense",
                "--trials",
                "3",
                "--trial-epochs",
                "1",
                "--epochs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return data, out


def test_tune_writes_the_best_bundle_and_its_record(tuned: tuple[Path, Path]) -> None:
    _, out = tuned
    rec = json.loads((out / "tuning.json").read_text())
    assert rec["objective"] == "injection" and rec["direction"] == "maximize" and len(rec["trials"]) == 3
    done = [t for t in rec["trials"] if t["state"] == "COMPLETE"]
    assert done and rec["best"]["value"] == max(t["value"] for t in done)
    assert all(set(t["params"]) == set(rec["space"]) for t in done)
    b = load_bundle(out)
    best = rec["best"]["params"]
    assert b.window == best["window"] and b.tail == best["tail"]
    opts = b.meta["training"]["options"]
    assert opts["latent"] == best["latent"] and opts["learning_rate"] == best["learning_rate"]
    assert b.meta["training"]["tuning"]["best"] == rec["best"]
    assert b.meta["training"]["command"].startswith("anomaly-train tune --data ")
    assert "test data never read" in rec["validation"]


def test_report_shows_the_tuning_section(tuned: tuple[Path, Path], make_sine) -> None:
    from training.cli import main

    data, out = tuned
    test = make_sine(400, seed=2)
    test[200:220, 1] += 30
    for sub, text in (
        ("test", format_rows(test)),
        ("test_label", "".join("1\n" if 200 <= i < 220 else "0\n" for i in range(400))),
    ):
        (data / sub).mkdir(exist_ok=True)
        (data / sub / "m.txt").write_text(text)
    html = out.parent / "report.html"
    assert (
        main(
            [
                "report",
                "--data",
                str(data),
                "--machine",
                "m",
                "--bundle",
                str(out),
                "--out",
                str(html),
                "--baselines",
                "",
                "--vus-max-buffer",
                "3",
            ]
        )
        == 0
    )
    section = re.search(r'<section id="tuning">(.*?)</section>', html.read_text(), re.S).group(1)
    assert "injection (maximize)" in section and "data:image/png;base64," in section
    assert section.count("<tr><td>") == 3  # one row per trial (at most 10)

"""``anomaly-train fit`` on the command line: the bundle it writes and what its provenance records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.history.smd import format_rows
from agent.model.loaded import load_model
from training.bundle_meta import recorded_data_dir
from training.cli import main


@pytest.mark.parametrize(
    "data, cwd, recorded",
    [
        ("/no-such-root/main/data/smd", "/no-such-root/main", "data/smd"),  # under the working directory
        ("/no-such-root/main", "/no-such-root/main", "."),
        ("/no-such-root/shared/data/smd", "/no-such-root/main", "../shared/data/smd"),  # a sibling, as make has it
        ("/no-such-root/main/../shared/smd-x/", "/no-such-root/main", "../shared/smd-x"),
    ],
)
def test_the_data_dir_is_recorded_without_the_training_machines_absolute_path(
    data: str, cwd: str, recorded: str
) -> None:
    assert recorded_data_dir(data, cwd) == recorded


def test_a_relative_data_dir_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smd").mkdir()
    monkeypatch.chdir(tmp_path)
    assert recorded_data_dir("smd") == recorded_data_dir(tmp_path / "smd") == "smd"
    assert recorded_data_dir("smd", tmp_path.parent) == f"{tmp_path.name}/smd"


def test_cli_fit_writes_a_verified_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, make_sine
) -> None:
    (tmp_path / "data" / "smd" / "train").mkdir(parents=True)
    (tmp_path / "data" / "smd" / "train" / "m-1.txt").write_text(format_rows(make_sine(300, seed=3)))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bundle"
    argv = [
        "fit",
        "--data",
        str(tmp_path / "data" / "smd"),  # absolute on the command line
        "--machine",
        "m-1",
        "--out",
        str(out),
        "--arch",
        "dense",
        "--epochs",
        "1",
        "--window",
        "8",
        "--batch-size",
        "32",
        "--tail",
        "2",
        "--threshold",
        "quantile",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "parity" in text and "threshold" in text and "µs per window" in text
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["training"]["command"].startswith("anomaly-train fit --data ")
    assert "--machine m-1" in meta["training"]["command"] and "--tail 2" in meta["training"]["command"]
    assert meta["training"]["data_dir"] == "data/smd"  # relative to the working directory, as recorded
    assert len(meta["training"]["data_sha256"]) == 64
    assert meta["training"]["machine"] == "m-1" and meta["features"] == ["f1", "f2", "f3", "f4", "f5"]
    assert meta["threshold"]["method"] == "quantile" and meta["score"]["tail"] == 2
    assert load_model(out).bundle.window == 8

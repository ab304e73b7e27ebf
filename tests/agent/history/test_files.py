"""agent.history.files: the history's row text, file-set naming and order, sidecar document and atomic JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from agent.history.files import FORMAT, FileSet, format_cell, format_row, sidecar, stem_key, write_json_atomic
from agent.history.reader import parse_rows


def test_cells_are_short_exact_and_empty_when_unknown() -> None:
    assert [format_cell(v) for v in (3.0, -0.0, 0.1, 1e-300, 2.0**60)] == ["3", "0", "0.1", "1e-300", repr(2.0**60)]
    assert [format_cell(v) for v in (math.nan, math.inf, -math.inf)] == ["", "", ""]


def test_a_row_round_trips_through_the_history_reader() -> None:
    values = np.array([0.25, 7.0, np.nan, 1 / 3])
    line = format_row(values)
    assert line == f"0.25,7,,{1 / 3!r}\n"
    back = parse_rows(line, 4, "row")
    assert back.shape == (1, 4) and back[0, 0] == 0.25 and back[0, 3] == 1 / 3 and np.isnan(back[0, 2])


def test_file_sets_sort_by_time_then_suffix() -> None:
    stems = [
        "history-20260102T000000Z",
        "history-20260101T000000Z-2",
        "history-20260101T000000Z",
        "history-20260101T000000Z-10",
    ]
    assert sorted(stems, key=stem_key) == [
        "history-20260101T000000Z",
        "history-20260101T000000Z-2",
        "history-20260101T000000Z-10",
        "history-20260102T000000Z",
    ]
    assert stem_key("notes") == ("notes", 0)


def test_json_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    size = write_json_atomic(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and size == path.stat().st_size
    assert not (tmp_path / "state.json.tmp").exists()


def test_file_set_paths_size_and_sidecar(tmp_path: Path) -> None:
    fs = FileSet(tmp_path / "history-20260101T000000Z", first_ts=10.0, last_ts=70.0, rows=2)
    assert fs.path(".ts") == tmp_path / "history-20260101T000000Z.ts" and fs.measure() == 0
    fs.path(".txt").write_text("1,2\n3,4\n")
    assert fs.measure() == 8
    doc = sidecar(fs, hostname="h", features=("a", "b"), units=("%", "B"), interval=60.0, complete=True)
    assert doc["format"] == FORMAT and doc["data_file"] == "history-20260101T000000Z.txt"
    assert (doc["first_timestamp"], doc["last_timestamp"], doc["rows"], doc["complete"]) == (10.0, 70.0, 2, True)
    json.dumps(doc, allow_nan=False)

"""agent.runtime.sources: replayed SMD rows (labels, range, loop), in-memory rows and the live sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.history.smd import SMDFormatError
from agent.runtime.sources import LiveSource, ReplaySource, Row, RowsSource


def _smd(tmp_path: Path, rows: list[list[float]], labels: list[int] | None = None) -> Path:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "m.txt").write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    if labels is not None:
        (tmp_path / "test_label").mkdir()
        (tmp_path / "test_label" / "m.txt").write_text("".join(f"{v}\n" for v in labels))
    return tmp_path


def _drain(source: ReplaySource | RowsSource, limit: int = 100) -> list[Row]:
    out = []
    while (row := source.next()) is not None and len(out) < limit:
        out.append(row)
    return out


def _next_value(source: ReplaySource) -> float:
    row = source.next()
    assert row is not None
    return float(row.values[0])


def test_replay_gives_rows_with_labels_then_none(tmp_path: Path) -> None:
    src = ReplaySource(_smd(tmp_path, [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], [0, 1, 0]), "m", 2)
    rows = _drain(src)
    assert [r.values.tolist() for r in rows] == [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    assert [r.label for r in rows] == [0, 1, 0]
    assert src.next() is None and src.error_counts() == {"replay": 0}


def test_replay_without_labels_has_none_labels(tmp_path: Path) -> None:
    rows = _drain(ReplaySource(_smd(tmp_path, [[1.0], [2.0]]), "m", 1))
    assert [r.label for r in rows] == [None, None]


def test_replay_range_and_loop(tmp_path: Path) -> None:
    data = _smd(tmp_path, [[float(i)] for i in range(6)])
    assert [r.values[0] for r in _drain(ReplaySource(data, "m", 1, start=2, end=4))] == [2.0, 3.0]
    loop = ReplaySource(data, "m", 1, loop=True, start=4)
    assert [_next_value(loop) for _ in range(5)] == [4.0, 5.0, 4.0, 5.0, 4.0]


@pytest.mark.parametrize(("start", "end"), [(3, 3), (-1, None), (0, 7)])
def test_replay_refuses_a_range_outside_the_file(tmp_path: Path, start: int, end: int | None) -> None:
    with pytest.raises(ValueError, match="not within 0..6"):
        ReplaySource(_smd(tmp_path, [[float(i)] for i in range(6)]), "m", 1, start=start, end=end)


def test_replay_refuses_a_file_of_another_width(tmp_path: Path) -> None:
    with pytest.raises(SMDFormatError, match="2 columns but the bundle expects 3 features"):
        ReplaySource(_smd(tmp_path, [[0.1, 0.2]]), "m", 3)


def test_rows_source_in_order_with_labels() -> None:
    src = RowsSource(np.array([[1, 2], [3, 4]]), np.array([1, 0]))
    rows = _drain(src)
    assert [r.values.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]] and [r.label for r in rows] == [1, 0]
    assert rows[0].values.dtype == np.float64 and src.error_counts() == {"backtest": 0}


class _Sampler:
    sources = ("cpu", "meminfo", "netdev")

    def sample(self) -> np.ndarray:
        return np.array([0.5, np.nan])

    def error_counts(self) -> dict[str, int]:
        return {"netdev": 3}


def test_live_source_rows_and_every_source_counted_from_zero() -> None:
    src = LiveSource(_Sampler())
    row = src.next()
    assert row is not None and row.label is None and row.values[0] == 0.5 and np.isnan(row.values[1])
    assert src.error_counts() == {"cpu": 0, "meminfo": 0, "netdev": 3}

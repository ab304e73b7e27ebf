"""Where rows come from: the live host sampler or an SMD file being replayed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from agent.history import smd


@dataclass(frozen=True)
class Row:
    values: np.ndarray  # (F,) raw values in the bundle's feature order; NaN = unreadable
    label: int | None = None  # ground truth, replay only


class Source(Protocol):
    def next(self) -> Row | None:
        """The next row, or None when the source is exhausted (replay end)."""

    def error_counts(self) -> dict[str, int]: ...


class ReplaySource:
    """Feeds the rows of an SMD-format test file, with labels when ``test_label/`` has them."""

    def __init__(
        self, data_dir: Path, machine: str, n_features: int, loop: bool = False, start: int = 0, end: int | None = None
    ) -> None:
        path = Path(data_dir) / "test" / f"{machine}.txt"
        self.rows = smd.load_rows(path)
        if self.rows.shape[1] != n_features:
            raise smd.SMDFormatError(
                f"{path}: {self.rows.shape[1]} columns but the bundle expects {n_features} features"
            )
        try:
            self.labels: np.ndarray | None = smd.load_labels(
                Path(data_dir) / "test_label" / f"{machine}.txt", len(self.rows)
            )
        except FileNotFoundError:
            self.labels = None
        self.end = len(self.rows) if end is None else end
        if not 0 <= start < self.end <= len(self.rows):
            raise ValueError(f"replay rows {start}..{self.end} are not within 0..{len(self.rows)}")
        self.loop = loop
        self.start = self.position = start

    def next(self) -> Row | None:
        if self.position >= self.end:
            if not self.loop:
                return None
            self.position = self.start
        i = self.position
        self.position += 1
        label = int(self.labels[i]) if self.labels is not None else None
        return Row(self.rows[i], label)

    def error_counts(self) -> dict[str, int]:
        # The file was read in full at start; exporting the source at 0 keeps rate() queries defined.
        return {"replay": 0}


class LiveSource:
    """Samples this host through :class:`agent.collect.sampler.Sampler`."""

    def __init__(self, sampler: SamplerLike) -> None:
        self.sampler = sampler

    def next(self) -> Row | None:
        return Row(self.sampler.sample())

    def error_counts(self) -> dict[str, int]:
        # Every source listed, at 0 too, so rate() over the counter is defined from the start.
        return {**dict.fromkeys(self.sampler.sources, 0), **self.sampler.error_counts()}


class SamplerLike(Protocol):
    @property
    def sources(self) -> tuple[str, ...]: ...

    def sample(self) -> np.ndarray: ...

    def error_counts(self) -> dict[str, int]: ...


class RowsSource:
    """Rows already in memory, in order (the backtest); ``None`` after the last one."""

    def __init__(self, rows: np.ndarray, labels: np.ndarray | None = None) -> None:
        self.rows = np.asarray(rows, dtype=np.float64)
        self.labels = labels
        self.position = 0

    def next(self) -> Row | None:
        i = self.position
        if i >= len(self.rows):
            return None
        self.position += 1
        return Row(self.rows[i], int(self.labels[i]) if self.labels is not None else None)

    def error_counts(self) -> dict[str, int]:
        return {"backtest": 0}

"""The Calibrator's state file: its document, saves that count and retry failures, and the resume.

A mixin of :class:`~agent.calibrate.calibrator.Calibrator` (the only class that uses it): the warm-up
rows collected so far and the result live in one JSON file written atomically (:mod:`agent.state`), so a
restart resumes the warm-up, reuses a calibration of the same bundle, or recalibrates from the kept rows.
The document itself is :mod:`agent.calibrate.saved`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np

from agent.calibrate.fit import CalibrationResult, HostRecipe
from agent.calibrate.recalibration import Recalibration
from agent.calibrate.saved import parse_state, row_lists, state_doc
from agent.memory import release_free_memory
from agent.state import StateCorrupt, atomic_write_json, read_json

log = logging.getLogger("agent.calibrate.calibrator")  # the Calibrator's lines keep one logger name


class StateFile:
    """Persistence of a calibrator; the attributes below are the calibrator's own."""

    features: tuple[str, ...]
    window: int
    warmup_samples: int
    pot_q: float
    state_path: Path
    bundle_sha: str
    clock: Callable[[], float]
    created: float
    corrupt_state: int
    result: CalibrationResult | None
    recalibration: Recalibration
    recipe: HostRecipe | None
    _rows: np.ndarray
    _n: int
    _unsaved: int
    _write_errors: int
    _write_failing: bool

    @property
    def target_rows(self) -> int:
        raise NotImplementedError

    def __init__(
        self,
        features: tuple[str, ...],
        window: int,
        warmup_samples: int,
        pot_q: float,
        state_path: Path | str,
        bundle_sha: str,
        **kwargs: Any,
    ) -> None:
        raise NotImplementedError

    def to_doc(self, rows: bool = True) -> dict[str, Any]:
        """The state file document; ``rows=False`` leaves the rows out (:meth:`save` streams them)."""
        return state_doc(
            created=self.created,
            updated=self.clock(),
            features=self.features,
            window=self.window,
            warmup_samples=self.warmup_samples,
            pot_q=self.pot_q,
            bundle_sha=self.bundle_sha,
            rows=row_lists(self._rows[: self._n]) if rows else [],
            result=self.result,
        )

    def save(self) -> bool:
        """Write the state file now; a failure is counted in ``write_errors`` and retried at the next observe."""
        try:
            atomic_write_json(self.state_path, self.to_doc(rows=False), rows=("rows", row_lists(self._rows[: self._n])))
            release_free_memory()  # the document's ~2 MB of floats and text would stay in the heap
        except OSError as exc:
            self._write_errors += 1
            (log.debug if self._write_failing else log.warning)(
                "calibration: cannot save state to %s (will retry): %s", self.state_path, exc
            )
            self._write_failing = True
            return False
        if self._write_failing:
            log.info("calibration: state saved again to %s", self.state_path)
        self._write_failing, self._unsaved = False, 0
        return True

    @classmethod
    def load(
        cls,
        features: tuple[str, ...],
        window: int,
        warmup_samples: int,
        pot_q: float,
        state_path: Path | str,
        bundle_sha: str,
        **kwargs: Any,
    ) -> Self:
        """A Calibrator resumed from ``state_path``; a corrupt file is moved aside and rebuilt, never fatal."""
        cal = cls(features, window, warmup_samples, pot_q, state_path, bundle_sha, **kwargs)
        try:
            doc = read_json(cal.state_path)
            if doc is not None:
                cal._restore(doc)
        except (StateCorrupt, ValueError, KeyError, TypeError, AttributeError) as exc:
            cal.corrupt_state += 1
            log.error(
                "calibration: %s is unusable (%s); moved to %s.corrupt, starting a new warm-up",
                cal.state_path,
                exc,
                cal.state_path.name,
            )
            cal._n, cal.result, cal.created = 0, None, cal.clock()
            try:
                cal.state_path.replace(cal.state_path.with_name(cal.state_path.name + ".corrupt"))
            except OSError:
                pass
            cal.save()
        return cal

    def _restore(self, doc: dict[str, Any]) -> None:
        saved = parse_state(doc, self.features, self.target_rows, self.bundle_sha, self.window, self.pot_q)
        if saved is None:
            log.info("calibration: saved state is for other features; starting a new warm-up")
            return
        result = saved.result
        self.created = saved.created  # everything parsed: only now change self
        self._rows[: len(saved.rows)], self._n = saved.rows, len(saved.rows)
        if result is not None and self.recipe is not None:
            # the recent rows outlive the bundle: with another bundle, calibrate() uses them as a hot swap does
            self.recalibration.resume(len(self.features), self._rows[: self._n])
        if saved.reusable and result is not None:
            self.result = result
            log.info(
                "calibration: reusing the calibration of %s",
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(result.calibrated_at)),
            )
        elif result is not None:
            log.info(
                "calibration: bundle or settings changed since the last calibration; recalibrating from %d %s rows",
                max(len(self.recalibration.recent), self._n),
                "recent" if len(self.recalibration.recent) > self._n else "kept warm-up",
            )
        else:
            log.info("calibration: resuming the warm-up at %d/%d rows", self._n, self.target_rows)

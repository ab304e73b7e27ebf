"""Automatic rollback of a swapped-in bundle: the probation rule and its record in ``STATE_DIR/rollback.json``.

After a swap (a pull from ``model.url`` or any bundle path that moves to another directory) the agent
keeps the previous bundle loaded and scores every window with both for ``model.rollback_hours``.  The
new bundle is rolled back when it put at least ``model.rollback_min_above`` samples above 1 and more
than ``model.rollback_factor`` times as many as the previous one on the same rows
(:func:`verdict`): a retrain round gone wrong pages one host for a few samples, not every host for
hours.  The record keeps the probation's counts, so a restart resumes it, and the bundles rolled back,
so a restart keeps the decision and a fleet pull never installs that bundle again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.state import StateCorrupt, atomic_write_json, read_json

log = logging.getLogger(__name__)

FILE = "rollback.json"
KIND = "host-anomaly-rollback"
KEEP = 10  # decisions remembered (the newest); a fleet seldom rolls one host back more often
SAVE_EVERY = 10  # probation samples between saves of the counts (a restart loses fewer than this)


@dataclass(frozen=True)
class Probation:
    """A new bundle on trial against the one it replaced, scored on the same rows."""

    sha256: str
    model_id: str
    previous_sha256: str
    previous_model_id: str
    previous_path: str  # the previous bundle's own directory (what the bundle path pointed at)
    started: float
    until: float
    previous_calibration: dict[str, Any] | None = None  # the previous CalibrationResult's document
    samples: int = 0
    above: int = 0  # samples the new bundle scored above 1
    previous_above: int = 0  # samples the previous bundle scored above 1, on the same rows

    def counted(self, score: float, previous_score: float) -> Probation:
        return replace(
            self,
            samples=self.samples + 1,
            above=self.above + (score > 1.0),
            previous_above=self.previous_above + (previous_score > 1.0),
        )


@dataclass(frozen=True)
class RolledBack:
    """One decision: ``sha256`` was rolled back at ``at`` to ``restored_sha256``, for ``reason``."""

    sha256: str
    model_id: str
    at: float
    reason: str
    restored_sha256: str
    restored_model_id: str


def verdict(p: Probation, factor: float, min_above: int) -> str | None:
    """Why ``p``'s bundle must be rolled back, or None while it does no worse than ``factor`` times the
    previous one (and puts fewer than ``min_above`` samples above 1, so a quiet pair never decides)."""
    if p.above < min_above or p.above <= factor * p.previous_above:
        return None
    return (
        f"{p.above} of {p.samples} samples above 1 with {p.model_id}, against {p.previous_above} with "
        f"{p.previous_model_id} on the same rows (more than {factor:g} times as many)"
    )


@dataclass
class RollbackLog:
    """The probation under way and the decisions made, kept in ``path`` (None: in memory, a replay)."""

    path: Path | None = None
    probation: Probation | None = None
    rolled_back: list[RolledBack] = field(default_factory=list)
    write_errors: int = 0
    _unsaved: int = 0

    @classmethod
    def load(cls, state_dir: Path | str | None) -> RollbackLog:
        """The record in ``state_dir``; an unreadable one is logged and starts empty (never fatal)."""
        rec = cls(None if state_dir is None else Path(state_dir) / FILE)
        if rec.path is None:
            return rec
        try:
            doc = read_json(rec.path)
            if doc is not None:
                if doc.get("kind") != KIND:
                    raise ValueError(f"not a {KIND} document")
                rec.rolled_back = [RolledBack(**d) for d in doc["rolled_back"]][-KEEP:]
                rec.probation = None if doc["probation"] is None else Probation(**doc["probation"])
        except (StateCorrupt, ValueError, KeyError, TypeError) as exc:
            log.error("rollback: %s is unusable (%s): no probation, no rolled-back bundle kept", rec.path, exc)
            rec.probation, rec.rolled_back = None, []
        return rec

    def refused(self, sha256: str) -> RolledBack | None:
        """The decision that rolled ``sha256`` back, if any: such a bundle is never installed again."""
        return next((r for r in reversed(self.rolled_back) if r.sha256 == sha256.lower()), None)

    def start(self, p: Probation) -> None:
        self.probation = p
        self.save()

    def count(self, score: float, previous_score: float) -> Probation:
        assert self.probation is not None
        self.probation = self.probation.counted(score, previous_score)
        self._unsaved += 1
        if self._unsaved >= SAVE_EVERY:
            self.save()
        return self.probation

    def end(self, decision: RolledBack | None = None) -> None:
        """The probation is over: kept (None) or rolled back (``decision``, remembered)."""
        self.probation = None
        if decision is not None:
            self.rolled_back = [*self.rolled_back, decision][-KEEP:]
        self.save()

    def to_doc(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": 1,
            "updated": time.time(),
            "probation": None if self.probation is None else asdict(self.probation),
            "rolled_back": [asdict(r) for r in self.rolled_back],
        }

    def save(self) -> None:
        self._unsaved = 0
        if self.path is None:
            return
        try:
            atomic_write_json(self.path, self.to_doc())
        except OSError as exc:  # counted (state_errors{kind="rollback_write"}); the decision still holds in memory
            self.write_errors += 1
            log.warning("rollback: cannot save %s: %s", self.path, exc)

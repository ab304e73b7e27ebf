"""Interval jobs on a fixed grid, one thread each: what the agent used of APScheduler.

A job runs at ``start``, ``start + interval``, ``start + 2 interval`` ... so the
schedule does not drift by the run time.  One run at a time per job: grid
points that pass while a run is still going (or while the process was stopped)
are not queued; the job resumes at the next grid point and ``on_skip`` hears
one :class:`Skipped` event (APScheduler's ``max_instances=1, coalesce=True``).
Monotonic time, so a wall-clock step neither fires nor stalls a job.

APScheduler cost 4.3 MB RSS, two threads and 0.1-0.2 s of start-up (its import
scans every installed distribution's entry points) for two interval jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """A job overran (or missed) one or more grid points; they were dropped, not queued."""

    job_id: str
    missed: int  # grid points dropped


class IntervalJob:
    """``func`` every ``interval`` seconds in its own daemon thread, first after ``first_delay``."""

    def __init__(
        self,
        job_id: str,
        func: Callable[[], object],
        interval: float,
        on_skip: Callable[[Skipped], None] | None = None,
        first_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"job {job_id}: interval must be > 0, got {interval}")
        self.job_id, self.func, self.interval, self.on_skip = job_id, func, interval, on_skip
        self.first_delay, self.clock = first_delay, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"job-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """No further runs; with ``wait``, return once a run in progress has finished."""
        self._stop.set()
        if wait and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        due = self.clock() + self.first_delay
        while not self._stop.wait(max(0.0, due - self.clock())):
            try:
                self.func()
            except Exception:  # the job boundary: a raising job keeps its schedule
                log.exception("job %s raised", self.job_id)
            due += self.interval
            late = self.clock() - due
            if late > 0:  # the next grid point passed during the run: drop it and any others
                missed = int(late // self.interval) + 1
                due += missed * self.interval
                if self.on_skip is not None:
                    self.on_skip(Skipped(self.job_id, missed))


class Scheduler:
    """A set of :class:`IntervalJob` started and stopped together."""

    def __init__(self, on_skip: Callable[[Skipped], None] | None = None) -> None:
        self.on_skip = on_skip
        self.jobs: list[IntervalJob] = []

    def add_job(self, job_id: str, func: Callable[[], object], interval: float, first_delay: float = 0.0) -> None:
        self.jobs.append(IntervalJob(job_id, func, interval, self.on_skip, first_delay))

    def start(self) -> None:
        for job in self.jobs:
            job.start()

    def shutdown(self, wait: bool = True) -> None:
        for job in self.jobs:
            job.stop(wait=False)
        for job in self.jobs:
            job.stop(wait=wait)

"""agent.runtime.scheduler: fixed grid, no overlap, overrun grid points dropped and reported once."""

from __future__ import annotations

import threading

import pytest

from agent.runtime.scheduler import IntervalJob, Scheduler, Skipped


class FakeClock:
    """Time moves only when a run says so, so the job never waits on the real clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_job(durations: list[float], interval: float = 0.01) -> tuple[list[float], list[Skipped]]:
    clock, started, skips, done = FakeClock(), [], [], threading.Event()
    job: IntervalJob

    def func() -> None:
        started.append(clock.now)
        clock.now += durations[len(started) - 1]
        if len(started) == len(durations):
            job.stop(wait=False)
            done.set()

    job = IntervalJob("cycle", func, interval, skips.append, clock=clock)
    clock.now = 100.0
    job.start()
    assert done.wait(30)
    job.stop()
    return started, skips


def test_runs_on_a_fixed_grid_that_does_not_drift() -> None:
    started, skips = run_job([0.003, 0.003, 0.003])
    assert skips == []
    # the fake clock stands still while the job waits (for real, < 10 ms), so each run starts where the last ended
    assert started == pytest.approx([100.0, 100.003, 100.006])


def test_an_overrun_drops_the_grid_points_it_covered_and_reports_once() -> None:
    started, skips = run_job([0.025, 0.001])
    assert skips == [Skipped("cycle", 2)]  # grid points 100.01 and 100.02 passed during the first run
    assert started == pytest.approx([100.0, 100.025])


def test_a_raising_job_keeps_its_schedule() -> None:
    calls, done = [], threading.Event()

    def func() -> None:
        calls.append(1)
        if len(calls) == 3:
            done.set()
        raise RuntimeError("boom")

    sched = Scheduler()
    sched.add_job("cycle", func, 0.001)
    sched.start()
    assert done.wait(30)
    sched.shutdown(wait=True)
    assert len(calls) >= 3 and not sched.jobs[0]._thread.is_alive()

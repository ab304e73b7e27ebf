"""Run host jobs: on Ray (one task per host, ``num_cpus`` each) or in a plain sequential loop.

Both record each finished host in fleet.json at once (resumable) and drive
one progress bar (hosts done, failed, time left).  Ray is imported only by
the Ray executor: ``--executor local`` needs no ``[fleet]`` extra.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from training.fleet.manifest import read_manifest, write_host_record, write_manifest
from training.fleet.plan import HostJob, is_current
from training.fleet.task import train_host

log = logging.getLogger(__name__)

# A Ray worker process is replaced after this many hosts: TensorFlow keeps state that
# keras.backend.clear_session() does not free, so a worker that trains hundreds of hosts grows
# (1.1 GB after 50 hosts, 2.5 GB after ~225 in the 1,000-host run) and slows down.  A fresh
# worker costs one TensorFlow import (a few seconds) per WORKER_TASKS hosts.
WORKER_TASKS = 50


class Progress:
    """tqdm bar with done/failed/skipped in its postfix; silent when ``enabled`` is False."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.failed = self.skipped = 0
        self.bar = tqdm(total=total, unit="host", disable=not enabled, dynamic_ncols=True)

    def update(self, record: dict[str, Any], skipped: bool = False) -> None:
        self.failed += record.get("status") == "failed"
        self.skipped += skipped
        self.bar.set_postfix(failed=self.failed, skipped=self.skipped, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run_local(jobs: list[HostJob], out: str) -> Iterator[dict[str, Any]]:
    """One host after the other in this process."""
    for job in jobs:
        yield train_host(job, out)


def run_ray(
    jobs: list[HostJob], out: str, cpus_per_host: float, address: str | None = None, num_cpus: int | None = None
) -> Iterator[dict[str, Any]]:
    """One Ray task per host; records come back as tasks finish (``ray.wait``)."""
    import ray

    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a local cluster on this machine
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=cpus_per_host, max_retries=0, max_calls=WORKER_TASKS)(train_host)
        pending = {task.remote(j, out): j for j in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # the worker died (out of memory, killed): the host failed
                    yield {
                        "host": job.host,
                        "status": "failed",
                        "error": f"{type(exc).__name__}: {exc}",
                        "input_digest": job.input_digest,
                        "options_digest": job.options_digest,
                    }
    finally:
        if started:
            ray.shutdown()


def fit_fleet(
    jobs: list[HostJob],
    out: Path,
    executor: Callable[[list[HostJob], str], Iterator[dict[str, Any]]],
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Skip current hosts, run the rest through ``executor``, keep fleet.json up to date; return the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = read_manifest(out)
    hosts: dict[str, Any] = doc["hosts"]
    todo = [j for j in jobs if force or not is_current(j, hosts.get(j.host), out)]
    bar = Progress(len(jobs), progress)
    for j in jobs:
        if j not in todo:
            hosts[j.host] = {**hosts[j.host], "skipped": True}
            write_host_record(out, hosts[j.host])
            bar.update(hosts[j.host], skipped=True)
    t0 = time.monotonic()
    try:
        for rec in executor(todo, str(out)):
            rec.pop("skipped", None)
            hosts[rec["host"]] = rec
            write_host_record(out, rec)
            write_manifest(out, doc)
            bar.update(rec)
    finally:
        bar.close()
    doc["run"] = {
        "hosts": len(jobs),
        "trained": len(todo),
        "skipped": len(jobs) - len(todo),
        "seconds": round(time.monotonic() - t0, 1),
    }
    write_manifest(out, doc)
    return doc

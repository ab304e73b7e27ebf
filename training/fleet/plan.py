"""What a fleet run trains: one :class:`HostJob` per host, each with the digest of its input and options.

A job holds only paths and settings (no rows), so it pickles cheaply to a Ray
worker, which reads its own host's data.  The input digest is over the bytes
the task will read (SMD file and sidecar, every file of a history tree) or,
for Prometheus, over the query (URL, instance, absolute time range, step):
a host whose input and options digests match its finished bundle is skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.model.bundle import load_bundle
from training.options import FitOptions

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class HostJob:
    """One host to train: ``kind`` is "smd", "history" or "prometheus"; ``source`` says where its rows are."""

    host: str
    kind: str
    source: dict[str, Any]
    input_digest: str
    options_digest: str
    arch: str
    options: FitOptions = field(default_factory=FitOptions)


def host_dir_name(name: str) -> str:
    """A host name safe as a directory name (``instance`` labels may hold ``:port``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "host"
    return safe[:253]


def digest_files(paths: list[Path]) -> str:
    """sha256 over ``name NUL bytes`` of each file, in the given order."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def digest_doc(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def options_digest(arch: str, options: FitOptions) -> str:
    # verbose only changes the log, never the bundle
    return digest_doc({"arch": arch, **{k: v for k, v in asdict(options).items() if k != "verbose"}})


def _job(host: str, kind: str, source: dict[str, Any], input_digest: str, arch: str, opt: FitOptions) -> HostJob:
    return HostJob(host, kind, source, input_digest, options_digest(arch, opt), arch, opt)


def smd_jobs(data: Path, machines: list[str] | None, arch: str, opt: FitOptions) -> list[HostJob]:
    """Every ``train/*.txt`` of an SMD-layout directory, or the named machines."""
    train = Path(data) / "train"
    if not train.is_dir():
        raise ValueError(f"--data {data}: no train/ directory (SMD layout)")
    names = machines or sorted(p.stem for p in train.glob("*.txt"))
    if not names:
        raise ValueError(f"--data {data}: no train/*.txt")
    jobs = []
    for m in names:
        path = train / f"{m}.txt"
        if not path.is_file():
            raise ValueError(f"--machines: no {path}")
        files = [path] + [p for p in (train / f"{m}.json",) if p.is_file()]
        jobs.append(
            _job(
                host_dir_name(m),
                "smd",
                {"data_dir": str(Path(data).resolve()), "machine": m},
                digest_files(files),
                arch,
                opt,
            )
        )
    return jobs


def history_jobs(root: Path, arch: str, opt: FitOptions) -> list[HostJob]:
    """One job per ``ROOT/HOST/`` agent history tree (as copied from the hosts)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--histories {root}: not a directory")
    hosts = sorted(p for p in root.iterdir() if p.is_dir())
    if not hosts:
        raise ValueError(f"--histories {root}: no HOST/ directories")
    return [
        _job(
            host_dir_name(h.name),
            "history",
            {"history_dir": str(h.resolve()), "machine": h.name},
            digest_files(sorted(p for p in h.rglob("*") if p.is_file())),
            arch,
            opt,
        )
        for h in hosts
    ]


def prometheus_jobs(
    url: str, instances: list[str], start: float, end: float, step: float, job: str | None, arch: str, opt: FitOptions
) -> list[HostJob]:
    """One job per node_exporter instance; the digest is the query (absolute times keep it stable)."""
    out = []
    for inst in instances:
        source = {"url": url, "instance": inst, "start": start, "end": end, "step": step, "job": job, "machine": inst}
        out.append(
            _job(
                host_dir_name(inst.rsplit(":", 1)[0] if re.search(r":\d+$", inst) else inst),
                "prometheus",
                source,
                digest_doc(source),
                arch,
                opt,
            )
        )
    return out


def check_unique(jobs: list[HostJob]) -> None:
    seen: dict[str, str] = {}
    for j in jobs:
        if j.host in seen:
            raise ValueError(f"two inputs map to host directory {j.host!r}: {seen[j.host]} and {j.source['machine']}")
        seen[j.host] = j.source["machine"]


def is_current(job: HostJob, record: dict[str, Any] | None, out: Path) -> bool:
    """True when ``record`` (fleet.json) is an ok run of the same input and options and its bundle is intact."""
    if not record or record.get("status") != "ok":
        return False
    if (record.get("input_digest"), record.get("options_digest")) != (job.input_digest, job.options_digest):
        return False
    try:
        return load_bundle(Path(out) / job.host).sha256 == record.get("sha256")
    except Exception:  # a missing or damaged bundle is trained again
        return False

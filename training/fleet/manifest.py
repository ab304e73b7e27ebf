"""``OUT/fleet.json``: one record per host (status, bundle sha256, digests, rows, seconds, thresholds,
validation figures, error), rewritten atomically after every finished host so a stopped run resumes;
``OUT/fleet.d/<host>.json`` holds each record alone for that host's agent."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "fleet.json"
SLICES = "fleet.d"  # fleet.d/<host>.json: that host's fleet.json record alone, what its agent downloads
FORMAT = 1


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of ``out``, or an empty one."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return {"format": FORMAT, "hosts": {}}
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("hosts"), dict):
        raise ValueError(f"{path}: not a fleet manifest (no 'hosts' mapping)")
    return doc


def write_manifest(out: Path, doc: dict[str, Any]) -> Path:
    path = Path(out) / MANIFEST
    doc = {**doc, "format": FORMAT, "updated": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_host_record(out: Path, record: dict[str, Any]) -> Path:
    """``OUT/fleet.d/<host>.json``: the host's record in fleet.json's schema, so an agent checks its sha256
    without downloading every host's record (fleet.json grows ~1 KB per host)."""
    path = Path(out) / SLICES / f"{record['host']}.json"
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(
        json.dumps({"format": FORMAT, "hosts": {record["host"]: record}}, sort_keys=True) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path


def counts(doc: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in doc.get("hosts", {}).values():
        out[rec.get("status", "?")] = out.get(rec.get("status", "?"), 0) + 1
    return out


def _cell(rec: dict[str, Any], key: str) -> str:
    if key == "sha256":
        return str(rec.get("sha256", ""))[:12]
    if key == "threshold":
        t = rec.get("threshold") or {}
        return f"{t['value']:.4g}" if "value" in t else ""
    if key == "val_loss":
        v = (rec.get("validation") or {}).get("val_loss")
        return f"{v:.3g}" if v is not None else ""
    if key == "error":
        return str(rec.get("error", ""))[:60]
    v = rec.get(key, "")
    return f"{v:g}" if isinstance(v, float) else str(v)


def status_table(doc: dict[str, Any]) -> str:
    """Hosts as a fixed-width table, failures first, then a one-line summary."""
    cols = ("host", "status", "rows", "seconds", "threshold", "val_loss", "sha256", "error")
    hosts = sorted(doc.get("hosts", {}).values(), key=lambda r: (r.get("status") == "ok", r.get("host", "")))
    rows = [cols] + [tuple(_cell(r, c) for c in cols) for r in hosts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    c = counts(doc)
    lines.append(f"{len(hosts)} hosts: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items())))
    return "\n".join(lines)

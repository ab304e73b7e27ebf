"""Writing bundles (used by training): the writer lives beside the reader so both share one schema.

Every writer finishes by reading its bundle back through :func:`agent.model.bundle.load_bundle`.
Files are replaced, never rewritten in place: an agent may be reading the bundle right now.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from agent.model.bundle import BUNDLE_FILE, FORMAT_VERSION, MODEL_FILE, load_bundle
from agent.model.members import members_digest


def write_bundle(out: Path, model_bytes: bytes, meta: dict[str, Any]) -> Path:
    """Write ``model.tflite`` and ``bundle.json`` (filling in the hash and size), then verify."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp_model = out / (MODEL_FILE + ".tmp")
    tmp_model.write_bytes(model_bytes)
    tmp_model.replace(out / MODEL_FILE)
    doc = dict(meta)
    doc["format_version"] = FORMAT_VERSION
    doc["model"] = {
        **doc.get("model", {}),
        "file": MODEL_FILE,
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "size_bytes": len(model_bytes),
    }
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(out / BUNDLE_FILE)
    load_bundle(out)
    return out


def write_ensemble(out: Path, members: list[tuple[dict[str, Any], bytes]], meta: dict[str, Any]) -> Path:
    """Write member files ``member-<i>-<architecture>.tflite`` and ``bundle.json``, then verify the bundle.

    ``members`` pairs each member's bundle.json entry (without ``file``/``sha256``) with its model bytes.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (entry, data) in enumerate(members):
        name = f"member-{i}-{entry['architecture']}.tflite"
        (out / name).write_bytes(data)
        entries.append({"file": name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), **entry})
    doc = dict(meta)
    doc["format_version"] = FORMAT_VERSION
    doc["members"] = entries
    doc["model"] = {
        **doc.get("model", {}),
        "sha256": members_digest([(e["file"], e["sha256"]) for e in entries]),
        "size_bytes": sum(e["size_bytes"] for e in entries),
        "members": len(entries),
    }
    tmp = out / (BUNDLE_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / BUNDLE_FILE)
    load_bundle(out)
    return out

"""An ensemble's members in bundle.json, and the checks every model file passes (confined, bounded, hashed).

:mod:`agent.model.bundle` parses the rest of the document; both use :func:`confined` and :func:`sha256_file`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.model.ensemble import NORM_METHODS, Norm
from agent.model.fields import BundleError
from agent.model.fields import float_array as _floats

MAX_MODEL_BYTES = 64 * 1024 * 1024  # a window autoencoder is < 1 MB; refuse absurd files early
MAX_MEMBERS = 8


@dataclass(frozen=True)
class Member:
    """One verified member of an ensemble bundle."""

    file: str
    path: Path
    sha256: str
    architecture: str
    kind: str  # "autoencoder" or "forecaster"
    window: int  # rows it consumes (forecaster: input + 1)
    tail: int
    weight: float
    norm: Norm

    @property
    def input_length(self) -> int:
        return self.window - 1 if self.kind == "forecaster" else self.window


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def confined(root: Path, name: str) -> Path:
    """Resolve ``root/name`` and refuse anything (symlinks included) that leaves ``root``."""
    target = (root / name).resolve()
    if target.parent != root.resolve():
        raise BundleError(f"{name}: resolves outside the bundle directory ({target})")
    return target


def members_digest(members: list[tuple[str, str]] | tuple[Member, ...]) -> str:
    """sha256 identifying an ensemble: over ``file NUL sha256 LF`` of every member, in order."""
    pairs = [(m.file, m.sha256) if isinstance(m, Member) else m for m in members]
    return hashlib.sha256("".join(f"{f}\0{h}\n" for f, h in pairs).encode()).hexdigest()


def parse_norm(doc: Any, n: int, where: str) -> Norm:
    if not isinstance(doc, dict) or doc.get("method") not in NORM_METHODS:
        raise BundleError(f"bundle.json: {where}.norm.method must be one of {', '.join(NORM_METHODS)}")
    scope = doc.get("scope", "feature")
    if scope not in ("feature", "member"):
        raise BundleError(f"bundle.json: {where}.norm.scope must be 'feature' or 'member', got {scope!r}")
    if doc["method"] == "z":
        return Norm("z", std=_floats(doc.get("std"), n, f"{where}.norm.std", positive=True), scope=scope)
    rows = doc.get("quantiles")
    if not isinstance(rows, list) or not 2 <= len(rows) <= 1001:
        raise BundleError(f"bundle.json: {where}.norm.quantiles must be a list of 2..1001 rows of {n} numbers")
    q = np.stack([_floats(r, n, f"{where}.norm.quantiles[{i}]") for i, r in enumerate(rows)])
    if (np.diff(q, axis=0) < 0).any():
        raise BundleError(f"bundle.json: {where}.norm.quantiles must be non-decreasing for every feature")
    return Norm("rank", quantiles=q)


def parse_members(doc: dict[str, Any], root: Path, n_features: int, window: int) -> tuple[Member, ...]:
    """Validate ``doc["members"]``: every file confined to ``root``, present, bounded and hash-checked."""
    items = doc.get("members")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_MEMBERS:
        raise BundleError(f"bundle.json: 'members' must be a list of 1..{MAX_MEMBERS} members")
    out, seen = [], set()
    for i, m in enumerate(items):
        where = f"members[{i}]"
        if not isinstance(m, dict):
            raise BundleError(f"bundle.json: {where} must be an object")
        for key, typ in (
            ("file", str),
            ("sha256", str),
            ("architecture", str),
            ("kind", str),
            ("window", int),
            ("tail", int),
            ("weight", (int, float)),
        ):
            if not isinstance(m.get(key), typ) or isinstance(m.get(key), bool):
                kind = getattr(typ, "__name__", "a number")
                raise BundleError(f"bundle.json: {where}.{key} is missing or not {kind}")
        if m["architecture"] == "ensemble":
            raise BundleError(f"bundle.json: {where}: an ensemble cannot be a member")
        if m["kind"] not in ("autoencoder", "forecaster"):
            raise BundleError(f"bundle.json: {where}.kind must be 'autoencoder' or 'forecaster', got {m['kind']!r}")
        lowest = 2 if m["kind"] == "forecaster" else 1
        if not lowest <= m["window"] <= window:
            raise BundleError(
                f"bundle.json: {where}.window must be in {lowest}..{window} (the bundle window), got {m['window']}"
            )
        if not 1 <= m["tail"] <= m["window"]:
            raise BundleError(f"bundle.json: {where}.tail must be in 1..{m['window']}, got {m['tail']}")
        weight = float(m["weight"])
        if not math.isfinite(weight) or weight <= 0:
            raise BundleError(f"bundle.json: {where}.weight must be a finite number > 0, got {m['weight']}")
        if m["file"] in seen:
            raise BundleError(f"bundle.json: {where}.file {m['file']!r} is listed twice")
        seen.add(m["file"])
        path = confined(root, m["file"])
        if not path.is_file():
            raise BundleError(f"bundle.json: {m['file']}: member model file missing")
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise BundleError(f"bundle.json: {m['file']}: larger than the {MAX_MODEL_BYTES} byte limit")
        actual = sha256_file(path)
        if actual != m["sha256"].lower():
            raise BundleError(
                f"bundle.json: {m['file']}: sha256 mismatch (bundle.json says {m['sha256'][:12]}…, "
                f"file is {actual[:12]}…)"
            )
        out.append(
            Member(
                m["file"],
                path,
                actual,
                m["architecture"],
                m["kind"],
                m["window"],
                m["tail"],
                weight,
                parse_norm(m.get("norm"), n_features, where),
            )
        )
    if max(m.window for m in out) != window:
        longest = max(m.window for m in out)
        raise BundleError(f"bundle.json: window {window} must equal the longest member window ({longest})")
    return tuple(out)

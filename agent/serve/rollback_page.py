"""The landing page's lines on automatic rollback (docs/fleet.md), from ``/model``'s ``rollback`` document."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

RECENT = 24 * 3600.0  # a rollback this recent is announced under the title: its scores are in the picture


def _text(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def _fields(doc: Any) -> defaultdict[str, str]:
    return defaultdict(lambda: "-", {k: _text(v) for k, v in doc.items()} if isinstance(doc, dict) else {})


def _last(rb: Any) -> dict[str, Any] | None:
    done = rb.get("rolled_back") if isinstance(rb, dict) else None
    return done[-1] if isinstance(done, list) and done and isinstance(done[-1], dict) else None


def rollback_items(rb: dict[str, Any]) -> list[tuple[str, str]]:
    """The Model section's lines: the probation under way and the last bundle rolled back."""
    items = []
    if isinstance(rb.get("probation"), dict):
        g = _fields(rb["probation"])
        line = f"{g['model_id']} scores beside {g['previous_model_id']} until {g['until']}: {g['above']} of "
        items.append(("Probation", line + f"{g['samples']} samples above 1, the previous model {g['previous_above']}"))
    last = _last(rb)
    if last is not None:
        r = _fields(last)
        items.append(
            ("Rolled back", f"{r['model_id']} rolled back to {r['restored_model_id']} at {r['at']}: {r['reason']}")
        )
    return items


def rollback_notice(model: dict[str, Any], now: float) -> str:
    """One sentence under the title when a bundle was rolled back in the last day (else ""): the picture
    below still holds the scores it published before the rollback."""
    last = _last(model.get("rollback") if isinstance(model, dict) else None)
    if last is None:
        return ""
    try:
        at = datetime.fromisoformat(str(last["at"])).timestamp()
    except (KeyError, ValueError):
        return ""
    if not 0 <= now - at <= RECENT:
        return ""
    r = _fields(last)
    return (
        f"Model {r['model_id']} was rolled back to {r['restored_model_id']} at {r['at']}: {r['reason']}. "
        "The scores it published before that are in the picture below; see Model."
    )

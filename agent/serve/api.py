"""The JSON side of the HTTP API: responses, and ``/api/v1/history`` (the score ring, :mod:`agent.history.scores`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs

from agent.history.scores import Entry
from agent.serve.timeline import history_doc, parse_time

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _json(start: StartResponse, status: str, doc: Any) -> list[bytes]:
    body = json.dumps(doc, indent=2, default=str).encode()
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def history_app(
    history: Callable[[], Sequence[Entry]], interval: float, clock: Callable[[], float] = time.time
) -> WSGIApp:
    """``/api/v1/history?since=ISO``: the score ring from ``since`` (default: the last 24 h) as JSON."""

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            since = parse_time(query["since"][-1]) if "since" in query else clock() - 86400.0
        except ValueError:
            return _json(start, "400 Bad Request", {"error": "since: expected an ISO 8601 time or unix seconds"})
        entries = [e for e in history() if e.time >= since]
        return _json(start, "200 OK", history_doc(entries, interval, since))

    return app


def explain_app(explain: Callable[[float], dict[str, Any]] | None) -> WSGIApp:
    """``/api/v1/explain?at=ISO``: ``explain(at)`` as JSON; 404 when the time is outside the history."""

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "at" not in query:
            return _json(start, "400 Bad Request", {"error": "at: required (an ISO 8601 time or unix seconds)"})
        try:
            at = parse_time(query["at"][-1])
        except ValueError:
            return _json(start, "400 Bad Request", {"error": "at: expected an ISO 8601 time or unix seconds"})
        if explain is None:
            return _json(start, "404 Not Found", {"error": "this agent keeps no history to explain"})
        try:
            return _json(start, "200 OK", explain(at))
        except (ValueError, OSError) as exc:  # outside the history, or its files cannot be read
            return _json(start, "404 Not Found", {"error": str(exc)})

    return app

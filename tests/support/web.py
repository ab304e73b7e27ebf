"""HTTP GET that returns error statuses instead of raising."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def prometheus_ready(url: str) -> bool:
    """A real Prometheus at ``url`` answers ``/-/ready`` with 200 (503 while its TSDB opens; refused before)."""
    try:
        return http_get(f"{url}/-/ready", timeout=1)[0] == 200
    except OSError:
        return False

"""``anomaly-agent status``: what the landing page of a running agent shows, on the command line.

Fetches ``/healthz`` and ``/model`` (JSON) from the agent and prints them
with :func:`agent.serve.page.render_text`, the same sections as the page.
Exit 0 when the agent answered (whatever its state: the text says it), 1 when
it cannot be reached or does not answer like an anomaly-agent.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent.config import WebConfig
from agent.serve.http import local_url
from agent.serve.page import render_text

DEFAULT_LISTEN = WebConfig().listen_address


class Unreachable(Exception):
    """The agent did not answer, or not with its JSON documents."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("status", help="print what a running agent's landing page shows (from /healthz and /model)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=DEFAULT_LISTEN,
        help=f"the agent's [host]:port; an unspecified host means this host (default {DEFAULT_LISTEN})",
    )
    where.add_argument(
        "--url", help="the agent's base URL, e.g. https://user:password@host:9840/ (credentials for basic auth)"
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    return p


def _fetch(base: str, path: str, timeout: float) -> dict[str, Any]:
    parts = urlsplit(base)
    headers = {"Accept": "application/json"}
    if parts.username is not None:
        cred = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + path))
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise Unreachable(
                f"{url}: 401 Unauthorized (give the credentials: --url https://USER:PASSWORD@HOST:PORT/)"
            ) from None
        if e.code != 503:  # /healthz answers 503, with its document, while not scoring
            raise Unreachable(f"{url}: HTTP {e.code} {e.reason}") from None
        body = e.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise Unreachable(f"{url}: {reason}") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise Unreachable(f"{url}: the answer is not JSON (is an anomaly-agent listening there?)") from None
    if not isinstance(doc, dict):
        raise Unreachable(f"{url}: the answer is not a JSON object (is an anomaly-agent listening there?)")
    return doc


def cmd_status(args: argparse.Namespace) -> int:
    base = args.url or local_url(args.listen_address)
    if not base.endswith("/"):
        base += "/"
    try:
        health = _fetch(base, "healthz", args.timeout)
        model = _fetch(base, "model", args.timeout)
    except Unreachable as exc:
        print(f"anomaly-agent status: cannot read the agent: {exc}", file=sys.stderr)
        return 1
    shown = urlunsplit(urlsplit(base)._replace(netloc=urlsplit(base).netloc.rpartition("@")[2]))
    sys.stdout.write(render_text(health, model, shown))
    return 0

"""The commands that ask a running agent (``status``, ``explain``): where it listens, and its JSON over HTTP.

One set of options for every such command (:func:`add_agent_options`): ``--web.listen-address``
(an agent on this host) or ``--url`` (any base URL: ``https://`` for an agent serving TLS, checked
against the system's trust store; ``user:password@`` for basic auth), and ``--timeout``.
:func:`fetch_json` sends the credentials as an ``Authorization`` header, never in the URL it
names in its errors.
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from agent.config import WebConfig
from agent.serve.http import local_url

DEFAULT_LISTEN = WebConfig().listen_address


class Unreachable(Exception):
    """The agent did not answer, or not with its JSON documents."""


class Refused(Unreachable):
    """The agent answered with an HTTP error; ``error`` is the ``error`` of its JSON answer, when it has one."""

    def __init__(self, url: str, code: int, reason: str, error: Any) -> None:
        super().__init__(f"{url}: HTTP {code} {reason}")
        self.url, self.code, self.reason, self.error = url, code, reason, error


def add_agent_options(p: argparse.ArgumentParser, timeout: float = 5.0) -> None:
    """``--web.listen-address`` or ``--url``, and ``--timeout`` (default ``timeout`` seconds)."""
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
    p.add_argument("--timeout", type=float, default=timeout, help=f"seconds per request (default {timeout:g})")


def agent_base(args: argparse.Namespace) -> str:
    """The base URL (ending in ``/``) that :func:`add_agent_options`'s options name."""
    base = str(args.url or local_url(args.listen_address))
    return base if base.endswith("/") else base + "/"


def without_credentials(url: str) -> str:
    """``url`` without its ``user:password@``: what may be shown."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def fetch_json(
    base: str, path: str, timeout: float, query: dict[str, str] | None = None, answered: tuple[int, ...] = (503,)
) -> dict[str, Any]:
    """GET ``base`` + ``path`` (+ ``?query``) as a JSON object; an HTTP status in ``answered`` still carries
    its document (``/healthz`` answers 503 while not scoring).  :class:`Unreachable` otherwise (a
    :class:`Refused` for an HTTP error)."""
    parts = urlsplit(base)
    headers = {"Accept": "application/json"}
    if parts.username is not None:
        cred = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    parts = parts._replace(path=parts.path.rstrip("/") + "/" + path)
    url = urlunsplit(parts if query is None else parts._replace(query=urlencode(query)))
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise Unreachable(
                f"{url}: 401 Unauthorized (give the credentials: --url https://USER:PASSWORD@HOST:PORT/)"
            ) from None
        if e.code not in answered:
            raise Refused(url, e.code, e.reason, _error_of(e)) from None
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


def _error_of(e: urllib.error.HTTPError) -> Any:
    """The ``error`` of an HTTP error's JSON answer (the agent's API says why it refused); None without one."""
    try:
        doc = json.loads(e.read())
    except (ValueError, OSError):
        return None
    return doc.get("error") if isinstance(doc, dict) else None

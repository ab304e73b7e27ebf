"""The HTTP side: ``/`` landing page, ``/metrics``, ``/healthz``, ``/model`` and ``/api/v1/history``, TLS, basic auth.

A threading WSGI server (the same base prometheus_client uses) so a slow or
stuck client never blocks the sampling job or other scrapers.  Each
connection must deliver its whole request head within the request timeout
(one deadline, so a client trickling a byte at a time is dropped too) and
in at most ``MAX_REQUEST_HEAD_BYTES``; at most ``MAX_CONNECTIONS`` are
served at once (more are closed at accept), which bounds threads and memory
under a flood.  The TLS handshake happens in the connection's own thread,
not in the accept loop.
"""

from __future__ import annotations

import base64
import gzip
import io
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from agent.history.scores import Entry
from agent.serve.api import StartResponse, WSGIApp, _json, explain_app, history_app
from agent.serve.page import render_html
from agent.serve.webconfig import BasicAuth, WebSettings, ssl_context

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64  # served at once; Prometheus needs one or two
MAX_REQUEST_HEAD_BYTES = 128 * 1024  # request line + headers; a scrape sends a few hundred bytes


def metrics_app(registry: CollectorRegistry) -> WSGIApp:
    """``/metrics``: ``registry`` in the format the scraper asks for (text or OpenMetrics), gzip if accepted."""

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        body = encoder(registry)
        headers = [("Content-Type", content_type)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start("200 OK", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    return app


def make_app(
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    model_doc: Callable[[], dict[str, Any]],
    auth: BasicAuth | None = None,
    history: Callable[[], Sequence[Entry]] | None = None,
    interval: float = 60.0,
    clock: Callable[[], float] = time.time,
    explain: Callable[[float], dict[str, Any]] | None = None,
) -> WSGIApp:
    """Routes; ``/metrics`` serves ``registry``, the one registry of the agent; ``/`` renders the
    ``health`` and ``model_doc`` documents and the ``history`` of scores as a page (:mod:`agent.serve.page`)."""
    metrics = metrics_app(registry)
    api_history = history_app(history or list, interval, clock)
    api_explain = explain_app(explain)

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if auth is not None and not _authorised(auth, environ.get("HTTP_AUTHORIZATION", "")):
            start(
                "401 Unauthorized",
                [
                    ("WWW-Authenticate", 'Basic realm="host-anomaly-exporter"'),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", "13"),
                ],
            )
            return [b"Unauthorized\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics(environ, start)
        if path == "/healthz":
            ok, doc = health()
            return _json(start, "200 OK" if ok else "503 Service Unavailable", doc)
        if path == "/model":
            return _json(start, "200 OK", model_doc())
        if path == "/api/v1/history":
            return api_history(environ, start)
        if path == "/api/v1/explain":
            return api_explain(environ, start)
        if path == "/":
            # rendered per request from the same documents as /healthz and /model (1-2 ms)
            entries = None if history is None else history()
            body = render_html(health()[1], model_doc(), entries, clock(), interval).encode()
            start("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
        start("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"Not Found\n"]

    return app


def _authorised(auth: BasicAuth, header: str) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return bool(sep) and auth.check(user, password)


class _HeadReader(io.RawIOBase):
    """Socket reads under one deadline for the whole request head and a byte budget.

    The socket's own timeout applies per ``recv``, so a client sending a
    byte every few seconds would hold its thread forever without this.
    """

    def __init__(self, sock: socket.socket, timeout: float, budget: int) -> None:
        self._sock = sock
        self._deadline: float | None = time.monotonic() + timeout
        self._budget = budget

    def readable(self) -> bool:
        return True

    def head_done(self) -> None:
        self._deadline = None

    def readinto(self, buf: Any) -> int:
        if self._budget <= 0:
            raise ConnectionAbortedError(f"request larger than {MAX_REQUEST_HEAD_BYTES} bytes")
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request not received within the request timeout")
            self._sock.settimeout(left)
        n = self._sock.recv_into(memoryview(buf)[: self._budget])
        self._budget -= n
        return n


class _Handler(WSGIRequestHandler):
    timeout = 10.0  # replaced per server

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain makefile() reader is replaced, not kept open
        self._head = _HeadReader(self.connection, self.timeout, MAX_REQUEST_HEAD_BYTES)
        self.rfile = io.BufferedReader(self._head)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        # The head is in: the response is written under the plain per-operation timeout.
        self._head.head_done()
        self.connection.settimeout(self.timeout)
        return ok

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None
    max_connections = MAX_CONNECTIONS
    request_queue_size = 128  # listen backlog; socketserver's 5 drops SYNs (1 s client retries) under a burst

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._refusing = False
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if not self._refusing:  # once per flood, not once per connection
                self._refusing = True
                log.warning("%d connections open: refusing new ones until some finish", self.max_connections)
            self.shutdown_request(request)
            return
        self._refusing = False
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread did not start: give the slot back
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's thread: the handshake cannot stall accept().
        if self.tls is not None:
            request.settimeout(self.RequestHandlerClass.timeout)  # type: ignore[attr-defined]
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                request.close()
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


def parse_listen_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def local_url(address: str, tls: bool = False) -> str:
    """The base URL that reaches a server listening on ``address`` from this host (``:9840`` ->
    ``http://127.0.0.1:9840/``)."""
    host, port = parse_listen_address(address)
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(
    address: str,
    app: WSGIApp,
    web: WebSettings | None = None,
    request_timeout: float = 10.0,
    max_connections: int = MAX_CONNECTIONS,
) -> tuple[WSGIServer, threading.Thread]:
    """Bind and serve in a daemon thread; returns (server, thread) so callers can shut it down.

    Raises OSError naming ``address`` when it cannot be bound (in use, no such host).
    """
    host, port = parse_listen_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not host:
        host, family = ("::", socket.AF_INET6) if socket.has_ipv6 else ("0.0.0.0", socket.AF_INET)

    handler = type("Handler", (_Handler,), {"timeout": request_timeout})
    server_cls: type[_Server] = type(
        "Server", (_Server,), {"address_family": family, "max_connections": max_connections}
    )
    if family == socket.AF_INET6:
        server_cls.server_bind = _dual_stack_bind(server_cls.server_bind)  # type: ignore[method-assign,assignment]
    try:
        httpd = make_server(host, port, app, server_class=server_cls, handler_class=handler)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {address}: {exc.strerror or exc}") from None
    if web is not None and web.tls:
        httpd.tls = ssl_context(web)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5}, name="http", daemon=True)
    thread.start()
    return httpd, thread


def _dual_stack_bind(bind: Callable[[Any], None]) -> Callable[[Any], None]:
    def server_bind(self: Any) -> None:
        try:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        except OSError:
            pass
        bind(self)

    return server_bind

"""The HTTP side: ``/`` landing page, ``/metrics``, ``/healthz`` and ``/model``, optional TLS and basic auth.

A threading WSGI server (the same base prometheus_client uses) so a slow or
stuck client never blocks the sampling job or other scrapers; every
connection has a read timeout, and the TLS handshake happens in the
connection's own thread, not in the accept loop.
"""
from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from agent.webconfig import BasicAuth, WebSettings, ssl_context

log = logging.getLogger(__name__)

LANDING = b"""<!doctype html><html><head><title>host-anomaly-exporter</title></head><body>
<h1>host-anomaly-exporter</h1><p>Anomaly score of this host, computed once per sampling interval.</p>
<ul><li><a href="metrics">/metrics</a> Prometheus metrics</li>
<li><a href="healthz">/healthz</a> 200 when scoring is live (JSON)</li>
<li><a href="model">/model</a> the model bundle in use (JSON)</li></ul></body></html>
"""

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _json(start: StartResponse, status: str, doc: Any) -> list[bytes]:
    body = json.dumps(doc, indent=2, default=str).encode()
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_app(
    registry: CollectorRegistry,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    model_doc: Callable[[], dict[str, Any]],
    auth: BasicAuth | None = None,
) -> WSGIApp:
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if auth is not None and not _authorised(auth, environ.get("HTTP_AUTHORIZATION", "")):
            start("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="host-anomaly-exporter"'),
                                       ("Content-Type", "text/plain"), ("Content-Length", "13")])
            return [b"Unauthorized\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics_app(environ, start)
        if path == "/healthz":
            ok, doc = health()
            return _json(start, "200 OK" if ok else "503 Service Unavailable", doc)
        if path == "/model":
            return _json(start, "200 OK", model_doc())
        if path == "/":
            start("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(LANDING)))])
            return [LANDING]
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


class _Handler(WSGIRequestHandler):
    timeout = 10.0  # replaced per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

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


def serve(
    address: str,
    app: WSGIApp,
    web: WebSettings | None = None,
    request_timeout: float = 10.0,
) -> tuple[WSGIServer, threading.Thread]:
    """Bind and serve in a daemon thread; returns (server, thread) so callers can shut it down."""
    host, port = parse_listen_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not host:
        host, family = ("::", socket.AF_INET6) if socket.has_ipv6 else ("0.0.0.0", socket.AF_INET)

    handler = type("Handler", (_Handler,), {"timeout": request_timeout})
    server_cls = type("Server", (_Server,), {"address_family": family})
    if family == socket.AF_INET6:
        server_cls.server_bind = _dual_stack_bind(server_cls.server_bind)  # type: ignore[method-assign]
    httpd = make_server(host, port, app, server_class=server_cls, handler_class=handler)
    if web is not None and web.tls:
        httpd.tls = ssl_context(web)  # type: ignore[attr-defined]
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

"""A real ``anomaly-train fleet serve`` on loopback, plain or with TLS, for the agent's pull tests."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from training.fleet.serve import make_server


@contextmanager
def fleet_server(directory: Path, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve ``directory`` as `fleet serve` does; yields its base URL. ``tls`` = (certificate, key)."""
    server = make_server(directory)
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""``anomaly-train fleet serve OUT``: a fleet directory over HTTP with strong ETags (any static server works too).

The ETag is the file's size and mtime; ``If-None-Match`` that matches gets
304 without a body, which is what every agent's poll costs between retrains.
"""

from __future__ import annotations

import http.server
import os
from functools import partial
from pathlib import Path
from typing import Any


class FleetHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with ETag / If-None-Match; no directory listings, no dotfiles (staging dirs)."""

    def list_directory(self, path: Any) -> None:
        self.send_error(404, "no listing")
        return None

    def _etag(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'

    def send_head(self) -> Any:
        if any(part.startswith(".") for part in self.path.split("?")[0].split("/") if part):
            self.send_error(404)
            return None
        path = self.translate_path(self.path)
        etag = self._etag(path) if os.path.isfile(path) else None
        if etag and etag in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        self._pending_etag = etag
        return super().send_head()

    def end_headers(self) -> None:
        etag = getattr(self, "_pending_etag", None)
        if etag:
            self.send_header("ETag", etag)
            self._pending_etag = None
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise at scale
        pass


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    handler = partial(FleetHandler, directory=str(Path(directory).resolve()))
    return http.server.ThreadingHTTPServer((host, port), handler)

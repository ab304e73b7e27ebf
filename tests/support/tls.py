"""TLS and basic auth for the agent's web server: a self-signed certificate, an exporter-toolkit web config, a GET."""

from __future__ import annotations

import base64
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import yaml


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """``(cert, key)`` in ``directory``: a self-signed certificate for 127.0.0.1 and localhost (openssl, 2 days)."""
    key, crt = directory / "tls.key", directory / "tls.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def web_config(
    path: Path, cert: tuple[Path, Path] | None = None, users: dict[str, str] | None = None, rounds: int = 4
) -> Path:
    """The web config at ``path``: TLS with ``cert`` = (cert, key), basic auth for ``users`` (name -> password,
    bcrypt-hashed here with ``rounds``)."""
    doc: dict[str, object] = {}
    if cert:
        doc["tls_server_config"] = {"cert_file": str(cert[0]), "key_file": str(cert[1])}
    if users:
        doc["basic_auth_users"] = {
            name: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
            for name, password in users.items()
        }
    path.write_text(yaml.safe_dump(doc))
    return path


def auth_get(url: str, user: str | None = None, password: str | None = None, ctx: ssl.SSLContext | None = None) -> int:
    """The HTTP status of a GET of ``url`` (error statuses returned, not raised), with basic auth when ``user``
    is given and the TLS context ``ctx`` (None for plain HTTP or the default context)."""
    req = urllib.request.Request(url)
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

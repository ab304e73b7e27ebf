"""The exporter-toolkit style web config file: TLS certificate/key and bcrypt basic-auth users.

Same keys as Prometheus exporters use (``web-config.yml``)::

    tls_server_config:
      cert_file: /etc/host-anomaly-exporter/tls.crt
      key_file: /etc/host-anomaly-exporter/tls.key
      min_version: TLS12        # optional: TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2y$10$...    # bcrypt hash (htpasswd -nBC 10)
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.config import ConfigError

TLS_KEYS = {"cert_file", "key_file", "min_version"}
TOP_KEYS = {"tls_server_config", "basic_auth_users"}


@dataclass(frozen=True)
class WebSettings:
    cert_file: str = ""
    key_file: str = ""
    min_version: str = "TLS12"
    users: dict[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash

    @property
    def tls(self) -> bool:
        return bool(self.cert_file)


def parse_web_config(data: Any, source: str) -> WebSettings:
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["top level: must be a mapping"], source)
    problems += [f"{k}: unknown key (known: {', '.join(sorted(TOP_KEYS))})" for k in data if k not in TOP_KEYS]
    tls = data.get("tls_server_config") or {}
    users = data.get("basic_auth_users") or {}
    if not isinstance(tls, dict):
        problems.append("tls_server_config: must be a mapping")
        tls = {}
    problems += [f"tls_server_config.{k}: unknown key" for k in tls if k not in TLS_KEYS]
    cert, key = str(tls.get("cert_file", "")), str(tls.get("key_file", ""))
    if bool(cert) != bool(key):
        problems.append("tls_server_config: cert_file and key_file must be given together")
    for name, path in (("cert_file", cert), ("key_file", key)):
        if path and not Path(path).is_file():
            problems.append(f"tls_server_config.{name}: file not found: {path}")
    min_version = str(tls.get("min_version", "TLS12"))
    if min_version not in ("TLS12", "TLS13"):
        problems.append(f"tls_server_config.min_version: must be TLS12 or TLS13, got {min_version!r}")
    hashes: dict[str, bytes] = {}
    if not isinstance(users, dict):
        problems.append("basic_auth_users: must be a mapping of user: bcrypt-hash")
        users = {}
    for user, hashed in users.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            problems.append(f"basic_auth_users.{user}: must be a bcrypt hash ($2y$...), not a plain password")
        else:
            hashes[str(user)] = hashed.encode()
    if problems:
        raise ConfigError(problems, source)
    return WebSettings(cert, key, min_version, hashes)


def load_web_config(path: str | Path) -> WebSettings:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"cannot read file: {exc.strerror or exc}"], str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["not a UTF-8 text file"], str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}".replace("\n", " ")], str(path)) from None
    except RecursionError:
        raise ConfigError(["not valid YAML: nested too deeply"], str(path)) from None
    settings = parse_web_config(data, str(path))
    if settings.tls:
        ssl_context(settings)  # fail at start-up, not at the first handshake
    return settings


def ssl_context(settings: WebSettings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if settings.min_version == "TLS13" else ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(settings.cert_file, settings.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError([f"tls_server_config: cannot load certificate/key: {exc}"], "web config") from None
    return ctx


class BasicAuth:
    """Checks credentials against bcrypt hashes, caching successes.

    bcrypt is deliberately slow (~50-250 ms); Prometheus sends the same
    credentials every scrape, so verified pairs are cached by a keyed digest
    (never the password itself) and checked with a constant-time compare.
    """

    def __init__(self, users: dict[str, bytes]) -> None:
        import bcrypt  # only needed when auth is configured

        self._bcrypt = bcrypt
        self._users = users
        self._salt = hashlib.sha256(b"".join(users.values())).digest()
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        if hashed is None:
            return False
        token = hmac.new(self._salt, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            if any(hmac.compare_digest(token, t) for t in self._ok):
                return True
        try:
            ok = self._bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                if len(self._ok) < 64:
                    self._ok.add(token)
        return ok

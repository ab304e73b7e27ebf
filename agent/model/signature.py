"""Signed fleet manifests (docs/fleet.md "Threat model"): Ed25519 over the manifest's bytes, a serial that only grows.

``anomaly-train fleet sign`` writes ``<manifest>.sig`` beside each manifest
(the base64 Ed25519 signature of the file's exact bytes) and a ``serial`` in
it, one more than the last signed.  An agent given ``model.url_public_key``
accepts a manifest only when its signature verifies with that key and its
serial is not below the last one it accepted (kept in the state directory), so
neither whoever can write the fleet directory nor whoever answers for the
server can ship a model, and an old signed manifest cannot be replayed.
Each refusal has its own ``result`` in ``host_anomaly_model_reloads_total``.

The ``cryptography`` library is imported only when a key is configured: a host
without one pays nothing for it.  The rollout share (staged rollout) is read
here too: :func:`in_rollout` puts a host inside a share by a stable hash of its
name, the same on every poll and every restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from agent.state import StateCorrupt, atomic_write_json, read_json

log = logging.getLogger(__name__)

SIG_SUFFIX = ".sig"
SERIAL_FILE = "fleet-serial.json"


class Refused(Exception):
    """A manifest that must not be used; ``result`` is the reload counter's label."""

    def __init__(self, result: str, message: str) -> None:
        super().__init__(message)
        self.result = result


def load_public_key(path: Path | str) -> Any:
    """The Ed25519 public key in PEM at ``path``; ValueError naming the problem."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"model.url_public_key: {path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"model.url_public_key: {path}: not an Ed25519 public key")
    return key


def verify(key: Any, body: bytes, signature: bytes | None, where: str) -> None:
    """Raise :class:`Refused` unless ``signature`` (base64 text) is ``key``'s signature of ``body``."""
    from cryptography.exceptions import InvalidSignature

    if signature is None:
        raise Refused("unsigned", f"{where}: no {SIG_SUFFIX} beside it (unsigned manifest)")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        key.verify(raw, body)
    except (binascii.Error, ValueError, InvalidSignature):
        raise Refused("bad_signature", f"{where}: the signature does not verify with model.url_public_key") from None


def manifest_serial(body: bytes, where: str) -> int:
    try:
        serial = json.loads(body).get("serial")
    except (ValueError, AttributeError):
        serial = None
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 1:
        raise Refused("bad_signature", f"{where}: a signed manifest must carry a serial >= 1")
    return serial


class SerialStore:
    """The serial of the last accepted manifest, in the state directory (a restart cannot be replayed to)."""

    def __init__(self, state_dir: Path | str | None) -> None:
        self.path = None if state_dir is None else Path(state_dir) / SERIAL_FILE
        self.last = 0
        if self.path is not None:
            try:
                doc = read_json(self.path) or {}
                self.last = int(doc.get("serial", 0))
            except (StateCorrupt, TypeError, ValueError) as exc:
                log.warning("model.url: %s unreadable (%s): the next signed manifest sets the serial", self.path, exc)

    def check(self, serial: int, where: str) -> None:
        if serial < self.last:
            raise Refused(
                "replayed", f"{where}: serial {serial} is older than the last accepted ({self.last}): a replay"
            )

    def accept(self, serial: int) -> None:
        self.last = max(self.last, serial)
        if self.path is not None:
            try:
                atomic_write_json(self.path, {"serial": self.last})
            except OSError as exc:  # kept in memory; a restart then accepts serials from the saved one on
                log.warning("model.url: cannot save the accepted serial to %s: %s", self.path, exc)


def rollout_point(hostname: str) -> float:
    """A stable number in [0, 1) for ``hostname``: the host is in a rollout share s when it is below s."""
    return int.from_bytes(hashlib.sha256(hostname.encode()).digest()[:8], "big") / 2.0**64


def in_rollout(hostname: str, share: Any) -> bool:
    """True when a manifest's ``rollout_share`` (absent: 1, everyone) includes ``hostname``."""
    if share is None:
        return True
    try:
        s = float(share)
    except (TypeError, ValueError):
        return False
    return rollout_point(hostname) < s

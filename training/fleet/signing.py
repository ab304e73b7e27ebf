"""``anomaly-train fleet keygen / sign / promote``: signed manifests and staged rollout (docs/fleet.md).

``keygen`` writes an Ed25519 key pair (the private key 0600, for the trainer
only; the public key goes to every agent as ``model.url_public_key``).
``sign`` gives ``fleet.json`` and every ``fleet.d/<host>.json`` slice a
``serial`` one above the last and writes ``<file>.sig`` (base64 Ed25519 over
the file's exact bytes).  When the hosts' bundles changed since the last
signing, a new *generation* starts with ``rollout_share`` ``--share`` (default
0.1): an agent takes it only when its hostname's stable hash
(:func:`agent.model.signature.rollout_point`) is below the share.
``promote --share`` widens the share of the current generation and re-signs.
Agents check signatures and serials (:mod:`agent.model.signature`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from agent.model.signature import SIG_SUFFIX, rollout_point
from training.fleet.manifest import MANIFEST, SLICES, read_manifest, write_manifest

DEFAULT_SHARE = 0.1  # a new generation reaches one host in ten until promoted


def keygen(private: Path, public: Path) -> None:
    """Write a new Ed25519 key pair as PEM; refuse to overwrite a private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if private.exists():
        raise ValueError(f"{private} exists: refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def _write_signed(path: Path, doc: dict[str, Any], key: Any) -> None:
    body = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    for target, data in ((path, body), (path.with_name(path.name + SIG_SUFFIX), base64.b64encode(key.sign(body)))):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)


def _bundles_digest(doc: dict[str, Any]) -> str:
    pairs = sorted((h, str(r.get("sha256", ""))) for h, r in doc.get("hosts", {}).items())
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def sign(out: Path, key_path: Path, share: float | None = None) -> dict[str, Any]:
    """Sign ``out``'s manifests with a new serial; a changed set of bundles starts a new generation."""
    key = _private_key(key_path)
    doc = read_manifest(out)
    if not doc["hosts"]:
        raise ValueError(f"{out}: no fleet.json hosts to sign")
    digest = _bundles_digest(doc)
    if digest != doc.get("bundles_digest"):  # fleet fit wrote new bundles: a new generation, rolled out slowly
        doc["generation"] = int(doc.get("generation", 0)) + 1
        doc["rollout_share"] = DEFAULT_SHARE if share is None else share
        doc["bundles_digest"] = digest
    elif share is not None:
        doc["rollout_share"] = share
    if not 0 <= float(doc.get("rollout_share", 1.0)) <= 1:
        raise ValueError(f"--share must be in [0, 1], got {doc['rollout_share']}")
    doc["serial"] = int(doc.get("serial", 0)) + 1
    path = write_manifest(out, doc)
    doc = json.loads(path.read_text(encoding="utf-8"))
    _write_signed(path, doc, key)
    for host, rec in doc["hosts"].items():
        piece = {k: doc[k] for k in ("format", "serial", "generation", "rollout_share")} | {"hosts": {host: rec}}
        (Path(out) / SLICES).mkdir(exist_ok=True)
        _write_signed(Path(out) / SLICES / f"{host}.json", piece, key)
    return doc


def promote(out: Path, key_path: Path, share: float) -> dict[str, Any]:
    """Widen (or narrow) the current generation's rollout share and re-sign."""
    if not (Path(out) / MANIFEST).is_file():
        raise ValueError(f"{out}/{MANIFEST} not found")
    return sign(out, key_path, share)


def rollout_line(doc: dict[str, Any]) -> str:
    """``fleet status``: the generation, its share and how many hosts are inside it."""
    if "serial" not in doc:
        return "unsigned: agents with model.url_public_key refuse it (anomaly-train fleet sign OUT --key FILE)"
    share = float(doc.get("rollout_share", 1.0))
    hosts = list(doc.get("hosts", {}))
    inside = sum(rollout_point(h) < share for h in hosts)
    return (
        f"generation {doc.get('generation', 1)}, serial {doc['serial']}: rollout share {share:g}, "
        f"{inside} of {len(hosts)} hosts in it"
    )

"""Pull this host's bundle from a fleet server (``model.url``): ETag polling, sha256 check, atomic swap.

The URL names the host's bundle directory (``{hostname}`` is replaced), e.g.
``https://models.example/fleet/{hostname}/``; the manifest is this host's
record of fleet.json, ``../fleet.d/{hostname}.json``, unless ``model.url_manifest``
says otherwise (``../fleet.json`` works too: same schema).
One poll is a conditional GET of ``bundle.json`` (304 = nothing to do).  When
it changed and names another model, ``model.tflite`` and the manifest are
downloaded, the model's sha256 must equal both ``bundle.json``'s and the
manifest's entry for this host, the bundle must load, and only then does the
configured bundle path switch to it (a symlink replaced atomically).  Any
failure leaves the running model and the bundle path untouched.  urllib only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import ModelConfig
from agent.model.bundle import BUNDLE_FILE, MODEL_FILE, load_bundle
from agent.model.members import sha256_file
from agent.model.signature import SIG_SUFFIX, Refused, SerialStore, in_rollout, load_public_key, manifest_serial, verify

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024 * 1024  # a bundle larger than this is refused (a wrong URL serving a huge file)
# this host's fleet.json record alone (anomaly-train fleet fit writes both): ~1 KB instead of ~1 KB per host
MANIFEST = "../fleet.d/{hostname}.json"
KEEP_VERSIONS = 2  # the current bundle and the one before (for a quick manual roll-back)


class Unreachable(Exception):
    """No usable HTTP answer (connection, TLS, timeout, 5xx, 404)."""


class Rejected(Exception):
    """The server answered with a bundle that must not be used."""


def bundle_url(template: str, hostname: str | None = None) -> str:
    url = template.replace("{hostname}", urllib.parse.quote(hostname or socket.gethostname(), safe=""))
    return url if url.endswith("/") else url + "/"


def ssl_context(cfg: ModelConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cfg.url_ca_file or None)
    if cfg.url_cert_file:
        ctx.load_cert_chain(cfg.url_cert_file, cfg.url_key_file or None)
    return ctx


def auth_header(cfg: ModelConfig) -> dict[str, str]:
    if not cfg.url_username:
        return {}
    password = Path(cfg.url_password_file).read_text(encoding="utf-8").strip() if cfg.url_password_file else ""
    token = base64.b64encode(f"{cfg.url_username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RemoteBundle:
    """Polls ``model.url`` for this host and installs a verified new bundle at ``model.bundle``."""

    def __init__(
        self,
        cfg: ModelConfig,
        hostname: str | None = None,
        urlopen: Callable[..., Any] = urllib.request.urlopen,
        timeout: float = 30.0,
        state_dir: Path | str | None = None,
        refused: Callable[[str], object | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.refused = refused  # sha256 -> the rollback decision that keeps it off this host (or None)
        self._told: set[str] = set()
        self.host = hostname or socket.gethostname()
        self.url = bundle_url(cfg.url, self.host)
        manifest = (cfg.url_manifest or MANIFEST).replace("{hostname}", urllib.parse.quote(self.host, safe=""))
        self.manifest_url = urllib.parse.urljoin(self.url, manifest)
        self._urlopen, self.timeout = urlopen, timeout
        self._ctx = ssl_context(cfg) if self.url.startswith("https:") else None
        self.etag: str | None = None
        # signed manifests (docs/fleet.md): the signer's key, and the last serial accepted (state directory)
        self.key = load_public_key(cfg.url_public_key) if cfg.url_public_key else None
        self.serials = SerialStore(state_dir)
        if self.key is None:
            log.warning("model.url: fleet manifests are not verified (model.url_public_key is not set)")

    def _get(self, url: str, etag: str | None = None) -> tuple[int, bytes, str | None]:
        headers = {"User-Agent": "host-anomaly-exporter", **auth_header(self.cfg)}
        if etag:
            headers["If-None-Match"] = etag
        req = urllib.request.Request(url, headers=headers)
        try:
            with self._urlopen(req, timeout=self.timeout, context=self._ctx) as r:
                body = r.read(MAX_BYTES + 1)
                if len(body) > MAX_BYTES:
                    raise Rejected(f"{url}: larger than {MAX_BYTES} bytes")
                return r.status, body, r.headers.get("ETag")
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return 304, b"", exc.headers.get("ETag") or etag
            if exc.code in (401, 403):
                raise Rejected(f"{url}: HTTP {exc.code} (credentials)") from None
            raise Unreachable(f"{url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(f"{url}: {getattr(exc, 'reason', exc)}") from None

    def poll(self, current_sha: str) -> str:
        """One poll: "not_modified", "updated", "unreachable" or "rejected" (the old bundle stays in every
        case but "updated"; the caller then reloads)."""
        try:
            return self._poll(current_sha)
        except Unreachable as exc:
            log.warning("model.url: server unreachable, keeping the current model: %s", exc)
            return "unreachable"
        except Refused as exc:  # unsigned, signed by another key, or an old serial
            log.error("model.url: manifest refused (%s), keeping the current model: %s", exc.result, exc)
            return exc.result
        except Exception as exc:  # a bad bundle, a bad manifest or a failed swap: nothing is changed
            log.error("model.url: bundle rejected, keeping the current model: %s", exc)
            return "rejected"

    def _poll(self, current_sha: str) -> str:
        status, body, etag = self._get(self.url + BUNDLE_FILE, self.etag)
        if status == 304:
            return "not_modified"
        try:
            meta = json.loads(body)
            sha = str(meta["model"]["sha256"]).lower()
        except (ValueError, KeyError, TypeError):
            raise Rejected(f"{self.url}{BUNDLE_FILE}: not a bundle.json") from None
        if sha == current_sha:
            self.etag = etag
            return "not_modified"
        if self.refused is not None and self.refused(sha) is not None:  # rolled back here: never again
            if sha not in self._told:
                log.warning("model.url: %s was rolled back on this host; not installing it again", sha[:12])
                self._told.add(sha)
            self.etag = etag
            return "not_modified"
        _, manifest, _ = self._get(self.manifest_url)
        serial = self._verified(manifest)
        try:
            doc = json.loads(manifest)
            entry = doc["hosts"][self.host]
        except (ValueError, KeyError, TypeError):
            raise Rejected(f"{self.manifest_url}: no entry for host {self.host!r}") from None
        if not in_rollout(self.host, doc.get("rollout_share")):  # staged rollout: not this host's turn yet
            log.info(
                "model.url: %s is outside rollout share %s: keeping the current model", self.host, doc["rollout_share"]
            )
            self.etag = None  # ask again next poll: a promotion changes the manifest, not bundle.json
            return "not_modified"
        if entry.get("status") != "ok" or str(entry.get("sha256", "")).lower() != sha:
            raise Rejected(
                f"{self.manifest_url}: lists sha256 {str(entry.get('sha256'))[:12]} for {self.host}, "
                f"bundle.json says {sha[:12]}"
            )
        _, model, _ = self._get(self.url + MODEL_FILE)
        self.install(body, model, sha)
        if serial is not None:
            self.serials.accept(serial)
        self.etag = etag
        return "updated"

    def _verified(self, manifest: bytes) -> int | None:
        """The manifest's serial once its signature and serial are checked (None: no key configured)."""
        if self.key is None:
            return None
        try:
            _, sig, _ = self._get(self.manifest_url + SIG_SUFFIX)
        except Unreachable as exc:
            if "HTTP 404" not in str(exc):
                raise
            sig = None
        verify(self.key, manifest, sig, self.manifest_url)
        serial = manifest_serial(manifest, self.manifest_url)
        self.serials.check(serial, self.manifest_url)
        return serial

    def install(self, bundle_json: bytes, model: bytes, sha: str) -> Path:
        """Stage both files beside the bundle path, verify, then point the bundle path at them atomically."""
        target = Path(self.cfg.bundle)
        versions = target.parent / f".{target.name}.versions"
        versions.mkdir(parents=True, exist_ok=True)
        stage = versions / f".staging-{os.getpid()}-{time.time_ns()}"
        stage.mkdir()
        try:
            (stage / MODEL_FILE).write_bytes(model)
            (stage / BUNDLE_FILE).write_bytes(bundle_json)
            if sha256_file(stage / MODEL_FILE) != sha:
                raise Rejected(f"{MODEL_FILE}: sha256 is not {sha[:12]} (as listed)")
            load_bundle(stage)  # every check the agent's loader makes
            final = versions / f"{sha[:16]}-{time.time_ns()}"
            stage.rename(final)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        running = target.resolve()  # the bundle in use until the swap: kept, a rollback may return to it
        if target.is_dir() and not target.is_symlink():  # first pull: the packaged/copied bundle moves aside
            running = versions / f"initial-{time.time_ns()}"
            target.rename(running)
        link = target.parent / f".{target.name}.link-{os.getpid()}"
        if link.is_symlink():
            link.unlink()
        os.symlink(final, link)
        os.replace(link, target)  # the one atomic step: readers see the old or the new bundle, whole
        self._prune(versions, {final, running})
        log.info("model.url: installed %s (%s)", final.name, sha[:12])
        return final

    @staticmethod
    def _prune(versions: Path, keep: set[Path]) -> None:
        """Remove all but ``keep`` (the new bundle and the one it replaced) and the newest others, to
        ``KEEP_VERSIONS`` in all."""
        keep = {p.resolve() for p in keep}
        olds = sorted(
            (p for p in versions.iterdir() if p.resolve() not in keep and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for p in olds[max(KEEP_VERSIONS - len(keep), 0) :]:
            shutil.rmtree(p, ignore_errors=True)


def kept_previous(target: Path | str, old_dir: Path) -> Path | None:
    """Where the bundle that was in ``old_dir`` (resolved) is now that ``target`` names another one: still
    there, or moved aside into the versions directory by the first pull; None when it was replaced in place."""
    target = Path(target)
    here = target.parent.resolve() / target.name
    if old_dir == target.resolve():
        return None
    if old_dir != here:
        return old_dir if old_dir.is_dir() else None
    moved = sorted(here.parent.glob(f".{target.name}.versions/initial-*"), key=lambda p: p.stat().st_mtime)
    return moved[-1] if moved else None


def pull_once(
    remote: RemoteBundle, current_sha: Callable[[], str], reload: Callable[[str], bool], count: Callable[[str], None]
) -> str:
    """The scheduled job: poll, then reload on "updated" or count a kept model (rejected, unreachable, and the
    refused manifests: unsigned, bad_signature, replayed)."""
    result = remote.poll(current_sha())
    if result == "updated":
        reload("pulled from model.url")
    elif result != "not_modified":
        count(result)
    return result

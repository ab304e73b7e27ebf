"""agent.model.remote: pulling a host's bundle from a fleet server (ETag polling, sha256 checks, atomic swap)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import free_port
from support.fleet import fleet_server

from agent.config import Config, ConfigError, ModelConfig, parse_config
from agent.model.bundle import load_bundle
from agent.model.loaded import load_model
from agent.model.remote import RemoteBundle, auth_header, bundle_url, pull_once
from agent.runtime.cycle import Agent
from agent.runtime.daemon import make_registry
from agent.runtime.sources import Row

OTHER = "0" * 64  # the sha256 of "the running model" when the served one must count as new


@pytest.fixture
def fleet(tmp_path: Path, default_bundle: Path) -> Path:
    """A fleet directory with host h1 (the default bundle) and fleet.json listing its sha256."""
    out = tmp_path / "fleet"
    shutil.copytree(default_bundle, out / "h1")
    sha = load_bundle(out / "h1").sha256
    write_manifest(out, {"format": 1, "hosts": {"h1": {"status": "ok", "sha256": sha}}})
    return out


def write_manifest(out: Path, doc: dict) -> None:
    """fleet.json and the host's slice fleet.d/h1.json (what agents read by default), as fleet fit writes them."""
    (out / "fleet.json").write_text(json.dumps(doc))
    (out / "fleet.d").mkdir(exist_ok=True)
    (out / "fleet.d" / "h1.json").write_text(json.dumps(doc))


@pytest.fixture
def served(fleet: Path) -> Iterator[str]:
    with fleet_server(fleet) as url:
        yield url


def remote(url: str, target: Path) -> RemoteBundle:
    return RemoteBundle(ModelConfig(bundle=str(target), url=url + "/{hostname}/"), hostname="h1")


def test_new_bundle_is_verified_and_swapped_in_atomically(served: str, default_bundle: Path, fleet: Path) -> None:
    r = remote(served, default_bundle)
    reloads: list[str] = []

    def reload(why: str) -> bool:
        reloads.append(why)
        return True

    assert pull_once(r, lambda: OTHER, reload, reloads.append) == "updated"
    assert reloads == ["pulled from model.url"]
    assert default_bundle.is_symlink()  # the bundle path now points at a verified version
    assert load_bundle(default_bundle).sha256 == load_bundle(fleet / "h1").sha256
    assert r.etag
    # nothing changed on the server: 304 on the conditional GET
    assert r.poll(OTHER) == "not_modified"
    # a second different bundle replaces the symlink; old versions are pruned to two
    r.etag = None
    assert r.poll(OTHER) == "updated"
    r.etag = None
    assert r.poll(OTHER) == "updated"
    versions = [p for p in (default_bundle.parent / ".bundle.versions").iterdir()]
    assert len(versions) == 2


def test_whole_fleet_json_as_the_manifest(served: str, default_bundle: Path, fleet: Path) -> None:
    (fleet / "fleet.d" / "h1.json").unlink()
    assert remote(served, default_bundle).poll(OTHER) == "unreachable"  # 404 on the default slice
    cfg = ModelConfig(bundle=str(default_bundle), url=served + "/{hostname}/", url_manifest="../fleet.json")
    assert RemoteBundle(cfg, hostname="h1").poll(OTHER) == "updated"


def test_same_model_is_not_downloaded_again(served: str, default_bundle: Path) -> None:
    r = remote(served, default_bundle)
    assert r.poll(load_bundle(default_bundle).sha256) == "not_modified"
    assert not default_bundle.is_symlink()


def test_sha_not_listed_in_fleet_json_is_rejected(served: str, default_bundle: Path, fleet: Path) -> None:
    write_manifest(fleet, {"hosts": {"h1": {"status": "ok", "sha256": "ab" * 32}}})
    counted: list[str] = []
    assert pull_once(remote(served, default_bundle), lambda: OTHER, lambda _: True, counted.append) == "rejected"
    assert counted == ["rejected"]
    assert not default_bundle.is_symlink() and load_bundle(default_bundle)


def test_host_missing_from_fleet_json_is_rejected(served: str, default_bundle: Path, fleet: Path) -> None:
    write_manifest(fleet, {"hosts": {}})
    assert remote(served, default_bundle).poll(OTHER) == "rejected"


def test_damaged_model_file_is_rejected(served: str, default_bundle: Path, fleet: Path) -> None:
    model = fleet / "h1" / "model.tflite"
    model.write_bytes(model.read_bytes()[:-8] + b"corrupt!")
    assert remote(served, default_bundle).poll(OTHER) == "rejected"
    assert not default_bundle.is_symlink()
    assert not list((default_bundle.parent / ".bundle.versions").glob(".staging-*"))


def test_unknown_host_and_server_down_are_unreachable(served: str, default_bundle: Path, tmp_path: Path) -> None:
    r = RemoteBundle(ModelConfig(bundle=str(default_bundle), url=served + "/{hostname}"), hostname="nope")
    assert r.poll(OTHER) == "unreachable"  # 404
    down = remote(f"http://127.0.0.1:{free_port()}", default_bundle)
    assert down.poll(OTHER) == "unreachable"
    assert not default_bundle.is_symlink()


def test_url_template_and_basic_auth(tmp_path: Path) -> None:
    assert bundle_url("https://m.example/fleet/{hostname}", "web 1") == "https://m.example/fleet/web%201/"
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    assert auth_header(ModelConfig(url_username="agent", url_password_file=str(pw))) == {
        "Authorization": "Basic YWdlbnQ6czNjcmV0"
    }
    assert auth_header(ModelConfig()) == {}


def test_config_checks_url_and_files(default_bundle: Path) -> None:
    ok = parse_config({"model": {"bundle": str(default_bundle), "url": "https://m.example/{hostname}/"}})
    assert ok.model.url_poll_seconds == 300
    with pytest.raises(ConfigError) as e:
        parse_config(
            {
                "model": {
                    "bundle": str(default_bundle),
                    "url": "ftp://x",
                    "url_ca_file": "/nope",
                    "url_password_file": "/nope",
                }
            }
        )
    text = str(e.value)
    assert "model.url:" in text and "model.url_ca_file" in text and "needs model.url_username" in text
    lean = parse_config({"exporter": {"per_feature_metrics": False}}, check_files=False)
    assert not lean.exporter.per_feature_metrics


class _Rows:
    """A source of rows in the SMD [0, 1] scale."""

    def __init__(self, n: int) -> None:
        self.n = n

    def next(self) -> Row:
        return Row(np.full(self.n, 0.3))

    def error_counts(self) -> dict[str, int]:
        return {}


def test_agent_counts_unreachable_and_reloads_a_pulled_bundle(served: str, default_bundle: Path) -> None:
    cfg = replace(Config(), model=ModelConfig(bundle=str(default_bundle), url=served + "/{hostname}/"))
    model = load_model(str(default_bundle))
    registry = make_registry()
    agent = Agent(cfg, _Rows(len(model.bundle.features)), model, registry)
    down = remote(f"http://127.0.0.1:{free_port()}", default_bundle)
    assert pull_once(down, lambda: agent.model.bundle.sha256, agent.reload, agent.count_reload) == "unreachable"
    value = registry.get_sample_value
    assert value("host_anomaly_model_reloads_total", {"result": "unreachable"}) == 1.0
    assert value("host_anomaly_model_reloads_total", {"result": "accepted"}) == 0.0
    # the served bundle, taken for a new one: verified, swapped in, reloaded by the agent
    up = remote(served, default_bundle)
    assert pull_once(up, lambda: OTHER, agent.reload, agent.count_reload) == "updated"
    assert value("host_anomaly_model_reloads_total", {"result": "accepted"}) == 1.0
    assert default_bundle.is_symlink() and agent.model.bundle.sha256 == model.bundle.sha256
    # the same model on the server: nothing to do
    up.etag = None
    assert pull_once(up, lambda: agent.model.bundle.sha256, agent.reload, agent.count_reload) == "not_modified"

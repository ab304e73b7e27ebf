"""host_anomaly_exporter_build_info: version, revision (stamped file, git checkout, unknown), pythonversion."""

from __future__ import annotations

import platform
from pathlib import Path

from prometheus_client import CollectorRegistry

from agent.buildinfo import METRIC, register_build_info, revision, version

SHA = "0123456789abcdef0123456789abcdef01234567"


def checkout(tmp_path: Path, head: str) -> Path:
    pkg = tmp_path / "agent"
    pkg.mkdir()
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text(head + "\n")
    return pkg


def test_revision_from_a_stamped_file_first(tmp_path: Path) -> None:
    pkg = checkout(tmp_path, "ref: refs/heads/main")
    (pkg / "REVISION").write_text("feedface\n")
    assert revision(pkg) == "feedface"


def test_revision_from_a_loose_ref(tmp_path: Path) -> None:
    pkg = checkout(tmp_path, "ref: refs/heads/main")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(SHA + "\n")
    assert revision(pkg) == SHA


def test_revision_from_packed_refs_and_detached_head(tmp_path: Path) -> None:
    pkg = checkout(tmp_path, "ref: refs/heads/main")
    (tmp_path / ".git" / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA} refs/heads/main\n")
    assert revision(pkg) == SHA
    (tmp_path / ".git" / "HEAD").write_text(SHA[::-1])
    assert revision(pkg) == SHA[::-1]


def test_revision_unknown_without_stamp_or_checkout(tmp_path: Path) -> None:
    (tmp_path / "plain" / "agent").mkdir(parents=True)
    assert revision(tmp_path / "plain" / "agent") == "unknown"
    assert revision(checkout(tmp_path, "ref: refs/heads/gone")) == "unknown"  # a branch with no commit


def test_gauge_is_one_with_the_three_labels() -> None:
    reg = CollectorRegistry(auto_describe=False)
    labels = register_build_info(reg)
    assert labels["version"] == version() and labels["pythonversion"] == platform.python_version()
    assert reg.get_sample_value(METRIC, labels) == 1.0

"""The systemd unit verifies cleanly and its exposure stays at or below 2.0.

``systemd-analyze verify`` insists that ExecStart's binary exists. Rather
than rewriting ExecStart, the unit is verified inside a throw-away root
(``--root=``) that holds the host's own unit files (for sysinit.target and
friends), ``/bin/kill`` for ExecReload and an executable stub at the real
path ``/opt/host-anomaly-exporter/venv/bin/anomaly-agent``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging_helpers import DEFAULT_FILE, UNIT_FILE

UNIT = UNIT_FILE.name
AGENT = "opt/host-anomaly-exporter/venv/bin/anomaly-agent"
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


def directives(text: str) -> dict[str, list[str]]:
    """Map each directive of a unit file to its values, in order."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def fake_root(tmp_path: Path, with_agent: bool = True) -> Path:
    units = Path("/lib/systemd/system")
    if not (units / "sysinit.target").exists():
        pytest.skip("the host's systemd units are missing (/lib/systemd/system)")
    root = tmp_path / "root"
    shutil.copytree(units, root / "lib/systemd/system", symlinks=True)
    shutil.copy2(UNIT_FILE, root / "lib/systemd/system" / UNIT)
    (root / "bin").mkdir()
    shutil.copy2("/bin/kill", root / "bin/kill")
    if with_agent:
        agent = root / AGENT
        agent.parent.mkdir(parents=True)
        agent.write_text("#!/bin/sh\nexit 0\n")
        agent.chmod(0o755)
    return root


def verify(systemd_analyze: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze, "verify", f"--root={root}", UNIT],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verify_passes_without_warnings(systemd_analyze: str, tmp_path: Path) -> None:
    result = verify(systemd_analyze, fake_root(tmp_path))
    assert result.returncode == 0, result.stderr
    # Unknown or misspelled directives only warn: treat any output as failure.
    assert result.stderr.strip() == "" and result.stdout.strip() == ""


def test_verify_checks_the_exec_path(systemd_analyze: str, tmp_path: Path) -> None:
    """Without the binary at the ExecStart path, verify must fail."""
    result = verify(systemd_analyze, fake_root(tmp_path, with_agent=False))
    assert result.returncode != 0
    assert "anomaly-agent" in result.stderr


def test_security_exposure_at_most_2(systemd_analyze: str) -> None:
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=true", "--no-pager", str(UNIT_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    match = EXPOSURE.search(result.stdout)
    assert match, result.stdout
    exposure = float(match.group(1))
    assert exposure <= 2.0, result.stdout


def test_unit_contract() -> None:
    d = directives(UNIT_FILE.read_text())
    assert d["ExecStart"] == [
        "/opt/host-anomaly-exporter/venv/bin/anomaly-agent run"
        " --config.file=/etc/host-anomaly-exporter/config.yaml $OPTIONS"
    ]
    assert d["EnvironmentFile"] == ["-/etc/default/host-anomaly-exporter"]
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["Restart"] == ["on-failure"]
    assert d["RestartPreventExitStatus"] == ["2"]
    assert d["DynamicUser"] == ["yes"]
    assert d["StateDirectory"] == ["host-anomaly-exporter"]
    assert d["ConfigurationDirectory"] == ["host-anomaly-exporter"]
    assert d["WantedBy"] == ["multi-user.target"]
    # /proc/stat, /proc/diskstats and /proc/net/* must stay readable.
    assert "ProcSubset" not in d
    assert d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert d["CapabilityBoundingSet"] == [""]


def test_default_file_defines_empty_options() -> None:
    d = directives(DEFAULT_FILE.read_text())
    assert d == {"OPTIONS": ['""']}

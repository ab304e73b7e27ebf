"""Build the .deb with packaging/deb/build.sh and exercise its whole life cycle.

Install with apt-get in this machine, run the installed agent's check-config,
upgrade to a bumped version while the administrator has edited the conffile,
remove (configuration and state stay), purge (both go). Needs root, dpkg and
apt-get, plus the model bundle (models/default, or $MODEL_DIR) and
config.example.yaml. The build takes a few minutes (pip installs the agent's
dependencies into the venv), hence ``slow``.

The upgrade package is the built tree repacked with a higher version and an
upstream change to the conffile: rebuilding from scratch would test nothing
more and cost minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from packaging_helpers import REPO, fast_config, mdwe_supported, run_sandboxed_agent
from support import free_port

pytestmark = pytest.mark.slow

PKG = "host-anomaly-exporter"
VENV = Path("/opt/host-anomaly-exporter/venv")
AGENT = VENV / "bin/anomaly-agent"
CONFIG = Path("/etc/host-anomaly-exporter/config.yaml")
DEFAULTS = Path("/etc/default/host-anomaly-exporter")
UNIT = Path("/lib/systemd/system/host-anomaly-exporter.service")
BUNDLE = Path("/usr/share/host-anomaly-exporter/models/default")
WANTS = Path("/etc/systemd/system/multi-user.target.wants/host-anomaly-exporter.service")
STATE_LINK = Path("/var/lib/host-anomaly-exporter")
STATE_DIR = Path("/var/lib/private/host-anomaly-exporter")
NOBODY = 65534
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
# Keep the administrator's conffile on upgrade without a prompt.
KEEP_CONFFILES = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


def run(cmd: list[str], timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert result.returncode == 0, f"{cmd} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def installed_version() -> str | None:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", PKG],
        capture_output=True,
        text=True,
    )
    return result.stdout.split()[-1] if result.returncode == 0 and result.stdout.startswith("ii") else None


def package_state() -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "not-installed"


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the .deb, its staging tree) built into a temporary directory."""
    for tool in ("dpkg", "dpkg-deb", "apt-get"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found: the .deb tests need a Debian system")
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root")
    model = Path(os.environ.get("MODEL_DIR", REPO / "models" / "default"))
    if not (model / "bundle.json").is_file():
        pytest.skip(f"no model bundle at {model}: produce models/default with anomaly-train (or set MODEL_DIR)")
    if not (REPO / "config.example.yaml").is_file():
        pytest.skip("config.example.yaml is missing")
    if package_state() != "not-installed":
        pytest.skip(f"{PKG} is already on this machine ({package_state()}); the test will not touch it")
    work = tmp_path_factory.mktemp("deb")
    env = {
        **os.environ,
        "BUILD_DIR": str(work / "build"),
        "DIST_DIR": str(work / "dist"),
        "MODEL_DIR": str(model),
        "LINTIAN": "0",
    }
    result = run(["bash", str(REPO / "packaging/deb/build.sh")], timeout=1200, env=env)
    deb = Path(result.stdout.strip().splitlines()[-1])
    assert deb.is_file() and re.fullmatch(rf"{PKG}_\d[\w.~+]*-\d+_\w+\.deb", deb.name), deb
    return deb, work / "build/root"


def test_control_fields_and_contents(build: tuple[Path, Path]) -> None:
    deb, _ = build
    fields = run(["dpkg-deb", "-f", str(deb)]).stdout
    depends = re.search(r"^Depends: (.+)$", fields, re.M).group(1)
    assert "python3 (>= 3.11)" in depends and "python3 (<< 3.12)" in depends
    assert re.search(r"libc6 \(>= [\d.]+\)", depends)
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    for path in (
        AGENT,
        CONFIG,
        DEFAULTS,
        UNIT,
        BUNDLE / "bundle.json",
        BUNDLE / "model.tflite",
        Path("/usr/share/doc/host-anomaly-exporter/copyright"),
        Path("/usr/share/doc/host-anomaly-exporter/changelog.Debian.gz"),
        Path("/usr/share/doc/host-anomaly-exporter/examples/rules.yml"),
        Path("/usr/share/doc/host-anomaly-exporter/examples/host-anomaly-exporter.json"),
    ):
        assert f" .{path}\n" in listing or f" .{path} " in listing, path
    for heavy in ("tensorflow", "keras", "sklearn", "scipy"):
        assert f"/site-packages/{heavy}/" not in listing, f"{heavy} is a training dependency"
    assert "/__pycache__/" not in listing, "bytecode is compiled on the host by postinst"
    conffiles = run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout.split()
    assert sorted(conffiles) == [str(DEFAULTS), str(CONFIG)]
    script = run(["sh", "-c", f"dpkg-deb --fsys-tarfile {deb} | tar -xO .{AGENT}"]).stdout
    assert script.splitlines()[0] == f"#!{VENV}/bin/python"


def test_lintian_has_no_errors_or_warnings(build: tuple[Path, Path]) -> None:
    if shutil.which("lintian") is None:
        pytest.skip("lintian not installed (apt-get install lintian)")
    deb, _ = build
    result = subprocess.run(
        ["lintian", "--allow-root", "--tag-display-limit", "0", "--fail-on", "error,warning", str(deb)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    tags = [line for line in result.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert result.returncode == 0 and not tags, "\n".join(tags) + result.stderr


def repack(stage: Path, version: str, dest: Path) -> Path:
    """The staged tree as a new version whose conffile changed upstream."""
    tree = dest / "root"
    shutil.copytree(stage, tree, symlinks=True)
    control = tree / "DEBIAN/control"
    control.write_text(re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M))
    config = tree / str(CONFIG).lstrip("/")
    config.write_text(config.read_text() + "# upstream change in " + version + "\n")
    run(
        [
            "sh",
            "-c",
            "find . -path ./DEBIAN -prune -o -type f -printf '%P\\0' | LC_ALL=C sort -z"
            " | xargs -0 md5sum > DEBIAN/md5sums",
        ],
        cwd=tree,
    )
    deb = dest / f"{PKG}_{version}_amd64.deb"
    run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)])
    return deb


def test_install_upgrade_remove_purge(build: tuple[Path, Path], tmp_path: Path) -> None:
    deb, stage = build
    try:
        # -- install ---------------------------------------------------------
        run(["apt-get", "install", "-y", "--no-install-recommends", str(deb)], env=APT_ENV)
        first = installed_version()
        assert first is not None
        for path in (AGENT, CONFIG, DEFAULTS, UNIT, BUNDLE / "model.tflite"):
            assert path.exists(), path
        assert WANTS.is_symlink() and os.readlink(WANTS) == str(UNIT), "postinst enables the unit"
        assert list(VENV.glob("lib/python3*/site-packages/agent/__pycache__/*.pyc")), "postinst byte-compiles"
        assert (VENV / "bin/python").resolve().is_relative_to("/usr/bin")

        # The installed agent loads the shipped bundle and runs a test inference.
        checked = run([str(AGENT), "check-config", str(CONFIG)], cwd="/")
        assert "OK" in checked.stdout + checked.stderr
        bad = tmp_path / "bad.yaml"
        bad.write_text("sampling:\n  interval_seconds: -1\n")
        refused = subprocess.run([str(AGENT), "check-config", str(bad)], capture_output=True, text=True, cwd="/")
        assert refused.returncode == 2, "a config error exits 2 (RestartPreventExitStatus=2)"

        # The installed agent scores as an unprivileged user under the unit's
        # MemoryDenyWriteExecute and NoNewPrivileges (systemd is not PID 1 here).
        if mdwe_supported():
            sandbox = Path(tempfile.mkdtemp(prefix="hae-sandbox-", dir="/tmp"))
            try:
                sandbox.chmod(0o755)
                config = fast_config(sandbox, BUNDLE)
                os.chown(sandbox / "state", NOBODY, NOBODY)
                metrics, code = run_sandboxed_agent(
                    [str(AGENT), "run", f"--config.file={config}"],
                    free_port(),
                    tmp_path / "agent.log",
                    env={**os.environ, "SANDBOX_UID": str(NOBODY)},
                )
                assert "host_anomaly_score " in metrics and code == 0
            finally:
                shutil.rmtree(sandbox, ignore_errors=True)

        # The administrator edits the conffile; systemd has created the state.
        CONFIG.write_text(CONFIG.read_text().replace("log_level: info", "log_level: debug") + "# local edit\n")
        STATE_DIR.mkdir(parents=True)
        (STATE_DIR / "calibration.json").write_text("{}")
        STATE_LINK.symlink_to("private/host-anomaly-exporter")

        # -- upgrade ---------------------------------------------------------
        newer = repack(stage, first.replace("-", ".1-", 1), tmp_path)
        run(["apt-get", "install", "-y", "--no-install-recommends", *KEEP_CONFFILES, str(newer)], env=APT_ENV)
        second = installed_version()
        assert second != first and run(["dpkg", "--compare-versions", second, "gt", first])
        assert "# local edit" in CONFIG.read_text(), "the edited conffile is kept"
        dist = Path(str(CONFIG) + ".dpkg-dist")
        assert dist.is_file() and "# upstream change" in dist.read_text()
        assert (STATE_LINK / "calibration.json").is_file()
        run([str(AGENT), "check-config", str(CONFIG)], cwd="/")

        # -- remove: configuration and state stay ----------------------------
        run(["apt-get", "remove", "-y", PKG], env=APT_ENV)
        assert package_state() == "rc"
        assert not AGENT.exists() and not Path("/opt/host-anomaly-exporter").exists()
        assert "# local edit" in CONFIG.read_text()
        assert (STATE_DIR / "calibration.json").is_file()

        # -- purge: everything goes -------------------------------------------
        run(["apt-get", "purge", "-y", PKG], env=APT_ENV)
        assert package_state() == "not-installed"
        for path in (CONFIG, DEFAULTS, STATE_DIR, Path("/etc/host-anomaly-exporter")):
            assert not path.exists(), f"{path} survived purge"
        assert not STATE_LINK.is_symlink() and not STATE_LINK.exists()
        assert not WANTS.is_symlink(), "purge removes the enablement symlink"
    finally:
        if package_state() != "not-installed":
            subprocess.run(["dpkg", "--purge", PKG], capture_output=True, env=APT_ENV)
        for leftover in (Path(str(CONFIG) + ".dpkg-dist"),):
            leftover.unlink(missing_ok=True)

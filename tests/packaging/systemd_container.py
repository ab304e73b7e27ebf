"""A podman container with systemd as PID 1 on a locally made Debian bookworm root.

Used by tests/e2e/test_systemd_boot.py. No registry is reachable here, so the
root is made with mmdebstrap (or debootstrap) from the Debian mirror and
imported as ``localhost/hae-systemd-base:<hash>``, the hash taken over the
recipe below: a changed recipe builds a new image, an unchanged one is reused
(about 2 minutes saved per run). The package list holds systemd and
everything the .deb depends on, so ``apt-get install ./x.deb`` needs no
network inside the container.

The container runs ``--privileged``: systemd sets up each service's sandbox
(mount, user and cgroup namespaces, seccomp) itself, which needs the
capabilities a host's PID 1 has. Where crun cannot start a container (this
VM: hybrid cgroup v1/v2 hierarchies) runc is tried, with lower ``--ulimit``
values when podman's defaults exceed what this sandbox allows.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# systemd as PID 1, python3 (the venv's interpreter) and the .deb's shared-library Depends.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "libnss-systemd",
    "dbus",
    "python3",
    "libstdc++6",
    "libgcc-s1",
    "zlib1g",
    "procps",
)
# Slimmer image; /usr/share/doc stays (the package installs its docs there).
DPKG_OPTS = ("path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*", "path-exclude=/usr/share/info/*")
RECIPE = f"minbase {SUITE} {MIRROR} {' '.join(PACKAGES)} {' '.join(DPKG_OPTS)} v1"
BASE = "localhost/hae-systemd-base:" + hashlib.sha256(RECIPE.encode()).hexdigest()[:12]
ULIMITS = ("--ulimit", "nofile=8192:8192", "--ulimit", "nproc=4096:4096")


def run(cmd: list[str], timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def skip_reason() -> str | None:
    """None when this machine may be able to boot the container, else why not."""
    if os.geteuid() != 0:
        return "needs root (podman --privileged, systemd as PID 1)"
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc)"
    info = run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], check=False)
    if info.returncode != 0:
        return f"podman info fails: {info.stderr.strip()[:200]}"
    return None


def base_image() -> str:
    """The cached image tag, building it first when this recipe has none (skips when it cannot)."""
    if run(["podman", "image", "exists", BASE], check=False).returncode == 0:
        return "cached"
    include = "--include=" + ",".join(PACKAGES)
    if shutil.which("mmdebstrap"):
        tar = Path("/var/tmp") / f"hae-systemd-base-{os.getpid()}.tar"
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            include,
            *(f"--dpkgopt={o}" for o in DPKG_OPTS),
            '--aptopt=Acquire::Retries "3"',
            SUITE,
            str(tar),
            MIRROR,
        ]
        try:
            r = run(cmd, timeout=1200, check=False)
            if r.returncode != 0:
                pytest.skip(f"mmdebstrap failed (no Debian mirror?): {r.stderr.strip()[-300:]}")
            run(["podman", "import", "-q", str(tar), BASE], timeout=600)
        finally:
            tar.unlink(missing_ok=True)
    elif shutil.which("debootstrap"):
        root = Path("/var/tmp") / f"hae-systemd-base-{os.getpid()}"
        try:
            r = run(["debootstrap", "--variant=minbase", include, SUITE, str(root), MIRROR], timeout=1800, check=False)
            if r.returncode != 0:
                pytest.skip(f"debootstrap failed (no Debian mirror?): {r.stderr.strip()[-300:]}")
            for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/man", "usr/share/locale"):
                for p in (root / sub).glob("*"):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            tar = subprocess.Popen(["tar", "-C", str(root), "-cf", "-", "."], stdout=subprocess.PIPE)
            run(["podman", "import", "-q", "-", BASE], timeout=600, stdin=tar.stdout)
            tar.wait()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    else:
        pytest.skip(
            f"no cached {BASE} and neither mmdebstrap nor debootstrap is installed (apt-get install mmdebstrap)"
        )
    return "built"


@dataclass
class Container:
    """A running systemd container; every helper runs inside it with podman exec."""

    name: str
    podman: list[str]
    log: list[str] = field(default_factory=list)

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            [*self.podman, "exec", "-e", "DEBIAN_FRONTEND=noninteractive", self.name, "sh", "-c", script],
            timeout=timeout,
            check=check,
        )

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def get(self, path: str, port: int = 9840) -> str | None:
        """The body of http://127.0.0.1:<port><path> inside the container, None when nothing answers."""
        code = (
            "import sys, urllib.request\n"
            f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5).read().decode())"
        )
        r = self.sh(f"python3 -c {shlex.quote(code)}", check=False, timeout=30)
        return r.stdout if r.returncode == 0 else None

    def cursor(self) -> str:
        """The journal's current position, for ``journal(after=...)``."""
        out = self.sh("journalctl --show-cursor -n 0 --no-pager").stdout
        return re.search(r"-- cursor: (\S+)", out).group(1)

    def journal(self, unit: str, after: str | None = None, fmt: str = "cat", priority: str = "debug") -> str:
        since = f"--after-cursor={shlex.quote(after)}" if after else ""
        return self.sh(f"journalctl --no-pager -q -o {fmt} -p {priority} -u {unit} {since}").stdout

    def wait_for(self, what: str, probe, timeout: float = 60, every: float = 0.5):
        """Poll ``probe()`` until it returns something truthy; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:.0f} s")
            time.sleep(every)


def wait_booted(box: Container, timeout: float = 90) -> str:
    """The system state once the boot is over: running or degraded, else what it was at the end."""
    # degraded is fine: units a container cannot run (e.g. systemd-remount-fs) may fail.
    # Until PID 1 listens on its socket, systemctl fails at once, --wait or not, and prints
    # "offline": that is a boot not yet started, so it is polled on like any other early state.
    deadline, state = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        r = box.sh("systemctl is-system-running --wait", timeout=120, check=False)
        state = r.stdout.strip() or r.stderr.strip()[-200:]
        if state in ("running", "degraded", "maintenance", "stopping"):
            break
        time.sleep(0.5)
    return state


def boot(name: str, image: str, volumes: list[str]) -> tuple[Container, str]:
    """Start ``image`` with systemd as PID 1 and wait for the boot to finish; skip with every error seen."""
    tried = []
    runtimes = [[]] + ([["--runtime", "runc"]] if shutil.which("runc") else [])
    for glob in runtimes:
        for extra in ([], list(ULIMITS)):
            podman = ["podman", *glob]
            run([*podman, "rm", "-f", name], check=False)
            r = run(
                [
                    *podman,
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--systemd=always",
                    "--privileged",
                    *extra,
                    *(a for v in volumes for a in ("-v", v)),
                    image,
                    "/sbin/init",
                ],
                check=False,
            )
            how = " ".join(glob + extra) or "(defaults)"
            if r.returncode != 0:
                tried.append(f"podman {how}: {r.stderr.strip().splitlines()[-1:]}")
                continue
            box = Container(name, podman)
            state = wait_booted(box)
            if state in ("running", "degraded"):
                return box, how
            tried.append(f"podman {how}: system state {state!r}")
            run([*podman, "rm", "-f", name], check=False)
    pytest.skip("cannot boot systemd as PID 1 in podman here: " + "; ".join(tried))


def metric_values(text: str, name: str) -> dict[str, float]:
    """{labels: value} of every sample of ``name`` in a /metrics text ('' for no labels)."""
    found = {}
    for m in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        found[m.group(1) or ""] = float(m.group(2))
    return found


def label(labels: str, key: str) -> str | None:
    m = re.search(rf'{key}="([^"]*)"', labels)
    return m.group(1) if m else None

"""The container image: build with podman on a locally made Debian base, run it, scrape it.

No registry is reachable here, so ``python:3.11-slim`` cannot be pulled: the
base is ``debootstrap --variant=minbase bookworm`` + python3/python3-venv,
trimmed like a slim image and imported as ``localhost/hae-base:bookworm``
(the rootfs tarball is cached in ``$HAE_CONTAINER_CACHE``, default
``/tmp/hae-container-cache``).  The Dockerfile is then built with
``--build-arg BASE=localhost/hae-base:bookworm`` (``pip install .`` needs PyPI)
and run as the DaemonSet runs it: read-only root filesystem, a writable state
directory (a fresh named volume), host /proc and /sys mounted read-only at /host/proc and /host/sys.

Where podman's defaults cannot start a container (this VM: crun 1.8 refuses
hybrid cgroup v1/v2 hierarchies, and the sandbox forbids raising RLIMIT_NPROC
to podman's default), the test falls back to ``--runtime runc`` (Debian
package ``runc``) and lower ``--ulimit`` values, and skips with every error
seen when nothing works.

Checked: /metrics answers with the model info and calibration gauges and no
score yet (calibration warms up first), the agent process runs as uid 10001
(not root), and the image holds no TensorFlow.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HAE_CONTAINER_CACHE", "/tmp/hae-container-cache"))
BASE = "localhost/hae-base:bookworm"
IMAGE = "localhost/host-anomaly-exporter:test"
UID = 10001
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info")


def _run(cmd: list[str], timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


def _podman_usable() -> str | None:
    """None when podman can run containers here, else the reason it cannot."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    info = _run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], check=False)
    if info.returncode != 0:
        return f"podman info fails: {info.stderr.strip()[:200]}"
    return None


def _base_image() -> None:
    """Import the cached Debian rootfs as BASE, debootstrapping it first when there is no cache."""
    if _run(["podman", "image", "exists", BASE], check=False).returncode == 0:
        return
    tarball = CACHE / "rootfs.tar"
    if not tarball.is_file():
        if shutil.which("debootstrap") is None or os.geteuid() != 0:
            pytest.skip("no cached base rootfs and cannot debootstrap one (needs root and apt-get install debootstrap)")
        CACHE.mkdir(parents=True, exist_ok=True)
        rootfs = CACHE / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        r = _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                "http://deb.debian.org/debian",
            ],
            timeout=1800,
            check=False,
        )
        if r.returncode != 0:
            pytest.skip(f"debootstrap failed (no Debian mirror?): {r.stderr.strip()[-300:]}")
        for sub in TRIM:  # what slim images leave out; apt caches alone are ~90 MB
            for p in (rootfs / sub).glob("*"):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        _run(["tar", "-C", str(rootfs), "-cf", str(tarball) + ".tmp", "."], timeout=600)
        os.replace(str(tarball) + ".tmp", tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    _run(["podman", "import", str(tarball), BASE], timeout=600)


ULIMITS = ["--ulimit", "nofile=8192:8192", "--ulimit", "nproc=4096:4096"]


def _runtime_flags() -> tuple[list[str], list[str]]:
    """(global podman flags, run/build flags) under which a container starts here; skips with the reasons."""
    tried = []
    runtimes = [[]] + ([["--runtime", "runc"]] if shutil.which("runc") else [])
    for glob in runtimes:
        for extra in ([], ULIMITS):
            r = _run(["podman", *glob, "run", "--rm", *extra, BASE, "/bin/true"], check=False)
            if r.returncode == 0:
                return glob, extra
            tried.append(f"podman {' '.join(glob + extra) or '(defaults)'}: {r.stderr.strip().splitlines()[-1:]}")
    pytest.skip("podman cannot start containers here: " + "; ".join(tried))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@pytest.fixture(scope="module")
def image() -> dict:
    reason = _podman_usable()
    if reason:
        pytest.skip(reason)
    _base_image()
    glob, extra = _runtime_flags()
    t0 = time.monotonic()
    # the host's CA bundle lets pip reach PyPI through a TLS-intercepting proxy (a no-op elsewhere)
    ca = ["-v", f"{HOST_CA}:/run/ca.crt:ro", "--build-arg", "CA_BUNDLE=/run/ca.crt"] if HOST_CA.is_file() else []
    r = _run(
        [
            "podman",
            *glob,
            "build",
            *extra,
            *ca,
            "--build-arg",
            f"BASE={BASE}",
            "-t",
            IMAGE,
            "-f",
            str(ROOT / "Dockerfile"),
            str(ROOT),
        ],
        timeout=1800,
        check=False,
    )
    assert r.returncode == 0, f"podman build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    size = int(_run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE]).stdout.strip())
    base = int(_run(["podman", "image", "inspect", "--format", "{{.Size}}", BASE]).stdout.strip())
    print(
        f"\nimage {IMAGE}: {size / 1e6:.0f} MB (base {base / 1e6:.0f} MB), built in {time.monotonic() - t0:.0f} s"
        f" with podman {' '.join(glob + extra) or '(defaults)'}"
    )
    return {"size": size, "base": base, "podman": glob, "run": extra}


@pytest.fixture(scope="module")
def container(image: dict) -> dict:
    port = _free_port()
    name = f"hae-test-{os.getpid()}"
    podman = ["podman", *image["podman"]]
    # a fresh named volume copies up the image's state directory (owned by UID), as an emptyDir stands in for it
    r = _run(
        [
            *podman,
            "run",
            "-d",
            *image["run"],
            "--name",
            name,
            "--read-only",
            "-v",
            f"{name}-state:/var/lib/host-anomaly-exporter",
            "-v",
            "/proc:/host/proc:ro",
            "-v",
            "/sys:/host/sys:ro",
            "-p",
            f"127.0.0.1:{port}:9840",
            IMAGE,
        ],
        check=False,
    )
    assert r.returncode == 0, f"podman run failed: {r.stderr}"
    cid = r.stdout.strip()
    try:
        yield {"id": cid, "name": name, "url": f"http://127.0.0.1:{port}", "podman": podman}
    finally:
        _run([*podman, "rm", "-f", cid], check=False)
        _run([*podman, "volume", "rm", "-f", f"{name}-state"], check=False)


def _metrics(url: str, timeout: float = 90) -> str:
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            return _get(url + "/metrics")
        except OSError as exc:
            last = str(exc)
            time.sleep(1)
    raise AssertionError(f"/metrics did not answer within {timeout} s: {last}")


@pytest.mark.slow
@pytest.mark.e2e
def test_metrics_answer_with_calibration_and_no_score(container: dict) -> None:
    text = _metrics(container["url"])
    assert re.search(r'^host_anomaly_model_info\{.*architecture="dense".*\} 1\.0$', text, re.M), text[:2000]
    assert re.search(r"^host_anomaly_calibration_progress_ratio [0-9.e-]+$", text, re.M)
    assert re.search(r"^host_anomaly_window_fill_ratio [0-9.e-]+$", text, re.M)
    assert not re.search(r"^host_anomaly_score ", text, re.M)  # warm-up: no score is published yet
    logs = _run([*container["podman"], "logs", container["id"]]).stderr
    assert "Traceback" not in logs, logs


@pytest.mark.slow
@pytest.mark.e2e
def test_agent_runs_as_non_root(container: dict) -> None:
    _metrics(container["url"])
    podman = container["podman"]
    pid = _run([*podman, "inspect", "--format", "{{.State.Pid}}", container["id"]]).stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text()
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
    assert set(uids) == {str(UID)}, status
    assert "anomaly-agent" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    assert _run([*podman, "exec", container["id"], "id", "-u"]).stdout.strip() == str(UID)
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
    print(f"\nagent in the container: uid {UID}, VmRSS {rss / 1024:.1f} MiB")


@pytest.mark.slow
@pytest.mark.e2e
def test_image_has_no_tensorflow(image: dict) -> None:
    code = (
        "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'sklearn', 'matplotlib') "
        "if u.find_spec(m)])"
    )
    out = _run(
        [
            "podman",
            *image["podman"],
            "run",
            "--rm",
            *image["run"],
            "--entrypoint",
            "/opt/venv/bin/python",
            IMAGE,
            "-c",
            code,
        ]
    ).stdout
    assert out.strip() == "[]"


# -- static checks (fast, no podman) -------------------------------------------------------------------------------


def test_dockerfile_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN python3 -m venv /opt/venv$", text, re.M)
    assert re.search(r"pip install \.( |$)", text, re.M) and ".[train]" not in text  # the agent only
    assert re.search(r"^USER \$\{UID\}:\$\{UID\}$", text, re.M) and f"ARG UID={UID}" in text
    assert re.search(r"^EXPOSE 9840$", text, re.M)
    assert "COPY models/default /usr/share/host-anomaly-exporter/models/default" in text
    assert "procfs: /host/proc" in text and "sysfs: /host/sys" in text
    entry = re.search(r"^ENTRYPOINT (.*)$", text, re.M).group(1)
    assert entry.startswith('["/opt/venv/bin/anomaly-agent", "run"')
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1 :][:5] == [
        "!pyproject.toml",
        "!README.md",
        "!agent/",
        "!training/",
        "!models/default/",
    ]


def test_daemonset_contract() -> None:
    yaml = pytest.importorskip("yaml")
    docs = list(yaml.safe_load_all((ROOT / "packaging/kubernetes/daemonset.yaml").read_text()))
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    pod = ds["spec"]["template"]
    spec = pod["spec"]
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9840",
        "prometheus.io/path": "/metrics",
    }
    assert spec["hostNetwork"] is True and spec["hostPID"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == UID
    (agent,) = spec["containers"]
    sc = agent["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["allowPrivilegeEscalation"] is False and sc.get("runAsNonRoot", True) is True
    assert set(agent["resources"]) == {"requests", "limits"}
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    assert mounts["/host/proc"]["readOnly"] and mounts["/host/sys"]["readOnly"]
    assert "/var/lib/host-anomaly-exporter" in mounts
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/host/proc"]["name"]]["hostPath"]["path"] == "/proc"
    assert volumes[mounts["/host/sys"]["name"]]["hostPath"]["path"] == "/sys"
    assert agent["ports"][0]["containerPort"] == 9840
    for init in spec.get("initContainers", []):  # the chown step: root, but CAP_CHOWN only
        assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}

"""Security checks: auth and TLS without leaking secrets, no root needed, writes confined to the state
directory, and no code execution paths from bundles or config.

The systemd unit's sandbox enforces the write confinement in production;
these tests check that the agent needs nothing more (run as ``nobody``) and
writes nothing else (every write-like syscall under strace).
"""

from __future__ import annotations

import ast
import base64
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from support import AGENT, DEFAULT_BUNDLE, ROOT, StartAgent, demo_replay, free_port, http_get, sample_value, wait_for
from support.tls import auth_get, self_signed_cert, web_config

T = TypeVar("T")

AGENT_SOURCES = sorted((ROOT / "agent").glob("*.py"))
PASSWORD = "correct horse battery staple 9"
WRONG = "Tr0ub4dor&3-wrong"


# -- no pickle, eval/exec or dynamic import ------------------------------------------------------------------
def _call_name(node: ast.Call) -> str:
    f = node.func
    parts = []
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if isinstance(f, ast.Name):
        parts.append(f.id)
    return ".".join(reversed(parts))


def forbidden(tree: ast.AST) -> list[str]:
    """Every construct that could run code from data, with its line."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            bad += [
                f"{node.lineno}: import {m}"
                for m in mods
                if m.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib")
            ]
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        kwargs = {k.arg: k.value for k in node.keywords}
        if name in ("eval", "exec", "compile", "__import__", "execfile") or name.endswith(".system"):
            bad.append(f"{node.lineno}: {name}()")
        if name.endswith("import_module") and not (node.args and isinstance(node.args[0], ast.Constant)):
            bad.append(f"{node.lineno}: {name}() on a computed name")
        if name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load", "yaml.full_load_all"):
            loader = kwargs.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
            if not (isinstance(loader, ast.Attribute) and loader.attr in ("SafeLoader", "CSafeLoader")):
                bad.append(f"{node.lineno}: {name}() without SafeLoader")
        if name.endswith("load") and "allow_pickle" in kwargs:
            v = kwargs["allow_pickle"]
            if not (isinstance(v, ast.Constant) and v.value is False):
                bad.append(f"{node.lineno}: {name}(allow_pickle=...)")
        if name in ("subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_output", "os.popen"):
            bad.append(f"{node.lineno}: {name}()")
    return bad


@pytest.mark.parametrize("path", AGENT_SOURCES, ids=[p.name for p in AGENT_SOURCES])
def test_no_code_execution_paths_in_agent_sources(path: Path) -> None:
    assert forbidden(ast.parse(path.read_text(), str(path))) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "from pickle import loads",
        "eval(x)",
        "exec(code)",
        "__import__(name)",
        "importlib.import_module(name)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.unsafe_load(t)",
        "np.load(f, allow_pickle=True)",
        "os.system(cmd)",
        "subprocess.run(cmd)",
    ],
)
def test_the_scanner_catches_each_construct(snippet: str) -> None:
    assert forbidden(ast.parse(snippet)), snippet


def test_the_scanner_allows_the_safe_forms() -> None:
    safe = "yaml.safe_load(t)\nyaml.load(t, Loader=yaml.SafeLoader)\nnp.load(f)\nimportlib.import_module('json')\n"
    assert forbidden(ast.parse(safe)) == []


# -- TLS and basic auth, nothing secret in the logs ----------------------------------------------------------
@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_tls_basic_auth_and_no_secret_in_debug_logs(
    agent_process: StartAgent, tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    web = web_config(tmp_path / "web.yml", cert, {"prometheus": PASSWORD})
    hashed = yaml.safe_load(web.read_text())["basic_auth_users"]["prometheus"]  # must not reach the logs either
    cfg = tmp_path / "agent.yml"
    cfg.write_text(f"web:\n  config_file: {web}\n")
    agent = agent_process(demo_replay(DEFAULT_BUNDLE, 50, "--config.file", str(cfg), "--log.level", "debug"))
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    url = f"https://127.0.0.1:{agent.port}"
    wait_for(lambda: _try(lambda: auth_get(url + "/metrics", "prometheus", PASSWORD, ctx=ctx) == 200), timeout=60)
    results = {
        "right": auth_get(url + "/metrics", "prometheus", PASSWORD, ctx=ctx),
        "wrong-password": auth_get(url + "/metrics", "prometheus", WRONG, ctx=ctx),
        "wrong-user": auth_get(url + "/metrics", "admin", PASSWORD, ctx=ctx),
        "empty-password": auth_get(url + "/metrics", "prometheus", "", ctx=ctx),
        "no-credentials": auth_get(url + "/metrics", ctx=ctx),
        "model-no-credentials": auth_get(url + "/model", ctx=ctx),
        "healthz-wrong": auth_get(url + "/healthz", "prometheus", WRONG, ctx=ctx),
        "right-again": auth_get(url + "/model", "prometheus", PASSWORD, ctx=ctx),
    }
    assert results == {
        "right": 200,
        "wrong-password": 401,
        "wrong-user": 401,
        "empty-password": 401,
        "no-credentials": 401,
        "model-no-credentials": 401,
        "healthz-wrong": 401,
        "right-again": 200,
    }
    with pytest.raises(OSError):  # plain HTTP on the TLS port
        http_get(f"http://127.0.0.1:{agent.port}/metrics", timeout=3)
    time.sleep(0.3)
    agent.stop()
    log = agent.log.read_text(errors="replace")
    assert "DEBUG" in log  # debug logging was really on
    for secret in (
        PASSWORD,
        WRONG,
        hashed,
        hashed[7:29],
        base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode(),
        base64.b64encode(f"prometheus:{WRONG}".encode()).decode(),
    ):
        assert secret not in log, f"secret leaked into the log: {secret[:6]}…"


def _try(fn: Callable[[], T]) -> T | bool:
    try:
        return fn()
    except OSError:
        return False


# -- unprivileged, and writing only the state directory ------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path) -> Iterator[Path]:
    """A directory ``nobody`` can traverse (pytest's tmp dirs are 0700 root), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="anomaly-sec-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _live_config(d: Path, state: Path, interval: float = 0.1) -> Path:
    bundle = d / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    for p in [bundle, *bundle.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    cfg = d / "agent.yml"
    cfg.write_text(
        f"state_directory: {state}\nmodel:\n  bundle: {bundle}\n  watch_interval_seconds: 1\n"
        f"sampling:\n  interval_seconds: {interval}\ncalibration:\n  warmup_samples: 10\n"
        "history:\n  max_bytes: 65536\n  rows_per_file: 10\n"
    )
    cfg.chmod(0o644)
    return cfg


def _need_root_and(tool: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to nobody needs root")
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")


def _status_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.mark.parametrize("state_owner", ["nobody", "root"], ids=["state-owned-by-nobody", "state-not-writable"])
def test_runs_as_nobody(world: Path, state_owner: str) -> None:
    _need_root_and("setpriv")
    nobody = pwd.getpwnam("nobody")
    state = world / "state"
    state.mkdir()
    if state_owner == "nobody":
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
    cfg = _live_config(world, state)
    port = free_port()
    log = world / "agent.log"
    cmd = [
        "setpriv",
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
        "--no-new-privs",
        *AGENT,
        "run",
        "--config.file",
        str(cfg),
        "--web.listen-address",
        f"127.0.0.1:{port}",
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: proc.poll() is not None or _try(lambda: http_get(url + "/metrics", timeout=1)[0] == 200), timeout=60
        )
        assert proc.poll() is None, log.read_text()
        assert _status_uid(proc.pid) == nobody.pw_uid
        # warm-up (49 rows at 0.1 s) completes and scores are published
        wait_for(lambda: sample_value(http_get(url + "/metrics")[1], "host_anomaly_score") is not None, timeout=30)
        body = http_get(url + "/metrics")[1].decode()
        history = sample_value(body, "host_anomaly_state_errors_total", kind="history_write")
        if state_owner == "nobody":
            assert history == 0 and (state / "calibration.json").exists()
            assert {p.stat().st_uid for p in state.rglob("*")} == {nobody.pw_uid}
        else:  # refused writes are counted, scoring goes on
            assert history > 0 and not any(state.iterdir())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert proc.returncode == 0, log.read_text()[-2000:]


WRITE_SYSCALLS = re.compile(
    r"^\d+\s+(open|openat|creat|mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|link|"
    r"linkat|symlink|symlinkat|truncate|chmod|fchmodat|chown|lchown|fchownat|mknod|mknodat)\("
)


def written_paths(trace: str, cwd: Path) -> set[str]:
    """Paths that write-like syscalls in an ``strace -f -e trace=%file`` log touched (successful or not)."""
    out = set()
    for line in trace.splitlines():
        m = WRITE_SYSCALLS.match(line)
        if not m:
            continue
        call = m.group(1)
        if (
            call.startswith(("open", "creat"))
            and call != "creat"
            and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND", line)
        ):
            continue
        for path in re.findall(r'"((?:[^"\\]|\\.)*)"', line):
            out.add(os.path.normpath(path if path.startswith("/") else cwd / path))
    return out


def test_writes_only_under_the_state_directory(world: Path) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace not installed")
    state = world / "state"
    cfg = _live_config(world, state)
    trace = world / "trace.txt"
    port = free_port()
    cmd = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=%file",
        "-o",
        str(trace),
        *AGENT,
        "run",
        "--config.file",
        str(cfg),
        "--web.listen-address",
        f"127.0.0.1:{port}",
    ]
    log = world / "agent.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        )
    try:
        url = f"http://127.0.0.1:{port}"
        ok = wait_for(
            lambda: proc.poll() is not None or _try(lambda: http_get(url + "/metrics", timeout=1)[0] == 200), timeout=90
        )
        if proc.poll() is not None:
            text = log.read_text()
            if "ptrace" in text or "Operation not permitted" in text:
                pytest.skip(f"strace cannot trace here: {text.strip()[:200]}")
            raise AssertionError(text)
        assert ok
        # calibration saves, a few history rotations, a reload and the shutdown save
        wait_for(
            lambda: (state / "calibration.json").exists() and len(list((state / "history").iterdir())) > 6, timeout=60
        )
        os.kill(_child_pid(proc.pid), signal.SIGHUP)
        time.sleep(1.0)
    finally:
        os.kill(_child_pid(proc.pid), signal.SIGTERM)
        proc.wait(30)
    assert "model reload (SIGHUP) accepted" in log.read_text()
    paths = written_paths(trace.read_text(), ROOT)
    assert any(p.startswith(str(state) + "/") for p in paths)  # the parser sees the state writes
    outside = sorted(p for p in paths if not (p == str(state) or p.startswith(str(state) + "/")) and p != "/dev/null")
    assert outside == [], outside


def _child_pid(strace_pid: int) -> int:
    """The agent's pid: strace's only child."""
    children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    return int(children[0]) if children else strace_pid


def test_written_paths_parser() -> None:
    trace = (
        '12 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3\n'
        '12 openat(AT_FDCWD, "/s/a.tmp", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 4\n'
        '13 renameat2(AT_FDCWD, "/s/a.tmp", AT_FDCWD, "/s/a", 0) = 0\n'
        '13 mkdir("rel/dir", 0777) = -1 EEXIST (File exists)\n'
        '13 readlink("/x", "y", 4096) = 1\n'
    )
    assert written_paths(trace, Path("/cwd")) == {"/s/a.tmp", "/s/a", "/cwd/rel/dir"}

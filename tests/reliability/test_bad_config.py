"""Bad configuration: every file and flag is refused with a message naming the problem (exit 2), never a traceback.

tests/agent/test_config.py covers the basic key checks; this adds the hostile
and odd files (binary, aliases, deep nesting, NaN, huge numbers), the web
config file, the replay flags and an address that cannot be bound.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from support import AGENT, DEFAULT_BUNDLE, DEMO_DATA, ROOT

from agent.cli import main
from agent.config import Config, ConfigError, load_config
from agent.serve.webconfig import load_web_config

LAUGHS = "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i else 'x'] * 10)}]\n" for i in range(8))

# id -> (file content, words the message must contain)
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "unknown-top-key": (b"webb: {}\n", "webb: unknown key"),
    "unknown-nested-key": (b"sampling:\n  intervall_seconds: 5\n", "sampling.intervall_seconds: unknown key"),
    "int-as-string": (b"sampling:\n  top_k: '5'\n", "sampling.top_k: must be an integer"),
    "float-as-bool": (b"sampling:\n  interval_seconds: true\n", "sampling.interval_seconds: must be a number"),
    "section-as-list": (b"model: [a, b]\n", "model: must be a mapping"),
    "string-null": (b"state_directory: ~\n", "state_directory: must be a string"),
    "nics-mixed": (b"collector:\n  nics: [eth0, 3]\n", "collector.nics: must be a list of strings"),
    "top-level-scalar": (b"42\n", "top level: must be a mapping"),
    "not-yaml": (b"web: [unclosed\n", "not valid YAML"),
    "tab-indent": (b"web:\n\tlisten_address: ':1'\n", "not valid YAML"),
    "binary-garbage": (bytes(range(256)) * 4, "not a UTF-8 text file"),
    "nul-bytes": (b"\x00\x01\x02", "not valid YAML"),
    "utf16": ("web: {}\n".encode("utf-16"), "not a UTF-8 text file"),
    "python-tag": (b"!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "deep-nesting": (b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n", "nested too deeply"),
    "billion-laughs": ((LAUGHS + "sampling:\n  top_k: *a7\n").encode(), "sampling.top_k: must be an integer"),
    "nan-interval": (b"sampling:\n  interval_seconds: .nan\n", "sampling.interval_seconds: must be a number, got NaN"),
    "inf-interval": (b"sampling:\n  interval_seconds: .inf\n", "sampling.interval_seconds: must be <= 86400"),
    "huge-int": (b"sampling:\n  interval_seconds: " + b"9" * 400 + b"\n", "number out of range"),
    "zero-interval": (b"sampling:\n  interval_seconds: 0\n", "sampling.interval_seconds: must be > 0"),
    "negative-interval": (b"sampling:\n  interval_seconds: -60\n", "sampling.interval_seconds: must be > 0"),
    "zero-watch-interval": (b"model:\n  watch_interval_seconds: 0\n", "model.watch_interval_seconds: must be >= 1"),
    "negative-timeout": (b"web:\n  request_timeout_seconds: -1\n", "web.request_timeout_seconds: must be > 0"),
    "zero-timeout": (b"web:\n  request_timeout_seconds: 0\n", "web.request_timeout_seconds: must be > 0"),
    "gap-below-2": (b"sampling:\n  max_gap_intervals: 1\n", "sampling.max_gap_intervals: must be >= 1.5"),
    "negative-top-k": (b"sampling:\n  top_k: -3\n", "sampling.top_k: must be >= 1"),
    "zero-threads": (b"model:\n  num_threads: 0\n", "model.num_threads: must be >= 1"),
    "tiny-history": (b"history:\n  max_bytes: 10\n", "history.max_bytes: must be >= 65536"),
    "pot-q-zero": (b"calibration:\n  pot_q: 0\n", "calibration.pot_q: must be > 1e-09"),
    "port-too-big": (b"web:\n  listen_address: ':99999'\n", "web.listen_address: expected [host]:port"),
    "port-missing": (b"web:\n  listen_address: 'localhost'\n", "web.listen_address: expected [host]:port"),
    "port-zero": (b"web:\n  listen_address: ':0'\n", "web.listen_address: expected [host]:port"),
    "missing-bundle": (b"model:\n  bundle: /nonexistent/bundle\n", "model.bundle: bundle directory not found"),
    "missing-web-config": (b"web:\n  config_file: /nonexistent/web.yml\n", "web.config_file: file not found"),
}


@pytest.fixture(autouse=True)
def _restore_sighup(keep_sighup: None) -> None:
    """Every test here runs `main()`, which ignores SIGHUP while a daemon starts."""


@pytest.mark.parametrize("content, words", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_config_file_is_refused_with_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    f = tmp_path / "agent.yml"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=None) as exc:
        load_config(f)
    assert words in str(exc.value)
    assert len(str(exc.value)) < 4000  # bounded even for an alias bomb
    assert main(["check-config", str(f)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n", b"# only a comment\n", b"---\n"],
    ids=["empty", "blank-lines", "comment-only", "empty-document"],
)
def test_empty_config_means_defaults(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "agent.yml"
    f.write_bytes(content)
    assert load_config(f, check_files=False) == Config()


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_config_path(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    f = tmp_path / "agent.yml"
    if kind == "directory":
        f.mkdir()
    assert main(["check-config", str(f)]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "cannot read file" in err


BAD_WEB: dict[str, tuple[bytes, str]] = {
    "web-not-mapping": (b"- a\n", "top level: must be a mapping"),
    "web-unknown-key": (b"tls_config: {}\n", "tls_config: unknown key"),
    "web-plaintext-password": (b"basic_auth_users:\n  bob: hunter2\n", "basic_auth_users.bob: must be a bcrypt hash"),
    "web-users-list": (b"basic_auth_users: [bob]\n", "basic_auth_users: must be a mapping"),
    "web-cert-without-key": (b"tls_server_config:\n  cert_file: /etc/hostname\n", "must be given together"),
    "web-missing-cert": (b"tls_server_config:\n  cert_file: /nope.crt\n  key_file: /nope.key\n", "file not found"),
    "web-garbage-cert": (
        b"tls_server_config:\n  cert_file: /etc/hostname\n  key_file: /etc/hostname\n",
        "cannot load certificate/key",
    ),
    "web-bad-min-version": (b"tls_server_config:\n  min_version: SSL3\n", "must be TLS12 or TLS13"),
    "web-binary": (bytes(range(128, 256)), "not a UTF-8 text file"),
    "web-not-yaml": (b"basic_auth_users: {bob\n", "not valid YAML"),
    "web-deep": (b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n", "nested too deeply"),
}


@pytest.mark.parametrize("content, words", BAD_WEB.values(), ids=BAD_WEB.keys())
def test_bad_web_config_is_refused(tmp_path: Path, content: bytes, words: str) -> None:
    f = tmp_path / "web.yml"
    f.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_web_config(f)
    assert words in str(exc.value)
    assert "hunter2" not in str(exc.value)  # a plaintext password is never echoed


BAD_SPEEDS = ["0", "-1", "nan", "inf", "1e-300", "1e300", "-inf"]


@pytest.mark.parametrize("speed", BAD_SPEEDS, ids=[f"speed-{s}" for s in BAD_SPEEDS])
def test_bad_replay_speed_is_refused_before_serving(capsys: pytest.CaptureFixture[str], speed: str) -> None:
    code = main(
        [
            "replay",
            "--data",
            str(DEMO_DATA),
            "--machine",
            "machine-1-6",
            "--bundle",
            str(DEFAULT_BUNDLE),
            f"--speed={speed}",
            "--web.listen-address",
            "127.0.0.1:1",
        ]
    )
    assert code == 2
    assert "--speed: must be a number of rows per second" in capsys.readouterr().err


@pytest.mark.parametrize("address_kind", ["port-in-use", "unknown-host"])
def test_address_that_cannot_be_bound_is_named(address_kind: str) -> None:
    """Exit 1 (a restart may help) with one line naming the address; no traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}" if address_kind == "port-in-use" else "no-such-host.invalid:9840"
        proc = subprocess.run(
            [
                *AGENT,
                "replay",
                "--data",
                str(DEMO_DATA),
                "--machine",
                "machine-1-6",
                "--bundle",
                str(DEFAULT_BUNDLE),
                "--web.listen-address",
                address,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("anomaly-agent: [Errno") and f"cannot listen on {address}" in last, proc.stderr
    assert "Traceback" not in proc.stderr

"""agent.serve.webconfig: the exporter-toolkit web config (TLS files, bcrypt users) and the basic-auth check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest

from agent.config import ConfigError
from agent.serve.webconfig import BasicAuth, WebSettings, load_web_config, parse_web_config


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def test_empty_file_means_plain_http_without_auth() -> None:
    settings = parse_web_config(None, "web.yml")
    assert settings == WebSettings() and not settings.tls and settings.users == {}


def test_users_keep_their_bcrypt_hashes() -> None:
    hashed = _hash("s3cret")
    settings = parse_web_config({"basic_auth_users": {"prometheus": hashed}}, "web.yml")
    assert settings.users == {"prometheus": hashed.encode()} and not settings.tls


def test_tls_files_and_min_version(tmp_path: Path) -> None:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    crt.write_text("x")
    key.write_text("x")
    doc = {"tls_server_config": {"cert_file": str(crt), "key_file": str(key), "min_version": "TLS13"}}
    settings = parse_web_config(doc, "web.yml")
    assert settings.tls and (settings.cert_file, settings.key_file, settings.min_version) == (
        str(crt),
        str(key),
        "TLS13",
    )


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([1, 2], "top level: must be a mapping"),
        ({"tls": {}}, "tls: unknown key"),
        ({"tls_server_config": {"cert_file": "/nonexistent.crt"}}, "cert_file and key_file must be given together"),
        (
            {"tls_server_config": {"cert_file": "/nonexistent.crt", "key_file": "/nonexistent.key"}},
            "tls_server_config.cert_file: file not found",
        ),
        ({"tls_server_config": {"min_version": "TLS11"}}, "must be TLS12 or TLS13, got 'TLS11'"),
        ({"tls_server_config": {"ciphers": "x"}}, "tls_server_config.ciphers: unknown key"),
        ({"basic_auth_users": ["prometheus"]}, "basic_auth_users: must be a mapping"),
        ({"basic_auth_users": {"prometheus": "plain"}}, "basic_auth_users.prometheus: must be a bcrypt hash"),
    ],
)
def test_problems_are_named(doc: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_web_config(doc, "web.yml")
    assert any(problem in p for p in exc.value.problems), exc.value.problems
    assert str(exc.value).startswith("web.yml: invalid configuration")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read file"),
        (b"a: [1\n", "not valid YAML"),
        (b"\xff\xfe", "not a UTF-8 text file"),
    ],
)
def test_load_names_unreadable_files(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "web.yml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem):
        load_web_config(path)


def test_load_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{_hash('pw')}'\n")
    assert set(load_web_config(path).users) == {"prometheus"}


def test_load_refuses_a_certificate_that_does_not_load(tmp_path: Path) -> None:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    crt.write_text("not a certificate")
    key.write_text("not a key")
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n")
    with pytest.raises(ConfigError, match="cannot load certificate/key"):
        load_web_config(path)


def test_basic_auth_checks_user_and_password() -> None:
    auth = BasicAuth({"prometheus": _hash("right").encode()})
    assert auth.check("prometheus", "right")
    assert auth.check("prometheus", "right")  # the cached path answers the same
    assert not auth.check("prometheus", "wrong")
    assert not auth.check("nobody", "right")
    assert not auth.check("prometheus", "")

"""agent.model.members: model files confined to the bundle directory and hashed; the ensemble digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agent.model.fields import BundleError
from agent.model.members import confined, members_digest, parse_members, sha256_file


def test_confined_refuses_a_name_or_symlink_leaving_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "secret").write_text("x")
    (tmp_path / "b" / "link").symlink_to(tmp_path / "secret")
    assert confined(tmp_path / "b", "m.tflite") == (tmp_path / "b" / "m.tflite").resolve()
    for name in ("../secret", "link", "sub/m.tflite"):
        with pytest.raises(BundleError, match="outside the bundle directory"):
            confined(tmp_path / "b", name)


def test_sha256_file_and_the_members_digest_depend_on_order(tmp_path: Path) -> None:
    f = tmp_path / "m"
    f.write_bytes(b"abc" * 1000)
    assert sha256_file(f) == hashlib.sha256(b"abc" * 1000).hexdigest()
    a, b = ("a.tflite", "1" * 64), ("b.tflite", "2" * 64)
    assert members_digest([a, b]) != members_digest([b, a])


def test_a_member_whose_file_does_not_match_its_sha256_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(b"model")
    doc = {
        "members": [
            {
                "file": "m.tflite",
                "sha256": "0" * 64,
                "architecture": "dense",
                "kind": "autoencoder",
                "window": 5,
                "tail": 1,
                "weight": 1.0,
                "norm": {"method": "z", "std": [1.0, 1.0]},
            }
        ]
    }
    with pytest.raises(BundleError, match="sha256 mismatch"):
        parse_members(doc, tmp_path, 2, 5)
    doc["members"][0]["sha256"] = sha256_file(tmp_path / "m.tflite")
    (m,) = parse_members(doc, tmp_path, 2, 5)
    assert (m.window, m.input_length, m.norm.method) == (5, 5, "z")

"""Bad model bundles: refused with a BundleError naming the problem, at start-up (exit 2) and at reload
(old model kept).

tests/agent/test_bundle.py checks the common field errors on a fake model and
tests/test_cli_bundle.py the CLI on a hash mismatch; this adds real .tflite
files of the wrong shape, hostile files (FIFO, sparse giants, deep JSON),
every way out of the bundle directory, a corruption sweep and a fuzzer.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_support import FIXTURES, HALF, bundle_doc, make_agent, make_bundle, sha256, value, write_doc
from support import DEFAULT_BUNDLE, ROOT

from agent.cli import main
from agent.model.bundle import MAX_JSON_BYTES, BundleError, load_bundle
from agent.model.loaded import load_model
from agent.model.members import MAX_MODEL_BYTES

Doc = dict[str, Any]

# -- valid flatbuffers, wrong model ------------------------------------------------------------------
WRONG_MODELS = {
    "model-w4-f3": ("half_w4_f3.tflite", "does not match bundle window/features"),
    "model-w30-f37": ("half_w30_f37.tflite", "does not match bundle window/features"),
    "model-outputs-nan": ("nan_w30_f38.tflite", "model produces NaN/Inf on a test window"),
    "model-not-flatbuffer": (None, "cannot load TFLite model"),
}


@pytest.mark.parametrize("model, words", WRONG_MODELS.values(), ids=WRONG_MODELS.keys())
def test_valid_flatbuffer_of_the_wrong_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str | None, words: str
) -> None:
    src = FIXTURES / model if model else tmp_path / "text.tflite"
    if model is None:
        src.write_bytes(b"TFL3" + b"this is not a flatbuffer" * 10)
    b = make_bundle(tmp_path / "b", src)
    with pytest.raises(BundleError, match=words):
        load_model(b)
    assert main(["score", "--bundle", str(b), "--input", "/dev/null", "--output", str(tmp_path / "o.csv")]) == 2
    assert "bad model bundle" in capsys.readouterr().err


def test_feature_list_that_does_not_match_the_model(tmp_path: Path) -> None:
    """bundle.json declares 37 features, the model takes 38 (the other direction is in test_cli_bundle)."""
    b = make_bundle(tmp_path / "b", HALF)
    doc = bundle_doc(b)
    doc["features"] = doc["features"][:37]
    for key, vals in doc["scaler"].items():
        if isinstance(vals, list):
            doc["scaler"][key] = vals[:37]
    doc["feature_thresholds"]["values"] = doc["feature_thresholds"]["values"][:37]
    write_doc(b, doc)
    with pytest.raises(BundleError, match=r"input shape \(1, 30, 38\) does not match .*\(batch, 30, 37\)"):
        load_model(b)


def test_corrupt_models_with_matching_hash_never_crash(tmp_path: Path) -> None:
    """200 truncations, bit flips and zeroed runs of a real model: loaded and finite, or a BundleError."""
    b = make_bundle(tmp_path / "b", HALF)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("corrupt_sweep.py")), str(b), str(HALF), "7", "200"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, f"interpreter crashed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["unexpected"] == [], got
    assert got["outcomes"].get("BundleError", 0) > 50 and got["outcomes"].get("loaded", 0) > 0, got


# -- bundle.json field values -------------------------------------------------------------------------
def _set(path: str, val: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        if val is KeyError:
            del node[last]
        else:
            node[last] = val

    return apply


BAD_FIELDS: dict[str, tuple[Callable[[Doc], None], str]] = {
    "threshold-zero": (_set("threshold.value", 0), "threshold.value must be a finite number > 0"),
    "threshold-inf": (_set("threshold.value", float("inf")), "threshold.value must be a finite number > 0"),
    "threshold-bool": (_set("threshold.value", True), "threshold.value must be a finite number > 0"),
    "threshold-string": (_set("threshold.value", "0.1"), "field 'threshold.value' must be int/float"),
    "threshold-params-list": (_set("threshold.params", ["a", "b"]), "threshold.params must be an object"),
    "threshold-params-bool": (_set("threshold.params", True), "threshold.params must be an object"),
    "feature-threshold-nan": (
        lambda d: d["feature_thresholds"]["values"].__setitem__(3, float("nan")),
        "'feature_thresholds.values' holds NaN or Inf",
    ),
    "feature-threshold-negative": (
        lambda d: d["feature_thresholds"]["values"].__setitem__(0, -1e-3),
        "must be > 0 (index 0)",
    ),
    "feature-threshold-zero": (lambda d: d["feature_thresholds"]["values"].__setitem__(5, 0), "must be > 0 (index 5)"),
    "feature-threshold-string": (
        lambda d: d["feature_thresholds"]["values"].__setitem__(5, "1"),
        "must hold numbers only",
    ),
    "scaler-nan": (lambda d: d["scaler"]["center"].__setitem__(0, float("nan")), "'scaler.center' holds NaN or Inf"),
    "scaler-zero-scale": (lambda d: d["scaler"]["scale"].__setitem__(0, 0.0), "'scaler.scale'"),
    "scaler-minmax-inverted": (
        lambda d: d.update(scaler={"method": "minmax", "min": [1.0] * 38, "max": [0.0] * 38, "clip": 2.0}),
        "scaler.max is below scaler.min",
    ),
    "scaler-clip-negative": (_set("scaler.clip", -1), "scaler.clip must be in 0..1000"),
    "scaler-clip-nan": (_set("scaler.clip", float("nan")), "scaler.clip must be in 0..1000"),
    "scaler-method": (_set("scaler.method", "robust"), "scaler.method 'robust' is not supported"),
    "error-cap-negative": (_set("score.error_cap", -1), "score.error_cap must be a finite number > 0"),
    "anchor-nan": (_set("threshold.anchor", float("nan")), "threshold.anchor must be a finite number > 0"),
    "features-empty": (_set("features", []), "'features' must be a non-empty list of names"),
    "features-not-strings": (lambda d: d["features"].__setitem__(0, 1), "'features' must be a non-empty list"),
    "window-huge": (_set("window", 10**12), "window must be in 2..10000"),
    "window-negative": (_set("window", -30), "window must be in 2..10000"),
    "kind-unknown": (_set("kind", "vae"), "kind must be 'autoencoder' or 'forecaster'"),
    "format-version-string": (_set("format_version", "1"), "field 'format_version' must be int"),
    "model-section-missing": (_set("model", KeyError), "missing field 'model'"),
    "model-sha-not-string": (_set("model.sha256", 12), "field 'model.sha256' must be str"),
}


@pytest.mark.parametrize("mutate, words", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_bad_field_is_named(default_bundle: Path, mutate: Callable[[Doc], None], words: str) -> None:
    doc = bundle_doc(default_bundle)
    mutate(doc)
    write_doc(default_bundle, doc)
    with pytest.raises(BundleError) as exc:
        load_bundle(default_bundle)
    assert words in str(exc.value)


# -- bundle.json as a file ------------------------------------------------------------------------------
def _text(text: str | bytes) -> Callable[[Path], None]:
    return lambda b: (b / "bundle.json").write_bytes(text.encode() if isinstance(text, str) else text)


def _fifo(b: Path) -> None:
    (b / "bundle.json").unlink()
    os.mkfifo(b / "bundle.json")


def _directory(b: Path) -> None:
    (b / "bundle.json").unlink()
    (b / "bundle.json").mkdir()


def _oversized(b: Path) -> None:
    doc = bundle_doc(b)
    doc["padding"] = "x" * MAX_JSON_BYTES
    write_doc(b, doc)


def _sparse_json(b: Path) -> None:
    with open(b / "bundle.json", "wb") as fh:
        fh.truncate(1 << 34)  # 16 GiB of holes: must not be read into memory


def _symlink_out(b: Path) -> None:
    outside = b.parent / "elsewhere.json"
    outside.write_text((b / "bundle.json").read_text())
    (b / "bundle.json").unlink()
    os.symlink(outside, b / "bundle.json")


BAD_JSON_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "json-list": (_text("[1, 2]"), "top level must be an object"),
    "json-string": (_text('"bundle"'), "top level must be an object"),
    "json-number": (_text("1e999"), "top level must be an object"),
    "json-null": (_text("null"), "top level must be an object"),
    "json-empty": (_text(""), "not valid JSON"),
    "json-truncated": (
        lambda b: (b / "bundle.json").write_text((b / "bundle.json").read_text()[:500]),
        "not valid JSON",
    ),
    "json-invalid-utf8": (_text(b'{"model_id": "\xff\xfe"}'), "not valid JSON"),
    "json-deeply-nested-list": (_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "json-deeply-nested-object": (_text('{"a":' * 100_000 + "1" + "}" * 100_000), "nested too deeply"),
    "json-over-limit": (_oversized, f"larger than {MAX_JSON_BYTES} bytes"),
    "json-sparse-16g": (_sparse_json, f"larger than {MAX_JSON_BYTES} bytes"),
    "json-fifo": (_fifo, "not a regular file"),
    "json-directory": (_directory, "bundle.json: cannot read: Is a directory"),
    "json-missing": (lambda b: (b / "bundle.json").unlink(), "no bundle.json"),
    "json-symlink-outside": (_symlink_out, "bundle.json: resolves outside the bundle directory"),
}


@pytest.mark.parametrize("damage, words", BAD_JSON_FILES.values(), ids=BAD_JSON_FILES.keys())
def test_bad_bundle_json_file(default_bundle: Path, damage: Callable[[Path], None], words: str) -> None:
    damage(default_bundle)
    with pytest.raises(BundleError) as exc:
        load_bundle(default_bundle)
    assert words in str(exc.value)


def test_symlinks_inside_the_bundle_are_fine(default_bundle: Path) -> None:
    (default_bundle / "bundle.json").rename(default_bundle / "bundle-v2.json")
    os.symlink("bundle-v2.json", default_bundle / "bundle.json")
    assert load_bundle(default_bundle).model_id


# -- model.file: confined to the bundle directory ---------------------------------------------------------
def _model_file(name: str) -> Callable[[Path], None]:
    def apply(b: Path) -> None:
        doc = bundle_doc(b)
        doc["model"]["file"] = name
        write_doc(b, doc)

    return apply


def _sparse_model(b: Path) -> None:
    with open(b / "model.tflite", "r+b") as fh:
        fh.truncate(MAX_MODEL_BYTES + 1)


def _model_fifo(b: Path) -> None:
    (b / "model.tflite").unlink()
    os.mkfifo(b / "model.tflite")


def _model_in_subdir(b: Path) -> None:
    (b / "sub").mkdir()
    (b / "model.tflite").rename(b / "sub" / "model.tflite")
    _model_file("sub/model.tflite")(b)


BAD_MODEL_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "file-absolute": (_model_file(str(DEFAULT_BUNDLE.resolve() / "model.tflite")), "resolves outside the bundle"),
    "file-etc-passwd": (_model_file("/etc/passwd"), "resolves outside the bundle directory"),
    "file-dotdot": (_model_file("../model.tflite"), "resolves outside the bundle directory"),
    "file-dotdot-nested": (_model_file("x/../../elsewhere/model.tflite"), "resolves outside the bundle directory"),
    "file-subdirectory": (_model_in_subdir, "resolves outside the bundle directory"),
    "file-empty-name": (_model_file(""), "resolves outside the bundle directory"),
    "file-dot": (_model_file("."), "resolves outside the bundle directory"),
    "file-nul-byte": (_model_file("model\0.tflite"), "unusable"),
    "file-name-too-long": (_model_file("m" * 5000), "unusable"),
    "file-is-bundle-json": (_model_file("bundle.json"), "sha256 mismatch"),
    "file-missing": (lambda b: (b / "model.tflite").unlink(), "model file missing"),
    "file-fifo": (_model_fifo, "model file missing"),
    "file-sparse-over-limit": (_sparse_model, f"larger than the {MAX_MODEL_BYTES} byte limit"),
}


@pytest.mark.parametrize("damage, words", BAD_MODEL_FILES.values(), ids=BAD_MODEL_FILES.keys())
def test_model_file_is_confined_and_bounded(default_bundle: Path, damage: Callable[[Path], None], words: str) -> None:
    damage(default_bundle)
    with pytest.raises(BundleError) as exc:
        load_bundle(default_bundle)
    assert words in str(exc.value)


# -- fuzzing bundle.json ------------------------------------------------------------------------------------
def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list) and len(node) <= 4:
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


DOC = bundle_doc(DEFAULT_BUNDLE)
PATHS = _paths({k: v for k, v in DOC.items() if k not in ("training", "conversion", "evaluation")})
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), JSON_VALUES), min_size=1, max_size=3))
def test_fuzzed_bundle_json_raises_only_bundle_error(
    default_bundle: Path, changes: list[tuple[tuple[Any, ...], Any]]
) -> None:
    doc = copy.deepcopy(DOC)
    for path, val in changes:
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = val
        except (KeyError, IndexError, TypeError):  # an earlier change replaced a parent
            continue
    (default_bundle / "bundle.json").write_text(json.dumps(doc))
    try:
        load_bundle(default_bundle)
    except BundleError:
        pass


# -- at reload: refused, the running model keeps scoring -----------------------------------------------------
RELOAD_DAMAGE = {k: BAD_JSON_FILES[k][0] for k in ("json-deeply-nested-object", "json-fifo", "json-list")}
RELOAD_DAMAGE.update({k: BAD_MODEL_FILES[k][0] for k in ("file-nul-byte", "file-sparse-over-limit")})
RELOAD_DAMAGE["threshold-params-bool"] = lambda b: (lambda d: (_set("threshold.params", True)(d), write_doc(b, d)))(
    bundle_doc(b)
)
RELOAD_DAMAGE["wrong-shape-model"] = lambda b: (
    make_bundle(b.parent / "tmp-w4", FIXTURES / "half_w4_f3.tflite")
    and (
        os.replace(b.parent / "tmp-w4" / "model.tflite", b / "model.tflite"),
        os.replace(b.parent / "tmp-w4" / "bundle.json", b / "bundle.json"),
    )
)


@pytest.mark.parametrize("damage", RELOAD_DAMAGE.values(), ids=[f"reload-{k}" for k in RELOAD_DAMAGE])
def test_bad_bundle_at_reload_keeps_the_running_model(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    b = make_bundle(tmp_path / "bundle", HALF)
    model = load_model(b)
    agent, registry = make_agent(model, bundle=b)
    for _ in range(model.bundle.window):
        agent.cycle()
    before = value(registry, "host_anomaly_last_score_timestamp_seconds")
    damage(b)
    assert agent.reload("test") is False
    assert value(registry, "host_anomaly_model_reloads_total", result="rejected") == 1.0
    assert agent.model is model
    agent.cycle()
    assert value(registry, "host_anomaly_scoring_errors_total") == 0.0
    assert value(registry, "host_anomaly_last_score_timestamp_seconds") >= before
    assert (
        value(
            registry,
            "host_anomaly_model_info",
            model_id=model.bundle.model_id,
            architecture="dense",
            window="30",
            sha256=sha256(HALF),
        )
        == 1.0
    )

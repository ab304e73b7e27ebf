"""anomaly-train fleet: plan (digests, resume), one task per host (failures recorded), fleet.json, status,
serve; the local loop always, Ray when the [fleet] extra is installed (a local cluster, num_cpus=2)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from agent.collect.features import SMD38_NAMES
from agent.history.writer import HistoryWriter
from agent.model.bundle import load_bundle
from training.cli import main
from training.fleet import task as fleet_task
from training.fleet.cli import prometheus_instances
from training.fleet.manifest import read_manifest, status_table
from training.fleet.plan import host_dir_name, prometheus_jobs, smd_jobs
from training.fleet.serve import make_server
from training.importers.core import write_split
from training.importers.prometheus import PrometheusAPI
from training.options import FitOptions


def sine_rows(n: int, seed: int) -> np.ndarray:
    t = np.arange(n)[:, None]
    x = np.sin(2 * np.pi * t / np.array([20.0, 35.0, 50.0, 12.0, 80.0]) + np.arange(5))
    return x + np.random.default_rng(seed).normal(0, 0.05, x.shape)


FAST = ["--epochs", "1", "--window", "8", "--batch-size", "32", "--no-progress"]


def smd(root: Path, n: int = 3, bad: bool = True) -> Path:
    (root / "train").mkdir(parents=True)
    for i in range(n):
        x = sine_rows(300, i)
        np.savetxt(root / "train" / f"m{i}.txt", (x - x.min(0)) / np.ptp(x, 0), delimiter=",", fmt="%.5f")
    if bad:
        (root / "train" / "bad.txt").write_text("0.1,0.2\n0.3,0.4\n")
    return root


def test_fleet_fit_local_records_each_host_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = smd(tmp_path / "smd"), tmp_path / "out"
    assert main(["fleet", "fit", "--data", str(data), "--out", str(out), "--executor", "local", *FAST]) == 1
    printed = capsys.readouterr().out
    assert "4 hosts, 4 trained, 0 skipped" in printed and "1 failed" in printed and "failed bad:" in printed
    doc = read_manifest(out)
    assert {h: r["status"] for h, r in doc["hosts"].items()} == {"bad": "failed", "m0": "ok", "m1": "ok", "m2": "ok"}
    m0 = doc["hosts"]["m0"]
    b = load_bundle(out / "m0")
    assert m0["sha256"] == b.sha256 and m0["rows"] == 300 and m0["seconds"] > 0
    assert m0["threshold"]["value"] == b.meta["threshold"]["value"]
    assert {"val_loss", "train_loss", "epochs"} <= set(m0["validation"])
    assert b.meta["training"]["fleet"]["input_digest"] == m0["input_digest"]
    assert json.loads((out / "fleet.d" / "m0.json").read_text())["hosts"]["m0"] == m0  # what agents read
    assert "too few" in doc["hosts"]["bad"]["error"] and not (out / "bad").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind

    table = status_table(doc)
    assert table.splitlines()[1].startswith("bad ") and "4 hosts: 1 failed, 3 ok" in table
    assert main(["fleet", "status", str(out)]) == 1

    # resume: the same inputs and options skip; a changed input retrains that host only
    (data / "train" / "bad.txt").unlink()
    x = np.loadtxt(data / "train" / "m1.txt", delimiter=",")
    np.savetxt(data / "train" / "m1.txt", x[:-10], delimiter=",", fmt="%.5f")
    capsys.readouterr()
    assert main(["fleet", "fit", "--data", str(data), "--out", str(out), "--executor", "local", *FAST]) == 0
    assert "3 hosts, 1 trained, 2 skipped" in capsys.readouterr().out
    assert read_manifest(out)["hosts"]["m1"]["rows"] == 290
    # other options are other bundles
    jobs = smd_jobs(data, ["m0"], "dense", FitOptions(window=8))
    assert jobs[0].options_digest != smd_jobs(data, ["m0"], "dense", FitOptions(window=9))[0].options_digest


def test_fleet_fit_from_history_trees(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for host in ("web-1", "db-1"):
        w = HistoryWriter(tmp_path / "hist" / host, SMD38_NAMES, interval=60.0)
        for i in range(200):
            assert w.append(rng.random(len(SMD38_NAMES)) + 1.0, 1_700_000_000.0 + 60 * i)
        w.close()
    out = tmp_path / "out"
    assert (
        main(["fleet", "fit", "--histories", str(tmp_path / "hist"), "--out", str(out), "--executor", "local", *FAST])
        == 0
    )
    doc = read_manifest(out)
    assert sorted(doc["hosts"]) == ["db-1", "web-1"]
    meta = load_bundle(out / "web-1").meta
    assert meta["training"]["host_specific"] is True and meta["training"]["machine"] == "web-1"


def test_fleet_fit_from_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"/api/v1/label/instance/values": {"status": "success", "data": ["node-a:9100", "node-b:9100"]}}

    def urlopen(url: str, timeout: float) -> object:
        import io

        path = url.split("?")[0].split("9090")[1]
        assert "match%5B%5D=up%7Bjob%3D%22node%22%7D" in url
        return io.BytesIO(json.dumps(answers[path]).encode())

    api = PrometheusAPI("http://prom:9090", urlopen=urlopen)
    instances = prometheus_instances(api, 'job="node"')
    assert instances == ["node-a:9100", "node-b:9100"]
    jobs = prometheus_jobs(
        "http://prom:9090",
        instances,
        1.7e9,
        1.7e9 + 6000,
        60.0,
        None,
        "dense",
        FitOptions(window=8, epochs=1, batch_size=32, verbose=0),
    )
    assert [j.host for j in jobs] == ["node-a", "node-b"] and jobs[0].input_digest != jobs[1].input_digest

    def fake_import(
        api: PrometheusAPI,
        instance: str,
        start: float,
        end: float,
        step: float,
        out: Path,
        machine: str,
        job: str | None = None,
    ) -> None:
        if instance == "node-b:9100":
            raise ValueError("no node_exporter data for instance='node-b:9100'")
        write_split(
            out,
            "train",
            machine,
            "".join(",".join(f"{v:.4f}" for v in r) + "\n" for r in np.random.default_rng(1).random((200, 38))),
        )

    monkeypatch.setattr(fleet_task, "import_prometheus", fake_import)
    out = tmp_path / "out"
    out.mkdir()
    recs = {j.host: fleet_task.train_host(j, str(out)) for j in jobs}
    assert recs["node-a"]["status"] == "ok" and recs["node-b"]["status"] == "failed"
    assert load_bundle(out / "node-a").meta["training"]["host_specific"] is True


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    assert main(["fleet", "fit", "--out", str(tmp_path / "o"), "--executor", "local"]) == 2
    assert main(["fleet", "fit", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2  # no train/
    data = smd(tmp_path / "smd", n=1, bad=False)
    assert main(["fleet", "fit", "--data", str(data), "--machines", "m0,zz", "--out", str(tmp_path / "o")]) == 2
    assert main(["fleet", "fit", "--prometheus", "http://x", "--out", str(tmp_path / "o")]) == 2
    assert main(["fleet", "status", str(tmp_path / "none")]) == 2
    assert host_dir_name("10.0.0.1:9100") == "10.0.0.1_9100"


def test_ray_executor_without_ray_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    data = smd(tmp_path / "smd", n=1, bad=False)
    assert main(["fleet", "fit", "--data", str(data), "--out", str(tmp_path / "o"), "--executor", "ray"]) == 2
    assert "pip install '.[fleet]'" in capsys.readouterr().err


def test_serve_answers_if_none_match_with_304(tmp_path: Path) -> None:
    (tmp_path / "h1").mkdir()
    (tmp_path / "h1" / "bundle.json").write_text("{}")
    (tmp_path / ".h1-staging").mkdir()
    server = make_server(tmp_path)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/h1/bundle.json") as r:
            etag = r.headers["ETag"]
            assert r.read() == b"{}" and etag
        req = urllib.request.Request(base + "/h1/bundle.json", headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 304
        for path in ("/", "/h1/", "/.h1-staging/"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + path)
            assert e.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_fleet_fit_on_ray_local_cluster(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    data, out = smd(tmp_path / "smd", n=2), tmp_path / "out"
    assert (
        main(["fleet", "fit", "--data", str(data), "--out", str(out), "--num-cpus", "2", "--cpus-per-host", "1", *FAST])
        == 1
    )
    doc = read_manifest(out)
    assert {h: r["status"] for h, r in doc["hosts"].items()} == {"bad": "failed", "m0": "ok", "m1": "ok"}
    assert load_bundle(out / "m1").sha256 == doc["hosts"]["m1"]["sha256"]


def test_rayjob_manifest_runs_a_valid_fleet_command() -> None:
    import shlex

    import yaml

    from training.cli import build_parser

    root = Path(__file__).resolve().parents[2]
    docs = list(yaml.safe_load_all((root / "packaging/kubernetes/rayjob-fleet.yaml").read_text()))
    job = docs[0]
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "anomaly-train"
    args = build_parser().parse_args(argv[1:])
    assert args.ray_address == "auto" and args.executor == "ray"
    spec = job["spec"]["rayClusterSpec"]
    images = {spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]}
    images |= {g["template"]["spec"]["containers"][0]["image"] for g in spec["workerGroupSpecs"]}
    assert len(images) == 1 and "training" in images.pop()
    assert "training.Dockerfile" in (root / "packaging/kubernetes/rayjob-fleet.yaml").read_text()
    assert "[train,fleet]" in (root / "packaging/kubernetes/training.Dockerfile").read_text()

"""Evaluation end to end on a generated SMD-layout dataset (no /work/shared needed)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from agent.history.smd import format_rows, load_machine
from training import evaluate as ev
from training import machine_scores as ms
from training import tables
from training.cli import main
from training.detector import Scores

F = 5
SEGMENTS = ((300, 340, (1, 3)), (800, 815, (0,)), (1200, 1260, (2, 4)))  # rows [a, b), 0-indexed dims


def _series(n: int, rng: np.random.Generator) -> np.ndarray:
    """Five channels driven by two sinusoids: normal rows live near a 2-D subspace."""
    t = np.arange(n)[:, None]
    latent = np.hstack([np.sin(2 * np.pi * t / 50), np.sin(2 * np.pi * t / 130)])
    mix = np.array([[0.2, 0.1], [0.15, -0.1], [-0.1, 0.2], [0.05, 0.2], [0.2, -0.05]])
    return 0.5 + latent @ mix.T + 0.01 * rng.normal(size=(n, F))


def make_dataset(root: Path, machines: tuple[str, ...] = ("m-1", "m-2")) -> Path:
    for sub in ("train", "test", "test_label", "interpretation_label"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(machines):
        rng = np.random.default_rng(i)
        train, test = _series(2000, rng), _series(1500, rng)
        labels = np.zeros(len(test), dtype=int)
        lines = []
        for a, b, dims in SEGMENTS:
            test[a:b, list(dims)] += 0.3  # level shift on the interpreted dimensions
            labels[a:b] = 1
            lines.append(f"{a}-{b}:" + ",".join(str(d + 1) for d in dims))
        (root / "train" / f"{name}.txt").write_text(format_rows(train))
        (root / "test" / f"{name}.txt").write_text(format_rows(test))
        (root / "test_label" / f"{name}.txt").write_text("".join(f"{v}\n" for v in labels))
        (root / "interpretation_label" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("smd"))


def _in01(v: float) -> bool:
    return 0.0 <= v <= 1.0


def test_baselines_json_structure_and_sane_figures(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    rc = main(
        [
            "evaluate",
            "--data",
            str(data),
            "--machines",
            "m-1,m-2",
            "--models",
            "pca,iforest,mahalanobis",
            "--out",
            str(out),
            "--vus-max-buffer",
            "10",
        ]
    )
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["machines"] == ["m-1", "m-2"] and doc["models"] == ["pca", "iforest", "mahalanobis"]
    assert doc["settings"]["vus_max_buffer"] == 10
    for name in doc["models"]:
        r = doc["results"][name]
        assert set(r) == {"machines", "mean"}
        for m in ("m-1", "m-2"):
            x = r["machines"][m]
            assert x["data"]["rows"] == 1500 and x["data"]["events"] == 3
            for key in ("best_f1", "event_f1", "pa_f1_inflated"):
                assert set(x[key]) == {"f1", "precision", "recall", "threshold"}
                assert _in01(x[key]["f1"])
            for key in ("f1", "precision", "recall", "fpr", "event_recall", "event_f1"):
                assert _in01(x["at_threshold"][key])
            assert x["at_threshold"]["method"] == "pot"
            assert _in01(x["auc_pr"]) and _in01(x["vus_pr"])
            assert x["pa_f1_inflated"]["f1"] >= x["best_f1"]["f1"] - 1e-12  # adjustment only adds
        assert r["mean"]["best_f1"]["f1"] == pytest.approx(
            np.mean([r["machines"][m]["best_f1"]["f1"] for m in ("m-1", "m-2")])
        )
    pca = doc["results"]["pca"]["mean"]
    assert pca["best_f1"]["f1"] > 0.8 and pca["auc_pr"] > 0.8  # the shifts are obvious
    assert pca["hitrate@100"] > 0.5 and pca["hitrate@150"] >= pca["hitrate@100"]
    assert doc["results"]["iforest"]["mean"]["hitrate@100"] is None
    printed = capsys.readouterr().out
    assert "== m-1" in printed and "mean over 2 machines" in printed and "inflated" in printed


def test_mask_and_mean_skip_nan() -> None:
    assert ev._mean([{"a": 1.0, "b": {"c": float("nan")}}, {"a": 3.0, "b": {"c": 2.0}}]) == {"a": 2.0, "b": {"c": 2.0}}
    assert ev._mean([{"a": None}, {"a": None}]) == {"a": None}
    assert tables.jsonable({"x": float("nan"), "y": [np.float32(1.5)]}) == {"x": None, "y": [1.5]}


def test_parse_fit_option() -> None:
    assert ev.parse_fit_option("tail=5") == ("tail", 5)
    assert ev.parse_fit_option("threshold=quantile") == ("threshold", "quantile")
    with pytest.raises(Exception, match="KEY=VALUE"):
        ev.parse_fit_option("tail")


def test_unknown_model_is_refused_before_any_work(data: Path) -> None:
    with pytest.raises(ValueError, match="unknown model.*knn"):
        ev.evaluate(data, ["m-1"], ["pca", "knn"])


def test_missing_labels_is_a_clear_error(data: Path, tmp_path: Path) -> None:
    root = tmp_path / "nolabel"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    for sub in ("train", "test"):
        (root / sub / "m-1.txt").write_text((data / sub / "m-1.txt").read_text())
    with pytest.raises(FileNotFoundError, match="test_label"):
        ev.evaluate(root, ["m-1"], ["pca"])


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow (training extra)")
def test_dense_one_epoch_through_the_shipped_path(data: Path, tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    doc = ev.evaluate(data, ["m-1"], ["dense", "pca"], bundles_dir=bundles, epochs=1, vus_max_buffer=5)
    r = doc["results"]["dense"]["machines"]["m-1"]
    assert (bundles / "dense" / "m-1" / "bundle.json").is_file()
    assert r["info"]["reused"] is False and r["info"]["window"] == 30
    assert r["data"]["rows"] == 1500 - 29  # common rows: where the window model has a score
    assert doc["results"]["pca"]["machines"]["m-1"]["data"]["rows"] == 1500 - 29
    assert r["at_threshold"]["threshold"] == 1.0  # bundle scores are normalised
    assert _in01(r["best_f1"]["f1"]) and _in01(r["auc_pr"]) and not math.isnan(r["hitrate@100"])
    again = ev.evaluate(data, ["m-1"], ["dense"], bundles_dir=bundles, vus_max_buffer=5)
    assert again["results"]["dense"]["machines"]["m-1"]["info"]["reused"] is True
    assert again["results"]["dense"]["machines"]["m-1"]["auc_pr"] == pytest.approx(r["auc_pr"])


def test_any_detector_goes_through_the_one_path(data: Path) -> None:
    """evaluate scores every model by fit(train) -> score_series(test) -> threshold, whatever it is."""

    class Constant:
        name, threshold, threshold_method = "constant", 0.5, "fixed"

        def fit(self, train: np.ndarray) -> Constant:
            self.features = train.shape[1]
            return self

        def score_series(self, x: np.ndarray) -> Scores:
            return Scores(np.r_[np.nan, np.ones(len(x) - 1)], np.ones((len(x), self.features)))

        def info(self) -> dict:
            return {"fit_seconds": 0.0}

    m = load_machine(data, "m-1")
    s = ms.model_scores(Constant(), m)
    assert (s.threshold, s.threshold_method) == (0.5, "fixed") and np.isnan(s.score[0])
    assert s.info["fit_seconds"] == 0.0 and s.info["score_seconds"] >= 0 and s.feature_scores_normalised is None
    pca = ms.model_scores(ms.detector_for("pca", m, data, Path("/nonexistent"), None, {}), m)
    assert pca.threshold_method == "pot" and pca.feature_scores is not None

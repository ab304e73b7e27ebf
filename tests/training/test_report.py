"""``anomaly-train report`` on the shipped tiny SMD fixture with a quickly trained dense bundle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from training import evaluate as ev
from training import report as R
from training.cli import main
from training.incidents import find_incidents, find_runs
from training.report_writer import Section

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "smd_tiny"
MACHINE = "synth-1"
BASELINES = ("pca", "iforest", "mahalanobis")


# -- pure parts: runs and incidents ------------------------------------------------------------------------------


def test_find_runs_contiguous_nan_and_merge() -> None:
    s = np.array([np.nan, 2.0, 0.5, 3.0, 3.0, 0.2, 0.1, 1.5, 1.0, 4.0])
    assert find_runs(s).tolist() == [[1, 2], [3, 5], [7, 8], [9, 10]]  # 1.0 itself is not above
    assert find_runs(s, merge_gap=1).tolist() == [[1, 5], [7, 10]]
    assert find_runs(s, merge_gap=2).tolist() == [[1, 10]]
    assert find_runs(np.full(4, np.nan)).shape == (0, 2)


def test_find_incidents_ranking_shares_labels_and_truth() -> None:
    s = np.array([0.5, 2.0, 0.5, 1.5, 1.5, 1.5, 1.5, 0.5, 5.0, 0.5])
    c = np.zeros((10, 3))
    c[:, 0] = 1.0
    c[3:7] = [[0.0, 0.5, 0.5], [0.0, 1.0, 0.0], [0.0, 0.5, 0.5], [0.0, 1.0, 0.0]]
    labels = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    dims = [frozenset()] * 10
    dims[5] = frozenset({1})
    dims[6] = frozenset({2})
    by_area = find_incidents(s, c, labels, dims, n=5)
    # areas: rows 1 -> 1.0, rows 3-6 -> 4 * 0.5 = 2.0, row 8 -> 4.0
    assert [(i.start, i.end, i.area) for i in by_area] == [(8, 9, 4.0), (3, 7, 2.0), (1, 2, 1.0)]
    mid = by_area[1]
    assert (mid.peak, mid.peak_row, mid.duration, mid.labelled) == (1.5, 3, 4, True)
    np.testing.assert_allclose(mid.shares, [0.0, 0.75, 0.25])
    assert mid.truth == {1, 2} and by_area[0].truth == frozenset() and not by_area[0].labelled
    assert [i.start for i in find_incidents(s, c, labels, dims, n=2, rank_by="peak")] == [8, 1]
    with pytest.raises(ValueError, match="rank_by"):
        find_incidents(s, c, labels, dims, n=2, rank_by="length")


# -- end to end --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense bundle fitted for one epoch on the fixture's train split."""
    from training.data import load_train
    from training.fit import FitOptions, fit_bundle

    train, names = load_train(FIXTURE, MACHINE)
    out = tmp_path_factory.mktemp("bundle")
    # min-max and the last step: after one epoch on this tiny split its threshold still leaves incidents to
    # render (a one-epoch z-score model is held back by its anchor); the report draws both kinds alike
    opt = FitOptions(window=10, epochs=1, verbose=0, parity_windows=32, scaling="minmax", tail=1, error_cap=None)
    fit_bundle(
        train,
        arch="dense",
        out=out,
        options=opt,
        feature_names=names,
        provenance={"data_dir": str(FIXTURE), "machine": MACHINE, "split": "train", "command": "pytest"},
    )
    return out


@pytest.fixture(scope="module")
def made(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("report")
    html, pdf = out / "r.html", out / "r.pdf"
    rc = main(
        [
            "report",
            "--data",
            str(FIXTURE),
            "--machine",
            MACHINE,
            "--bundle",
            str(bundle),
            "--out",
            str(html),
            "--pdf",
            str(pdf),
            "--incidents",
            "3",
            "--vus-max-buffer",
            "10",
        ]
    )
    assert rc == 0
    return html.read_text(encoding="utf-8"), pdf


def _section(doc: str, key: str) -> str:
    m = re.search(rf'<section id="{key}">(.*?)</section>', doc, re.S)
    assert m, f"section {key} missing"
    return m.group(1)


def test_html_is_self_contained(made: tuple[str, Path]) -> None:
    doc, _ = made
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert not re.search(r'(src|href)="(https?:)?//', doc) and "<script" not in doc and "<link" not in doc
    for img in re.findall(r'<img [^>]*src="([^"]*)"', doc):
        assert img.startswith("data:image/png;base64,") and len(img) > 1000
    for key in ("timeline", "incidents", "pr"):
        assert "data:image/png;base64," in _section(doc, key), key


def test_metrics_table_has_bundle_and_every_baseline(made: tuple[str, Path]) -> None:
    table = _section(made[0], "metrics")
    names = re.findall(r"<tr><td>([^<]+)</td>", table)
    assert names == ["dense (this bundle)", *BASELINES]
    for h in ("bestF1", "F1@thr", "FPR@thr", "AUC-PR", "VUS-PR", "evF1", "PA-F1 (inflated)", "HR@100", "HR@150"):
        assert f"<th>{h}</th>" in table
    heads = re.findall(r"<th>([^<]+)</th>", table)
    rows = {
        m.group(1): re.findall(r"<td>([^<]*)</td>", m.group(2))
        for m in re.finditer(r"<tr><td>([^<]+)</td>(.*?)</tr>", table)
    }
    iforest = dict(zip(heads[1:], rows["iforest"]))
    assert iforest["HR@100"] == iforest["HR@150"] == "n/a"  # no per-feature scores: no HitRate
    shares = [
        c
        for cells in rows.values()
        for h, c in zip(heads[1:], cells)
        if h not in ("FA/day", "Delay") and re.fullmatch(r"[0-9.]+", c)
    ]  # rates and delays are not shares
    assert shares and all(0.0 <= float(c) <= 1.0 for c in shares)


def test_incidents_and_model_card(made: tuple[str, Path], bundle: Path) -> None:
    doc = made[0]
    inc = _section(doc, "incidents")
    assert "run(s) of score &gt; 1.0" in inc
    n = len(re.findall(r'<h3 id="incident-\d+">', inc))
    assert 1 <= n <= 3 and inc.count("data:image/png;base64,") == n
    card = _section(doc, "model")
    meta = json.loads((bundle / "bundle.json").read_text())
    for field in (
        "model id",
        "created",
        "training data",
        "architecture",
        "window",
        "features",
        "score",
        "scaler",
        "model size",
        "inference",
        "threshold",
        "parity",
        "versions",
        "command",
    ):
        assert f"<th>{field}</th>" in card, field
    assert meta["model_id"] in card and meta["model"]["sha256"] in card
    assert f"{meta['model']['size_bytes']} bytes" in card
    assert re.search(r"\d+ µs median, \d+ µs p95 per score_window over 200 windows", card)
    assert ": pass</td>" in card and "<td>10 rows</td>" in card and "<td>38</td>" in card
    assert f"{meta['training']['data_sha256']}: the train split of this report&#x27;s data" in card


def test_pdf_is_valid(made: tuple[str, Path]) -> None:
    data = made[1].read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type /Page\b", data)) >= 4  # summary, >= 3 figures, text


def test_evaluation_json_table_and_appended_section(bundle: Path, tmp_path: Path) -> None:
    doc = ev.evaluate(FIXTURE, [MACHINE], ["pca", "mahalanobis"], vus_max_buffer=5)
    d = R.gather(FIXTURE, MACHINE, bundle, baselines=["pca"], evaluation=doc, incidents=2)
    assert [name for name, _ in d.metrics] == ["pca", "mahalanobis", "pca: mean of 1", "mahalanobis: mean of 1"]
    assert d.metrics[0][1]["auc_pr"] == doc["results"]["pca"]["machines"][MACHINE]["auc_pr"]

    def delay(data: R.ReportData) -> Section:  # how a later "detection delay" section plugs in
        return Section("delay", "Detection delay", [f"<p>{len(data.incidents)} incidents</p>"], "delay text")

    out = tmp_path / "r.html"
    R.make_report(d, out, sections=[*R.SECTIONS, delay])
    html = out.read_text()
    assert '<a href="#delay">Detection delay</a>' in html and "<p>2 incidents</p>" in html
    assert re.findall(r"<tr><td>([^<]+)</td>", _section(html, "metrics"))[:2] == ["pca", "mahalanobis"]
    with pytest.raises(ValueError, match="machine 'other'"):
        R.gather(FIXTURE, "other", bundle, baselines=[], evaluation=doc)


def test_bad_inputs_are_named(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown baseline"):
        R.gather(FIXTURE, MACHINE, bundle, baselines=["pca", "svm"])
    rc = main(
        [
            "report",
            "--data",
            str(FIXTURE),
            "--machine",
            MACHINE,
            "--bundle",
            str(bundle),
            "--out",
            str(tmp_path / "x.html"),
            "--evaluation",
            str(FIXTURE / "meta.json"),
        ]
    )
    assert rc == 2 and not (tmp_path / "x.html").exists()

"""training.smd_files: a synthetic machine written in the SMD layout reads back as it was generated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.history.smd import load_machine
from training.smd_files import write_smd
from training.synth import generate


@pytest.mark.parametrize("compress", [False, True])
def test_write_smd_round_trips_through_load_machine(tmp_path: Path, compress: bool) -> None:
    d = generate(train_rows=400, test_rows=1200, n_anomalies=4, seed=3)
    files = write_smd(tmp_path, "synth-x", d, compress=compress)
    suffix = ".txt.gz" if compress else ".txt"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in files) == sorted(
        f"{s}/synth-x{suffix}" for s in ("train", "test", "test_label", "interpretation_label")
    )
    m = load_machine(tmp_path, "synth-x")
    np.testing.assert_allclose(m.train, d.train, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(m.test, d.test, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(m.labels, d.labels)
    assert m.interpretation == d.interpretation


def test_label_and_interpretation_text_format(tmp_path: Path) -> None:
    d = generate(train_rows=100, test_rows=400, n_anomalies=1, kinds=("spike",), seed=2)
    write_smd(tmp_path, "m", d)
    (a,) = d.interpretation
    text = (tmp_path / "interpretation_label" / "m.txt").read_text()
    assert text == f"{a.start}-{a.end}:{','.join(str(j + 1) for j in a.dims)}\n"  # dims 1-indexed
    labels = (tmp_path / "test_label" / "m.txt").read_text().splitlines()
    assert len(labels) == 400 and set(labels) == {"0", "1"}
    assert [i for i, v in enumerate(labels) if v == "1"] == list(range(a.start, a.end))
    assert len((tmp_path / "train" / "m.txt").read_text().splitlines()[0].split(",")) == 38


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_write_smd_refuses_bad_machine_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="bad machine name"):
        write_smd(tmp_path, name, generate(train_rows=100, test_rows=400, n_anomalies=1, seed=0))

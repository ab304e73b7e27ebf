"""Bad SMD-format files through ``anomaly-agent score`` and ``replay``: exit 2, one line naming file and line.

tests/agent/test_smd.py checks the parser itself (with hypothesis); this
checks that every such file reaches the user as a clear CLI error.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from support import DEFAULT_BUNDLE

from agent.cli import main
from agent.history import smd

GOOD = "\n".join(",".join(["0.5"] * 38) for _ in range(40)) + "\n"


def _row(cells: list[str]) -> str:
    return ",".join(cells) + "\n"


# id -> (file bytes, words in the error)
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "smd-empty": (b"", "no data rows"),
    "smd-blank-lines": (b"\n\n  \n", "no data rows"),
    "smd-ragged-row": ((GOOD + _row(["0.5"] * 37)).encode(), ":41: expected 38 columns, found 37"),
    "smd-extra-column": ((GOOD + _row(["0.5"] * 39)).encode(), ":41: expected 38 columns, found 39"),
    "smd-wrong-column-count": ((_row(["0.5"] * 37) * 40).encode(), "37 columns but the bundle expects 38"),
    "smd-one-column": (b"0.5\n" * 40, "1 columns but the bundle expects 38"),
    "smd-non-numeric": ((GOOD + _row(["0.5"] * 37 + ["high"])).encode(), ":41: non-numeric cell 'high'"),
    "smd-empty-cell": ((GOOD + _row(["0.5"] * 37 + [""])).encode(), ":41: non-numeric cell ''"),
    "smd-nan": ((GOOD + _row(["nan"] + ["0.5"] * 37)).encode(), ":41: NaN or Inf cell"),
    "smd-inf": ((GOOD + _row(["0.5"] * 37 + ["-inf"])).encode(), ":41: NaN or Inf cell"),
    "smd-overflow": ((GOOD + _row(["1e999"] + ["0.5"] * 37)).encode(), ":41: NaN or Inf cell"),
    "smd-semicolons": ((GOOD.replace(",", ";")).encode(), "non-numeric cell"),
    "smd-binary": (bytes(range(256)) * 8, "not readable as UTF-8 text"),
    "smd-bad-gzip": (b"\x1f\x8b\x08\x00garbage", "not readable as UTF-8 text"),
}


@pytest.fixture(autouse=True)
def _restore_sighup(keep_sighup: None) -> None:
    """Every test here runs `main()`, which ignores SIGHUP while a daemon starts."""


@pytest.mark.parametrize("content, words", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_score_refuses_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str) -> None:
    inp = tmp_path / ("machine-x.txt.gz" if content.startswith(b"\x1f\x8b") else "machine-x.txt")
    inp.write_bytes(content)
    out = tmp_path / "out.csv"
    assert main(["score", "--bundle", str(DEFAULT_BUNDLE), "--input", str(inp), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("anomaly-agent: bad input:") and words in err, err
    assert str(inp) in err and "Traceback" not in err
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("content, words", BAD_FILES.values(), ids=[f"replay-{k}" for k in BAD_FILES])
def test_replay_refuses_bad_file_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / ("machine-x.txt.gz" if content.startswith(b"\x1f\x8b") else "machine-x.txt")).write_bytes(
        content
    )
    # port 1 cannot be bound by a test: reaching the server would fail with exit 1, not 2
    assert (
        main(
            [
                "replay",
                "--data",
                str(tmp_path),
                "--machine",
                "machine-x",
                "--bundle",
                str(DEFAULT_BUNDLE),
                "--web.listen-address",
                "127.0.0.1:1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bad input" in err and words in err, err


def _replay_dir(tmp_path: Path, labels: bytes | None = None) -> Path:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "m.txt").write_text(GOOD)
    if labels is not None:
        (tmp_path / "test_label").mkdir()
        (tmp_path / "test_label" / "m.txt").write_bytes(labels)
    return tmp_path


BAD_REPLAY: dict[str, tuple[bytes | None, list[str], str]] = {
    "labels-short": (b"0\n" * 39, [], "m.txt"),
    "labels-not-binary": (b"0\n" * 39 + b"2\n", [], "m.txt"),
    "labels-text": (b"yes\n" * 40, [], "m.txt"),
    "start-beyond-end": (None, ["--start", "40"], "replay rows 40..40 are not within 0..40"),
    "start-negative": (None, ["--start=-5"], "replay rows -5..40 are not within 0..40"),
    "end-beyond-file": (None, ["--end", "41"], "replay rows 0..41 are not within 0..40"),
    "end-before-start": (None, ["--start", "10", "--end", "5"], "replay rows 10..5"),
    "machine-missing": (None, ["--machine", "absent"], "absent.txt"),
}


@pytest.mark.parametrize("labels, extra, words", BAD_REPLAY.values(), ids=BAD_REPLAY.keys())
def test_bad_replay_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: bytes | None, extra: list[str], words: str
) -> None:
    data = _replay_dir(tmp_path, labels)
    args = [
        "replay",
        "--data",
        str(data),
        "--machine",
        "m",
        "--bundle",
        str(DEFAULT_BUNDLE),
        "--web.listen-address",
        "127.0.0.1:1",
        *extra,
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "bad input" in err and words in err, err


def test_score_of_a_file_shorter_than_the_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not an error: every row is written, none scored."""
    inp = tmp_path / "short.txt"
    inp.write_text("\n".join(",".join(["0.5"] * 38) for _ in range(5)) + "\n")
    out = tmp_path / "out.csv"
    assert main(["score", "--bundle", str(DEFAULT_BUNDLE), "--input", str(inp), "--output", str(out)]) == 0
    assert "5 rows, 0 scored" in capsys.readouterr().out
    assert out.read_text().count("\n") == 6


def test_gzip_input_with_values_far_outside_the_scale(tmp_path: Path) -> None:
    """Finite but absurd values (1e300) are clipped by the scaler: finite scores, no overflow."""
    x = np.full((60, 38), 0.5)
    x[40] = 1e300
    inp = tmp_path / "wild.txt.gz"
    inp.write_bytes(gzip.compress(smd.format_rows(x).encode()))
    out = tmp_path / "out.csv"
    assert main(["score", "--bundle", str(DEFAULT_BUNDLE), "--input", str(inp), "--output", str(out)]) == 0
    scores = [float(r.split(",")[0]) for r in out.read_text().splitlines()[30:]]
    assert all(np.isfinite(scores)) and max(scores) > 1.0

"""agent.history.smd: parsers refuse malformed input with file:line, valid data round-trips."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agent.history.smd import (
    Interpretation,
    SMDFormatError,
    format_rows,
    load_interpretation,
    load_labels,
    load_machine,
    load_rows,
    parse_interpretation,
    parse_rows,
)

SRC = "dir/m.txt"
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
unit = st.floats(0.0, 1.0)


def tables(elements: st.SearchStrategy = unit, min_rows: int = 1, min_cols: int = 1) -> st.SearchStrategy:
    shapes = st.tuples(st.integers(min_rows, 12), st.integers(min_cols, 40))
    return shapes.flatmap(lambda s: arrays(np.float64, s, elements=elements))


def lines_of(x: np.ndarray) -> list[list[str]]:
    return [line.split(",") for line in format_rows(x).splitlines()]


def join(cells: list[list[str]]) -> str:
    return "".join(",".join(row) + "\n" for row in cells)


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


# --- valid data ---------------------------------------------------------------------------


@given(tables(finite))
def test_format_parse_round_trip_within_6_significant_digits(x: np.ndarray) -> None:
    y = parse_rows(format_rows(x))
    assert y.shape == x.shape and y.dtype == np.float64
    # 6 significant digits: error <= 5e-6 relative to the text, twice that to the float
    np.testing.assert_allclose(y, x, rtol=1e-5, atol=0)
    assert format_rows(y) == format_rows(x)  # the 6-digit text is a fixed point


@given(tables(), st.lists(st.integers(0, 12), max_size=4), st.sampled_from(["\n", "\r\n", "\r"]))
def test_blank_lines_and_any_newline_style_are_accepted(x: np.ndarray, blanks: list[int], nl: str) -> None:
    lines = format_rows(x).splitlines()
    for i in sorted(blanks, reverse=True):
        lines.insert(min(i, len(lines)), "   ")
    np.testing.assert_array_equal(parse_rows(nl.join(lines)), parse_rows(format_rows(x)))


def test_parse_rows_hand_case() -> None:
    y = parse_rows("0.5,1\n\n 0,1e-3 \n", n_cols=2)
    np.testing.assert_array_equal(y, [[0.5, 1.0], [0.0, 0.001]])
    assert format_rows(np.array([[0.1234567, 1.0, 0.0]])) == "0.123457,1,0\n"


# --- malformed data ---------------------------------------------------------------------------


@given(tables(min_rows=2, min_cols=2), st.data())
def test_ragged_row_names_its_line(x: np.ndarray, data: st.DataObject) -> None:
    cells = lines_of(x)
    k = data.draw(st.integers(1, len(cells) - 1), label="row")  # row 0 sets the width
    if data.draw(st.booleans(), label="drop"):
        cells[k] = cells[k][:-1]
    else:
        cells[k] = cells[k] + ["0.5"]
    msg = rf"^{re.escape(SRC)}:{k + 1}: expected {x.shape[1]} columns, found {len(cells[k])}$"
    with pytest.raises(SMDFormatError, match=msg):
        parse_rows(join(cells), SRC)


@given(tables(min_cols=1), st.integers(-3, 3).filter(bool))
def test_wrong_column_count_is_refused_on_line_1(x: np.ndarray, delta: int) -> None:
    n_cols = max(1, x.shape[1] + delta)
    if n_cols == x.shape[1]:
        return
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(SRC)}:1: expected {n_cols} columns"):
        parse_rows(format_rows(x), SRC, n_cols=n_cols)


# Any text without a comma or a line break that float() refuses.
junk = st.text(st.characters(blacklist_characters=",\r\n"), min_size=1, max_size=8).filter(
    lambda s: s.strip() != "" and not _is_float(s)
)


@given(tables(min_cols=2), junk, st.data())
def test_non_numeric_cell_names_its_line(x: np.ndarray, cell: str, data: st.DataObject) -> None:
    cells = lines_of(x)
    k = data.draw(st.integers(0, len(cells) - 1), label="row")
    j = data.draw(st.integers(0, x.shape[1] - 1), label="col")
    cells[k][j] = cell
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(SRC)}:{k + 1}: non-numeric cell"):
        parse_rows(join(cells), SRC)


@given(tables(), st.sampled_from(["nan", "NaN", "inf", "-inf", "+Infinity", "1e999", "-1e400"]), st.data())
def test_nan_or_inf_cell_names_its_line(x: np.ndarray, cell: str, data: st.DataObject) -> None:
    cells = lines_of(x)
    k = data.draw(st.integers(0, len(cells) - 1), label="row")
    cells[k][data.draw(st.integers(0, x.shape[1] - 1), label="col")] = cell
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(SRC)}:{k + 1}: NaN or Inf cell$"):
        parse_rows(join(cells), SRC)


@given(st.text(" \t\r\n"))
def test_empty_text_has_no_data_rows(text: str) -> None:
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(SRC)}: no data rows$"):
        parse_rows(text, SRC)


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_smd_format_error(text: str) -> None:
    try:
        y = parse_rows(text, SRC)
    except SMDFormatError as exc:
        assert re.match(rf"^{re.escape(SRC)}(:\d+)?: ", str(exc))
    else:
        assert y.ndim == 2 and len(y) >= 1 and np.isfinite(y).all()


def test_odd_unicode_line_separators_do_not_shift_line_numbers() -> None:
    # \f and \u2028 are whitespace inside a line, not line breaks (str.splitlines()
    # would split there and blame line 2 for a short row).
    assert parse_rows("1,2\n3\f,4\n5,6\u2028\n").tolist() == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(SMDFormatError, match=r"^f:4: non-numeric cell 'x'$"):
        parse_rows("1,2\n3\f,4\n5,6\u2028\nx,1\n", "f")


# --- interpretation ---------------------------------------------------------------------------

spans = st.tuples(st.integers(0, 10**6), st.integers(1, 500), st.lists(st.integers(0, 37), min_size=1, max_size=6))


@given(st.lists(spans, max_size=8))
def test_interpretation_round_trip(items: list[tuple[int, int, list[int]]]) -> None:
    text = "".join(f"{a}-{a + n}:{','.join(str(d + 1) for d in ds)}\n" for a, n, ds in items)
    assert parse_interpretation(text) == [Interpretation(a, a + n, tuple(ds)) for a, n, ds in items]


def test_interpretation_hand_case() -> None:
    assert parse_interpretation("246-252:1,2,3\n\n10-11: 38 \n") == [
        Interpretation(246, 252, (0, 1, 2)),
        Interpretation(10, 11, (37,)),
    ]


bad_interp = st.sampled_from(
    [
        "5-5:1",
        "9-3:1",
        "5-10:0",
        "5-10:-2",
        "5-10:",
        "5-10",
        "5-10 1,2",
        "5:10:1",
        "5-10:1:2",
        "a-10:1",
        "5-x:1",
        "1.5-3:1",
        "5-10:1.0",
        "-1-5:1",
        "5-10-12:1",
        "5-10:one",
        ":1",
        "-:",
    ]
)


@given(st.lists(spans.map(lambda s: f"{s[0]}-{s[0] + s[1]}:{s[2][0] + 1}"), max_size=5), bad_interp)
def test_bad_interpretation_line_names_its_line(good: list[str], bad: str) -> None:
    text = "\n".join(good + [bad]) + "\n"
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(SRC)}:{len(good) + 1}: "):
        parse_interpretation(text, SRC)


@given(st.text(max_size=40))
def test_arbitrary_interpretation_text_parses_or_raises_smd_format_error(text: str) -> None:
    try:
        out = parse_interpretation(text, SRC)
    except SMDFormatError as exc:
        assert re.match(rf"^{re.escape(SRC)}:\d+: ", str(exc))
    else:
        assert all(i.end > i.start >= 0 and i.dims and min(i.dims) >= 0 for i in out)


# --- files ---------------------------------------------------------------------------


def _write(path: Path, text: str | bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_load_machine_round_trip(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    train, test = rng.random((30, 4)), rng.random((20, 4))
    _write(tmp_path / "train" / "m.txt", format_rows(train), gz)
    _write(tmp_path / "test" / "m.txt", format_rows(test), gz)
    _write(tmp_path / "test_label" / "m.txt", "0\n" * 5 + "1\n" * 3 + "0\n" * 12, gz)
    _write(tmp_path / "interpretation_label" / "m.txt", "5-8:2,4\n", gz)
    m = load_machine(tmp_path, "m")
    np.testing.assert_allclose(m.train, train, rtol=1e-5)
    np.testing.assert_allclose(m.test, test, rtol=1e-5)
    assert m.labels.dtype == np.int8 and m.labels.tolist() == [0] * 5 + [1] * 3 + [0] * 12
    assert m.interpretation == [Interpretation(5, 8, (1, 3))]


def test_load_machine_without_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="machine 'm'"):
        load_machine(tmp_path, "m")


def test_error_names_the_resolved_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "test" / "m.txt", "0.1,0.2\n0.1\n", gz=True)
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(str(p))}:2: expected 2 columns, found 1$"):
        load_rows(tmp_path / "test" / "m.txt")


def test_labels_must_be_0_or_1_and_match_length(tmp_path: Path) -> None:
    p = _write(tmp_path / "l.txt", "0\n1\n2\n")
    with pytest.raises(SMDFormatError, match=r"l\.txt: row 3: label 2 is not 0 or 1"):
        load_labels(p)
    p = _write(tmp_path / "l2.txt", "0\n1\n")
    with pytest.raises(SMDFormatError, match=r"2 labels for 3 data rows"):
        load_labels(p, length=3)
    with pytest.raises(SMDFormatError, match=r"l3\.txt:1: expected 1 columns"):
        load_labels(_write(tmp_path / "l3.txt", "0,1\n"))


@pytest.mark.parametrize("raw", [b"\xff\xfe0.1,0.2\n", b"0.1,\xc3\n"], ids=["bom16", "cut-utf8"])
def test_invalid_utf8_is_a_format_error_naming_the_file(tmp_path: Path, raw: bytes) -> None:
    p = _write(tmp_path / "m.txt", raw)
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(str(p))}: not readable"):
        load_rows(p)


@pytest.mark.parametrize(
    "raw", [b"not gzip at all", gzip.compress(b"0.1,0.2\n" * 50, mtime=0)[:-12]], ids=["not-gzip", "truncated"]
)
def test_corrupt_gzip_is_a_format_error_naming_the_file(tmp_path: Path, raw: bytes) -> None:
    p = tmp_path / "m.txt.gz"
    p.write_bytes(raw)
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(str(p))}: not readable"):
        load_rows(tmp_path / "m.txt")
    with pytest.raises(SMDFormatError, match=rf"^{re.escape(str(p))}: not readable"):
        load_interpretation(tmp_path / "m.txt")


@settings(max_examples=25)
@given(tables(min_rows=1))
def test_gzip_file_round_trip(x: np.ndarray) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:  # hypothesis cannot reuse pytest's tmp_path
        p = _write(Path(d) / "x.txt", format_rows(x), gz=True)
        np.testing.assert_allclose(load_rows(Path(d) / "x.txt", n_cols=x.shape[1]), x, rtol=1e-5, atol=0)
        assert p.name == "x.txt.gz"

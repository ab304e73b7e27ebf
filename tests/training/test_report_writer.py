"""training.report_writer: numbers and tables for people, and the self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.report_writer import Section, esc, fmt, html_table, text_table, write_report


def test_fmt_reads_like_a_person_wrote_it() -> None:
    assert fmt(None) == fmt(float("nan")) == fmt(np.float32("inf")) == "n/a"
    assert (fmt(True), fmt(False), fmt(0.0)) == ("yes", "no", "0")
    assert (fmt(0.12345), fmt(1.5), fmt(12345.0), fmt(0.001234)) == ("0.123", "1.5", "1.23e+04", "0.00123")
    assert fmt({"q": 0.5, "skip": None, "gpd": {"gamma": 0.25}}) == "q=0.5, gpd=(gamma=0.25)"
    assert fmt(7) == "7" and fmt("text") == "text"


def test_tables_escape_and_align() -> None:
    html = html_table(["name", "v"], [["<b>", 1]], cls="metrics")
    assert html.startswith('<table class="metrics">') and "<td>&lt;b&gt;</td>" in html and "<b>" not in html
    assert text_table(["a", "long"], [["xyz", 1], ["", 22]]).splitlines() == ["a    long", "xyz  1   ", "     22  "]
    assert esc('"&') == "&quot;&amp;"


def test_write_report_is_one_file_without_external_assets(tmp_path: Path) -> None:
    sections = [Section("one", "First <part>", ["<p>hello</p>"]), Section("two", "Second", [], text="t")]
    out = tmp_path / "sub" / "report.html"
    write_report(sections, "Title & co", [("machine", "m-1 (data/smd)")], out)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Title &amp; co</title>" in page
    assert '<a href="#one">First &lt;part&gt;</a>' in page and '<section id="two">' in page
    assert "<p>hello</p>" in page and "<script" not in page and "http" not in page

"""agent.serve.timeline: alert periods as the rule pages, the history document, the SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from agent.history.scores import Entry
from agent.serve.timeline import alert_periods, history_doc, parse_time, summary, svg

T0 = 1_800_000_000.0


def series(scores: list[float], t0: float = T0) -> list[Entry]:
    return [Entry(t0 + 60 * i, s, s > 1, (("cpu_r", 0.6), ("load_1", 0.3))) for i, s in enumerate(scores)]


def test_alert_periods_need_five_samples_above_one_and_a_gap_breaks_a_run() -> None:
    e = series([0.2] * 10 + [1.5] * 4 + [0.2] * 5 + [1.2, 1.4, 3.0, 2.0, 1.1, 1.1] + [0.1] * 5)
    periods = alert_periods(e, 60.0)
    assert len(periods) == 1
    p = periods[0]
    assert p["samples"] == 6 and p["peak"] == 3.0 and p["top"][0] == {"feature": "cpu_r", "share": 0.6}
    assert parse_time(p["start"]) == T0 + 60 * 19 and parse_time(p["end"]) == T0 + 60 * 24
    gapped = series([1.5] * 3) + series([1.5] * 3, T0 + 3600)  # an hour without scores in the middle
    assert alert_periods(gapped, 60.0) == []


def test_history_doc_lists_entries_and_alerts_in_iso_time() -> None:
    e = series([0.5, 2.0, 2.0, 2.0, 2.0, 2.0, 0.3])
    doc = history_doc(e, 60.0, T0)
    assert doc["count"] == 7 and doc["threshold"] == 1.0 and doc["since"] == "2027-01-15T08:00:00Z"
    assert doc["entries"][1] == {
        "time": "2027-01-15T08:01:00Z",
        "score": 2.0,
        "anomalous": True,
        "top": [{"feature": "cpu_r", "share": 0.6}, {"feature": "load_1", "share": 0.3}],
    }
    assert [a["samples"] for a in doc["alerts"]] == [5]


def test_parse_time_takes_iso_with_or_without_zone_and_unix_seconds() -> None:
    assert parse_time("2027-01-15T08:00:00Z") == T0 == parse_time("2027-01-15T09:00:00+01:00")
    assert parse_time("2027-01-15T08:00:00") == T0 and parse_time(str(T0)) == T0
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_svg_is_well_formed_with_a_point_per_score_the_threshold_and_the_alert_band() -> None:
    scores = [0.3] * 600 + [2.5] * 30 + [0.3] * 600
    e = series(scores, T0 - 60 * len(scores))
    doc = svg(e, T0, 60.0)
    root = ET.fromstring(doc)  # well-formed XML: a browser draws it inline
    ns = {"s": "http://www.w3.org/2000/svg"}
    points = root.find("s:polyline", ns).get("points").split()  # type: ignore[union-attr]
    assert len(points) == len(scores)
    assert root.find("s:line[@class='threshold']", ns) is not None
    bands = root.findall("s:rect[@class='alert']", ns)
    assert len(bands) == 1 and float(bands[0].get("width", 0)) > 10
    assert "1 alert period" in summary(e, T0, 60.0)
    assert re.search(r"No scores", summary([], T0, 60.0))


def test_a_young_agent_draws_from_its_first_score_and_a_day_old_one_the_last_24_hours() -> None:
    from agent.serve.timeline import span_hours

    assert span_hours(series([0.1] * 12, T0 - 720), T0) == 1.0  # twelve minutes: the last hour
    assert span_hours(series([0.1] * 200, T0 - 12000), T0) == 4.0
    assert span_hours(series([0.1] * 1440, T0 - 86400), T0) == 24.0
    assert span_hours([], T0) == 1.0
    doc = svg(series([0.3] * 12, T0 - 720), T0, 60.0)
    assert "last 1 hours" in doc and doc.count("<text") >= 6  # three score labels and the time labels

"""Prometheus exposition read with prometheus_client's own parsers (text format and OpenMetrics)."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as _om_parse
from prometheus_client.parser import text_string_to_metric_families as _text_parse


def _text(body: str | bytes) -> str:
    return body.decode() if isinstance(body, bytes) else body


def families(body: str | bytes) -> dict[str, Metric]:
    """Families of a text-format body by name (a counter's family name has no ``_total``)."""
    return {f.name: f for f in _text_parse(_text(body))}


def om_families(body: str | bytes) -> dict[str, Metric]:
    """Families of an OpenMetrics body by name; the parser rejects a body that breaks the format."""
    return {f.name: f for f in _om_parse(_text(body))}


def sample_value(body: str | bytes, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` (``..._total`` for counters) with exactly these labels, or None."""
    for family in _text_parse(_text(body)):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None

"""``anomaly-train import {prometheus,csv,nab}``: other data into the SMD layout.

Every importer writes raw (unscaled) rows to ``OUT/train/NAME.txt`` (the
training scaler does the scaling) and a sidecar ``OUT/train/NAME.json`` with
the feature names, units, the row timestamps (``{"start", "step", "count"}``
for a regular grid) and what was filled; ``fit`` reads the names from it via
:func:`sidecar_features`.  SMD files hold no NaN, so gaps are forward-filled
(leading gaps back-filled) and reported.  The PromQL mapping, its rate window
and what node_exporter lacks are in ``docs/importers.md``.

One module per source (:mod:`~training.importers.prometheus`,
:mod:`~training.importers.csv`, :mod:`~training.importers.nab`) on a shared
:mod:`~training.importers.core`; the subcommand is in
:mod:`~training.importers.cli`.  This package re-exports the public names.
"""

from __future__ import annotations

from training.importers.cli import register
from training.importers.core import (
    ImporterError,
    ImportResult,
    fill_columns,
    parse_duration,
    parse_time,
    sidecar_features,
    write_sidecar,
    write_split,
)
from training.importers.csv import empty_runs, import_csv, read_csv_columns, resample
from training.importers.nab import import_nab, interpretation_lines, label_windows, nab_probation
from training.importers.prometheus import (
    DISK_EXCLUDE,
    MAX_POINTS,
    NIC_EXCLUDE,
    PROMQL,
    PrometheusAPI,
    PrometheusUnreachable,
    build_queries,
    chunks,
    fetch_grid,
    import_prometheus,
    promql_string,
    rate_window,
)

__all__ = [
    "DISK_EXCLUDE",
    "MAX_POINTS",
    "NIC_EXCLUDE",
    "PROMQL",
    "ImportResult",
    "ImporterError",
    "PrometheusAPI",
    "PrometheusUnreachable",
    "build_queries",
    "chunks",
    "empty_runs",
    "fetch_grid",
    "fill_columns",
    "import_csv",
    "import_nab",
    "import_prometheus",
    "interpretation_lines",
    "label_windows",
    "nab_probation",
    "parse_duration",
    "parse_time",
    "promql_string",
    "rate_window",
    "read_csv_columns",
    "register",
    "resample",
    "sidecar_features",
    "write_sidecar",
    "write_split",
]

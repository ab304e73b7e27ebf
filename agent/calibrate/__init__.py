"""Learning the host: the warm-up calibration (noise floors, per-feature scales, POT thresholds), the daily
recalibration from recent rows, the seasonal profile, and operator feedback on the score.

Owns: ``calibrator`` (the entry: ``Calibrator`` warm-up, calibrate, recalibrate, persist), ``fit`` (the pure
fit of scaler and thresholds), ``saved`` (the state document), ``recalibration`` and ``recent`` (the ring
of recent rows and the refit from it), ``pot`` and ``quantiles`` (threshold maths), ``seasonal`` and
``profile`` (the host rhythm learned from history), ``feedback`` (ignored and weighted features).
May import: ``score``, ``model``, ``history``, ``collect.features`` and the base modules; never ``serve``
or ``runtime``.
"""

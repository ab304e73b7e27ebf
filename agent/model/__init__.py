"""The model bundle: its schema and parsing, the TFLite predictors, ensembles, the verified loaded model,
writing bundles, pulling one from a fleet server, and the record of rolled-back ones.

Owns: ``bundle`` (bundle.json, hashes, scaler and thresholds), ``fields`` (field parsing), ``write``
(writing a bundle), ``predictors`` (interpreters), ``ensemble`` (several members as one scorer), ``loaded``
(bundle + interpreter + scorer checked together), ``remote`` (``model.url`` polling),
``rollback`` (the probation rule and ``STATE_DIR/rollback.json``).
May import: ``score`` and the base modules; never ``collect``, ``calibrate``, ``history``, ``serve`` or ``runtime``.
"""

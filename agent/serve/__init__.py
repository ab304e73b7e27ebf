"""What operators and Prometheus read: the HTTP server, the exporter families, the status documents and
page, the ``status`` command and the client it shares with ``explain``, and the web config (TLS, basic auth).

Owns: ``http`` (routes, server), ``api`` (JSON responses, ``/api/v1/history``), ``timeline`` (the score
history as JSON, alert periods, the SVG), ``exporter`` (the snapshot as Prometheus families), ``status`` (/healthz
and /model documents), ``page`` (the landing page and its text rendering), ``rollback_page`` (its lines
on a probation and a rollback), ``status_cmd`` (``anomaly-agent status``), ``client`` (a running agent's
JSON for ``status`` and ``explain``: address, basic auth, TLS), ``webconfig`` (``--web.config.file``).
May import: ``score``, ``model``, ``calibrate``, ``history`` (the score ring) and the base modules; never
``collect`` or ``runtime``.
"""

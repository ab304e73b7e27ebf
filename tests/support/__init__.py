"""Test support shared by every test directory (``tests`` is on pytest's ``pythonpath``): ``from support import ...``.

One module per job: :mod:`support.paths` (repository paths, the agent command),
:mod:`support.ports` (free loopback ports), :mod:`support.web` (HTTP GET),
:mod:`support.agents` (an agent subprocess, started and stopped),
:mod:`support.exposition` (Prometheus text/OpenMetrics parsed by
prometheus_client's own parsers), :mod:`support.waiting` (polling until a
condition holds) and :mod:`support.modules` (a repository module run as
``python -m``).  The names are re-exported here.  :mod:`support.rhythm` (rows
of a host with a nightly job) and :mod:`support.tls` (a self-signed certificate,
a web config with bcrypt users, a GET with basic auth) import the agent or
bcrypt and yaml, and :mod:`support.fleet` (a real `fleet serve`, plain or TLS) and :mod:`support.rounds` (good and bad
fleet rounds, published and signed) import training, so
they are imported from themselves.
"""

from __future__ import annotations

import os

from support.agents import AgentProcess, StartAgent, demo_replay
from support.exposition import families, om_families, sample_value
from support.modules import run_module
from support.paths import AGENT, DEFAULT_BUNDLE, DEMO_DATA, ROOT, SHARED_SMD
from support.ports import free_port
from support.waiting import wait_for
from support.web import http_get, prometheus_ready

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = [
    "AGENT",
    "DEFAULT_BUNDLE",
    "DEMO_DATA",
    "ROOT",
    "SHARED_SMD",
    "AgentProcess",
    "prometheus_ready",
    "run_module",
    "StartAgent",
    "demo_replay",
    "families",
    "free_port",
    "http_get",
    "om_families",
    "sample_value",
    "wait_for",
]

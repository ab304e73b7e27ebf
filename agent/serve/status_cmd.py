"""``anomaly-agent status``: what the landing page of a running agent shows, on the command line.

Fetches ``/healthz`` and ``/model`` (JSON) from the agent (:mod:`agent.serve.client`: where it listens,
basic auth, TLS) and prints them with :func:`agent.serve.page.render_text`, the same sections as the page.
Exit 0 when the agent answered (whatever its state: the text says it), 1 when
it cannot be reached or does not answer like an anomaly-agent.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.serve.client import Unreachable, add_agent_options, agent_base, fetch_json, without_credentials
from agent.serve.page import render_text


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("status", help="print what a running agent's landing page shows (from /healthz and /model)")
    add_agent_options(p)
    return p


def cmd_status(args: argparse.Namespace) -> int:
    base = agent_base(args)
    try:
        health = fetch_json(base, "healthz", args.timeout)
        model = fetch_json(base, "model", args.timeout)
    except Unreachable as exc:
        print(f"anomaly-agent status: cannot read the agent: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render_text(health, model, without_credentials(base)))
    return 0

"""``anomaly-train``: argparse subcommands; each lives in its own module.

A command module exposes ``register(subparsers)`` which adds its parser and
sets ``func(args) -> int``.  The command modules are imported here, statically
(so tests/test_architecture.py sees every edge); none of them imports
TensorFlow at module level, so ``anomaly-train --help`` stays fast and
TensorFlow loads only for commands that need it.
"""

from __future__ import annotations

import argparse
import logging
import sys

from training import evaluate, fit_cli, fleet, importers, report, rethreshold, synth_seasonal, tune

# the order of `anomaly-train --help`; fit_cli registers "fit" (training.fit), synth_seasonal "synth"
# (SMD-format data from training.synth, or a seasonal host with --seasonal)
COMMANDS = (fit_cli, evaluate, report, synth_seasonal, importers, tune, rethreshold, fleet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anomaly-train", description=__doc__.splitlines()[0])
    parser.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"anomaly-train {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

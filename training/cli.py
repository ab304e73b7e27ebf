"""``anomaly-train``: argparse subcommands; each lives in its own module.

A command module exposes ``register(subparsers)`` which adds its parser and
sets ``func(args) -> int``.  Modules are imported only when listed here, so
``anomaly-train --help`` stays fast and TensorFlow loads only for commands
that need it.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = (
    "training.fit",
    "training.evaluate",
    "training.report",
    "training.synth",
    "training.importers",
    "training.tune",
    "training.rethreshold",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anomaly-train", description=__doc__.splitlines()[0])
    parser.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
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

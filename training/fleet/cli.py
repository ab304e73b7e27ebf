"""``anomaly-train fleet {fit,status,serve,keygen,sign,promote}``: per-host bundles, their signed manifest, a server."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

from training.fleet.manifest import counts, read_manifest, status_table
from training.fleet.plan import HostJob, check_unique, history_jobs, prometheus_jobs, smd_jobs
from training.fleet.run import fit_fleet, run_local, run_ray
from training.fleet.serve import make_server
from training.fleet.signing import keygen, promote, rollout_line, sign
from training.importers.core import parse_duration, parse_time
from training.importers.prometheus import PrometheusAPI
from training.models import ARCHITECTURES, DEFAULT_ARCH, FORECASTERS
from training.options import FitOptions, default_window


class BadArguments(ValueError):
    """Exit 2."""


def prometheus_instances(api: PrometheusAPI, selector: str) -> list[str]:
    """The ``instance`` values of ``up{selector}`` (e.g. ``job="node"``)."""
    sel = selector.strip()
    if not sel.startswith("{"):
        sel = "{" + sel + "}"
    return sorted(api.get("/api/v1/label/instance/values", **{"match[]": f"up{sel}"}))


def _options(args: argparse.Namespace) -> FitOptions:
    return FitOptions(
        window=args.window or default_window(args.arch),
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        stride=args.stride,
        patience=args.patience,
        max_train_seconds=args.max_train_seconds,
        scaling=args.scaling,
        threshold=args.threshold,
        verbose=0,
    )


def plan(args: argparse.Namespace) -> list[HostJob]:
    sources = [s for s in (args.data, args.histories, args.prometheus) if s]
    if len(sources) != 1:
        raise BadArguments("give exactly one input: --data DIR, --histories DIR or --prometheus URL")
    if args.cpus_per_host <= 0:
        raise BadArguments("--cpus-per-host must be > 0")
    opt = _options(args)
    if args.data:
        machines = [m.strip() for m in args.machines.split(",") if m.strip()] if args.machines else None
        jobs = smd_jobs(args.data, machines, args.arch, opt)
    elif args.histories:
        jobs = history_jobs(args.histories, args.arch, opt)
    else:
        if not (args.selector and args.start and args.end):
            raise BadArguments("--prometheus needs --selector, --start and --end")
        start, end = parse_time(args.start), parse_time(args.end)
        api = PrometheusAPI(args.prometheus)
        instances = prometheus_instances(api, args.selector)
        if not instances:
            raise BadArguments(f"no instance matches up{{{args.selector}}} at {args.prometheus}")
        jobs = prometheus_jobs(
            args.prometheus, instances, start, end, parse_duration(args.step), args.job, args.arch, opt
        )
    check_unique(jobs)
    return jobs


def _fit(args: argparse.Namespace) -> int:
    try:
        jobs = plan(args)
    except ValueError as exc:
        print(f"anomaly-train fleet fit: error: {exc}", file=sys.stderr)
        return 2
    if args.executor == "ray":
        if importlib.util.find_spec("ray") is None:
            print(
                "anomaly-train fleet fit: error: Ray is not installed: pip install '.[fleet]', or --executor local",
                file=sys.stderr,
            )
            return 2
        cpus = args.num_cpus or os.cpu_count() or 1
        executor: Any = partial(
            run_ray,
            cpus_per_host=args.cpus_per_host,
            address=args.ray_address,
            num_cpus=None if args.ray_address else cpus,
        )
    else:
        executor = run_local
    doc = fit_fleet(jobs, args.out, executor, force=args.force, progress=not args.no_progress)
    names = {j.host for j in jobs}
    failed = sorted(h for h, r in doc["hosts"].items() if h in names and r.get("status") == "failed")
    run = doc["run"]
    print(
        f"fleet {args.out}: {run['hosts']} hosts, {run['trained']} trained, {run['skipped']} skipped (current), "
        f"{len(failed)} failed, {run['seconds']:.0f} s"
    )
    for h in failed:
        print(f"  failed {h}: {doc['hosts'][h].get('error')}")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    doc = read_manifest(args.out)
    if not doc["hosts"]:
        print(f"{args.out}: no fleet.json (or no hosts)", file=sys.stderr)
        return 2
    print(status_table(doc))
    print(rollout_line(doc))
    return 1 if counts(doc).get("failed") else 0


def _keygen(args: argparse.Namespace) -> int:
    keygen(args.private, args.public)
    print(f"wrote {args.private} (keep it on the trainer) and {args.public} (model.url_public_key on every agent)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    doc = promote(args.out, args.key, args.share) if args.command_name == "promote" else sign(args.out, args.key)
    print(rollout_line(doc))
    return 0


def _serve(args: argparse.Namespace) -> int:
    if not (Path(args.out) / "fleet.json").is_file():
        print(f"anomaly-train fleet serve: error: {args.out}/fleet.json not found", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    server = make_server(args.out, host or "0.0.0.0", int(port))
    print(f"serving {args.out} on http://{args.listen}/ (HOST/bundle.json, HOST/model.tflite, fleet.json)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def register(subparsers: Any) -> None:
    """Add ``fleet`` (fit, status, serve) to the ``anomaly-train`` subcommands."""
    p = subparsers.add_parser(
        "fleet", help="train, track, sign and serve per-host bundles for many hosts (docs/fleet.md)"
    )
    sub = p.add_subparsers(dest="fleet_command", required=True)
    d = FitOptions()
    f = sub.add_parser("fit", help="one bundle per host, in parallel on Ray (or a local loop)")
    f.add_argument("--data", type=Path, help="SMD-layout directory: every train/*.txt is a host")
    f.add_argument("--machines", help="with --data: only these machines (comma-separated)")
    f.add_argument("--histories", type=Path, help="directory of agent history trees, one HOST/ each")
    f.add_argument("--prometheus", help="Prometheus URL: each node_exporter instance becomes a host")
    f.add_argument("--selector", help='with --prometheus: label matchers of up{...}, e.g. job="node"')
    f.add_argument("--job", help="with --prometheus: job label for the feature queries")
    f.add_argument("--start", help="with --prometheus: range start (unix s, RFC 3339, now-7d)")
    f.add_argument("--end", help="with --prometheus: range end")
    f.add_argument("--step", default="60s", help="with --prometheus: row interval (default 60s)")
    f.add_argument("--out", type=Path, required=True, help="fleet directory: OUT/<host>/ and OUT/fleet.json")
    f.add_argument(
        "--executor",
        choices=["ray", "local"],
        default="ray",
        help="ray (default: a local cluster, or --ray-address) or a plain sequential loop",
    )
    f.add_argument("--ray-address", help="join an existing Ray cluster (e.g. auto, ray://head:10001)")
    f.add_argument("--num-cpus", type=int, help="CPUs of the local Ray cluster (default: all)")
    f.add_argument("--cpus-per-host", type=float, default=1.0, help="CPUs reserved by each host's task")
    f.add_argument("--force", action="store_true", help="train every host, even those whose bundle is current")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.add_argument("--arch", choices=[*ARCHITECTURES, *FORECASTERS], default=DEFAULT_ARCH)
    f.add_argument("--epochs", type=int, default=d.epochs)
    f.add_argument("--window", type=int, default=None)
    f.add_argument("--batch-size", type=int, default=d.batch_size)
    f.add_argument("--seed", type=int, default=d.seed)
    f.add_argument("--stride", type=int, default=d.stride)
    f.add_argument("--patience", type=int, default=d.patience)
    f.add_argument("--max-train-seconds", type=float, default=None)
    f.add_argument("--scaling", choices=["zscore", "minmax"], default=d.scaling)
    f.add_argument("--threshold", choices=["pot", "quantile"], default=d.threshold)
    f.set_defaults(func=_fit)
    s = sub.add_parser("status", help="fleet.json as a table")
    s.add_argument("out", type=Path)
    s.set_defaults(func=_status)
    v = sub.add_parser("serve", help="serve a fleet directory over HTTP (ETag, If-None-Match)")
    v.add_argument("out", type=Path)
    v.add_argument("--listen", default=":8080", help="[host]:port (default :8080, every interface)")
    v.set_defaults(func=_serve)
    k = sub.add_parser("keygen", help="an Ed25519 key pair to sign fleet manifests with")
    k.add_argument("--private", type=Path, required=True, help="private key (PEM, 0600): stays on the trainer")
    k.add_argument("--public", type=Path, required=True, help="public key (PEM): model.url_public_key on agents")
    k.set_defaults(func=_keygen)
    g = sub.add_parser("sign", help="sign OUT's manifests (a new serial; new bundles start a generation at 0.1)")
    g.add_argument("out", type=Path)
    g.add_argument("--key", type=Path, required=True, help="the private key from fleet keygen")
    g.set_defaults(func=_sign, command_name="sign")
    r = sub.add_parser("promote", help="widen the current generation's rollout share and re-sign")
    r.add_argument("out", type=Path)
    r.add_argument("--key", type=Path, required=True, help="the private key from fleet keygen")
    r.add_argument("--share", type=float, required=True, help="share of hosts, e.g. 0.1, 0.5 or 1")
    r.set_defaults(func=_sign, command_name="promote")

"""Wiring: the one metrics registry, the sampling job, the HTTP server, signals and hot reload.

One interval job (:mod:`agent.runtime.scheduler`) runs :meth:`agent.runtime.cycle.Agent.cycle`
(sample -> window -> score -> snapshot): a slow cycle never overlaps the next
and missed runs collapse into one skip; the job fires on a fixed grid from the
start time, so the schedule does not drift.  SIGHUP and the optional file watcher reload the bundle;
``model.url`` adds a job pulling it from a fleet server (:mod:`agent.model.remote`).
``/metrics`` serves exactly one registry: process metrics, build info, the
cycle duration and the snapshot families (cached once per snapshot).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from agent.buildinfo import register_build_info
from agent.config import Config
from agent.model.loaded import LoadedModel
from agent.model.remote import RemoteBundle, pull_once
from agent.model.rollback import RollbackLog
from agent.runtime.cycle import Agent
from agent.runtime.explain import explain_live
from agent.runtime.hoststate import host_state, score_history
from agent.runtime.scheduler import Scheduler
from agent.runtime.sources import Source
from agent.serve.http import local_url, make_app, parse_listen_address, serve
from agent.serve.webconfig import BasicAuth, load_web_config

__all__ = ["Agent", "make_registry", "run", "sd_notify"]

log = logging.getLogger(__name__)


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about our state; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


def make_registry() -> CollectorRegistry:
    """The registry ``/metrics`` serves: process metrics and build info; the agent adds its own."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    register_build_info(registry)
    return registry


def run(
    cfg: Config,
    source: Source,
    model: LoadedModel,
    exit_at_end: bool = False,
    source_factory: Callable[[LoadedModel], Source] | None = None,
    live: bool = False,
    calibrate: bool = False,
) -> int:
    """Serve until SIGTERM/SIGINT; SIGHUP reloads the bundle.  Returns the exit code.

    ``live``: the rows come from this host, so calibrate and record history
    (a replayed SMD file is already in the model's scale).
    """
    stop = threading.Event()  # set by the scheduler thread when a replay ends (exit_at_end)
    # Handlers only flip these flags: a handler runs in the main thread between any two bytecodes, so one
    # that takes a lock (threading.Event.set) can interrupt the lock's holder and deadlock, or nest until
    # RecursionError under a burst of signals.  Installed first: SIGHUP's default action kills the process.
    flags = {"stop": False, "hup": False}
    signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("stop", True))
    signal.signal(signal.SIGINT, lambda *_: flags.__setitem__("stop", True))
    signal.signal(signal.SIGHUP, lambda *_: flags.__setitem__("hup", True))
    registry = make_registry()
    b = model.bundle
    log.info(
        "model %s (%s, window %d, %d features, sha256 %s) from %s on %s",
        b.model_id,
        b.architecture,
        b.window,
        len(b.features),
        b.sha256[:12],
        b.path,
        model.runtime,
    )
    scores = score_history(cfg, model, persist=live or calibrate)  # a plain replay keeps its scores in memory
    if live or calibrate:  # calibrate: a replay that warms up on its first rows as a new host would
        calibrator, history = host_state(cfg, model)
        rollbacks = RollbackLog.load(cfg.state_directory)
    else:
        calibrator, history, rollbacks = None, None, RollbackLog()
        log.info("replay: no calibration and no state kept (the rows are already in the model's scale)")
    agent = Agent(
        cfg,
        source,
        model,
        registry,
        on_exhausted=stop.set if exit_at_end else None,
        source_factory=source_factory,
        calibrator=calibrator,
        history=history,
        scores=scores,
        rollbacks=rollbacks,
    )
    web = load_web_config(cfg.web.config_file) if cfg.web.config_file else None
    auth = BasicAuth(web.users) if web is not None and web.users else None
    app = make_app(
        registry,
        agent.health,
        agent.model_doc,
        auth,
        history=None if scores is None else scores.entries,
        interval=cfg.sampling.interval_seconds,
        clock=agent.clock,
        explain=lambda at: explain_live(agent, at),
    )
    httpd, _ = serve(cfg.web.listen_address, app, web, cfg.web.request_timeout_seconds)
    tls = bool(web and web.tls)
    url = local_url(cfg.web.listen_address, tls)
    log.info(
        "serving on %s%s%s%s: status page %s, Prometheus metrics %smetrics",
        cfg.web.listen_address,
        " (every interface)" if parse_listen_address(cfg.web.listen_address)[0] in ("", "0.0.0.0", "::") else "",
        " with TLS" if tls else "",
        " and basic auth" if auth else "",
        url,
        url,
    )

    scheduler = Scheduler(on_skip=agent.on_skipped)
    scheduler.add_job("cycle", agent.cycle, cfg.sampling.interval_seconds)
    if cfg.model.watch:
        watch = cfg.model.watch_interval_seconds
        scheduler.add_job("watch", agent.check_bundle_changed, watch, first_delay=watch)
    if cfg.model.url:  # a fleet server (docs/fleet.md): the first poll at once, then on its interval
        remote = RemoteBundle(cfg.model, state_dir=cfg.state_directory, refused=rollbacks.refused)
        log.info("pulling the bundle from %s every %g s", remote.url, cfg.model.url_poll_seconds)
        scheduler.add_job(
            "pull",
            lambda: pull_once(remote, lambda: agent.model.bundle.sha256, agent.reload, agent.count_reload),
            cfg.model.url_poll_seconds,
            first_delay=1,
        )
    scheduler.start()
    sd_notify("READY=1")
    try:
        while not (flags["stop"] or stop.is_set()):
            time.sleep(0.2)
            if flags["hup"]:
                flags["hup"] = False
                agent.reload("SIGHUP")
    finally:
        sd_notify("STOPPING=1")
        log.info("shutting down")
        scheduler.shutdown(wait=True)
        httpd.shutdown()
        httpd.server_close()
        if calibrator is not None:
            calibrator.save()
        if history is not None:
            history.close()
        if scores is not None:
            scores.save()
    return 0

"""The .deb under a real systemd: PID 1 in a podman container on a local Debian bookworm root.

Everything else checks the unit without a systemd manager (``systemd-analyze``,
an emulated sandbox). Here the package built by packaging/deb/build.sh is
installed with ``apt-get install ./x.deb`` into a container whose PID 1 is
systemd 252 (Debian bookworm), and the unit runs exactly as shipped:
Type=notify, DynamicUser, StateDirectory, PrivateUsers, ProtectProc=invisible,
MemoryDenyWriteExecute, the system-call filter. Steps, each timed (the table is
printed at the end, also when a step fails):

 1. base image   the cached systemd root (tests/packaging/systemd_container.py)
 2. build .deb   packaging/deb/build.sh (or $HAE_E2E_DEB, a .deb already built)
 3. boot         ``podman run --systemd=always``, ``systemctl is-system-running --wait``
 4. install      ``apt-get install ./x.deb``: postinst enables and starts the
                 unit with the shipped config; exposure <= 2.0 by this systemd
 5. start        a drop-in points ExecStart at a test config (0.5 s interval,
                 30 warm-up samples, eth0 as the NIC); ``systemctl start``
                 returns once READY=1 arrived: active (running), after the
                 agent logged that it serves
 6. collectors   /metrics answers; host_anomaly_collector_errors_total per
                 source, beside the same agent run as root outside any sandbox
                 in the same container: the sandbox may hide nothing the host shows
 7. calibration  the state directory fills under the dynamic user:
                 calibration.json (calibrated), history files, owned by the
                 service's transient uid; a score is published
 8. reload       ``systemctl reload`` with a changed bundle (accepted) and with
                 a corrupt model file (rejected, the running model keeps
                 scoring), both in host_anomaly_model_reloads_total{result}
 9. bad config   an invalid value: the unit fails once with status 2, no
                 restart after RestartSec, and the journal names the key
10. stop         clean (status 0, result success) well within TimeoutStopSec
11. upgrade      a newer version (repacked, version bumped, conffile changed
                 upstream) over the running one: the edited conffile stays,
                 the calibration is reused by the restarted agent
12. reboot       ``podman restart``: systemd shuts down and boots again; the
                 enabled unit starts by itself and reuses the calibration
13. purge        state, config and the enablement go

Needs root, podman (runc where crun cannot run here) and, for the first run,
mmdebstrap or debootstrap and the Debian mirror; skipped with the reason
otherwise. 3 to 7 minutes with the base image cached, 1.5 to 4 of them the
build (the first base image adds 2 to 3.5 minutes). HAE_E2E_DEB=x.deb skips
the build; HAE_E2E_KEEP=1 keeps the container for a look inside.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from systemd_container import BASE, base_image, boot, label, metric_values, run, skip_reason, wait_booted

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PKG = "host-anomaly-exporter"
UNIT = f"{PKG}.service"
AGENT = "/opt/host-anomaly-exporter/venv/bin/anomaly-agent"
CONFFILE = "/etc/host-anomaly-exporter/config.yaml"
STATE = "/var/lib/private/host-anomaly-exporter"
SHIPPED_BUNDLE = "/usr/share/host-anomaly-exporter/models/default"
TEST_DIR = "/srv/hae-e2e"  # the test's own config and bundle: not the package's, so purge leaves them
DROPIN = f"/etc/systemd/system/{UNIT}.d/e2e.conf"
INTERVAL, WARMUP = 0.5, 30
TEST_CONFIG = f"""\
model:
  bundle: {TEST_DIR}/bundle
  watch: false
sampling:
  interval_seconds: {INTERVAL}
collector:
  nics: [eth0]
calibration:
  warmup_samples: {WARMUP}
history:
  rows_per_file: 40
state_directory: /var/lib/host-anomaly-exporter
"""
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


class Steps:
    """Times named steps; the table is printed even when a step fails."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def __call__(self, name: str):
        t0 = time.monotonic()
        note = {"text": ""}
        try:
            yield note
        except BaseException:
            self.rows.append((name, time.monotonic() - t0, "FAILED " + note["text"]))
            raise
        self.rows.append((name, time.monotonic() - t0, note["text"]))

    def table(self) -> str:
        lines = [f"  {n:<12} {s:6.1f} s  {t}" for n, s, t in self.rows]
        total = sum(s for _, s, _ in self.rows)
        return "\nsystemd e2e steps:\n" + "\n".join(lines) + f"\n  {'total':<12} {total:6.1f} s"


def build_deb(out: Path) -> Path:
    """packaging/deb/build.sh into ``out`` (LINTIAN=0: test_deb.py runs lintian), or $HAE_E2E_DEB."""
    given = os.environ.get("HAE_E2E_DEB")
    if given:
        deb = out / Path(given).name
        shutil.copy2(given, deb)
        return deb
    for tool in ("dpkg-deb", "dpkg-shlibdeps"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (apt-get install dpkg-dev): cannot build the .deb")
    if not (ROOT / "models/default/bundle.json").is_file():
        pytest.skip("no model bundle in models/default")
    env = {**os.environ, "BUILD_DIR": str(out / "build"), "DIST_DIR": str(out), "LINTIAN": "0"}
    r = run(["bash", str(ROOT / "packaging/deb/build.sh")], timeout=1200, env=env)
    shutil.rmtree(out / "build", ignore_errors=True)
    return Path(r.stdout.strip().splitlines()[-1])


def bump(deb: Path, out: Path) -> tuple[Path, str]:
    """``deb`` repacked as a newer version whose conffile changed upstream (a rebuild would add minutes)."""
    tree = out / "upgrade-tree"
    run(["dpkg-deb", "-R", str(deb), str(tree)])
    control = tree / "DEBIAN/control"
    version = re.search(r"^Version: (\S+)$", control.read_text(), re.M).group(1)
    newer = version.replace("-", ".1-", 1)
    control.write_text(control.read_text().replace(f"Version: {version}", f"Version: {newer}"))
    conf = tree / CONFFILE.lstrip("/")
    conf.write_text(conf.read_text() + f"# upstream change in {newer}\n")
    run(
        [
            "sh",
            "-c",
            "find . -path ./DEBIAN -prune -o -type f -printf '%P\\0' | LC_ALL=C sort -z"
            " | xargs -0 md5sum > DEBIAN/md5sums",
        ],
        cwd=tree,
    )
    arch = re.search(r"^Architecture: (\S+)$", control.read_text(), re.M).group(1)
    bumped = out / f"{PKG}_{newer}_{arch}.deb"
    # gzip -1: xz of the 86 MB tree takes minutes on a busy 2-core machine
    run(["dpkg-deb", "--build", "--root-owner-group", "-Zgzip", "-z1", str(tree), str(bumped)], timeout=300)
    shutil.rmtree(tree)
    return bumped, newer


def test_deb_under_systemd_pid1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    steps = Steps()
    debs = tmp_path / "debs"
    debs.mkdir()
    name = f"hae-systemd-{os.getpid()}"
    box = None
    try:
        with steps("base image") as note:
            note["text"] = base_image()
        with steps("build .deb") as note:
            deb = build_deb(debs)
            note["text"] = deb.name
        with steps("boot") as note:
            box, how = boot(name, BASE, [f"{debs}:/debs:ro"])
            note["text"] = f"podman {how}; " + box.sh("systemctl --version").stdout.splitlines()[0]
        with steps("install") as note:
            note["text"] = _install(box, deb)
        with steps("start") as note:
            note["text"] = _start(box)
        with steps("collectors") as note:
            note["text"] = _collectors(box)
        with steps("calibration") as note:
            note["text"] = _calibration(box)
        with steps("reload") as note:
            note["text"] = _reload(box)
        with steps("bad config") as note:
            note["text"] = _bad_config(box)
        with steps("stop") as note:
            note["text"] = _stop(box)
        with steps("upgrade") as note:
            note["text"] = _upgrade(box, deb, debs)
        with steps("reboot") as note:
            note["text"] = _reboot(box)
        with steps("purge") as note:
            note["text"] = _purge(box)
    finally:
        with capsys.disabled():
            print(steps.table())
        if box is not None and not os.environ.get("HAE_E2E_KEEP"):
            run([*box.podman, "rm", "-f", "-t", "2", name], check=False, timeout=120)
        elif box is not None:
            print(f"kept container {name}: podman {' '.join(box.podman[1:])} exec -it {name} bash")


def _install(box, deb: Path) -> str:
    r = box.sh(f"cd /debs && apt-get install -y ./{shlex.quote(deb.name)}", timeout=300)
    assert "Setting up host-anomaly-exporter" in r.stdout, r.stdout + r.stderr
    # postinst enabled and started it with the shipped config: READY=1 arrived, or this would still be activating
    props = box.show(UNIT, "ActiveState", "SubState", "UnitFileState", "Type", "NRestarts", "ExecMainPID")
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), (props, box.journal(UNIT))
    assert props["UnitFileState"] == "enabled" and props["Type"] == "notify" and props["NRestarts"] == "0", props
    out = box.sh(f"systemd-analyze security --no-pager {UNIT}").stdout
    exposure = float(EXPOSURE.search(out).group(1))
    assert exposure <= 2.0, out
    metrics = box.wait_for("/metrics with the shipped config", lambda: box.get("/metrics"), timeout=30)
    assert metric_values(metrics, "host_anomaly_model_info"), metrics[:2000]
    return f"{r.stdout.count('Setting up')} package(s) set up, started by postinst, exposure {exposure} by PID 1"


def _start(box) -> str:
    box.sh(f"systemctl stop {UNIT}")
    box.sh(
        f"mkdir -p {TEST_DIR} && cp -r {SHIPPED_BUNDLE} {TEST_DIR}/bundle && chmod -R a+rX {TEST_DIR}"
        f" && printf %s {shlex.quote(TEST_CONFIG)} > {TEST_DIR}/config.yaml"
    )
    box.sh(
        f"mkdir -p {os.path.dirname(DROPIN)} && cat > {DROPIN} <<'EOF'\n[Service]\nExecStart=\n"
        f"ExecStart={AGENT} run --config.file={TEST_DIR}/config.yaml $OPTIONS\nEOF\nsystemctl daemon-reload"
    )
    cursor = box.cursor()
    t0 = time.monotonic()
    box.sh(f"systemctl start {UNIT}", timeout=120)  # Type=notify: returns once READY=1 arrived
    took = time.monotonic() - t0
    props = box.show(UNIT, "ActiveState", "SubState", "ExecMainPID", "StatusErrno")
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), props
    log = box.journal(UNIT, cursor, fmt="short-monotonic")
    serving = next((i for i, ln in enumerate(log.splitlines()) if "serving on" in ln), None)
    started = next((i for i, ln in enumerate(log.splitlines()) if "Started " in ln), None)
    assert serving is not None and started is not None and serving < started, log
    assert "Traceback" not in log, log
    # the journal stamps each line: the agent adds no timestamp of its own under systemd
    assert not re.search(r"anomaly-agent\[\d+\]: \d{4}-\d\d-\d\d ", log), log
    return f"systemctl start returned after {took:.1f} s, READY=1 after 'serving on'"


def _collectors(box) -> str:
    """Errors per source under the unit vs. the same agent as root without a sandbox, after >= 6 cycles."""
    time.sleep(6 * INTERVAL)
    sandboxed = metric_values(box.get("/metrics") or "", "host_anomaly_collector_errors_total")
    assert sandboxed, "no host_anomaly_collector_errors_total on /metrics"
    ref = "/run/hae-ref"
    box.sh(
        f"mkdir -p {ref} && sed -e 's|^state_directory:.*|state_directory: {ref}/state|' {TEST_DIR}/config.yaml"
        f" > {ref}/config.yaml && printf 'history:\\n  enabled: false\\n' >> {ref}/config.yaml"
    )
    box.sh(
        f"cd / && ( {AGENT} run --config.file={ref}/config.yaml --web.listen-address=127.0.0.1:9841"
        f" > {ref}/log 2>&1 & echo $! > {ref}/pid )"
    )
    try:
        box.wait_for("the reference agent", lambda: box.get("/metrics", 9841), timeout=60)
        time.sleep(6 * INTERVAL)
        plain = metric_values(box.get("/metrics", 9841) or "", "host_anomaly_collector_errors_total")
    finally:
        box.sh(f"kill $(cat {ref}/pid); rm -rf {ref}", check=False)
    per_source = {label(k, "source"): v for k, v in sandboxed.items()}
    reference = {label(k, "source"): v for k, v in plain.items()}
    hidden = [s for s, n in per_source.items() if n > 0 and reference.get(s, 0) == 0]
    assert not hidden, f"the sandbox hides sources root reads: {hidden}; unit {per_source}, root {reference}"
    with_errors = {s: n for s, n in per_source.items() if n}
    journal = box.journal(UNIT)
    unreadable = sorted(set(re.findall(r"collector source (\w+) unreadable[^\n]*", journal)))
    return (
        f"{len(per_source)} sources, errors under the unit {with_errors or 'none'} "
        f"(root outside the sandbox: {({s: n for s, n in reference.items() if n}) or 'none'})"
        + (
            f"; 'unreadable' in the journal since install (the shipped config included): {unreadable}"
            if unreadable
            else ""
        )
    )


def _calibration(box) -> str:
    def scored():
        text = box.get("/metrics") or ""
        done = metric_values(text, "host_anomaly_calibration_progress_ratio").get("") == 1.0
        return text if done and metric_values(text, "host_anomaly_score") else None

    box.wait_for("calibrated and scoring", scored, timeout=(WARMUP + 30) * INTERVAL + 60)
    pid = box.show(UNIT, "ExecMainPID")["ExecMainPID"]
    uid = int(re.search(r"^Uid:\s+(\d+)", box.sh(f"cat /proc/{pid}/status").stdout, re.M).group(1))
    assert 61184 <= uid <= 65519, f"not a DynamicUser uid: {uid}"  # systemd's dynamic range
    listing = box.sh(f"cd {STATE} && find . -type f -printf '%u %U %m %s %p\\n' | sort").stdout
    files = [ln.split() for ln in listing.splitlines()]
    assert any(f[4] == "./calibration.json" for f in files), listing
    history = [f for f in files if f[4].startswith("./history/") and f[4].endswith(".txt") and int(f[3]) > 0]
    assert history, listing
    assert all(int(f[1]) == uid for f in files), f"state not owned by the service's uid {uid}:\n{listing}"
    assert all(f[2] == "600" for f in files), f"UMask=0077 not applied:\n{listing}"
    link = box.sh("readlink /var/lib/host-anomaly-exporter").stdout.strip()
    assert link == "private/host-anomaly-exporter", link
    doc = json.loads(box.sh(f"cat {STATE}/calibration.json").stdout)
    assert doc["calibration"] is not None, "calibration.json holds no calibration"
    user = files[0][0]
    return (
        f"uid {uid} ({user}); {len(files)} files in {STATE}: calibration.json + "
        f"{len(history)} history .txt; threshold {doc['calibration']['threshold']:.3g}"
    )


def _reloads(box) -> dict[str, float]:
    values = metric_values(box.get("/metrics") or "", "host_anomaly_model_reloads_total")
    return {label(k, "result"): v for k, v in values.items()}


def _model_id(box) -> str | None:
    info = metric_values(box.get("/metrics") or "", "host_anomaly_model_info")
    return label(next(iter(info)), "model_id") if info else None


def _reload(box) -> str:
    before = _reloads(box)
    pid = box.show(UNIT, "ExecMainPID")["ExecMainPID"]
    b = f"{TEST_DIR}/bundle"
    # accepted: the same model under a new id
    box.sh(
        f"python3 - <<'EOF'\nimport json\np = '{b}/bundle.json'\nd = json.load(open(p))\n"
        f"d['model_id'] = 'e2e-reloaded'\njson.dump(d, open(p, 'w'))\nEOF\nsystemctl reload {UNIT}"
    )
    box.wait_for(
        "reload accepted", lambda: _reloads(box).get("accepted", 0) == before.get("accepted", 0) + 1, timeout=30
    )
    assert _model_id(box) == "e2e-reloaded"
    # rejected: a corrupt model file; the running model keeps scoring
    box.sh(
        f"cp {b}/model.tflite /run/model.tflite.good && head -c 4096 /dev/urandom > {b}/model.tflite"
        f" && systemctl reload {UNIT}"
    )
    box.wait_for(
        "reload rejected", lambda: _reloads(box).get("rejected", 0) == before.get("rejected", 0) + 1, timeout=30
    )
    assert _model_id(box) == "e2e-reloaded"
    props = box.show(UNIT, "ActiveState", "ExecMainPID")
    assert props == {"ActiveState": "active", "ExecMainPID": pid}, props
    box.sh(f"mv /run/model.tflite.good {b}/model.tflite")  # the upgrade's restart loads it again
    # priority err (the agent's <3> prefix), so journalctl -p err finds it
    rejected = re.findall(r"model reload \(SIGHUP\) rejected[^\n]*", box.journal(UNIT, priority="err"))
    assert rejected, box.journal(UNIT, fmt="json")[-3000:]
    return f"reloads {_reloads(box)}, same PID {pid}; journal: {rejected[-1][:110]}"


def _bad_config(box) -> str:
    conf = f"{TEST_DIR}/config.yaml"
    box.sh(f"cp {conf} {conf}.good && sed -i 's/^  interval_seconds: .*/  interval_seconds: -1/' {conf}")
    cursor = box.cursor()
    r = box.sh(f"systemctl restart {UNIT}", check=False, timeout=120)
    assert r.returncode != 0, "restart with a bad config succeeded"
    time.sleep(float(box.show(UNIT, "RestartUSec")["RestartUSec"].rstrip("s")) + 3)  # past RestartSec
    props = box.show(UNIT, "ActiveState", "Result", "ExecMainStatus", "NRestarts")
    assert props == {"ActiveState": "failed", "Result": "exit-code", "ExecMainStatus": "2", "NRestarts": "0"}, props
    log = box.journal(UNIT, cursor)
    assert log.count("Starting ") == 1, f"restarted after a configuration error:\n{log}"
    errors = box.journal(UNIT, cursor, priority="err")
    reason = [ln for ln in errors.splitlines() if "sampling.interval_seconds" in ln]
    assert reason, f"journalctl -p err does not say why:\n{log}"
    assert "Traceback" not in log, log
    box.sh(f"mv {conf}.good {conf} && systemctl reset-failed {UNIT} && systemctl start {UNIT}")
    return f"status 2, NRestarts 0, one start; journal: {reason[0].strip()[:120]}"


def _stop(box) -> str:
    timeout = box.show(UNIT, "TimeoutStopUSec")["TimeoutStopUSec"]
    cursor = box.cursor()
    t0 = time.monotonic()
    box.sh(f"systemctl stop {UNIT}", timeout=120)
    took = time.monotonic() - t0
    props = box.show(UNIT, "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    assert props["ActiveState"] == "inactive" and props["Result"] == "success", props
    assert props["ExecMainStatus"] == "0", f"not a clean exit: {props}"
    log = box.journal(UNIT, cursor)
    assert "timed out" not in log and "SIGKILL" not in log, log
    assert took < 10, f"stop took {took:.1f} s (TimeoutStopSec {timeout})"
    box.sh(f"systemctl start {UNIT}")
    return f"{took:.1f} s (TimeoutStopSec {timeout}), exit status 0"


def _upgrade(box, deb: Path, debs: Path) -> str:
    newer, version = bump(deb, debs)
    box.sh(f"sed -i 's/^log_level: info/log_level: debug/' {CONFFILE} && echo '# local edit' >> {CONFFILE}")
    before = json.loads(box.sh(f"cat {STATE}/calibration.json").stdout)["calibration"]
    old_pid = box.show(UNIT, "ExecMainPID")["ExecMainPID"]
    cursor = box.cursor()
    keep = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
    box.sh(f"cd /debs && apt-get install -y {keep} ./{shlex.quote(newer.name)}", timeout=300)
    got = box.sh(f"dpkg-query -W -f '${{Version}}' {PKG}").stdout
    assert got == version, got
    conf = box.sh(f"cat {CONFFILE}").stdout
    assert "# local edit" in conf and "log_level: debug" in conf, "the edited conffile was replaced"
    assert "# upstream change" in box.sh(f"cat {CONFFILE}.dpkg-dist").stdout
    props = box.show(UNIT, "ActiveState", "SubState", "ExecMainPID")
    assert props["ActiveState"] == "active" and props["ExecMainPID"] != old_pid, props
    after = json.loads(box.sh(f"cat {STATE}/calibration.json").stdout)["calibration"]
    assert after is not None and after["calibrated_at"] == before["calibrated_at"], (before, after)
    log = box.journal(UNIT, cursor)
    assert "reusing the saved host calibration" in log, log
    text = box.wait_for(
        "a score right after the upgrade",
        lambda: (t := box.get("/metrics")) and metric_values(t, "host_anomaly_score") and t,
        timeout=30 * INTERVAL + 30,
    )
    assert metric_values(text, "host_anomaly_calibration_progress_ratio").get("") == 1.0
    first = run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    return f"{first} -> {version}: conffile kept (+.dpkg-dist), calibration reused, new PID"


def _reboot(box) -> str:
    """The enabled unit comes up at boot by itself (WantedBy=multi-user.target) and reuses the calibration."""
    run([*box.podman, "restart", "-t", "60", box.name], timeout=180)  # SIGRTMIN+3: systemd shuts down cleanly
    state = wait_booted(box)
    assert state in ("running", "degraded"), state
    props = box.show(UNIT, "ActiveState", "SubState", "NRestarts")
    assert props == {"ActiveState": "active", "SubState": "running", "NRestarts": "0"}, props
    log = box.sh(f"journalctl -b 0 -q --no-pager -o cat -u {UNIT}").stdout
    assert "reusing the saved host calibration" in log, log
    box.wait_for(
        "a score after the reboot",
        lambda: metric_values(box.get("/metrics") or "", "host_anomaly_score"),
        timeout=30 * INTERVAL + 30,
    )
    failed = box.sh("systemctl list-units --failed --plain --no-legend").stdout.split()
    failed_note = f"; failed units: {failed[::4]}" if failed else ""
    return f"system {state}; started at boot, calibration reused, scoring{failed_note}"


def _purge(box) -> str:
    box.sh(f"apt-get purge -y {PKG}", timeout=300)
    state = box.sh(f"dpkg-query -W -f '${{db:Status-Abbrev}}' {PKG} 2>/dev/null || echo gone").stdout.strip()
    assert state == "gone", state
    left = box.sh(
        f"ls -d /etc/host-anomaly-exporter /etc/default/{PKG} {STATE} /var/lib/host-anomaly-exporter "
        f"/opt/host-anomaly-exporter /etc/systemd/system/multi-user.target.wants/{UNIT} 2>&1",
        check=False,
    ).stdout
    assert "No such file" in left and all("No such file" in ln for ln in left.splitlines()), f"left behind:\n{left}"
    running = box.sh("ps -eo comm,args | grep -c '[a]nomaly-agent' || true").stdout.strip()
    assert running == "0", "an agent still runs after purge"
    return "package, config, state, venv and enablement gone; no agent running"

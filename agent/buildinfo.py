"""``host_anomaly_exporter_build_info{version,revision,pythonversion} 1``, as exporters have.

The version is the installed distribution's; the revision is the git commit
the package was built from: a ``REVISION`` file next to this module when the
build wrote one, else the HEAD of the source checkout this module runs from
(an editable install), else ``unknown``.  Read once, without running git.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

DISTRIBUTION = "host-anomaly-exporter"
METRIC = "host_anomaly_exporter_build_info"
HERE = Path(__file__).resolve().parent


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _git_head(git: Path) -> str | None:
    """The commit HEAD names in the ``.git`` directory ``git``, read from its files."""
    head = (git / "HEAD").read_text().strip()
    if not head.startswith("ref: "):
        return head or None  # detached HEAD: the sha itself
    ref = head[5:]
    loose = git / ref
    if loose.is_file():
        return loose.read_text().strip() or None
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    return None


def revision(package_dir: Path = HERE) -> str:
    try:
        stamped = (package_dir / "REVISION").read_text().strip()
        if stamped:
            return stamped
    except OSError:
        pass
    git = package_dir.parent / ".git"
    try:
        if git.is_dir():
            return _git_head(git) or "unknown"
    except OSError:
        pass
    return "unknown"


def register_build_info(registry: CollectorRegistry) -> dict[str, str]:
    """Add the build info gauge to ``registry``; returns its labels."""
    labels = {"version": version(), "revision": revision(), "pythonversion": platform.python_version()}
    g = Gauge(
        METRIC,
        "A metric with a constant '1' value labeled by version, revision and pythonversion "
        "from which host_anomaly_exporter was built.",
        list(labels),
        registry=registry,
    )
    g.labels(**labels).set(1)
    return labels

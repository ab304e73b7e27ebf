"""Agent configuration: YAML validated into a tree of frozen dataclasses.

``load_config(path)`` checks every key against the dataclass fields below and
raises one :class:`ConfigError` that lists every problem as
``- section.key: reason`` (unknown keys, wrong types, out-of-range values,
missing referenced files).  Every key and its default is documented in
``config.example.yaml``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from agent.typed import bounds, build

DEFAULT_BUNDLE = "/usr/share/host-anomaly-exporter/models/default"  # the .deb's and the container's copy
# Where else the default bundle is when DEFAULT_BUNDLE is absent: a wheel ships models/default as the
# package data agent/default_model (pyproject.toml); a source checkout has models/default itself.
PACKAGED_BUNDLES = (Path(__file__).parent / "default_model", Path(__file__).parent.parent / "models" / "default")


def default_bundle(configured: str = DEFAULT_BUNDLE) -> str:
    """``configured``, unless it is the absent system path and a packaged copy exists."""
    if configured != DEFAULT_BUNDLE or Path(configured).is_dir():
        return configured
    return next((str(p) for p in PACKAGED_BUNDLES if (p / "bundle.json").is_file()), configured)


class ConfigError(ValueError):
    """The configuration is invalid; ``str()`` lists every bad key path."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        super().__init__(f"{source}: invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class WebConfig:
    listen_address: str = ":9840"
    # exporter-toolkit style web config (tls_server_config + basic_auth_users); empty = plain HTTP
    config_file: str = ""
    # seconds a client may take to send its request before the connection is dropped
    request_timeout_seconds: float = field(default=10.0, metadata=bounds(0, 300, lo_open=True))


@dataclass(frozen=True)
class ModelConfig:
    bundle: str = field(default_factory=default_bundle)  # DEFAULT_BUNDLE, else the packaged copy
    # poll the bundle files and reload when they change (SIGHUP always reloads)
    watch: bool = True
    watch_interval_seconds: float = field(default=30.0, metadata=bounds(1, 86400))
    num_threads: int = field(default=1, metadata=bounds(1, 64))
    # pull the bundle from a fleet server (docs/fleet.md): the host's bundle directory, {hostname} replaced;
    # a new bundle is checked against its fleet.json record and swapped in at `bundle` (then a symlink)
    url: str = ""
    url_poll_seconds: float = field(default=300.0, metadata=bounds(5, 86400))
    url_manifest: str = ""  # relative to `url` or absolute, {hostname} replaced; "" = ../fleet.d/{hostname}.json
    url_ca_file: str = ""  # CA bundle for https (default: the system's)
    url_cert_file: str = ""  # client certificate (and key) for mutual TLS
    url_key_file: str = ""
    url_username: str = ""  # basic auth; the password is read from url_password_file
    url_password_file: str = ""
    # Ed25519 public key (PEM) of the fleet's signer: unsigned, wrongly signed or replayed manifests are refused
    url_public_key: str = ""
    # automatic rollback (docs/fleet.md): for this long after a swap the previous bundle scores the same rows;
    # the new one is rolled back if it puts >= min_above samples above 1 and > factor x the previous one's
    rollback_hours: float = field(default=6.0, metadata=bounds(0, 720))  # 0: no probation
    rollback_factor: float = field(default=3.0, metadata=bounds(1, 1000))
    rollback_min_above: int = field(default=5, metadata=bounds(1, 100000))


@dataclass(frozen=True)
class SamplingConfig:
    interval_seconds: float = field(default=60.0, metadata=bounds(0, 86400, lo_open=True))
    top_k: int = field(default=5, metadata=bounds(1, 64))
    # a gap longer than this many intervals (suspend/resume, stalled host) clears the window
    max_gap_intervals: float = field(default=3.0, metadata=bounds(1.5, 10000))


@dataclass(frozen=True)
class CollectorConfig:
    procfs: str = "/proc"
    sysfs: str = "/sys"
    # network interfaces summed into eth1_*; empty = all physical NICs
    nics: tuple[str, ...] = ()
    # block devices summed into disk_*; empty = all whole physical disks
    disks: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalibrationConfig:
    # learn scaling and threshold from this host before publishing scores
    enabled: bool = True
    warmup_samples: int = field(default=1440, metadata=bounds(10, 1_000_000))
    # POT risk for the host's own threshold
    pot_q: float = field(default=1e-3, metadata=bounds(1e-9, 0.5, lo_open=True))
    # refit scaler and threshold from the recent rows this often (0 = never); docs/detection.md
    recalibrate_hours: float = field(default=24.0, metadata=bounds(0, 24 * 365))
    # the recent rows a recalibration learns from (10080 = 7 days at one sample a minute)
    recent_samples: int = field(default=10080, metadata=bounds(100, 1_000_000))
    # z-score noise floors: "units" (live host metrics) or "range" (SMD-format rows scaled to [0, 1])
    noise_floors: str = field(default="units", metadata={"choices": ("units", "range")})
    # what a recalibration refits: "recent" (scaler and thresholds from the recent rows) or "warmup"
    # (the scaler learned at calibration kept, the thresholds alone adapted): docs/detection.md
    refit_scaler: str = field(default="recent", metadata={"choices": ("recent", "warmup")})


@dataclass(frozen=True)
class HistoryConfig:
    enabled: bool = True
    max_bytes: int = field(default=64 * 1024 * 1024, metadata=bounds(64 * 1024, 1 << 40))
    rows_per_file: int = field(default=10080, metadata=bounds(10, 10_000_000))
    # the score ring the landing page, /api/v1/history and `explain` read (1440 = 24 h at 1/min; 0 = off)
    score_samples: int = field(default=1440, metadata=bounds(0, 100_000))


@dataclass(frozen=True)
class SeasonalConfig:
    # learn the host's daily/weekly rhythm from its history and remove it before scoring (docs/seasonality.md)
    enabled: bool = True
    # IANA zone whose wall clock the schedule follows (e.g. Europe/Berlin); "" = the system's local time
    timezone: str = ""
    # no profile (scores as without) until the history spans this many days
    min_history_days: float = field(default=7.0, metadata=bounds(1, 365))
    # slots per day of the week (not only of the day) once the history spans this many days
    weekly_after_days: float = field(default=14.0, metadata=bounds(7, 365))
    # slot width; a job shorter than about half a slot is not learned
    slot_minutes: int = field(default=10, metadata={**bounds(1, 60), "divides": 60})
    # a slot with n rows keeps n / (n + shrinkage_rows) of its deviation from the overall median
    shrinkage_rows: float = field(default=10.0, metadata=bounds(0, 10000))
    relearn_hours: float = field(default=24.0, metadata=bounds(1, 8760))
    lookback_days: float = field(default=28.0, metadata=bounds(1, 365))
    # also shrink a busy slot's spread towards the overall spread
    scale: bool = False
    # move a row towards the overall median by at most the slot's offset, never past it
    clamp: bool = True
    # each new profile re-expresses the recent rows as residuals and refits scaler and thresholds from them
    # at once, so thresholds never learn from rows the profile explains (docs/detection.md)
    residual_thresholds: bool = False


@dataclass(frozen=True)
class ScoringConfig:
    # operator feedback (docs/feedback.md): features left out of the score and the contributions
    ignore_features: tuple[str, ...] = ()
    # {feature: weight >= 0} on the per-feature errors; unnamed features weigh 1
    feature_weights: dict[str, float] = field(default_factory=dict)
    # the fast tier (docs/detection.md): the error of the last N samples of the window beside the whole
    # window's, each against its own host-calibrated threshold; the score is the larger (0 = off)
    fast_samples: int = field(default=1, metadata=bounds(0, 30))
    # the per-metric tier (docs/detection.md; needs fast_samples): each metric's fast-tier error against its
    # own host-calibrated level, the largest against its own threshold; the score is the largest tier
    metric_tier: bool = True
    # every host-calibrated threshold times this: the point the pooled alert-level frontier chose
    # (docs/detection.md "Selection"); higher is quieter and blinder
    threshold_multiplier: float = field(default=1.06, metadata=bounds(0.1, 100))
    # the per-metric tier never counts a metric as far from its normal below this squared z (4 = 2 sigma)
    metric_level_floor: float = field(default=4.0, metadata=bounds(1, 36))


@dataclass(frozen=True)
class ExporterConfig:
    # host_anomaly_feature_score and _feature_contribution_ratio: one series per feature each (2 x 38);
    # false keeps score, anomalous, top-k contributors and health (series budget: README, docs/fleet.md)
    per_feature_metrics: bool = True


@dataclass(frozen=True)
class Config:
    web: WebConfig = WebConfig()
    model: ModelConfig = ModelConfig()
    sampling: SamplingConfig = SamplingConfig()
    collector: CollectorConfig = CollectorConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    history: HistoryConfig = HistoryConfig()
    seasonal: SeasonalConfig = SeasonalConfig()
    scoring: ScoringConfig = ScoringConfig()
    exporter: ExporterConfig = ExporterConfig()
    state_directory: str = "/var/lib/host-anomaly-exporter"
    log_level: str = field(default="info", metadata={"choices": ("debug", "info", "warning", "error")})


def _check_semantics(cfg: Config, problems: list[str]) -> None:
    """Cross-field checks and referenced files."""
    host, sep, port = cfg.web.listen_address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        problems.append(f"web.listen_address: expected [host]:port with port 1-65535, got {cfg.web.listen_address!r}")
    if cfg.web.config_file and not Path(cfg.web.config_file).is_file():
        problems.append(f"web.config_file: file not found: {cfg.web.config_file}")
    if not Path(cfg.model.bundle).is_dir():
        problems.append(f"model.bundle: bundle directory not found: {cfg.model.bundle}")
    else:
        problems += scoring_problems(cfg.scoring, bundle_features(cfg.model.bundle))
    m = cfg.model
    if m.url and not m.url.startswith(("http://", "https://")):
        problems.append(f"model.url: must start with http:// or https://, got {m.url!r}")
    for key in ("url_ca_file", "url_cert_file", "url_key_file", "url_password_file", "url_public_key"):
        if getattr(m, key) and not Path(getattr(m, key)).is_file():
            problems.append(f"model.{key}: file not found: {getattr(m, key)}")
    if m.url_key_file and not m.url_cert_file:
        problems.append("model.url_key_file: needs model.url_cert_file")
    if m.url_password_file and not m.url_username:
        problems.append("model.url_password_file: needs model.url_username")
    if cfg.seasonal.timezone:
        try:
            ZoneInfo(cfg.seasonal.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"seasonal.timezone: unknown IANA time zone {cfg.seasonal.timezone!r}")


def bundle_features(bundle: str) -> tuple[str, ...] | None:
    """The feature names in ``bundle``/bundle.json, None when unreadable (the model loader reports that)."""
    try:
        features = json.loads((Path(bundle) / "bundle.json").read_text(encoding="utf-8")).get("features")
    except (OSError, ValueError, AttributeError):
        return None
    return tuple(features) if isinstance(features, list) and all(isinstance(f, str) for f in features) else None


def scoring_problems(sc: ScoringConfig, features: tuple[str, ...] | None) -> list[str]:
    """Feature names the bundle lacks and negative or non-finite weights, each naming its key."""
    problems = []
    for name, w in sc.feature_weights.items():
        if not (math.isfinite(w) and w >= 0):
            problems.append(f"scoring.feature_weights.{name}: must be a finite number >= 0, got {w}")
    if sc.metric_tier and not sc.fast_samples:
        problems.append("scoring.metric_tier: needs scoring.fast_samples > 0 (the tier judges the fast tier's errors)")
    if features is None:
        return problems
    for key, names in (("ignore_features", sc.ignore_features), ("feature_weights", tuple(sc.feature_weights))):
        for name in names:
            if name not in features:
                problems.append(
                    f"scoring.{key}: {name!r} is not a feature of the bundle "
                    f"({len(features)} features: {', '.join(features[:6])}, ...)"
                )
    if features and set(features) <= set(sc.ignore_features) | {k for k, w in sc.feature_weights.items() if w == 0}:
        problems.append("scoring: every feature is ignored or weighs 0: nothing would be scored")
    return problems


def parse_config(data: Any, source: str = "config", check_files: bool = True) -> Config:
    """Validate a decoded YAML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    cfg = build(Config, data, "", problems)
    if problems:
        raise ConfigError(problems, source)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, bundle=default_bundle(cfg.model.bundle)))
    if check_files:
        validate_files(cfg, source)
    return cfg


def validate_files(cfg: Config, source: str = "config") -> None:
    """Cross-field checks and referenced files (run after CLI overrides are applied)."""
    problems: list[str] = []
    _check_semantics(cfg, problems)
    if problems:
        raise ConfigError(problems, source)


def load_config(path: str | Path | None, check_files: bool = True) -> Config:
    """Read YAML from ``path`` (None = all defaults) and validate it."""
    if path is None:
        return parse_config({}, "defaults", check_files)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read file: {exc.strerror or exc}"], source) from None
    except UnicodeDecodeError:
        raise ConfigError(["not a UTF-8 text file"], source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}".replace("\n", " ")], source) from None
    except RecursionError:
        raise ConfigError(["not valid YAML: nested too deeply"], source) from None
    if data is None:
        data = {}  # an empty file means "all defaults", like an empty mapping
    return parse_config(data, source, check_files)


def replace(cfg: Config, **sections: Any) -> Config:
    """Return ``cfg`` with some sections or keys overridden (e.g. from CLI flags)."""
    return dataclasses.replace(cfg, **sections)

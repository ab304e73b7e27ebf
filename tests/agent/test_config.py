"""Config validation: every problem named by key path, CLI exits 2."""

from pathlib import Path

import pytest
import yaml

from agent.cli import main
from agent.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, check_files=False)
    return exc.value.problems


def test_example_config_is_the_defaults() -> None:
    cfg = parse_config(yaml.safe_load((ROOT / "config.example.yaml").read_text()), check_files=False)
    assert cfg == Config()


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("")
    assert load_config(f, check_files=False) == Config()


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"web": {"listen_adress": ":1"}}, "web.listen_adress: unknown key"),
        ({"sampling": {"interval_seconds": 0}}, "sampling.interval_seconds: must be > 0"),
        ({"sampling": {"interval_seconds": -5}}, "sampling.interval_seconds: must be > 0"),
        ({"sampling": {"top_k": "5"}}, "sampling.top_k: must be an integer"),
        ({"sampling": {"top_k": 1.5}}, "sampling.top_k: must be an integer"),
        ({"model": {"watch": "yes"}}, "model.watch: must be true or false"),
        ({"collector": {"nics": "eth0"}}, "collector.nics: must be a list of strings"),
        ({"log_level": "verbose"}, "log_level: must be one of"),
        ({"calibration": {"warmup_samples": 1}}, "calibration.warmup_samples: must be >= 10"),
        ({"web": "x"}, "web: must be a mapping"),
        ([1, 2], "top level: must be a mapping"),
        ({"nonsense": 1}, "nonsense: unknown key"),
    ],
)
def test_bad_values_name_the_key(data: object, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(data)), problems(data)


def test_all_problems_reported_at_once() -> None:
    assert len(problems({"web": {"x": 1}, "sampling": {"interval_seconds": 0, "top_k": 0}})) == 3


def test_listen_address_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(
            {
                "web": {"listen_address": "localhost", "config_file": str(tmp_path / "nope.yml")},
                "model": {"bundle": str(tmp_path / "missing")},
            }
        )
    text = str(exc.value)
    assert "web.listen_address" in text and "model.bundle: bundle directory not found" in text
    assert "web.config_file: file not found" in text


def test_not_yaml(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("web: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)


def test_check_config_cli_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("sampling:\n  interval_seconds: 0\n")
    assert main(["check-config", str(f)]) == 2
    err = capsys.readouterr().err
    assert "sampling.interval_seconds: must be > 0" in err
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 2


def test_metric_tier_without_the_fast_tier_is_refused_naming_both_keys() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"scoring": {"metric_tier": True, "fast_samples": 0}})
    assert any("scoring.metric_tier" in p and "scoring.fast_samples" in p for p in exc.value.problems)
    cfg = parse_config({"scoring": {"metric_tier": True, "fast_samples": 5}})
    assert cfg.scoring.metric_tier and cfg.scoring.fast_samples == 5


def test_the_metric_level_floor_default_is_the_calibration_default() -> None:
    from agent.calibrate.metric_tier import LEVEL_FLOOR

    assert Config().scoring.metric_level_floor == LEVEL_FLOOR

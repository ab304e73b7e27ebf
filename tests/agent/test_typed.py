"""agent.typed: dataclasses built from decoded YAML, every problem named by its key path."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.typed import bounds, build, show


@dataclass(frozen=True)
class Inner:
    n: int = field(default=3, metadata=bounds(1, 10))
    mode: str = field(default="a", metadata={"choices": ("a", "b")})


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    ratio: float = field(default=0.5, metadata=bounds(0, 1, lo_open=True))
    names: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)


def test_a_valid_mapping_becomes_the_dataclass_with_defaults_for_missing_keys() -> None:
    problems: list[str] = []
    out = build(Outer, {"inner": {"n": 7}, "names": ["x"], "weights": {"cpu_r": 2}}, "", problems)
    assert problems == []
    assert out == Outer(Inner(7, "a"), 0.5, ("x",), {"cpu_r": 2.0})


def test_every_bad_key_is_named_with_its_path_and_reason() -> None:
    problems: list[str] = []
    build(
        Outer,
        {"inner": {"n": 0, "mode": "c", "extra": 1}, "ratio": 0, "names": "x", "weights": {"a": "b"}},
        "",
        problems,
    )
    text = "\n".join(problems)
    assert "inner.n: must be >= 1, got 0" in text
    assert "inner.mode: must be one of a, b" in text
    assert "inner.extra: unknown key" in text
    assert "ratio: must be > 0, got 0.0" in text
    assert "names: must be a list of strings" in text
    assert "weights.a: must be a number" in text


def test_nan_and_booleans_are_not_numbers_and_reprs_are_bounded() -> None:
    problems: list[str] = []
    build(Outer, {"ratio": float("nan"), "inner": {"n": True}}, "", problems)
    assert any("ratio: must be a number, got NaN" in p for p in problems)
    assert any("inner.n: must be an integer, got True" in p for p in problems)
    assert len(show("x" * 10_000)) < 80

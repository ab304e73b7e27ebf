"""/proc contents: hypothesis properties of every parser, damaged files through the sampler, counter wraps, clock jumps.

Properties, for each parser in ``agent.collect.procfs``: random text never raises
anything but ``ProcParseError``; a generated well-formed file parses to
exactly the generated values; a truncated well-formed file parses or raises
``ProcParseError``.  Through the sampler: a damaged or missing source gives
NaN for its own features only and counts an error; counters that wrap (32- or
64-bit) or reset give NaN for one interval, never a negative rate; a clock
that goes backwards gives NaN, never a negative rate.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.collect import procfs
from agent.collect.features import SMD38_NAMES
from agent.collect.procfs import CPU_FIELDS, DISK_FIELDS, NETDEV_FIELDS, ProcParseError
from agent.collect.sampler import INTERVAL_FEATURES, SOURCE_FEATURES, Sampler

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "proc"
PARSERS: dict[str, Callable[[str, str], Any]] = {name: parser for name, (_, parser, _) in procfs.SOURCES.items()}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

name = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,11}", fullmatch=True)
counter = st.integers(0, 2**64 - 1)
signed = st.integers(-(2**63), 2**64 - 1)


# -- random and truncated text ------------------------------------------------------------------------
@pytest.mark.parametrize("source", PARSERS)
@SETTINGS
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
    | st.lists(
        st.sampled_from(
            [
                "cpu",
                "Tcp:",
                "Udp:",
                "1",
                "-1",
                "kB",
                ":",
                " ",
                "\n",
                "|",
                "x",
                "99" * 30,
                "sda",
                "eth0:",
                "0.5",
                "nan",
                "1/2",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_random_text_raises_only_proc_parse_error(source: str, text: str) -> None:
    try:
        PARSERS[source](text, f"/proc/{source}")
    except ProcParseError as exc:
        assert str(exc).startswith(f"/proc/{source}")


@pytest.mark.parametrize("source", PARSERS)
@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_on_disk_raise_only_proc_parse_error(
    tmp_path_factory: pytest.TempPathFactory, source: str, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("proc")
    rel = procfs.SOURCES[source][0]
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    try:
        procfs.read_source(root, source)
    except ProcParseError:
        pass


# -- generated well-formed files ------------------------------------------------------------------------
def _sections(values: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, dict[str, int]]]:
    return st.dictionaries(name, st.dictionaries(name, values, min_size=1, max_size=6), min_size=1, max_size=4)


def snmp_text(d: dict[str, dict[str, int]]) -> str:
    return "".join(f"{s}: {' '.join(f)}\n{s}: {' '.join(map(str, f.values()))}\n" for s, f in d.items())


def sockstat_text(d: dict[str, dict[str, int]]) -> str:
    return "".join(f"{p}: {' '.join(f'{k} {v}' for k, v in f.items())}\n" for p, f in d.items())


dev = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
GENERATED: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], str], Callable[[Any], Any]]] = {
    "snmp": (_sections(signed), snmp_text, lambda d: d),
    "netstat": (_sections(counter), snmp_text, lambda d: d),
    "sockstat": (_sections(counter), sockstat_text, lambda d: d),
    "diskstats": (
        st.dictionaries(
            dev,
            st.tuples(st.lists(counter, min_size=11, max_size=11), st.lists(counter, max_size=6)),
            min_size=1,
            max_size=5,
        ),
        lambda d: "".join(
            f"{8:4d} {i:7d} {n} {' '.join(map(str, v + extra))}\n" for i, (n, (v, extra)) in enumerate(d.items())
        ),
        lambda d: {n: dict(zip(DISK_FIELDS, v)) for n, (v, _) in d.items()},
    ),
    "vmstat": (
        st.dictionaries(name, counter, min_size=1, max_size=30),
        lambda d: "".join(f"{k} {v}\n" for k, v in d.items()),
        lambda d: d,
    ),
    "netdev": (
        st.dictionaries(dev, st.lists(counter, min_size=16, max_size=16), min_size=1, max_size=5),
        lambda d: (
            "Inter-|   Receive          |  Transmit\n face |bytes packets errs|bytes packets\n"
            + "".join(f"{n:>6}: {' '.join(map(str, v))}\n" for n, v in d.items())
        ),
        lambda d: {n: dict(zip(NETDEV_FIELDS, v)) for n, v in d.items()},
    ),
    "meminfo": (
        st.dictionaries(
            st.from_regex(r"[A-Za-z][A-Za-z0-9_()]{0,15}", fullmatch=True),
            st.tuples(st.integers(0, 2**50), st.booleans()),
            min_size=1,
            max_size=20,
        ),
        lambda d: "".join(f"{k}:{v:>15}{' kB' if kb else ''}\n" for k, (v, kb) in d.items()),
        lambda d: {k: v * 1024 if kb else v for k, (v, kb) in d.items()},
    ),
    "cpu": (
        st.lists(counter, min_size=4, max_size=10),
        lambda v: f"cpu  {' '.join(map(str, v))}\ncpu0 1 2 3 4\nintr 1 2 3\n",
        lambda v: dict(zip(CPU_FIELDS, v + [0] * (10 - len(v)))),
    ),
    "loadavg": (
        st.tuples(*[st.floats(0, 1e4, allow_nan=False).map(lambda f: round(f, 2))] * 3),
        lambda t: f"{t[0]:.2f} {t[1]:.2f} {t[2]:.2f} 3/456 7890\n",
        lambda t: {"load1": t[0], "load5": t[1], "load15": t[2]},
    ),
}
assert set(GENERATED) == set(PARSERS)


@pytest.mark.parametrize("source", GENERATED)
@SETTINGS
@given(data=st.data())
def test_generated_file_parses_to_the_generated_values(source: str, data: st.DataObject) -> None:
    strategy, render, expected = GENERATED[source]
    value = data.draw(strategy)
    text = render(value)
    assert PARSERS[source](text, source) == expected(value)
    cut = data.draw(st.integers(0, len(text)))  # a read that stopped early
    try:
        PARSERS[source](text[:cut], source)
    except ProcParseError:
        pass


# -- damaged sources through the sampler -----------------------------------------------------------------
def tree(tmp_path: Path, snap: str = "t0") -> Path:
    root = tmp_path / "proc"
    shutil.copytree(FIX / snap, root)
    return root


# (line, token) of a value every sampler read depends on, in the t0 fixture of each source
KEY_VALUE = {
    "snmp": (1, 1),
    "netstat": (1, 5),
    "sockstat": (1, 2),
    "diskstats": (1, 3),
    "vmstat": (0, 1),
    "netdev": (2, 1),
    "meminfo": (0, 1),
    "cpu": (0, 1),
    "loadavg": (0, 0),
}


def _edit(source: str, fn: Callable[[list[str], int], list[str]]) -> Callable[[Path], None]:
    def apply(p: Path) -> None:
        lines = p.read_text().splitlines()
        line, token = KEY_VALUE[source]
        lines[line] = " ".join(fn(lines[line].split(), token))
        p.write_text("\n".join(lines) + "\n")

    return apply


DAMAGE: dict[str, Callable[[str], Callable[[Path], None]]] = {
    "missing": lambda src: lambda p: p.unlink(),
    "empty": lambda src: lambda p: p.write_text(""),
    "truncated-line": lambda src: _edit(src, lambda toks, i: toks[:i]),
    "garbage-value": lambda src: _edit(src, lambda toks, i: toks[:i] + ["0x1f"] + toks[i + 1 :]),
    "negative-value": lambda src: _edit(src, lambda toks, i: toks[:i] + ["-"] + toks[i + 1 :]),
    "binary": lambda src: lambda p: p.write_bytes(bytes(range(256))),
    "directory": lambda src: lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
@pytest.mark.parametrize("source", SOURCE_FEATURES)
def test_damaged_source_gives_nan_for_its_features_only(
    tmp_path: Path, source: str, damage: Callable[[str], Callable[[Path], None]]
) -> None:
    root = tree(tmp_path)
    s = Sampler(procfs=root, psutil_module=None, sysfs=tmp_path / "nosys", clock=lambda: 100.0)
    damage(source)(root / procfs.SOURCES[source][0])
    x = dict(zip(SMD38_NAMES, s.sample()))
    mine = set(SOURCE_FEATURES[source])
    assert all(math.isnan(x[f]) for f in mine)
    # every other gauge still has its value
    assert all(not math.isnan(x[f]) for f in SMD38_NAMES if f not in mine and f not in INTERVAL_FEATURES)
    assert s.error_counts() == {source: 1}


# -- counter wraps, resets and the clock ----------------------------------------------------------------------
SNMP_FEATURES = ("in_segs", "out_segs", "active_opens")


def write_snmp(root: Path, in_segs: int, out_segs: int, active_opens: int = 0) -> None:
    (root / "net").mkdir(parents=True, exist_ok=True)
    (root / "net" / "snmp").write_text(
        "Tcp: ActiveOpens PassiveOpens InErrs CurrEstab InSegs OutSegs RetransSegs OutRsts\n"
        f"Tcp: {active_opens} 0 0 5 {in_segs} {out_segs} 0 0\n"
        "Udp: InDatagrams OutDatagrams RcvbufErrors SndbufErrors\nUdp: 0 0 0 0\n"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("bits", [32, 64], ids=["wrap-32bit", "wrap-64bit"])
def test_counter_wrap_gives_one_nan_then_rates_again(tmp_path: Path, bits: int) -> None:
    clock = Clock()
    s = Sampler(procfs=tmp_path, psutil_module=None, clock=clock, features=SNMP_FEATURES)
    top = 2**bits - 1
    steps = [(top - 500, 1000), (top - 100, 2000), (300, 3000), (1300, 4000)]  # InSegs wraps at step 3
    rows = []
    for i, (in_segs, out_segs) in enumerate(steps):
        clock.now = 100.0 + 10 * i
        write_snmp(tmp_path, in_segs, out_segs)
        rows.append(s.sample())
    rows_a = np.array(rows)
    assert np.isnan(rows_a[0]).all()  # no interval yet
    np.testing.assert_allclose(rows_a[1, :2], [40.0, 100.0])
    assert math.isnan(rows_a[2, 0]) and rows_a[2, 1] == 100.0  # only the wrapped counter is dropped
    np.testing.assert_allclose(rows_a[3, :2], [100.0, 100.0])
    assert not (rows_a[np.isfinite(rows_a)] < 0).any()
    assert s.reset_counts() == {"in_segs": 1}


@pytest.mark.parametrize("jump", [-5.0, -3600.0, 0.0], ids=["clock-back-5s", "clock-back-1h", "clock-stuck"])
def test_clock_going_backwards_never_gives_a_negative_rate(tmp_path: Path, jump: float) -> None:
    clock = Clock()
    s = Sampler(procfs=tmp_path, psutil_module=None, clock=clock, features=SNMP_FEATURES)
    write_snmp(tmp_path, 1000, 1000)
    s.sample()
    clock.now, _ = 110.0, write_snmp(tmp_path, 2000, 1500)
    np.testing.assert_allclose(s.sample()[:2], [100.0, 50.0])
    clock.now, _ = 110.0 + jump, write_snmp(tmp_path, 2500, 1600)
    x = s.sample()
    assert np.isnan(x[:2]).all()  # no interval to divide by: no value, and certainly not a negative one
    clock.now, _ = 120.0, write_snmp(tmp_path, 3000, 2500)
    np.testing.assert_allclose(s.sample()[:2], [100.0, 100.0])  # measured from the last good baseline (t=110)


def test_clock_jumping_forwards_gives_small_finite_rates(tmp_path: Path) -> None:
    clock = Clock()
    s = Sampler(procfs=tmp_path, psutil_module=None, clock=clock, features=SNMP_FEATURES)
    write_snmp(tmp_path, 1000, 1000)
    s.sample()
    clock.now, _ = 100.0 + 86400 * 365, write_snmp(tmp_path, 2000, 1000)
    x = s.sample()
    assert 0 < x[0] < 1e-4 and x[1] == 0.0


def test_counter_jumping_to_garbage_size_stays_finite(tmp_path: Path) -> None:
    """A counter that reads 2**64-1 after 0 (a corrupt read) gives a huge but finite rate, once."""
    clock = Clock()
    s = Sampler(procfs=tmp_path, psutil_module=None, clock=clock, features=SNMP_FEATURES)
    write_snmp(tmp_path, 0, 0)
    s.sample()
    clock.now, _ = 110.0, write_snmp(tmp_path, 2**64 - 1, 0)
    x = s.sample()
    assert np.isfinite(x).all() and x[0] > 1e17

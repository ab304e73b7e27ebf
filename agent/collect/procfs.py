"""Parsers for the Linux /proc files the collector reads, and tiny readers.

Reading and parsing are separate (node_exporter's ``getLoad``/``parseLoad``):
every ``parse_*`` is pure (text in, plain dict out) so tests feed it strings;
:func:`read_source` does the one file read per source.  Garbage or truncated
text raises :class:`ProcParseError` naming the file and the line.

Values stay in the kernel's units except ``/proc/meminfo``, whose ``kB``
fields become bytes.  Which source feeds which feature is in
``docs/collector.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

# /proc/diskstats columns after "major minor name" (Documentation/admin-guide/iostats.rst);
# later kernels append discard (4.18+) and flush (5.5+) columns, which we ignore.
DISK_FIELDS: tuple[str, ...] = (
    "reads",
    "reads_merged",
    "sectors_read",
    "read_ms",
    "writes",
    "writes_merged",
    "sectors_written",
    "write_ms",
    "in_flight",
    "io_ticks",
    "weighted_ms",
)
NETDEV_FIELDS: tuple[str, ...] = (
    "rx_bytes",
    "rx_packets",
    "rx_errs",
    "rx_drop",
    "rx_fifo",
    "rx_frame",
    "rx_compressed",
    "rx_multicast",
    "tx_bytes",
    "tx_packets",
    "tx_errs",
    "tx_drop",
    "tx_fifo",
    "tx_colls",
    "tx_carrier",
    "tx_compressed",
)
# /proc/stat "cpu" columns; kernels before 2.6.33 stop early, missing ones read as 0.
CPU_FIELDS: tuple[str, ...] = (
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
)


class ProcParseError(ValueError):
    """A /proc file does not have the expected format; the message names file and line."""

    def __init__(self, path: str, lineno: int | None, message: str) -> None:
        self.path = path
        self.lineno = lineno
        where = f"{path} line {lineno}" if lineno else path
        super().__init__(f"{where}: {message}")


def _ints(fields: list[str], path: str, lineno: int, line: str) -> list[int]:
    try:
        return [int(f) for f in fields]
    except ValueError:
        raise ProcParseError(path, lineno, f"non-integer value in {line.strip()!r}") from None


def _lines(text: str, path: str) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; an empty file is an error."""
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        raise ProcParseError(path, None, "file is empty")
    return lines


def _parse_header_pairs(text: str, path: str) -> dict[str, dict[str, int]]:
    """The ``Section: Name1 Name2`` / ``Section: v1 v2`` line pairs of snmp and netstat."""
    lines = _lines(text, path)
    out: dict[str, dict[str, int]] = {}
    for k in range(0, len(lines), 2):
        hno, header = lines[k]
        names = header.split()
        if len(names) < 2 or not names[0].endswith(":"):
            raise ProcParseError(path, hno, f"expected 'Section: Name ...', got {header.strip()!r}")
        if k + 1 == len(lines):
            raise ProcParseError(path, hno, f"header {names[0]!r} has no value line (truncated?)")
        vno, value_line = lines[k + 1]
        values = value_line.split()
        if not values or values[0] != names[0]:
            raise ProcParseError(path, vno, f"expected values for {names[0]!r}, got {value_line.strip()!r}")
        if len(values) != len(names):
            raise ProcParseError(path, vno, f"{names[0]} has {len(names) - 1} names but {len(values) - 1} values")
        out[names[0][:-1]] = dict(zip(names[1:], _ints(values[1:], path, vno, value_line)))
    return out


def parse_snmp(text: str, path: str = "/proc/net/snmp") -> dict[str, dict[str, int]]:
    """``{"Tcp": {"ActiveOpens": 18, ...}, "Udp": {...}, "Ip": {...}, ...}`` (MaxConn may be -1)."""
    return _parse_header_pairs(text, path)


def parse_netstat(text: str, path: str = "/proc/net/netstat") -> dict[str, dict[str, int]]:
    """``{"TcpExt": {"ListenOverflows": 0, "TCPTimeouts": 7, ...}, "IpExt": {...}, ...}``."""
    return _parse_header_pairs(text, path)


def parse_sockstat(text: str, path: str = "/proc/net/sockstat") -> dict[str, dict[str, int]]:
    """``{"sockets": {"used": 14}, "TCP": {"inuse": 1, "orphan": 0, "tw": 0, "alloc": 1, "mem": 144}, ...}``."""
    out: dict[str, dict[str, int]] = {}
    for no, line in _lines(text, path):
        head, sep, rest = line.partition(":")
        pairs = rest.split()
        if not sep or not head.strip() or not pairs or len(pairs) % 2:
            raise ProcParseError(path, no, f"expected 'PROTO: key value ...', got {line.strip()!r}")
        out[head.strip()] = dict(zip(pairs[::2], _ints(pairs[1::2], path, no, line)))
    return out


def parse_diskstats(text: str, path: str = "/proc/diskstats") -> dict[str, dict[str, int]]:
    """Per device ``{"sda": {"reads": .., "sectors_read": .., ..., "weighted_ms": ..}}`` (see DISK_FIELDS).

    Sectors are 512-byte units whatever the device's sector size; times are ms.
    """
    out: dict[str, dict[str, int]] = {}
    for no, line in _lines(text, path):
        fields = line.split()
        if len(fields) < 3 + len(DISK_FIELDS):
            raise ProcParseError(path, no, f"expected >= {3 + len(DISK_FIELDS)} fields, got {len(fields)}")
        values = _ints(fields[3 : 3 + len(DISK_FIELDS)], path, no, line)
        out[fields[2]] = dict(zip(DISK_FIELDS, values))
    return out


def parse_vmstat(text: str, path: str = "/proc/vmstat") -> dict[str, int]:
    """``{"pswpin": 0, "pswpout": 0, ...}`` (swap counters are in pages)."""
    out: dict[str, int] = {}
    for no, line in _lines(text, path):  # ~200 lines: the hot loop of a sample, kept lean
        name, _, value = line.partition(" ")
        try:
            out[name] = int(value)
        except ValueError:
            raise ProcParseError(path, no, f"expected 'name value', got {line.strip()!r}") from None
    return out


def parse_netdev(text: str, path: str = "/proc/net/dev") -> dict[str, dict[str, int]]:
    """Per interface ``{"eth0": {"rx_bytes": .., "rx_packets": .., "tx_bytes": .., ...}}`` (see NETDEV_FIELDS)."""
    lines = _lines(text, path)
    if len(lines) < 2 or "|" not in lines[0][1]:
        raise ProcParseError(path, 1, "missing the two header lines")
    out: dict[str, dict[str, int]] = {}
    for no, line in lines[2:]:
        name, sep, rest = line.partition(":")  # old kernels glue "eth0:123" together
        fields = rest.split()
        if not sep or not name.strip() or len(fields) != len(NETDEV_FIELDS):
            raise ProcParseError(path, no, f"expected 'iface: {len(NETDEV_FIELDS)} counters', got {line.strip()!r}")
        out[name.strip()] = dict(zip(NETDEV_FIELDS, _ints(fields, path, no, line)))
    return out


def parse_meminfo(text: str, path: str = "/proc/meminfo") -> dict[str, int]:
    """``{"MemTotal": bytes, "MemFree": bytes, "Shmem": bytes, ..., "HugePages_Total": count}``."""
    out: dict[str, int] = {}
    for no, line in _lines(text, path):
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or len(fields) > 2 or (len(fields) == 2 and fields[1] != "kB"):
            raise ProcParseError(path, no, f"expected 'Name: value [kB]', got {line.strip()!r}")
        value = _ints(fields[:1], path, no, line)[0]
        out[name.strip()] = value * 1024 if len(fields) == 2 else value
    return out


def parse_stat_cpu(text: str, path: str = "/proc/stat") -> dict[str, int]:
    """The aggregate ``cpu`` line (the first line of /proc/stat) in USER_HZ ticks, keys CPU_FIELDS."""
    no, line = _lines(text, path)[0]
    fields = line.split()
    if fields[0] != "cpu" or len(fields) < 5:
        raise ProcParseError(path, no, f"expected 'cpu user nice system idle ...', got {line.strip()[:80]!r}")
    values = _ints(fields[1 : len(CPU_FIELDS) + 1], path, no, line)
    return dict(zip(CPU_FIELDS, values + [0] * (len(CPU_FIELDS) - len(values))))


def parse_loadavg(text: str, path: str = "/proc/loadavg") -> dict[str, float]:
    """``{"load1": .., "load5": .., "load15": ..}`` from ``0.62 0.58 0.27 1/88 7454``."""
    no, line = _lines(text, path)[0]
    fields = line.split()
    try:
        load1, load5, load15 = (float(f) for f in fields[:3])
    except ValueError:
        raise ProcParseError(path, no, f"expected three load averages, got {line.strip()!r}") from None
    return {"load1": load1, "load5": load5, "load15": load15}


Parser = Callable[[str, str], dict]

# source name -> (path under procfs, parser, read the first line only)
SOURCES: dict[str, tuple[str, Parser, bool]] = {
    "snmp": ("net/snmp", parse_snmp, False),
    "netstat": ("net/netstat", parse_netstat, False),
    "sockstat": ("net/sockstat", parse_sockstat, False),
    "diskstats": ("diskstats", parse_diskstats, False),
    "vmstat": ("vmstat", parse_vmstat, False),
    "netdev": ("net/dev", parse_netdev, False),
    "meminfo": ("meminfo", parse_meminfo, False),
    # the rest of /proc/stat (per-CPU lines, a long "intr" line) is not needed
    "cpu": ("stat", parse_stat_cpu, True),
    "loadavg": ("loadavg", parse_loadavg, False),
}


def read_source(procfs: Path, source: str) -> dict:
    """Read and parse one source (a key of SOURCES) under ``procfs``, e.g. ``read_source(Path("/proc"), "snmp")``.

    Raises OSError when the file cannot be read, ProcParseError when its text is bad.
    """
    rel, parser, first_line = SOURCES[source]
    path = procfs / rel
    # errors="replace": a stray byte becomes a parse error naming the line, not a UnicodeDecodeError
    with open(path, encoding="ascii", errors="replace") as f:
        text = f.readline() if first_line else f.read()
    return parser(text, str(path))

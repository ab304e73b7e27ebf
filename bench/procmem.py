"""Process memory from /proc (standard library only, so workers can read it before importing anything)."""

from __future__ import annotations

STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "VmSize")


def proc_mem(pid: int | str = "self") -> dict[str, float]:
    """RSS figures (MB) from /proc/PID/status, PSS (MB) from smaps_rollup, and the thread count."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in STATUS_KEYS:
                out[key] = int(rest.split()[0]) / 1024.0
            elif key == "Threads":
                out["Threads"] = int(rest)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("Pss", "Pss_Anon", "Pss_File"):
                    out[key] = int(rest.split()[0]) / 1024.0
    except OSError:  # kernels before 4.14 have no smaps_rollup
        pass
    return out

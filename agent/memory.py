"""Keep the long-running agent's heap from holding on to freed memory (glibc only; a no-op elsewhere).

glibc raises its mmap threshold each time a large block is freed, up to 32 MiB: after the
first big numpy temporary is freed, the next ones (calibration batches of 256 windows, the
replay file parse) are carved from the heap and stay resident after ``free`` because a
small live object sits above them.  Pinning the threshold at its 128 KiB default keeps
every large array in its own mapping, returned to the kernel when freed: a calibrated
live agent holds ~3.5 MB less (docs/benchmarks.md, "Where the memory goes").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value; setting it disables the dynamic adjustment
TRIM_THRESHOLD = 128 * 1024  # give the heap's free top back to the kernel beyond this


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune_allocator() -> bool:
    """Pin glibc's mmap and trim thresholds for a long-lived process; False where that is not glibc."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("malloc thresholds pinned (mmap %d, trim %d): %s", MMAP_THRESHOLD, TRIM_THRESHOLD, ok)
    return ok


def release_free_memory() -> None:
    """Return the heap's free pages to the kernel (after a one-off burst such as host calibration)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

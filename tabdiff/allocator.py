"""glibc malloc settings for the processes that pretrain: keep freed memory for the next batch instead of returning it.

A training step and a prior draw allocate and free the same tens of tensors of megabytes at every batch. glibc's
defaults hand blocks above a (self-adjusting) threshold straight back to the kernel with `munmap`, or trim them off
the top of the heap, so the next batch takes the same memory again page by page, each page a fault and a zeroing.
`keep_freed_memory()` raises the mmap threshold to its maximum (32 MiB on 64-bit) and trims the heap only when more
than `trim_threshold` bytes lie free at its top. Measured on this 2-core CPU, one thread, runs alternated
(2026-11-29): the large prior 681 -> 738-759 tables/s at batch 128 (`scripts/bench_prior.py --system-malloc` against
without), the default prior 6,300 -> 6,800; peak RSS unchanged (620 MB for the large prior). One-process
`experiment=cpu_small` training, whose step bounds it here: median +4% over 7 alternated pairs (better in 6), less
than this machine's drift (97-125 tables/s).
The settings are process-wide; DataLoader workers inherit them by fork, and by the MALLOC_*_ environment variables
this also sets (unless already set) under spawn or forkserver. `pretrain.yaml`'s `keep_freed_memory: false` leaves
malloc as it is. Elsewhere than glibc (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters, <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc refuses more on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 256 * 2**20  # measured: 256 MiB, 1 GiB and no trimming at all gave the same speed


def glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc on Linux, else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def keep_freed_memory(trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Set this process's glibc malloc to reuse freed blocks (module docstring); True when glibc took the settings.

    Idempotent; call it in the process that will draw or train, before its DataLoader workers start."""
    libc = glibc()
    if libc is None:
        return False
    # child processes started afresh (spawn, forkserver) read these when their malloc starts
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD_MAX))
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(int(trim_threshold)))
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    if not ok:
        log.warning("glibc's mallopt refused the allocator settings; memory is allocated with its defaults")
    return ok

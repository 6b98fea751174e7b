"""keep_freed_memory: after it, glibc serves a 24 MiB block from its heap and keeps it after free; without it, the
block is mmapped and given back. Checked in fresh subprocesses (malloc's own counters, mallinfo2), since the
settings are process-wide and glibc's thresholds adapt to what a process has already freed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tabdiff.allocator import glibc, keep_freed_memory

libc = glibc()
has_mallinfo2 = libc is not None and hasattr(libc, "mallinfo2")

PROBE = """
import ctypes, json, os, sys
from tabdiff.allocator import glibc, keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "tuned" else None
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = glibc()
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 24 * 2**20
block = libc.malloc(size)
ctypes.memset(block, 1, size)
mapped = libc.mallinfo2().hblkhd
libc.free(block)
print(json.dumps({"took": took, "mapped": mapped, "heap_free": libc.mallinfo2().fordblks,
                  "env": os.environ.get("MALLOC_MMAP_THRESHOLD_")}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env={})
    return json.loads(out.stdout)


@pytest.mark.skipif(not has_mallinfo2, reason="glibc >= 2.33 only (mallinfo2)")
def test_keep_freed_memory_serves_large_blocks_from_the_heap_and_keeps_them():
    size = 24 * 2**20
    default, tuned = _probe("default"), _probe("tuned")
    assert default["mapped"] >= size  # glibc's default: a block this size is mmapped ...
    assert default["heap_free"] < size  # ... and unmapped on free
    assert tuned["took"] is True
    assert tuned["mapped"] < size  # from the heap
    assert tuned["heap_free"] >= size  # and still there for the next batch
    assert tuned["env"] == str(32 * 2**20)  # for workers started by spawn or forkserver


@pytest.mark.skipif(libc is not None, reason="the no-op path: not glibc")
def test_keep_freed_memory_does_nothing_without_glibc():
    assert keep_freed_memory() is False

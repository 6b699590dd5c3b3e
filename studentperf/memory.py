"""Giving memory back to the system after a model load (glibc's malloc; elsewhere a garbage collection only).

glibc keeps freed memory inside the process unless it lies at the top of a heap: the pipelines, package bytes
and graph bytes a model load frees (about 100 MiB) would stay counted in the worker's resident memory.
`memory_release` collects them and has glibc return the free pages (malloc_trim); modelstore.loader calls it
after each load.

Requests are left to glibc's defaults on purpose. After the first load its thresholds have grown (up to 32 MiB
for a block to get its own mapping, 64 MiB of free heap before trimming), so the matrices of a 1,000-record
request come from the heap and stay resident after it (about 50 MiB per worker). Fixing the thresholds lower
(`MALLOC_MMAP_THRESHOLD_=4194304 MALLOC_TRIM_THRESHOLD_=8388608` in the environment, read by glibc itself) returns
that memory after each request, but made 1,000-record `predict_records` calls about 25 % slower (257 against
203 ms, measured in-process): every request faults its pages in again (docs/performance.md, "Memory").
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # no glibc (musl, macOS): nothing to trim
        return None


_LIBC = _libc()


def memory_release() -> None:
    """Collect what is unreachable, then have glibc return the free pages of its heaps to the system
    (malloc_trim), which freed objects would otherwise keep counted in the process's resident memory."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)

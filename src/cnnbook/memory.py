"""Where NumPy's arrays get their memory, and how cnnbook keeps freed memory for reuse.

NumPy asks the C library's ``malloc`` for every array.  glibc's malloc serves a large request
(above its *mmap threshold*, 128 KiB at start) with fresh pages from the kernel and gives them
back on ``free``; it also returns free memory at the top of its heap to the kernel once more than
its *trim threshold* lies there.  The kernel hands out every fresh page zeroed, on its first
touch (a minor page fault), so a layer that allocates a few megabytes of temporaries per call
pays for zeroing them again on every call.  Measured on a float32 grouped convolution (N = 32,
C = F = 16, 14x14, one thread): 4.9 ms per forward + backward with glibc's defaults, 1.4 ms with
freed memory kept (``benchmarks/bench.py`` prints the page faults per call).  PyTorch avoids the
same cost with a caching allocator of its own.

:func:`keep_freed_memory` sets both thresholds so that malloc keeps freed blocks of up to
``MMAP_THRESHOLD`` bytes in the process and reuses them.  ``import cnnbook`` calls it once,
unless the environment variable ``CNNBOOK_KEEP_FREED_MEMORY`` is ``0``; the price is that memory
freed by the process is not returned to the system while the process runs (up to
``TRIM_THRESHOLD`` of it at the top of the heap).  ``keep_freed_memory(False)`` restores glibc's
starting values.  On systems without glibc it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# glibc's largest allowed mmap threshold on 64-bit systems (4 * 1024 * 1024 * sizeof(long))
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 1024 * 2**20
_GLIBC_START = 128 * 2**10  # both thresholds' values when a process starts


def _mallopt():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        fn = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes, fn.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return fn


def keep_freed_memory(keep: bool = True) -> bool:
    """Make glibc's malloc keep freed blocks up to MMAP_THRESHOLD bytes for reuse (keep=True), or
    restore its starting thresholds (keep=False).  Returns whether malloc accepted the settings
    (False where there is no glibc)."""
    if not isinstance(keep, bool):
        raise ValueError(f"keep must be True or False, got {keep!r}")
    mallopt = _mallopt()
    if mallopt is None:
        return False
    mmap, trim = (MMAP_THRESHOLD, TRIM_THRESHOLD) if keep else (_GLIBC_START, _GLIBC_START)
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))


def page_faults() -> int:
    """The process's minor page faults so far (pages the kernel handed out on first touch)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

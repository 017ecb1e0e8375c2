"""A steady memory allocator: the same cost per array in every ampsim process, whatever it did before.

glibc's malloc serves a request above its *mmap threshold* (128 KiB at start) with fresh pages from the
kernel, and returns free memory at the top of its heap to the kernel once more than the *trim threshold*
(twice the mmap threshold) has gathered there; either way the next array of that size costs page faults
again, to zero its pages. glibc raises both thresholds only when the process frees a large mmapped block.
So the speed of a node depended on the process's history: the MLP's 784×256 weight gradients and Adam
moments (800 KB each) came from fresh pages in a fresh process and from the heap in one that had freed
a big array before (a dataset's, say). Measured on this project's 2-core development machine: the
calibration's MLP workload took 3.35 ms per instance in a fresh process and 2.50 ms in a warmed one, in
the reference executor and on a one-worker multicore executor alike (``benchmarks/bench_allocator.py``),
so a calibration made in a fresh process charged 10–13 % more per MLP instance than the compare runs it
was to predict took.

:func:`steady_allocator` fixes the mmap threshold at 32 MiB (the most glibc's own adjustment reaches) and
the trim threshold at twice that (glibc's pairing), which also turns the adjustment off: every process,
fresh or not, serves ampsim's arrays from its heap, at the warmed speed. ``import ampsim`` calls it
(forked workers inherit it) unless the environment already tunes glibc's malloc
(:data:`GLIBC_MALLOC_VARS`, or ``glibc.malloc`` in ``GLIBC_TUNABLES``) or sets ``AMPSIM_MALLOC=glibc``
(glibc left as it is: the benchmark's baseline). Elsewhere than glibc it does nothing. The price: a process
keeps up to 64 MiB of freed memory for reuse instead of giving it back at once.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["GLIBC_MALLOC_VARS", "MMAP_THRESHOLD_BYTES", "steady_allocator"]

#: glibc's own malloc variables: when the user set one, the allocator is theirs to tune
GLIBC_MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
                     "MALLOC_ARENA_MAX")
#: glibc's ceiling for its own dynamic mmap threshold on 64-bit machines (DEFAULT_MMAP_THRESHOLD_MAX)
MMAP_THRESHOLD_BYTES = 32 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def steady_allocator() -> bool:
    """Fix glibc malloc's mmap and trim thresholds for this process (module docstring). Returns whether it
    did: False where the C library is not glibc, or the environment tunes malloc itself."""
    if platform.libc_ver()[0] != "glibc" or os.environ.get("AMPSIM_MALLOC") == "glibc":
        return False
    if any(var in os.environ for var in GLIBC_MALLOC_VARS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a glibc without mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_BYTES))

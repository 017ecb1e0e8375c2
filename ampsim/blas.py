"""One BLAS thread per process: ampsim's matrix products are small and its parallelism is model-parallel.

A multithreaded BLAS both slows ampsim down (on a busy machine, threads spinning for a [100, 64]ᵀ·[100,
192] product turned ~10 µs into 4-60 ms) and changes results: a float32 GEMM split over threads sums in
another order, so the same seed and config would no longer give the same bits. ``import ampsim`` therefore
asks for one thread (:func:`limit_blas_threads`) unless the user set one of :data:`BLAS_VARS`; before
numpy is loaded the environment variables suffice, afterwards (numpy imported first, a forked child) the
loaded OpenBLAS is told directly.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["BLAS_VARS", "limit_blas_threads"]

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads() -> None:
    """One BLAS thread in this process, also when numpy's OpenBLAS was loaded before."""
    for var in BLAS_VARS:
        os.environ[var] = "1"
    if "numpy" not in sys.modules:
        return
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:  # pragma: no cover - not Linux
        return
    for path in sorted(libs):
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # pragma: no cover
            continue
        for sym in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                    "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn(1)
                break

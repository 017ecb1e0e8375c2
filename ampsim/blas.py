"""One BLAS thread per process, and the same arithmetic kernels on every x86-64 machine.

Threads: ampsim's matrix products are small and its parallelism is model-parallel.

A multithreaded BLAS both slows ampsim down (on a busy machine, threads spinning for a [100, 64]ᵀ·[100,
192] product turned ~10 µs into 4-60 ms) and changes results: a float32 GEMM split over threads sums in
another order, so the same seed and config would no longer give the same bits. ``import ampsim`` therefore
asks for one thread (:func:`limit_blas_threads`) unless the user set one of :data:`BLAS_VARS`; before
numpy is loaded the environment variables suffice, afterwards (numpy imported first, a forked child) the
loaded OpenBLAS is told directly.

Kernels: OpenBLAS and numpy pick their SIMD kernels by the CPU at load time, and a float32 GEMM (or a
vectorized ``tanh``/``exp``) computed with AVX-512 kernels rounds differently from the same call with AVX2
kernels: a committed run made on one machine would not repeat bit for bit on another (seen: an MNIST
point's accuracy 0.929 on an AVX-512 machine, 0.9287 on an AVX2 one). :func:`pin_kernels` therefore
asks, before numpy loads, for OpenBLAS's Haswell kernels (AVX2 + FMA, ``OPENBLAS_CORETYPE``) and for
numpy's dispatch without its AVX-512 targets (``NPY_DISABLE_CPU_FEATURES``), on x86-64 machines that
have AVX2 and FMA (every x86 server since 2013): every such machine then computes the same bits. Where
the CPU lacks them, or on another architecture, nothing is pinned (results are that machine's own). A
variable the user set wins. The price is small: ampsim's products are too small for AVX-512 to matter.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["BLAS_VARS", "KERNEL_PINS", "limit_blas_threads", "openblas_in_force", "pin_kernels"]

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: what :func:`pin_kernels` sets: OpenBLAS's kernel family, and numpy's dispatch targets left out (its
#: AVX-512 groups; numpy ignores a name the CPU lacks, so this is safe on AVX2-only machines)
KERNEL_PINS = {"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:  # pragma: no cover - not Linux
        pass
    return set()


def pin_kernels() -> dict[str, str]:
    """Set :data:`KERNEL_PINS` in the environment (where the user has not) on an x86-64 CPU with AVX2 and
    FMA, so that numpy and OpenBLAS, loaded after this, compute the same bits on every such machine.
    Returns what it set (nothing elsewhere). Effective only before numpy is imported (``import ampsim``
    does it first)."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not {"avx2", "fma"} <= _cpu_flags():
        return {}
    out = {k: v for k, v in KERNEL_PINS.items() if k not in os.environ}
    os.environ.update(out)
    return out


def limit_blas_threads() -> None:
    """One BLAS thread in this process, also when numpy's OpenBLAS was loaded before: told so, and its pool of
    threads (started as it loaded, one per core beyond the first) ended."""
    for var in BLAS_VARS:
        os.environ[var] = "1"
    if "numpy" not in sys.modules:
        return
    for lib in _openblas_libraries():
        fn = _symbol(lib, "set_num_threads")
        if fn is not None:
            fn(1)
            # one thread needs no pool (OpenBLAS starts it again should more be asked for), and its idle threads
            # made every sweep spawn its workers: a sweep forks only from a process that runs a single thread
            # (ampsim.sweeps.pool.start_method)
            stop = getattr(lib, "blas_thread_shutdown_", None)
            if stop is not None:
                stop()


def openblas_in_force() -> tuple[int | None, str | None]:
    """``(threads, kernel family)`` of the OpenBLAS numpy loaded, as the library reports them (what a user's
    variables asked for takes effect only when set before numpy loads); ``(None, None)`` where there is none."""
    for lib in _openblas_libraries():
        threads, core = _symbol(lib, "get_num_threads"), _symbol(lib, "get_corename")
        if threads is not None:
            if core is not None:
                core.restype = ctypes.c_char_p
            return int(threads()), (core().decode(errors="replace") if core is not None else None)
    return None, None


#: the OpenBLAS libraries once found: numpy loads its own once, and reading the process's memory map again
#: cost every run ~1 ms (a sweep worker's points each write environment.json)
_found: list[ctypes.CDLL] = []


def _openblas_libraries() -> list[ctypes.CDLL]:
    """The OpenBLAS libraries loaded into this process (Linux; none before numpy is imported)."""
    if not _found:
        _found.extend(_load_openblas_libraries())
    return _found


def _load_openblas_libraries() -> list[ctypes.CDLL]:
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.rstrip("\n").split(maxsplit=5)  # (the path, the sixth field, may hold spaces)
                path = fields[5].removesuffix(" (deleted)") if len(fields) == 6 else ""
                if path.startswith("/") and "openblas" in os.path.basename(path).lower():
                    paths.add(path)
    except OSError:  # pragma: no cover - not Linux
        return []
    libs = []
    # numpy's own first (another package may have loaded an OpenBLAS of its own beside it)
    paths = sorted(paths, key=lambda p: ("numpy" not in p, p))
    for path in paths:
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:  # pragma: no cover
            continue
    return libs


def _symbol(lib: ctypes.CDLL, name: str):
    """OpenBLAS's ``openblas_<name>`` under whichever prefix and integer suffix the build gave it."""
    for sym in (f"scipy_openblas_{name}64_", f"scipy_openblas_{name}", f"openblas_{name}64_", f"openblas_{name}"):
        fn = getattr(lib, sym, None)
        if fn is not None:
            return fn
    return None

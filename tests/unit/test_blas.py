"""One BLAS thread, whichever is imported first: a multithreaded float32 GEMM sums in another order, so the
same seed and config would stop giving the same bits (the committed sweep points differed in their 4th digit
when a test module imported numpy before ampsim)."""

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
{first}
import ampsim
import numpy  # noqa: F401 - loaded after ampsim where ampsim came first (``import ampsim`` loads no numpy)
libs = {{l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '/' in l}}
n = []
for path in sorted(libs):
    lib = ctypes.CDLL(path)
    for sym in ('scipy_openblas_get_num_threads64_', 'scipy_openblas_get_num_threads',
                'openblas_get_num_threads64_', 'openblas_get_num_threads'):
        fn = getattr(lib, sym, None)
        if fn is not None:
            n.append(fn())
            break
print(n)
"""


@pytest.mark.parametrize("first", ["import numpy", ""], ids=["numpy first", "ampsim first"])
def test_ampsim_runs_one_blas_thread_whatever_was_imported_first(first):
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True, text=True,
                         env=env, check=True).stdout.strip()
    assert out == "[1]", out


def test_the_users_thread_setting_wins():
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(first="import numpy")], capture_output=True,
                         text=True, env=env, check=True).stdout.strip()
    assert out == "[2]", out


CORE = """
import ctypes, os
import ampsim
import numpy
libs = {l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '/' in l}
names = []
for path in sorted(libs):
    lib = ctypes.CDLL(path)
    for sym in ('scipy_openblas_get_corename64_', 'scipy_openblas_get_corename', 'openblas_get_corename'):
        fn = getattr(lib, sym, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            names.append(fn().decode())
            break
print(names, os.environ.get('NPY_DISABLE_CPU_FEATURES'))
"""


def _env_without_pins(**extra: str) -> dict:
    from ampsim.blas import KERNEL_PINS
    return {**{k: v for k, v in __import__("os").environ.items() if k not in KERNEL_PINS}, **extra}


@pytest.mark.skipif("avx2" not in open("/proc/cpuinfo").read(), reason="kernels are pinned on AVX2 x86-64 only")
def test_ampsim_pins_the_avx2_kernels_so_every_x86_machine_computes_the_same_bits():
    """The committed runs repeat bit for bit on AVX2 and AVX-512 machines alike (``ampsim.blas``)."""
    out = subprocess.run([sys.executable, "-c", CORE], capture_output=True, text=True, env=_env_without_pins(),
                         check=True).stdout.strip()
    assert out == "['Haswell'] X86_V4 AVX512_ICL AVX512_SPR", out


def test_the_users_kernel_choice_wins():
    out = subprocess.run([sys.executable, "-c", CORE], capture_output=True, text=True,
                         env=_env_without_pins(OPENBLAS_CORETYPE="Sandybridge"), check=True).stdout.strip()
    assert out.startswith("['Sandybridge']"), out


POOL = """
import os
os.environ["OPENBLAS_NUM_THREADS"] = "4"  # (numpy's OpenBLAS starts its pool as it loads: 3 threads, on any machine)
import numpy
del os.environ["OPENBLAS_NUM_THREADS"]  # (then ampsim, which asks for one thread, as for a script's default)
import ampsim
from ampsim.sweeps import pool
numpy.ones((64, 64), numpy.float32) @ numpy.ones((64, 64), numpy.float32)
print(pool.threads_running(), pool.start_method())
"""


def test_numpy_imported_first_leaves_no_idle_blas_threads_so_a_sweep_still_forks():
    """numpy imported before ampsim (``import numpy as np`` heading a script) had started OpenBLAS's pool, a thread
    per core beyond the first; ampsim asks that library for one thread, which needs no pool, but its threads stayed,
    idle, and a sweep forks its workers only from a process that runs a single thread: every sweep of such a script
    spawned them, and a script without ``if __name__ == "__main__":`` then ran its sweep again in each worker, all
    of whose points failed (another sweep is running in this folder)."""
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", POOL], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    assert out == "1 fork", out

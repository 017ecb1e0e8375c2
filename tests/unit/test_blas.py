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

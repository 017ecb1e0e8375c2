"""ampsim's steady allocator (:mod:`ampsim.allocator`): a fresh process reuses freed arrays' memory instead
of taking fresh pages from the kernel for each, so a node costs the same whatever the process did before."""

import os
import subprocess
import sys

import pytest

from ampsim.allocator import GLIBC_MALLOC_VARS, steady_allocator

# three 1 MB arrays made and freed, over and over, in a fresh process: with glibc's default thresholds
# each round's freed memory goes back to the kernel and the next round faults its pages in again
CHURN = """
import resource, sys
import ampsim, numpy as np
def churn(rounds):
    for _ in range(rounds):
        arrays = [np.ones(1 << 17) for _ in range(3)]
        del arrays
churn(2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn(20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in GLIBC_MALLOC_VARS + ("GLIBC_TUNABLES", "AMPSIM_MALLOC")}
    out = subprocess.run([sys.executable, "-c", CHURN], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and getrusage page faults: Linux only")
def test_a_fresh_process_reuses_freed_arrays_instead_of_faulting_in_new_pages():
    # 20 rounds x 3 arrays x 256 pages of 4 KiB: about 15,000 page faults when every array takes fresh pages
    assert page_faults() < 500
    assert page_faults(AMPSIM_MALLOC="glibc") > 5000  # glibc left as it starts: the slow case this avoids


@pytest.mark.parametrize("var", ["MALLOC_MMAP_THRESHOLD_", "AMPSIM_MALLOC"])
def test_the_users_own_malloc_settings_win(monkeypatch, var):
    monkeypatch.setenv(var, "glibc" if var == "AMPSIM_MALLOC" else "131072")
    assert steady_allocator() is False


def test_malloc_tunables_in_glibc_tunables_win(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")
    assert steady_allocator() is False

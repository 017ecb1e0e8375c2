"""What a run ran on: the software and machine facts its numbers depend on beyond its config.

A run's ``config.toml`` says what was run; it does not say with what. The same config gives the same bits
only with the same code and arithmetic: the ampsim source (its commit, and whether its files had changes),
the numpy and numba that ran it, the BLAS thread count a user may set (a GEMM split over threads sums in
another order: training numbers move in their 8th digit) and the SIMD kernels pinned or not
(:mod:`ampsim.blas`). gem5 writes such facts beside every run's stats; a run folder here gets them as
``environment.json`` (:func:`describe`), so a number in it can be traced to what produced it, and two runs
that differ can be told apart by what differs. Nothing in it changes from one run to the next on one machine
and checkout (no times, no process ids), so re-runs stay byte-identical.

>>> facts = describe()
>>> sorted(facts)
['ampsim', 'arithmetic', 'machine', 'packages', 'python']
>>> facts["arithmetic"]["variables"]["OPENBLAS_NUM_THREADS"] == os.environ.get("OPENBLAS_NUM_THREADS")
True
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ampsim.blas import BLAS_VARS, KERNEL_PINS, openblas_in_force

__all__ = ["cpu_model", "describe"]

#: the libraries whose versions a run's numbers depend on (numerics, simulation, topology)
PACKAGES = ("numpy", "numba", "simpy", "networkx")


def describe() -> dict:
    """The facts (see the module docstring) as plain data: ``ampsim`` (version, commit, modified),
    ``python``, ``packages`` (versions), ``arithmetic`` (in the process that trains and evaluates: the BLAS
    threads and kernel family OpenBLAS reports, numpy's SIMD targets in use, and the variables that ask for
    them, ``None`` where unset; they take effect only if set before numpy loads, and the multicore executor's
    workers run one BLAS thread whatever they say) and ``machine`` (architecture, CPU model, logical CPUs,
    operating system)."""
    commit, modified = _source_state()
    return {
        "ampsim": {"version": _packages()["ampsim"], "commit": commit, "modified": modified},
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _packages()[name] for name in PACKAGES},
        "arithmetic": _arithmetic(),
        "machine": _machine(),
    }


def _arithmetic() -> dict:
    """What the process computes with, as the libraries report it, and the variables that ask for it."""
    try:  # (a run has loaded numpy: imported here, so that importing this module does not, and first: its
        # OpenBLAS is loaded with it)
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        simd = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]  # (AVX-512 ones: not pinned)
    except ImportError:  # pragma: no cover - another numpy layout
        simd = None
    threads, core = openblas_in_force()
    return {"blas_threads": threads, "blas_kernels": core, "numpy_simd": simd,
            "variables": {var: os.environ.get(var) for var in (*BLAS_VARS, *KERNEL_PINS)}}


@functools.lru_cache(maxsize=1)
def _packages() -> dict[str, str | None]:
    return {name: _version(name) for name in ("ampsim", *PACKAGES)}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _source_state() -> tuple[str | None, bool | None]:
    """The commit of the git checkout ampsim runs from and whether its tracked files differ from it; (None,
    None) for an installed copy or where git is not there. Once per process: a sweep's points share it."""
    where = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode:
            return None, None
        top, commit = head.stdout.splitlines()[:2]  # (lines: a checkout's path may hold spaces)
        if where != Path(top).resolve() / "ampsim":  # a git repository around an installed copy is not its source
            return None, None
        # the source only: the checkout's tracked results change as runs rewrite them (a re-run then said
        # "modified" where the first did not); no optional locks: a user's commit must not find the index taken
        status = subprocess.run(["git", "--no-optional-locks", "-C", top, "status", "--porcelain",
                                 "--untracked-files=no", "--", "ampsim", "pyproject.toml"],
                                capture_output=True, text=True, timeout=10)
        return commit, (bool(status.stdout.strip()) if status.returncode == 0 else None)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None, None


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    return {"architecture": platform.machine(), "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
            "system": f"{platform.system()} {platform.release()}"}


def cpu_model() -> str | None:
    """The processor's model name (Linux's /proc/cpuinfo; ``platform.processor()`` elsewhere, often empty): what
    environment.json, a calibrated model's description and the benchmarks' rows name the machine by."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None

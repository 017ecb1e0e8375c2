"""Shared benchmark helpers: the full/quick switch, timing by repeated measurement, CSV output, data checks.

Every ``benchmarks/bench_<name>.py`` module offers ``main(out, quick) -> list[dict]``: it measures, writes
``<out>/<name>.csv`` with the module's fixed ``COLUMNS`` and returns the rows. ``quick`` runs a few
instances of every case so the smoke test (``tests/test_benchmarks_smoke.py``) exercises the same code
in seconds; its numbers mean nothing and never go to ``results/bench/``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ampsim.environment import cpu_model
from ampsim.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
#: where the full benchmarks write (committed); quick runs must be given another folder
OUT = ROOT / "results" / "bench"
#: the note in a row whose PyTorch comparison did not run
NO_TORCH = "torch not installed (pip install -e '.[bench]'): PyTorch not measured"


def best_of(fn: Callable[[], object], repeats: int = 5, number: int = 1) -> float:
    """Seconds per call: the minimum over ``repeats`` runs of ``number`` calls (least disturbed by noise)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def write_csv(out: Path, name: str, columns: Sequence[str], rows: list[dict]) -> Path:
    """Write ``rows`` to ``out/name`` with exactly ``columns``, in that order; a missing value is empty.

    A key outside ``columns`` is an error rather than a silently added column, so every run of a
    benchmark, full or quick, skipped or not, writes the same header.
    """
    for row in rows:
        extra = set(row) - set(columns)
        if extra:
            raise ValueError(f"{name}: columns {sorted(extra)} are not in the benchmark's COLUMNS")
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), restval="")
        w.writeheader()
        w.writerows(rows)
    return path


def machine() -> str:
    """The machine in one line, written next to every number (results from different machines differ: the same
    2-core host was an AMD EPYC one day and an Intel Xeon another, and "x86_64" told them apart in no row)."""
    return (f"{cpu_model() or platform.machine()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def load() -> float:
    """The 1-minute load average: on a shared machine it says how much the other jobs disturbed a row."""
    return round(os.getloadavg()[0], 2)


def torch_installed() -> bool:
    """Whether the PyTorch comparison can run (``torch`` is the ``bench`` extra, not a CI dependency)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def data_missing(error: DataError, what: str, quick: bool) -> str:
    """The note for a quick run whose dataset is missing; raises for a full run or when CI requires the data.

    A full run writes the committed results: a row saying "skipped" must not replace measured numbers, so
    the benchmark fails (``run_all`` goes on with the others and exits 1). With ``AMPSIM_REQUIRE_DATA=1``
    (as in CI) a missing dataset is a failure, as in the test suite. Otherwise a quick run writes a row
    saying it was skipped and why, never nothing.
    """
    if not quick or os.environ.get("AMPSIM_REQUIRE_DATA") == "1":
        raise error
    return f"skipped: {what} not available ({error})"


def parser(description: str | None) -> argparse.ArgumentParser:
    """The command line every benchmark shares: ``[--quick --out DIR]``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="a few instances of every case (seconds; smoke test, the numbers mean nothing)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"folder for the CSV files (default {OUT.relative_to(ROOT)}; required with --quick)")
    return p


def output_folder(p: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """``--out``, or the committed results folder; quick numbers never overwrite the committed ones."""
    if args.out is None:
        if args.quick:
            p.error("--quick needs --out DIR: quick numbers must not overwrite results/bench/")
        return OUT
    return args.out


def run_one(main: Callable[..., list[dict]], description: str | None) -> None:
    """``python -m benchmarks.bench_<name> [--quick --out DIR]``."""
    p = parser(description)
    args = p.parse_args()
    main(out=output_folder(p, args), quick=args.quick)

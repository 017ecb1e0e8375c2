"""Shared benchmark helpers: timing by repeated measurement, and CSV output under results/bench/."""

from __future__ import annotations

import csv
import platform
import time
from pathlib import Path
from typing import Callable

OUT = Path("results/bench")


def best_of(fn: Callable[[], object], repeats: int = 5, number: int = 1) -> float:
    """Seconds per call: the minimum over ``repeats`` runs of ``number`` calls (least disturbed by noise)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def write_csv(name: str, rows: list[dict]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"

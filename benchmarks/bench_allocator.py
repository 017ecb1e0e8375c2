"""The steady allocator (:mod:`ampsim.allocator`) against glibc's malloc as a fresh process starts it.

Each calibration workload (MLP, LSTM, Tree-LSTM: :mod:`ampsim.calibration.workloads`) is measured in fresh
processes, as ``ampsim calibrate`` measures it: seconds per instance on the reference executor and on a
one-worker multicore executor (:func:`~ampsim.calibration.workloads.measure_workload`), once with
``AMPSIM_MALLOC=glibc`` (glibc left as it is) and once without, alternating pair by pair so that the
machine's drift hits both alike; the median over the pairs. Writes results/bench/allocator.csv.

``python -m benchmarks.bench_allocator [--quick --out DIR]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import OUT, ROOT, load, machine, run_one, write_csv

PAIRS, QUICK_PAIRS = 5, 1
COLUMNS = ("workload", "executor", "glibc_ms_per_instance", "steady_ms_per_instance", "steady_over_glibc", "pairs",
           "machine", "load")
CHILD = """
import json, sys
from ampsim.calibration.workloads import measure_workload
w = measure_workload(sys.argv[1], repeat=3, scale=float(sys.argv[2]))
print(json.dumps({"reference": w["reference_seconds_per_instance"], "multicore": w["seconds_per_instance"]}))
"""


def _measure(workload: str, scale: float, glibc: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AMPSIM_MALLOC"}
    if glibc:
        env["AMPSIM_MALLOC"] = "glibc"
    out = subprocess.run([sys.executable, "-c", CHILD, workload, str(scale)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Measure every workload both ways, write ``out/allocator.csv`` and return its rows."""
    from ampsim.calibration.workloads import WORKLOADS

    pairs, scale = (QUICK_PAIRS, 0.1) if quick else (PAIRS, 1.0)
    rows = []
    for workload in WORKLOADS:
        got: dict[bool, list[dict]] = {True: [], False: []}
        for _ in range(pairs):
            for glibc in (True, False):
                got[glibc].append(_measure(workload, scale, glibc))
        for executor in ("reference", "multicore"):
            before = float(np.median([m[executor] for m in got[True]]))
            after = float(np.median([m[executor] for m in got[False]]))
            rows.append({"workload": workload, "executor": executor, "glibc_ms_per_instance": round(before * 1e3, 3),
                         "steady_ms_per_instance": round(after * 1e3, 3), "steady_over_glibc": round(after / before, 3),
                         "pairs": pairs, "machine": machine(), "load": load()})
    path = write_csv(out, "allocator.csv", COLUMNS, rows)
    for r in rows:
        print(f"{r['workload']} {r['executor']}: {r['glibc_ms_per_instance']} ms per instance with glibc as it "
              f"starts, {r['steady_ms_per_instance']} ms steady ({r['steady_over_glibc']}x), load {r['load']}")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__.splitlines()[0])

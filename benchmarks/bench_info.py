"""``ampsim info`` at scale: a 65,536-chip fat tree (radix 4, height 8) and a 256×256 mesh, each written to a
hardware file and described by the command in a fresh process (``info_s``: what a user waits, Python's
start-up included), plus the topology build and the summary timed alone. Goal: under 10 s each (issue 15:
minutes before, with one breadth-first search per chip). Writes results/bench/info.csv.

``python -m benchmarks.bench_info [--quick --out DIR]``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ampsim.hardware.info import describe
from ampsim.hardware.parse import load_system
from ampsim.hardware.topology import build_topology
from ampsim.tomltext import dump_toml
from benchmarks.common import OUT, ROOT, load, machine, run_one, write_csv

BASE = ROOT / "hardware_models" / "fattree64.toml"
GOAL_S = 10.0
#: (case, [topology] table): the full sizes, then the quick ones (same kinds, a few hundred chips)
CASES = [("fat_tree_4x8", {"kind": "tree", "branching": 4, "height": 8, "fat": True}),
         ("mesh2d_256x256", {"kind": "mesh2d", "shape": [256, 256]})]
QUICK_CASES = [("fat_tree_4x4", {"kind": "tree", "branching": 4, "height": 4, "fat": True}),
               ("mesh2d_16x16", {"kind": "mesh2d", "shape": [16, 16]})]
REPEATS, QUICK_REPEATS = 3, 1
COLUMNS = ("case", "chips", "links", "info_s", "build_s", "describe_s", "diameter_hops", "goal_s", "machine",
           "load")


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Time ``ampsim info`` on every case, write ``out/info.csv`` and return its rows."""
    cases, repeats = (QUICK_CASES, QUICK_REPEATS) if quick else (CASES, REPEATS)
    base = load_system(BASE).to_dict()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, topology in cases:
            path = Path(tmp) / f"{name}.toml"
            path.write_text(dump_toml({**base, "system": {**base["system"], "name": name}, "topology": topology}))
            system = load_system(path)
            t0 = time.perf_counter()
            graph = build_topology(system)  # first in this process: nothing cached
            t1 = time.perf_counter()
            d = describe(system, graph)
            t2 = time.perf_counter()
            info_s = min(_timed_info(path) for _ in range(repeats))
            rows.append({"case": name, "chips": system.n_chips, "links": graph.number_of_edges(),
                         "info_s": round(info_s, 3), "build_s": round(t1 - t0, 4), "describe_s": round(t2 - t1, 4),
                         "diameter_hops": d["diameter_hops"], "goal_s": GOAL_S, "machine": machine(), "load": load()})
    path = write_csv(out, "info.csv", COLUMNS, rows)
    for r in rows:
        print(f"{r['case']}: {r['chips']} chips, ampsim info {r['info_s']} s (build {r['build_s']} s, describe "
              f"{r['describe_s']} s; goal < {GOAL_S:g} s), load {r['load']}")
    print(f"wrote {path}")
    return rows


def _timed_info(path: Path) -> float:
    """Seconds for ``ampsim info PATH`` in a fresh interpreter, start-up and imports included."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "import sys; from ampsim.cli import main; sys.exit(main())",
                           "info", str(path)], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ampsim info {path} exited with status {proc.returncode}: {proc.stderr.strip()}")
    return time.perf_counter() - t0


if __name__ == "__main__":
    run_one(main, __doc__)

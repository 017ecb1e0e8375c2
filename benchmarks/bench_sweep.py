"""Wall time of a replayed sweep point on a pool worker, with the worker's heap settled between points (as
``ampsim sweep`` runs them, :func:`ampsim.sweeps.pool.settle_heap`: collected and frozen after the first point)
and without, side by side in one run. Writes results/bench/sweep.csv.

The points are the committed ``whatif_sst_hypercube`` sweep's (SST, 300 trees replayed, greedy placement, mak
16) on the hypercube of 1,024 chips and on that of 16, ``POINTS`` of each: the bandwidths and latencies of the
sweep; and ``BIG_POINTS`` of the 1,024-chip ones on a hypercube of 16,384 chips (114,688 links), which the
sweep has not: what a point costs on a machine of that size, where building the machine and writing its
per-chip results weigh as much as the replay. Each variant runs them on one worker of the local pool
(:func:`ampsim.sweeps.pool.run_pool`), the worker timing each point and counting the collector's full
collections during it; a point's folder is removed after it, and the first two points of a worker (the
recording read from the cache folder, the first freeze) are left out of the median. The variants alternate
``ROUNDS`` times; the lower median of each counts. ``settled_over_unsettled`` < 1 is what settling saves.

Where a settled point's time goes (medians over its points, the same run): ``plan_ms`` (the task built, the
placement made: :func:`ampsim.training.plan`), ``executor_ms`` (the machine built:
:func:`ampsim.executors.make_executor`), ``train_ms`` (the replayed ``train`` calls), of which ``loop_ms`` in
the compiled loop, and ``summary_ms`` (the results summed up and written: :func:`ampsim.training.summarize`).

``python -m benchmarks.bench_sweep [--quick --out DIR]``.
"""

from __future__ import annotations

import gc
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

from ampsim.errors import DataError
from ampsim.sweeps import pool
from ampsim.sweeps.run import PointTask, point_tasks, run_point
from ampsim.sweeps.spec import load_sweep
from benchmarks.common import OUT, ROOT, data_missing, load, machine, run_one, write_csv

SWEEP = ROOT / "experiments" / "sweeps" / "whatif_sst_hypercube.toml"
POINTS = 32
ROUNDS = 2
#: the big case: the 1,024-chip points on a hypercube of 2**14 = 16,384 chips (114,688 links), fewer of them
BIG_DIM, BIG_POINTS = 14, 10
COLUMNS = ("case", "chips", "points", "settled_ms_per_point", "unsettled_ms_per_point", "settled_over_unsettled",
           "settled_full_collections_per_point", "unsettled_full_collections_per_point", "plan_ms", "executor_ms",
           "train_ms", "loop_ms", "summary_ms", "note", "machine", "load")
PHASES = ("plan", "executor", "train", "loop", "summary")
_phase_s: dict[str, float] = {}  # in a worker: the seconds of each phase of the point it runs


def _time_phases() -> None:
    """In the worker, once: add each phase's seconds to ``_phase_s`` (wrappers that change nothing else)."""
    from ampsim import training
    from ampsim.executors.sim.executor import SimExecutor

    if getattr(training, "_bench_phases", False):
        return

    def timed(owner, name: str, phase: str):
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                _phase_s[phase] = _phase_s.get(phase, 0.0) + time.perf_counter() - t0
        setattr(owner, name, wrapper)
    timed(training, "plan", "plan")
    timed(training, "make_executor", "executor")
    timed(training, "summarize", "summary")
    train = SimExecutor.train

    def timed_train(self, *args, **kwargs):
        t0, loop0 = time.perf_counter(), getattr(self.replay, "kernel_wall_s", 0.0)
        try:
            return train(self, *args, **kwargs)
        finally:
            _phase_s["train"] = _phase_s.get("train", 0.0) + time.perf_counter() - t0
            _phase_s["loop"] = _phase_s.get("loop", 0.0) + getattr(self.replay, "kernel_wall_s", 0.0) - loop0
    SimExecutor.train = timed_train
    training._bench_phases = True


def _timed_point(task: tuple[PointTask, str]) -> None:
    """In the worker: run the point, note its wall time and the full collections during it, drop its folder."""
    point, log = task
    _time_phases()
    _phase_s.clear()
    full = gc.get_stats()[2]["collections"]
    t0 = time.perf_counter()
    run_point(point)
    wall = time.perf_counter() - t0
    with open(log, "a") as f:
        f.write(json.dumps({"wall_s": wall, "full": gc.get_stats()[2]["collections"] - full, **_phase_s}) + "\n")
    shutil.rmtree(point.out, ignore_errors=True)


def _on_dim(task: PointTask, dim: int) -> PointTask:
    """``task`` on a hypercube of dimension ``dim`` instead of its own."""
    topo = {"kind": "hypercube", "dim": dim}
    over = tuple((k, topo if k == "hardware.topology" else v) for k, v in task.overrides)
    pid = f"{task.point_id}_dim{dim}"
    values = {**task.record["values"], "hardware.topology": topo}
    return replace(task, overrides=over, point_id=pid, out=str(Path(task.out).with_name(pid)),
                   record={**task.record, "point_id": pid, "values": values})


def _worker_run(points: list[PointTask], settled: bool) -> tuple[float, float, dict[str, float]]:
    """Median wall seconds, mean full collections and median seconds of each phase per point, the first two
    left out, on one fresh worker."""
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp, "points.jsonl"))
        tasks = [(replace(p, out=str(Path(tmp, p.point_id))), log) for p in points]
        with mock.patch.object(pool, "settle_heap", pool.settle_heap if settled else (lambda done: None)):
            errors = [err for _, err in pool.run_pool(tasks, 1, _timed_point) if err is not None]
        if errors:
            raise errors[0]
        rows = [json.loads(line) for line in Path(log).read_text().splitlines()]
        rows = rows[min(2, len(rows) - 1):]
    return (statistics.median(r["wall_s"] for r in rows), statistics.fmean(r["full"] for r in rows),
            {p: statistics.median(r.get(p, 0.0) for r in rows) for p in PHASES})


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Run the measurements, write ``out/sweep.csv`` and return its rows."""
    n, n_big = (4, 3) if quick else (POINTS, BIG_POINTS)
    rows = []
    sweep = load_sweep(SWEEP, quick=quick)
    tasks = point_tasks(sweep, Path(tempfile.gettempdir()))
    for dim in (10, 4, BIG_DIM):
        points = [t for t in tasks if t.record["values"]["hardware.topology"]["dim"] == dim][:n]
        if dim == BIG_DIM:  # the 1,024-chip points on a hypercube of 16,384 chips (not in the sweep)
            points = [_on_dim(t, dim) for t in tasks if t.record["values"]["hardware.topology"]["dim"] == 10][:n_big]
        best = {True: (float("inf"), 0.0, {}), False: (float("inf"), 0.0, {})}
        try:
            for _ in range(1 if quick else ROUNDS):
                for settled in (True, False):
                    best[settled] = min(best[settled], _worker_run(points, settled), key=lambda r: r[0])
        except DataError as e:
            rows.append({"case": f"sst_hypercube{2 ** dim}_replayed_points", "note": data_missing(e, "SST", quick),
                         "machine": machine(), "load": load()})
            continue
        (s, s_full, phases), (u, u_full, _) = best[True], best[False]
        rows.append({"case": f"sst_hypercube{2 ** dim}_replayed_points", "chips": 2 ** dim, "points": len(points),
                     "settled_ms_per_point": round(s * 1e3, 1), "unsettled_ms_per_point": round(u * 1e3, 1),
                     "settled_over_unsettled": round(s / u, 3),
                     "settled_full_collections_per_point": round(s_full, 2),
                     "unsettled_full_collections_per_point": round(u_full, 2),
                     **{f"{p}_ms": round(phases[p] * 1e3, 1) for p in PHASES},
                     "note": f"{sweep.name}: the lower of {1 if quick else ROUNDS} medians per variant",
                     "machine": machine(), "load": load()})
    path = write_csv(out, "sweep.csv", COLUMNS, rows)
    for r in rows:
        print(f"{r['case']}: {r['settled_ms_per_point']} ms a point settled, {r['unsettled_ms_per_point']} "
              f"unsettled ({r['settled_over_unsettled']}×); full collections a point "
              f"{r['settled_full_collections_per_point']} vs {r['unsettled_full_collections_per_point']}; settled: "
              + ", ".join(f"{p} {r[p + '_ms']} ms" for p in PHASES))
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

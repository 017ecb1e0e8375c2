"""Multicore executor vs the single-process reference executor, side by side in one run.

Workloads: mnist_mlp on the first ``FULL.mnist_batches`` batches of 32 and sst_treelstm on the first
``FULL.sst_trees`` trees (both need ``AMPSIM_DATA``: a missing dataset fails the benchmark, except in a
quick run without ``AMPSIM_REQUIRE_DATA=1``, whose CSV then says so). For every workload the systems run in
turn, ``FULL.repeats`` rounds, the fastest pass of each counting (``best``) next to the median; every pass
trains from the same starting parameters:

* ``reference`` — the synchronous reference executor in this process (ampsim's single-threaded BLAS);
* ``multicore 2w <placement> mak=<k>`` — the multicore executor with 2 workers (+ the controller process);
  ``... spin``: its idle workers poll for 200 us before they sleep;
* ``multicore 2w groups=2 ...`` — replicas (issue 12): two whole-model copies (``replicas.groups=2``),
  group g on worker g (``placement.strategy = "groups"``), mak doubled so each group keeps as many
  instances in flight, the copies' parameters averaged every ``sync_every`` updates (default 1) through
  the controller (``sparse``: the embedding's rounds move only the rows the copies changed). Its speedup
  over the (unreplicated) reference is the issue's acceptance figure (goal 1.6x); the rows train more
  copies with a larger effective batch, so compare accuracy per epoch too;
* ``pytorch eager`` (SST only) — reuses :mod:`benchmarks.bench_sst`; without torch its row says so.

Columns: instances/s, speedup over the reference, and the work per instance of every process (the
reference's CPU time, the workers' busy time: not waiting or spinning for input, and the controller's CPU
time), so the result can be read on a shared machine too: ``cpu_bound_speedup`` is what the run would
reach if each worker had a core of its own, ``reference CPU / busiest worker's work`` (the controller's
CPU split evenly). ``free_cores`` is the CPU that two busy processes got when the
workload started (1.0 = only one core's worth, e.g. because other jobs hold the rest).

Writes results/bench/multicore.csv. ``python -m benchmarks.bench_multicore [--quick --out DIR]``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ampsim.errors import DataError
from benchmarks import bench_sst
from benchmarks.common import NO_TORCH, OUT, ROOT, data_missing, load, machine, run_one, torch_installed, write_csv

if TYPE_CHECKING:
    from ampsim.planning import Plan


@dataclass(frozen=True)
class Size:
    """How much each system trains per pass, how many passes, and how long the free-core probe runs."""

    mnist_batches: int
    sst_trees: int
    repeats: int
    probe_s: float  # seconds of each ampsim.calibration.microbench.parallel_rate measurement behind free_cores


FULL = Size(mnist_batches=600, sst_trees=300, repeats=3, probe_s=0.3)
QUICK = Size(mnist_batches=4, sst_trees=4, repeats=1, probe_s=0.05)
GOAL = 1.6
COLUMNS = ("workload", "system", "instances", "best_instances_per_s", "median_instances_per_s",
           "speedup_vs_reference", "cpu_ms_per_instance", "controller_cpu_ms", "cpu_bound_speedup", "free_cores",
           "goal", "note", "machine", "load")

#: two replica groups, group g on worker g (issue 12)
GROUPS = ["replicas.groups=2", 'placement.strategy="groups"']
#: (label, overrides) of the multicore variants measured per workload
VARIANTS = {
    "mnist_mlp": [("greedy mak=4", ['placement.strategy="greedy"', "train.mak=4"]),
                  ("fc0|rest mak=4", ['placement.strategy="explicit"', 'placement.map={x=0,fc0=0,"*"=1}',
                                      "train.mak=4"]),
                  ("fc0|rest mak=16", ['placement.strategy="explicit"', 'placement.map={x=0,fc0=0,"*"=1}',
                                       "train.mak=16"]),
                  ("fc0|rest mak=16 spin", ['placement.strategy="explicit"', 'placement.map={x=0,fc0=0,"*"=1}',
                                            "train.mak=16"]),
                  ("groups=2 mak=4", [*GROUPS, "train.mak=4"]),
                  ("groups=2 mak=4 sync_every=8", [*GROUPS, "train.mak=4", "replicas.sync_every=8"]),
                  ("groups=2 mak=8 sync_every=32 spin", [*GROUPS, "train.mak=8", "replicas.sync_every=32"])],
    "sst_treelstm": [("greedy mak=16", ['placement.strategy="greedy"', "train.mak=16"]),
                     # the best 2-way split by a brute-force search over node costs and message counts
                     ("best split mak=16", ['placement.strategy="explicit"', "train.mak=16",
                                            'placement.map={group=0,node=0,up=0,fan=0,gather=0,spread=0,"*"=1}']),
                     ("best split mak=16 spin", ['placement.strategy="explicit"', "train.mak=16",
                                                 'placement.map={group=0,node=0,up=0,fan=0,gather=0,spread=0,"*"=1}']),
                     ("groups=2 mak=32", [*GROUPS, "train.mak=32"]),
                     ("groups=2 mak=32 sync_every=4 spin", [*GROUPS, "train.mak=32", "replicas.sync_every=4"]),
                     # the embedding's rounds move the rows the copies changed (22 MB of 23.4 MB a copy)
                     ("groups=2 mak=32 sparse", [*GROUPS, "train.mak=32", "replicas.sparse_sync=true"])],
}
#: training instances of one pass: MNIST batches of 32 (limit_train counts images) or SST trees; the plan refuses a
#: train.muf that the run's instances cannot meet in each copy (ampsim.muf: SST's 25, 2 groups, 5 epochs), so the
#: quick run's 4 trees are planned as a run of 50 (each variant then trains its first n)
DATA_LIMIT = {"mnist_mlp": lambda n: n * 32, "sst_treelstm": lambda n: max(n, 50)}


def _plan(exp: str, n: int, sets: list[str]) -> Plan:
    """The experiment resolved (data limited to ``n`` instances, parameters configured, nodes placed)."""
    from ampsim.config import load_config, parse_override
    from ampsim.planning import plan

    data = ["data.limit_test=10", f"data.limit_train={DATA_LIMIT[exp](n)}"]
    cfg = load_config(ROOT / "experiments" / f"{exp}.toml", [parse_override(s) for s in data + sets])
    return plan(cfg)


def _reference(exp: str, insts: list) -> dict:
    from ampsim.executors.reference import ReferenceExecutor

    ex = ReferenceExecutor(_plan(exp, len(insts), ['executor.kind="reference"']).task.model)
    t0, c0 = time.perf_counter(), time.process_time()
    ex.train(insts)
    return {"seconds": time.perf_counter() - t0, "cpu": [time.process_time() - c0], "controller_cpu": 0.0}


#: the variants whose idle workers spin before sleeping (off by default: see ampsim.executors.multicore.executor.SPIN_S)
SPIN = {"spin_s": 2e-4}


def _multicore(exp: str, sets: list[str], insts: list, tuning: dict | None = None) -> dict:
    from ampsim.executors.multicore import MulticoreExecutor

    p = _plan(exp, len(insts), ['executor.kind="multicore"', "executor.workers=2", *sets])
    # built by hand rather than MulticoreExecutor.from_plan: the spin variants pass worker tuning
    with MulticoreExecutor(p.task.model, p.placement, p.workers, mak=p.mak, tuning=tuning, source=p.source,
                           sync_sets=p.sync_sets) as ex:
        ex.train(insts)
        # busy time, not CPU time: an idle worker spins before it sleeps, burning CPU that does no work
        return {"seconds": ex.time_s, "cpu": list(ex.summary()["worker_busy_s"]), "controller_cpu": ex.controller_cpu_s}


def bench_workload(exp: str, n: int, size: Size = FULL) -> list[dict]:
    """Every system on the first ``n`` training instances of ``exp``: one row each."""
    from ampsim.calibration.microbench import parallel_rate

    insts = list(_plan(exp, n, ['executor.kind="reference"']).task.train_instances(1))[:n]
    free = parallel_rate(2, size.probe_s) / parallel_rate(1, size.probe_s)
    systems: dict[str, Callable[[], dict]] = {"reference": lambda: _reference(exp, insts)}
    for label, sets in VARIANTS[exp]:
        tuning = SPIN if label.endswith(" spin") else None
        systems[f"multicore 2w {label}"] = lambda sets=sets, tuning=tuning: _multicore(exp, sets, insts, tuning)
    runs: dict[str, list[dict]] = {k: [] for k in systems}
    for _ in range(size.repeats):
        for name, fn in systems.items():
            runs[name].append(fn())
    ref_best = min(r["seconds"] for r in runs["reference"])
    ref_cpu = statistics.median(r["cpu"][0] for r in runs["reference"]) / len(insts)
    rows = []
    for name, rs in runs.items():
        best = min(r["seconds"] for r in rs)
        cpu = [statistics.median(r["cpu"][w] for r in rs) / len(insts) for w in range(len(rs[0]["cpu"]))]
        ctrl = statistics.median(r["controller_cpu"] for r in rs) / len(insts)
        busiest = max(cpu) + ctrl / len(cpu)
        rows.append({"workload": exp, "system": name, "instances": len(insts),
                     "best_instances_per_s": len(insts) / best,
                     "median_instances_per_s": len(insts) / statistics.median(r["seconds"] for r in rs),
                     "speedup_vs_reference": ref_best / best,
                     "cpu_ms_per_instance": "/".join(f"{c * 1e3:.3f}" for c in cpu), "controller_cpu_ms": ctrl * 1e3,
                     "cpu_bound_speedup": ref_cpu / busiest, "free_cores": free,
                     "goal": GOAL if name != "reference" else "", "machine": machine(), "load": load()})
    return rows


def bench_torch_sst(size: bench_sst.Size) -> list[dict]:
    """PyTorch eager on the same SST trees (1 thread), or a row saying torch is not installed."""
    if not torch_installed():
        return [{"workload": "sst_treelstm", "system": "pytorch eager", "note": NO_TORCH,
                 "machine": machine(), "load": load()}]
    out = []
    for threads in (1,):
        r = bench_sst.bench_torch(threads, bench_sst.Size(trees=size.sst_trees, warmup=min(25, size.sst_trees),
                                                         repeats=size.repeats))
        out.append({"workload": "sst_treelstm", "system": f"pytorch eager ({threads} thread)", "instances": r["trees"],
                    "best_instances_per_s": r["trees_per_s"], "machine": machine(), "load": load()})
    return out


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Both workloads and the PyTorch row; writes ``out/multicore.csv`` and returns its rows."""
    size = QUICK if quick else FULL
    rows: list[dict] = []
    sst_ok = False
    for exp, n in (("mnist_mlp", size.mnist_batches), ("sst_treelstm", size.sst_trees)):
        try:
            rows += bench_workload(exp, n, size)
            sst_ok = sst_ok or exp == "sst_treelstm"
        except DataError as e:
            rows.append({"workload": exp, "system": "skipped", "note": data_missing(e, exp, quick),
                         "machine": machine(), "load": load()})
    if sst_ok:  # PyTorch trains on the same SST trees: without them there is nothing to compare
        rows += bench_torch_sst(size)
    path = write_csv(out, "multicore.csv", COLUMNS, rows)
    for r in rows:
        if isinstance(r.get("best_instances_per_s"), float) and "speedup_vs_reference" in r:
            print(f"{r['workload']:>13} {r['system']:<32} {r['best_instances_per_s']:8.1f}/s "
                  f"x{r['speedup_vs_reference']:.2f} (cpu-bound x{r['cpu_bound_speedup']:.2f}, "
                  f"free cores {r['free_cores']:.2f})")
        elif r.get("note"):
            print(f"{r['workload']:>13} {r['system']:<32} {r['note']}")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

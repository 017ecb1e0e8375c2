"""Multicore executor vs the single-process reference executor, side by side in one run.

Workloads: mnist_mlp on the first ``MNIST_BATCHES`` batches of 32 and sst_treelstm on the first
``SST_TREES`` trees (both need ``AMPSIM_DATA``; a missing dataset is reported in the CSV, not skipped
silently). For every workload the systems run in turn, ``REPEATS`` rounds, the fastest pass of each
counting (``best``) next to the median; every pass trains from the same starting parameters:

* ``reference`` — the synchronous reference executor in this process (ampsim's single-threaded BLAS);
* ``multicore 2w <placement> mak=<k>`` — the multicore executor with 2 workers (+ the controller process);
  ``... spin``: its idle workers poll for 200 us before they sleep;
* ``pytorch eager`` (SST only, when torch is installed) — reuses :mod:`benchmarks.bench_sst`.

Columns: instances/s, speedup over the reference, and the work per instance of every process (the
reference's CPU time, the workers' busy time: not waiting or spinning for input, and the controller's CPU
time), so the result can be read on a shared machine too: ``cpu_bound_speedup`` is what the run would
reach if each worker had a core of its own, ``reference CPU / busiest worker's work`` (the controller's
CPU split evenly). ``free_cores`` is the CPU that two busy processes got when the
workload started (1.0 = only one core's worth, e.g. because other jobs hold the rest).

Writes results/bench/multicore.csv. ``python -m benchmarks.bench_multicore``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from benchmarks.common import machine, write_csv

ROOT = Path(__file__).resolve().parents[1]
MNIST_BATCHES = 600
SST_TREES = 300
REPEATS = 3
GOAL = 1.6

#: (label, overrides) of the multicore variants measured per workload
VARIANTS = {
    "mnist_mlp": [("greedy mak=4", ['placement.strategy="greedy"', "train.mak=4"]),
                  ("fc0|rest mak=4", ['placement.strategy="explicit"', 'placement.map={x=0,fc0=0,"*"=1}',
                                      "train.mak=4"]),
                  ("fc0|rest mak=16", ['placement.strategy="explicit"', 'placement.map={x=0,fc0=0,"*"=1}',
                                       "train.mak=16"]),
                  ("fc0|rest mak=16 spin", ['placement.strategy="explicit"', 'placement.map={x=0,fc0=0,"*"=1}',
                                            "train.mak=16"])],
    "sst_treelstm": [("greedy mak=16", ['placement.strategy="greedy"', "train.mak=16"]),
                     # the best 2-way split by a brute-force search over node costs and message counts
                     ("best split mak=16", ['placement.strategy="explicit"', "train.mak=16",
                                            'placement.map={group=0,node=0,up=0,fan=0,gather=0,spread=0,"*"=1}']),
                     ("best split mak=16 spin", ['placement.strategy="explicit"', "train.mak=16",
                                                 'placement.map={group=0,node=0,up=0,fan=0,gather=0,spread=0,"*"=1}'])],
}
DATA = {"mnist_mlp": ["data.limit_test=10", f"data.limit_train={MNIST_BATCHES * 32}"],
        "sst_treelstm": ["data.limit_test=10", f"data.limit_train={SST_TREES}"]}


def _task(exp: str, sets: list[str]):
    from ampsim.config import load_config, parse_override
    from ampsim.models import build_task
    from ampsim.training import configure_params

    cfg = load_config(ROOT / "experiments" / f"{exp}.toml", [parse_override(s) for s in DATA[exp] + sets])
    task = build_task(cfg)
    configure_params(cfg, task)
    return cfg, task


def _reference(exp: str, insts) -> dict:
    from ampsim.executors.reference import ReferenceExecutor

    _, task = _task(exp, [])
    ex = ReferenceExecutor(task.model)
    t0, c0 = time.perf_counter(), time.process_time()
    ex.train(insts)
    return {"seconds": time.perf_counter() - t0, "cpu": [time.process_time() - c0], "controller_cpu": 0.0}


#: the variants whose idle workers spin before sleeping (off by default: see ampsim.executors.multicore.executor.SPIN_S)
SPIN = {"spin_s": 2e-4}


def _multicore(exp: str, sets: list[str], insts, tuning: dict | None = None) -> dict:
    from ampsim.executors.multicore import MulticoreExecutor, multicore_placement

    cfg, task = _task(exp, ["executor.workers=2", *sets])
    mapping, _ = multicore_placement(cfg, task, 2)
    with MulticoreExecutor(task.model, mapping, 2, mak=cfg.train.mak, tuning=tuning) as ex:
        ex.train(insts)
        # busy time, not CPU time: an idle worker spins before it sleeps, burning CPU that does no work
        return {"seconds": ex.time_s, "cpu": list(ex.summary()["worker_busy_s"]), "controller_cpu": ex.controller_cpu_s}


def bench_workload(exp: str, n: int) -> list[dict]:
    from ampsim.microbench import parallel_rate

    _, task = _task(exp, [])
    insts = list(task.train_instances(1))[:n]
    free = parallel_rate(2) / parallel_rate(1)
    systems = {"reference": lambda: _reference(exp, insts)}
    for label, sets in VARIANTS[exp]:
        tuning = SPIN if label.endswith(" spin") else None
        systems[f"multicore 2w {label}"] = lambda sets=sets, tuning=tuning: _multicore(exp, sets, insts, tuning)
    runs: dict[str, list[dict]] = {k: [] for k in systems}
    for _ in range(REPEATS):
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
                     "cpu_bound_speedup": ref_cpu / busiest, "free_cores": free, "goal": GOAL if name != "reference" else "",
                     "machine": machine(), "load": os.getloadavg()[0]})
    return rows


def bench_torch_sst() -> list[dict]:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        return [{"workload": "sst_treelstm", "system": "pytorch eager", "instances": 0,
                 "best_instances_per_s": "", "median_instances_per_s": "", "speedup_vs_reference": "",
                 "cpu_ms_per_instance": "", "controller_cpu_ms": "", "cpu_bound_speedup": "", "free_cores": "",
                 "goal": "torch not installed", "machine": machine(), "load": os.getloadavg()[0]}]
    from benchmarks import bench_sst

    out = []
    for threads in (1,):
        r = bench_sst.bench_torch(threads)
        out.append({"workload": "sst_treelstm", "system": f"pytorch eager ({threads} thread)", "instances": r["trees"],
                    "best_instances_per_s": r["trees_per_s"], "median_instances_per_s": "", "speedup_vs_reference": "",
                    "cpu_ms_per_instance": "", "controller_cpu_ms": "", "cpu_bound_speedup": "", "free_cores": "",
                    "goal": "", "machine": machine(), "load": os.getloadavg()[0]})
    return out


def main() -> None:
    from ampsim.errors import DataError

    rows: list[dict] = []
    for exp, n in (("mnist_mlp", MNIST_BATCHES), ("sst_treelstm", SST_TREES)):
        try:
            rows += bench_workload(exp, n)
        except DataError as e:
            rows.append({"workload": exp, "system": "skipped", "goal": str(e)})
            print(f"{exp}: skipped ({e})")
    rows += bench_torch_sst()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    path = write_csv("multicore.csv", [{k: r.get(k, "") for k in keys} for r in rows])
    for r in rows:
        if isinstance(r.get("best_instances_per_s"), float) and r.get("speedup_vs_reference") != "":
            print(f"{r['workload']:>13} {r['system']:<32} {r['best_instances_per_s']:8.1f}/s "
                  f"x{r['speedup_vs_reference']:.2f} (cpu-bound x{r['cpu_bound_speedup']:.2f}, "
                  f"free cores {r['free_cores']:.2f})")
    print(f"written {path}")


if __name__ == "__main__":
    main()

"""Cost of simulation, side by side in one run. Writes results/bench/sim.csv.

* ``sim_over_reference``: wall time of a simulated run ÷ wall time of a reference run on the same training
  work (an MNIST-shaped MLP, 784-256-256-256-10, batches of 32, mak = 1; random data so no download is
  needed). Goal ≤ 1.5×, with whole-message links and with packet-switched ones (``link.packet_bytes`` =
  256, the ``_packets256`` row).
* ``messages_per_wall_s``: simulated messages processed per wall second in that run.
* ``wall_us_per_message`` on 4, 64 and 1024 chips: a 64-layer chain of small Linear+ReLU nodes placed
  round-robin over a ring of 4, an 8×8 torus and a 32×32 torus, mak = 8. Goal: flat within 1.2×.
* ``wall_us_per_message`` on 2 … 16 chips that share cores (the ``_shared`` rows): the same chain over a
  measured machine's kind of model, k worker chips fully connected on k cores with a controller beside
  them (``[host]``) and chips that slow each other (``contention_slowdown``), mak = 8 k so every chip is
  busy. Every start and end of a work item changes the rate of the items in progress
  (:mod:`ampsim.executors.sim.contention`: one clock per class of items that share a rate, a heap of ends,
  O(log items) per change), so this is the cost of that rule as the busy chips grow.

``python -m benchmarks.bench_sim [--quick --out DIR]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ampsim.executors.reference import ReferenceExecutor
from ampsim.executors.sim import SimExecutor
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.models.base import Model
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec
from ampsim.placement import place
from benchmarks.common import OUT, ROOT, load, machine, run_one, write_csv

HW = ROOT / "hardware_models"
SCALE_SYSTEMS = ("ring4.toml", "torus8x8.toml", "torus_32x32.toml")
#: worker chips of the shared-cores series
SHARED_CHIPS = (2, 4, 8, 16)


@dataclass(frozen=True)
class Size:
    """Batches and timed passes of the sim-vs-reference run, and instances of each scaling run."""

    batches: int
    repeats: int  # alternating passes of both executors; the fastest of each counts
    chain_instances: int


FULL = Size(batches=400, repeats=3, chain_instances=150)
QUICK = Size(batches=8, repeats=1, chain_instances=4)
COLUMNS = ("case", "chips", "messages", "network_messages", "reference_wall_s", "sim_wall_s",
           "sim_over_reference", "goal", "messages_per_wall_s", "wall_us_per_message", "relative_to_fastest",
           "machine", "load")


def _model(n_in: int, hidden: list[int], n_out: int) -> Model:
    m = build_mlp(n_in, hidden, n_out, seed=0)
    for n in m.graph.param_nodes:
        n.configure(OptimizerSpec("sgd", lr=0.01), muf=1)
    return m


def _batches(n: int, n_in: int, n_out: int, batch: int, seed: int = 0) -> list[Instance]:
    r = np.random.default_rng(seed)
    return [Instance(k, {"x": r.random((batch, n_in), dtype=np.float32), "y": r.integers(0, n_out, batch)})
            for k in range(n)]


def sim_vs_reference(n_batches: int = 400, repeats: int = 3, packet_bytes: int = 0) -> dict:
    data = _batches(n_batches, 784, 10, 32)
    system = load_system(HW / "ring4.toml", {"link": {"packet_bytes": packet_bytes}} if packet_bytes else None)
    t_ref = t_sim = float("inf")
    msgs = 0
    for _ in range(repeats):  # alternate, keep the best of each: both see the same machine noise
        m = _model(784, [256, 256, 256], 10)
        t0 = time.perf_counter()
        ReferenceExecutor(m).train(data)
        t_ref = min(t_ref, time.perf_counter() - t0)
        m = _model(784, [256, 256, 256], 10)
        ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=1)
        t0 = time.perf_counter()
        ex.train(data)
        t_sim = min(t_sim, time.perf_counter() - t0)
        msgs = ex.messages
    case = "mnist_shaped_mlp_ring4_mak1" + (f"_packets{packet_bytes}" if packet_bytes else "")
    return {"case": case, "reference_wall_s": round(t_ref, 4),
            "sim_wall_s": round(t_sim, 4), "sim_over_reference": round(t_sim / t_ref, 3), "goal": "<= 1.5",
            "messages": msgs, "messages_per_wall_s": round(msgs / t_sim), "machine": machine(), "load": load()}


def _chain_row(case: str, system, mak: int, n_instances: int, layers: int, precompute: bool = False) -> dict:
    """Train a ``layers``-deep chain of tiny nodes placed round robin on ``system``: its wall time per
    simulated message (the one row shape both series below write)."""
    m = _model(16, [16] * (layers - 1), 4)
    ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=mak)
    if precompute:  # routes found before the timer (all sources: 0.2 s on the 32×32 torus), as a sweep's later
        # points find them in the process's shared routing tables (ampsim/hardware/routing.py)
        ex.network.routes.precompute()
    data = _batches(n_instances, 16, 4, 1)
    t0 = time.perf_counter()
    ex.train(data)
    wall = time.perf_counter() - t0
    return {"case": case, "chips": system.n_chips, "messages": ex.messages,
            "network_messages": ex.network.messages, "wall_us_per_message": round(wall / ex.messages * 1e6, 2),
            "machine": machine(), "load": load()}


def per_message(hw: str, n_instances: int = 150, layers: int = 64) -> dict:
    # whole-message links on every machine (torus_32x32 ships with 256-byte packets): the series measures
    # how the cost per message grows with the machine; the packet path's cost is the MNIST row's
    system = load_system(HW / hw, {"link": {"packet_bytes": 0}})
    return _chain_row(f"chain{layers}_{hw.removesuffix('.toml')}", system, 8, n_instances, layers, precompute=True)


def shared_cores(chips: int, n_instances: int = 150, layers: int = 64) -> dict:
    """Wall time per simulated message on ``chips`` chips that share ``chips`` cores with a controller."""
    system = load_system(HW / "ring4.toml", {
        "topology": {"kind": "fully_connected", "n": chips},
        "chip": {"contention_slowdown": 0.08},
        "host": {"cores": chips, "controller_s_per_instance": 5e-5, "controller_s_per_message": 1e-6}})
    return _chain_row(f"chain{layers}_fully_connected{chips}_shared", system, 8 * chips, n_instances, layers)


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Run both measurements, write ``out/sim.csv`` and return its rows."""
    size = QUICK if quick else FULL
    head = sim_vs_reference(size.batches, size.repeats)
    packets = sim_vs_reference(size.batches, size.repeats, packet_bytes=256)
    scale = [per_message(hw, size.chain_instances) for hw in SCALE_SYSTEMS]
    shared = [shared_cores(k, size.chain_instances) for k in SHARED_CHIPS]
    for series in (scale, shared):
        lo = min(r["wall_us_per_message"] for r in series)
        for r in series:
            r["relative_to_fastest"] = round(r["wall_us_per_message"] / lo, 3)
    rows = [head, packets, *scale, *shared]
    path = write_csv(out, "sim.csv", COLUMNS, rows)
    for r in (head, packets):
        print(f"{r['case']}: sim/reference wall {r['sim_over_reference']}× (goal ≤ 1.5×); "
              f"{r['messages_per_wall_s']} simulated messages per wall second")
    for r in (*scale, *shared):
        where = " sharing cores" if r in shared else ""
        print(f"{r['chips']:5d} chips{where}: {r['wall_us_per_message']} µs wall per simulated message "
              f"({r['relative_to_fastest']}× the fastest)")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

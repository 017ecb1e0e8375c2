"""Cost of a replayed simulation (``executor.numerics = false``) against the full one, side by side in one
run. Writes results/bench/replay.csv.

* ``sst``: the SST Tree-LSTM (300 trees, the experiment's model), an 8×8 torus, mak = 16: wall time of the
  full simulated run, of recording the trees once, and of the replay; ``replay_over_full`` (goal ≤ 0.1).
  ``same_time`` says the replay's simulated time equals the full run's (it must).
* ``chain``: a 64-layer chain of tiny Linear+ReLU nodes (width 16, one row per message), mak = 8,
  round-robin over a ring of 4, an 8×8 torus and a 32×32 torus; a 512-layer chain that keeps all
  1,024 chips of the torus busy; and the 64-layer chain in 8 replica groups (``placement = "groups"``,
  copies not synchronized) that keeps 1,024 chips busy too: simulated messages per wall second in the
  replay (goal ≥ 100,000) and wall µs per message (flat from 4 to 1,024 busy chips: ``relative_to_fastest``).

``python -m benchmarks.bench_replay [--quick --out DIR]``.
"""

from __future__ import annotations

import time
from pathlib import Path

from ampsim.config import load_config, parse_override
from ampsim.errors import DataError
from ampsim.executors import make_executor
from ampsim.executors.sim import SimExecutor
from ampsim.executors.sim.recording_cache import clear_memory, obtain
from ampsim.hardware.parse import load_system
from ampsim.placement import Profile, place
from ampsim.planning import plan
from ampsim.replicas import ReplicaSpec, replicate
from benchmarks.bench_sim import _batches, _model
from benchmarks.common import OUT, ROOT, data_missing, load, machine, run_one, write_csv

HW = ROOT / "hardware_models"
#: (machine, chain layers, instances): 64 layers keep ~130 chips busy; 512 layers (~1,030 nodes) keep every
#: chip of the 32×32 torus busy, with about as many messages in all
CHAIN_CASES = (("ring4.toml", 64, 300, 1), ("torus8x8.toml", 64, 300, 1), ("torus_32x32.toml", 64, 300, 1),
               ("torus_32x32.toml", 512, 38, 1), ("torus_32x32.toml", 64, 304, 8))
COLUMNS = ("case", "chips", "instances", "messages", "full_wall_s", "record_wall_s", "replay_wall_s",
           "replay_over_full", "goal", "same_time", "messages_per_wall_s", "wall_us_per_message",
           "relative_to_fastest", "note", "machine", "load")


def _sst_config(trees: int, *extra: str):
    return load_config(ROOT / "experiments" / "sst_treelstm.toml", [parse_override(s) for s in (
        'executor.kind="sim"', f'executor.hardware="{HW / "torus8x8.toml"}"', "train.mak=16",
        f"data.limit_train={trees}", "data.limit_test=4", *extra)])


def sst(trees: int, repeats: int, quick: bool) -> dict:
    row = {"case": f"sst_{trees}_torus8x8_mak16", "instances": trees, "goal": "replay_over_full <= 0.1"}
    try:
        p = plan(_sst_config(trees))
    except DataError as e:
        return {**row, "note": data_missing(e, "SST", quick)}
    batch = list(p.task.train_instances(1))[:trees]
    clear_memory()
    t0 = time.perf_counter()
    obtain(p.task.model, batch, context=p.recording_context, use_folder=False)
    record_s = time.perf_counter() - t0
    full = replayed = first = float("inf")
    for _ in range(repeats):  # alternate, keep the best of each: both see the same machine noise
        ex = make_executor(plan(_sst_config(trees)))
        t0 = time.perf_counter()
        ex.train(batch)
        full, t_full, msgs = min(full, time.perf_counter() - t0), ex.time_s, ex.messages
        rx = make_executor(plan(_sst_config(trees, "executor.numerics=false")))
        t0 = time.perf_counter()
        rx.train(batch)  # the recording is in memory: what every sweep point after the first pays
        t = time.perf_counter() - t0
        if first == float("inf"):
            first = t
        replayed = min(replayed, t)
    return {**row, "chips": len(ex.chips), "messages": msgs, "full_wall_s": round(full, 3),
            "record_wall_s": round(record_s, 3), "replay_wall_s": round(replayed, 3),
            "replay_over_full": round(replayed / full, 4), "same_time": rx.time_s == t_full,
            "messages_per_wall_s": round(msgs / replayed), "wall_us_per_message": round(replayed / msgs * 1e6, 2),
            "note": f"first replay {first:.3f} s (builds the recording's lists once per process)",
            "machine": machine(), "load": load()}


def chain(hw: str, n_instances: int, layers: int = 64, groups: int = 1) -> dict:
    system = load_system(HW / hw)
    m = _model(16, [16] * (layers - 1), 4)
    data = _batches(n_instances, 16, 4, 1)
    if groups > 1:  # whole-model copies, not synchronized: every chip works, on the fast loop
        rep = replicate(m, ReplicaSpec(groups=groups, sync="none"))
        m = rep.model
        mapping = place("groups", m, system.chips, groups=rep.group_members, prof=Profile.uniform(m.graph.nodes))
    else:
        mapping = place("round_robin", m, system.chips)
    obtain(m, data, use_folder=False)  # recorded once, outside the timing
    SimExecutor(m, system, mapping, mak=8, numerics=False).train(data)  # warm: the recording's lists
    ex = SimExecutor(m, system, mapping, mak=8, numerics=False)
    ex.network.routes.precompute()
    t0 = time.perf_counter()
    ex.train(data)
    wall = time.perf_counter() - t0
    busy = len(set(mapping.values()))
    name = f"chain{layers}{f'x{groups}groups' if groups > 1 else ''}_{hw.removesuffix('.toml')}_replay"
    return {"case": name, "chips": system.n_chips, "note": f"{busy} chips busy",
            "instances": n_instances, "messages": ex.messages, "replay_wall_s": round(wall, 3),
            "goal": "messages_per_wall_s >= 100000", "messages_per_wall_s": round(ex.messages / wall),
            "wall_us_per_message": round(wall / ex.messages * 1e6, 2), "machine": machine(), "load": load()}


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Run both measurements, write ``out/replay.csv`` and return its rows."""
    head = sst(8 if quick else 300, 1 if quick else 3, quick)
    scale = [chain(hw, (2 * groups) if quick else n, layers, groups) for hw, layers, n, groups in CHAIN_CASES]
    lo = min(r["wall_us_per_message"] for r in scale)
    for r in scale:
        r["relative_to_fastest"] = round(r["wall_us_per_message"] / lo, 3)
    rows = [head, *scale]
    path = write_csv(out, "replay.csv", COLUMNS, rows)
    if "replay_over_full" in head:
        print(f"SST: replay {head['replay_wall_s']} s / full {head['full_wall_s']} s = {head['replay_over_full']} "
              f"(goal ≤ 0.1); recording {head['record_wall_s']} s; same simulated time: {head['same_time']}")
    for r in scale:
        print(f"{r['chips']:5d} chips: {r['messages_per_wall_s']} simulated messages per wall second, "
              f"{r['wall_us_per_message']} µs each ({r['relative_to_fastest']}× the fastest)")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

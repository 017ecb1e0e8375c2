"""The GGNN on the simulated executor: mak = 1, muf = 1 parameters equal the reference's bit for bit; with
mak > 1 the loop, the anchored groups and the per-bond-type routing still complete every instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.data import qm9
from ampsim.executors.reference import ReferenceExecutor
from ampsim.executors.sim import SimExecutor
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.models.ggnn import build_model, graph_data
from ampsim.optim import OptimizerSpec
from ampsim.placement import place, profile

HW = Path(__file__).resolve().parents[2] / "hardware_models"


def molecules(n: int, seed: int = 0) -> list[qm9.Molecule]:
    """Small random molecules (1-7 atoms, random bond types), one without any bond."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = 1 if i == 2 else int(rng.integers(2, 8))
        bonds = [(int(rng.integers(0, v)), int(rng.integers(0, 4)), v) for v in range(1, atoms)]
        feats = np.eye(5, dtype=np.float32)[rng.integers(0, 5, atoms)]
        out.append(qm9.Molecule(feats, np.asarray(bonds, dtype=np.int64).reshape(-1, 3),
                                rng.normal(size=12), f"m{i}"))
    return out


def instances(granularity: str, batch: int = 1) -> list[Instance]:
    mols = molecules(8)
    return [Instance(k, graph_data(mols[i:i + batch], np.array([m.targets[0] for m in mols[i:i + batch]]),
                                   granularity)) for k, i in enumerate(range(0, len(mols), batch))]


def model(granularity: str, muf: int = 1):
    m = build_model(5, 8, 3, 6, granularity=granularity, seed=1)
    for n in m.graph.param_nodes:
        n.configure(OptimizerSpec(kind="adam", lr=0.01), muf=muf)
    return m


@pytest.mark.parametrize("granularity,batch,hw,strategy", [
    ("molecule", 1, "ring4.toml", "round_robin"), ("molecule", 3, "mesh4x4.toml", "min_cut"),
    ("atom", 1, "ring4.toml", "greedy")])
def test_mak1_muf1_sim_equals_reference_bit_for_bit(granularity, batch, hw, strategy):
    ref, sim = model(granularity), model(granularity)
    ReferenceExecutor(ref).train(instances(granularity, batch))
    system = load_system(HW / hw)
    mapping = place(strategy, sim, system.chips, prof=profile(sim, instances(granularity, batch)[:2]))
    ex = SimExecutor(sim, system, mapping, mak=1)
    ex.train(instances(granularity, batch))
    for a, b in zip(ref.graph.param_nodes, sim.graph.param_nodes):
        for name in a.params:
            assert np.array_equal(a.params[name], b.params[name]), (a.name, name)
    assert ex.time_s > 0


def test_mak4_completes_and_frees_state():
    m = model("molecule", muf=2)
    system = load_system(HW / "ring4.toml")
    ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=4)
    reports = ex.train(instances("molecule"))
    assert len([r for r in reports if r.node == "loss"]) == 8
    assert all(n.held_nbytes == 0 for n in m.graph.nodes.values() if n.kind != "ppt")
    assert max(max(n.staleness) for n in m.graph.param_nodes) >= 1  # pipelined: some updates are stale

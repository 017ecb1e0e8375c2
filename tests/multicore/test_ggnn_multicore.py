"""qm9_ggnn on the multicore executor: with mak = 1 the parameters equal the reference's (1e-10), through the
propagation loop, the per-bond-type routing and the anchored (possibly empty) groups; mak > 1 completes."""

from __future__ import annotations

import numpy as np
import pytest

from ampsim.data import qm9
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance
from ampsim.models.ggnn import build_model, graph_data
from ampsim.optim import OptimizerSpec
from ampsim.placement import place


def instances(granularity: str, batch: int, n: int = 8, seed: int = 0) -> list[Instance]:
    rng = np.random.default_rng(seed)
    mols = []
    for i in range(n):
        atoms = 1 if i == 1 else int(rng.integers(2, 7))  # one molecule without bonds
        bonds = [(int(rng.integers(0, v)), int(rng.integers(0, 4)), v) for v in range(1, atoms)]
        mols.append(qm9.Molecule(np.eye(5, dtype=np.float32)[rng.integers(0, 5, atoms)],
                                 np.asarray(bonds, dtype=np.int64).reshape(-1, 3), rng.normal(size=12), f"m{i}"))
    return [Instance(k, graph_data(mols[i:i + batch], np.array([m.targets[0] for m in mols[i:i + batch]]),
                                   granularity)) for k, i in enumerate(range(0, n, batch))]


def model(granularity: str):
    m = build_model(5, 8, 3, 6, granularity=granularity, seed=2, dtype=np.float64)
    for n in m.graph.param_nodes:
        n.configure(OptimizerSpec(kind="adam", lr=0.01), muf=1)
    return m


@pytest.mark.parametrize("granularity,batch", [("molecule", 2), ("atom", 1)])
def test_mak1_equals_reference(granularity, batch):
    ref, mc = model(granularity), model(granularity)
    ReferenceExecutor(ref).train(instances(granularity, batch))
    with MulticoreExecutor(mc, place("round_robin", mc, [None] * 2), 2, mak=1) as ex:
        reports = ex.train(instances(granularity, batch))
        assert len([r for r in reports if r.node == "loss"]) == 8 // batch
    for a, b in zip(ref.graph.param_nodes, mc.graph.param_nodes):
        for name in a.params:
            assert np.abs(a.params[name] - b.params[name]).max() <= 1e-10, (a.name, name)


def test_mak4_completes():
    mc = model("molecule")
    with MulticoreExecutor(mc, place("round_robin", mc, [None] * 2), 2, mak=4) as ex:
        reports = ex.train(instances("molecule", 1))
    assert len([r for r in reports if r.node == "loss"]) == 8

"""Replicas in the multicore executor: routing through copy sets and synchronization rounds with the
reference executor's semantics (ampsim/executors/multicore/replicas.py).

At mak = 1 every round is applied between the same two messages of each copy as in the reference (the
gate), so the parameters agree bit for bit (asserted to the 1e-10 the design allows), and so do the number
of rounds and the drift. At mak = 4 the run completes and drains, and after the last round (every update a
contribution) the copies of each node are equal.
"""

from __future__ import annotations

import numpy as np
import pytest
from mc_helpers import ROOT

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.planning import plan

pytestmark = pytest.mark.data



MC = ('executor.kind="multicore"', "executor.workers=2")


def _plan(experiment: str, *overrides: str):
    return plan(load_config(ROOT / "experiments" / experiment, [parse_override(o) for o in overrides]))


def _params(model) -> dict:
    return {n.name: {k: v.copy() for k, v in n.params.items()} for n in model.graph.param_nodes}


def _train(p, placement: dict | None = None) -> tuple[dict, dict]:
    """Train one epoch of the plan's data; (parameters, summary). ``placement``: multicore by hand."""
    if placement is None:
        ex = make_executor(p)
    else:
        ex = MulticoreExecutor(p.task.model, placement, 2, mak=p.mak, sync_sets=p.sync_sets)
    with ex:
        ex.train(p.task.train_instances(1))
        return _params(p.task.model), ex.summary()


def _assert_close(ref: dict, mc: dict) -> None:
    assert ref.keys() == mc.keys()
    for name in ref:
        for k in ref[name]:
            np.testing.assert_allclose(mc[name][k], ref[name][k], rtol=0, atol=1e-10, err_msg=f"{name}.{k}")


MNIST = ("data.limit_train=1280", "data.limit_test=10")
SST = ("data.limit_train=40", "data.limit_test=10", "model.hidden=16", "model.embed=16")

CASES = [  # experiment, limits, replicas (+ muf), placement strategy
    ("mnist_mlp.toml", MNIST, ("replicas.groups=2", "train.muf=1"), "groups"),
    ("mnist_mlp.toml", MNIST, ("replicas.groups=2", "replicas.sync_every=3", "train.muf=2"), "groups"),
    ("mnist_mlp.toml", MNIST, ('replicas.nodes={"fc1"=2}', "replicas.sync_every=3", "train.muf=2"), "greedy"),
    ("sst_treelstm.toml", SST, ('replicas.nodes={"compose"=2}', "train.muf=1"), "greedy"),
    ("sst_treelstm.toml", SST, ("replicas.groups=2", "replicas.sync_every=3", "train.muf=2"), "groups"),
    ("mnist_mlp.toml", MNIST, ("replicas.groups=2", "replicas.outer_lr=2.0", "train.muf=2"), "groups"),
    # sparse synchronization: the embedding's rounds move the rows the copies changed
    ("sst_treelstm.toml", SST, ("replicas.groups=2", "replicas.sync_every=3", "train.muf=2",
                                "replicas.sparse_sync=true"), "groups"),
    ("sst_treelstm.toml", SST, ("replicas.groups=2", "replicas.outer_lr=2.0", "train.muf=2",
                                "replicas.sparse_sync=true"), "groups"),
]


@pytest.mark.parametrize("experiment,limits,replicas,strategy", CASES)
def test_mak1_equals_reference(data_root, monkeypatch, experiment, limits, replicas, strategy):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    sets = ("train.mak=1", *limits, *replicas)
    ref, ref_sum = _train(_plan(experiment, *sets))
    assert any("#" in name or name.startswith("g1/") for name in ref)
    mc, mc_sum = _train(_plan(experiment, *sets, *MC, f'placement.strategy="{strategy}"'))
    _assert_close(ref, mc)
    assert mc_sum["sync_rounds"] == ref_sum["sync_rounds"] > 0
    assert mc_sum["replica_drift"] == ref_sum["replica_drift"]
    assert mc_sum["sync_bytes"] > 0


def test_several_copies_on_one_worker_equal_reference(data_root, monkeypatch):
    """Two groups of two fc1 copies each, every group on one worker: a worker averages into two copies."""
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    sets = ("train.mak=1", "train.muf=1", "data.limit_train=640", "data.limit_test=10", "replicas.groups=2",
            'replicas.nodes={"fc1"=2}', "replicas.sync_every=2")
    ref, ref_sum = _train(_plan("mnist_mlp.toml", *sets))
    p = _plan("mnist_mlp.toml", *sets)
    mc, mc_sum = _train(p, {name: int(name.startswith("g1/")) for name in p.task.model.graph.nodes})
    assert {"g0/fc1#0", "g0/fc1#1", "g1/fc1#0", "g1/fc1#1"} <= mc.keys()
    _assert_close(ref, mc)
    assert mc_sum["sync_rounds"] == ref_sum["sync_rounds"] > 0


def test_sparse_sync_with_several_copies_on_one_worker_equals_reference(data_root, monkeypatch):
    """Four SST groups on two workers: a worker widens two copies' snapshots from the one base it keeps."""
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    sets = ("train.mak=1", "train.muf=2", *SST, "replicas.groups=4", "replicas.sync_every=2",
            "replicas.sparse_sync=true")
    ref, ref_sum = _train(_plan("sst_treelstm.toml", *sets))
    p = _plan("sst_treelstm.toml", *sets)
    mc, mc_sum = _train(p, {name: int(name[1]) % 2 for name in p.task.model.graph.nodes})
    _assert_close(ref, mc)
    assert mc_sum["sync_rounds"] == ref_sum["sync_rounds"] > 0
    assert mc_sum["replica_drift"] == ref_sum["replica_drift"]


def test_sparse_sync_moves_a_fraction_of_the_dense_bytes(data_root, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    sets = ("train.mak=4", "train.muf=2", *SST, "replicas.groups=2", *MC, 'placement.strategy="groups"')
    _, dense = _train(p := _plan("sst_treelstm.toml", *sets))
    params, sparse = _train(_plan("sst_treelstm.toml", *sets, "replicas.sparse_sync=true"))
    assert sparse["sync_rounds"] == dense["sync_rounds"] > 0
    # a round of the table's set moves it four times (two snapshots in, one average out to each worker);
    # its copies change the rows of 2 × 2 trees' words, far fewer than half the table's 440 rows
    table = next(n.param_bytes for n in p.task.model.graph.param_nodes if n.name == "g0/emb")
    table_rounds = dense["sync_rounds"] // len(p.sync_sets)
    assert 0 < sparse["sync_bytes"] < dense["sync_bytes"] - table_rounds * 4 * table / 2
    for a, b in zip(params["g0/emb"].values(), params["g1/emb"].values()):
        np.testing.assert_array_equal(a, b)  # every update a contribution: the last round leaves them equal


def test_mak4_completes_and_copies_are_in_step(data_root, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    p = _plan("mnist_mlp.toml", "train.mak=4", "train.muf=1", "data.limit_train=640", "data.limit_test=10",
              "replicas.groups=2", "replicas.sync_every=1", *MC, 'placement.strategy="groups"')
    params, summary = _train(p)
    # 20 batches, 10 per group: every update of a copy is a contribution, so its last one is averaged too
    assert summary["sync_rounds"] == 10 * len(p.sync_sets) > 0
    assert summary["messages_processed"] > 0
    for s in p.sync_sets:
        first, *others = (params[c.name] for c in s.copies)
        for other in others:
            for k in first:
                assert np.array_equal(first[k], other[k]), (s.name, k)


def test_the_same_instances_trained_twice_do_not_stall_the_copies():
    # muf 25 and 60 trees: instances of the first call still wait for their update when the second call
    # brings the same keys again. A node used to keep one of two such gradients, its update came one
    # instance late, and the round the controller had closed waited for a snapshot that never came
    # (until the watchdog)
    from ampsim.calibration.workloads import WORKLOADS
    from ampsim.replicas import ReplicaSpec, replicate

    model, insts = WORKLOADS["tree"][0](60)
    rep = replicate(model, ReplicaSpec(groups=2), "<test>")
    placement = {n: g for g, members in enumerate(rep.group_members) for n in members}
    with MulticoreExecutor(rep.model, placement, 2, mak=16, sync_sets=rep.sync_sets, watchdog_s=30) as ex:
        ex.train(insts[:5])
        ex.train(insts)
        summary = ex.summary()
    assert summary["sync_rounds"] > 0

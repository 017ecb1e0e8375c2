"""The simulator reproduces the reference executor bit for bit with mak = 1 and muf = 1, on real data
(mnist_mlp, sst_treelstm subsets) and on the offline list_reduction task."""

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.planning import plan

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hardware_models"


def trained_params(experiment: str, limits: tuple[str, ...], *overrides: str) -> dict:
    cfg = load_config(ROOT / "experiments" / experiment,
                      [parse_override(o) for o in ("train.mak=1", "train.muf=1", *limits, *overrides)])
    p = plan(cfg)
    task = p.task
    ex = make_executor(p)
    ex.train(task.train_instances(1))
    return {n.name: {k: v.copy() for k, v in n.params.items()} for n in task.model.graph.param_nodes}


def assert_bit_equal(ref: dict, sim: dict) -> None:
    assert ref.keys() == sim.keys()
    for name in ref:
        for k in ref[name]:
            assert np.array_equal(ref[name][k], sim[name][k]), (name, k)


def sim(hw: str, strategy: str) -> tuple[str, ...]:
    return ('executor.kind="sim"', f'executor.hardware="{HW / hw}"', f'placement.strategy="{strategy}"')


CASES = [
    ("mnist_mlp.toml", ("data.limit_train=640", "data.limit_test=100"), "torus8x8.toml", "greedy"),
    ("sst_treelstm.toml", ("data.limit_train=40", "data.limit_test=10"), "ring4.toml", "round_robin"),
    ("sst_treelstm.toml", ("data.limit_train=40", "data.limit_test=10"), "hetero_straggler.toml", "min_cut"),
]


@pytest.mark.parametrize("experiment,limits,hw,strategy", CASES)
def test_sim_equals_reference_bit_for_bit_on_real_data(data_root, monkeypatch, experiment, limits, hw, strategy):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    assert_bit_equal(trained_params(experiment, limits), trained_params(experiment, limits, *sim(hw, strategy)))


def test_sim_equals_reference_bit_for_bit_on_list_reduction():
    limits = ("data.n_train=160", "data.n_test=16")
    assert_bit_equal(trained_params("list_reduction.toml", limits),
                     trained_params("list_reduction.toml", limits, *sim("mesh4x4.toml", "greedy")))


REPLICA_CASES = [
    ("mnist_mlp.toml", ("data.limit_train=320", "data.limit_test=50"), "torus8x8.toml", "groups",
     ("replicas.groups=2", 'replicas.nodes={"fc1"=2}')),
    ("mnist_mlp.toml", ("data.limit_train=320", "data.limit_test=50"), "ring4.toml", "greedy",
     ("replicas.groups=2", "replicas.sync_every=3")),
    ("sst_treelstm.toml", ("data.limit_train=40", "data.limit_test=10"), "torus8x8.toml", "groups",
     ("replicas.groups=2", 'replicas.nodes={"compose"=2}', "train.muf=1")),
    ("sst_treelstm.toml", ("data.limit_train=40", "data.limit_test=10"), "torus8x8.toml", "groups",
     ("replicas.groups=4", "replicas.outer_lr=3.0", "train.muf=2")),
    ("sst_treelstm.toml", ("data.limit_train=40", "data.limit_test=10"), "hypercube_1024.toml", "groups",
     ("replicas.groups=4", "replicas.sparse_sync=true", 'replicas.nodes={"compose"=2}', "train.muf=1")),
    ("sst_treelstm.toml", ("data.limit_train=40", "data.limit_test=10"), "hetero_straggler.toml", "min_cut",
     ('replicas.nodes={"compose"=2, "leafcell"=2}', "replicas.sync_every=2")),
]


@pytest.mark.parametrize("experiment,limits,hw,strategy,replicas", REPLICA_CASES)
def test_with_replicas_sim_equals_reference_bit_for_bit(data_root, monkeypatch, experiment, limits, hw, strategy,
                                                        replicas):
    """Groups and node copies synchronized by averaging: at mak = 1 every executor applies each round
    between the same two messages, so the simulator still reproduces the reference exactly."""
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    ref = trained_params(experiment, limits, *replicas)
    assert any("#" in name or name.startswith("g1/") for name in ref)
    assert_bit_equal(ref, trained_params(experiment, limits, *replicas, *sim(hw, strategy)))

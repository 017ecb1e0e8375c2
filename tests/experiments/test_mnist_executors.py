"""mnist_mlp on the real data: the simulator reproduces the reference bit for bit (mak = 1, muf = 1)."""

from pathlib import Path

import numpy as np

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.models import build_task
from ampsim.training import configure_params

ROOT = Path(__file__).resolve().parents[2]


def trained_params(data_root, monkeypatch, *overrides):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    cfg = load_config(ROOT / "experiments" / "mnist_mlp.toml",
                      [parse_override(o) for o in ("data.limit_train=640", "data.limit_test=100", *overrides)])
    task = build_task(cfg)
    configure_params(cfg, task)
    ex = make_executor(cfg, task)
    ex.train(task.train_instances(1))
    return {n.name: {k: v.copy() for k, v in n.params.items()} for n in task.model.graph.param_nodes}


def test_sim_equals_reference_bit_for_bit_on_mnist_subset(data_root, monkeypatch):
    ref = trained_params(data_root, monkeypatch)
    sim = trained_params(data_root, monkeypatch, 'executor.kind="sim"',
                         f'executor.hardware="{ROOT / "hardware_models" / "torus8x8.toml"}"',
                         'placement.strategy="greedy"')
    assert ref.keys() == sim.keys()
    for name in ref:
        for k in ref[name]:
            assert np.array_equal(ref[name][k], sim[name][k]), (name, k)

"""The simulated executor against the reference; determinism; bad input."""

import filecmp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.errors import ConfigError, RunError
from ampsim.executors.reference import ReferenceExecutor
from ampsim.executors.sim import SimExecutor
from ampsim.hardware.parse import load_system
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.pointwise import Add
from ampsim.models.base import InjectFields, Metric, Model
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec
from ampsim.placement import place, profile
from ampsim.training import train_experiment

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hardware_models"


def mlp(kind="adam", muf=1):
    model = build_mlp(12, [16, 16, 8], 4, seed=3)
    for n in model.graph.param_nodes:
        n.configure(OptimizerSpec(kind=kind, lr=0.01), muf=muf)
    return model


def batches(n, seed=0):
    r = np.random.default_rng(seed)
    return [Instance(k, {"x": r.normal(size=(8, 12)).astype(np.float32), "y": r.integers(0, 4, 8)})
            for k in range(n)]


@pytest.mark.parametrize("hw,strategy", [("ring4.toml", "round_robin"), ("mesh4x4.toml", "greedy"),
                                         ("hetero_straggler.toml", "min_cut")])
def test_mak1_muf1_sim_equals_reference_bit_for_bit(hw, strategy):
    ref, sim = mlp(), mlp()
    ReferenceExecutor(ref).train(batches(12))
    system = load_system(HW / hw)
    mapping = place(strategy, sim, system.chips, prof=profile(sim, batches(2)))
    ex = SimExecutor(sim, system, mapping, mak=1)
    ex.train(batches(12))
    for a, b in zip(ref.graph.param_nodes, sim.graph.param_nodes):
        assert np.array_equal(a.params["W"], b.params["W"]) and np.array_equal(a.params["b"], b.params["b"])
    assert ex.time_s > 0


def test_mak_gt_1_makes_updates_stale_and_pipelines():
    system = load_system(HW / "ring4.toml")
    times, stale = {}, {}
    for mak in (1, 4):
        model = mlp()
        ex = SimExecutor(model, system, place("round_robin", model, system.chips), mak=mak)
        ex.train(batches(40))
        times[mak] = ex.time_s
        stale[mak] = max(max(n.staleness) for n in model.graph.param_nodes)
        assert all(n.held_nbytes == 0 for n in model.graph.nodes.values() if n.kind != "ppt")
    assert times[4] < times[1] and stale[1] == 0 and stale[4] >= 1


def test_same_seed_same_config_identical_results_files(tmp_path):
    outs = []
    for i in range(2):
        cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [
            parse_override("executor.kind=\"sim\""), parse_override(f"executor.hardware=\"{HW / 'ring4.toml'}\""),
            parse_override("train.mak=4"), parse_override("train.epochs=2"), parse_override("executor.trace=true")])
        out = tmp_path / f"run{i}"
        train_experiment(cfg, out)
        outs.append(out)
    for name in ("metrics.csv", "summary.json", "config.toml", "trace.json", "placement.json"):
        assert filecmp.cmp(outs[0] / name, outs[1] / name, shallow=False), name


def test_placement_errors():
    system = load_system(HW / "ring4.toml")
    model = mlp()
    with pytest.raises(ConfigError, match="chip 9 does not exist"):
        place("explicit", model, system.chips, explicit={"*": 9}, source="e.toml")
    with pytest.raises(ConfigError, match="placement.map.nope: names no node"):
        place("explicit", model, system.chips, explicit={"nope": 0, "*": 1}, source="e.toml")
    with pytest.raises(ConfigError, match="no chip for node"):
        place("explicit", model, system.chips, explicit={"fc*": 0}, source="e.toml")
    with pytest.raises(ConfigError, match="hardware ring4 has chips 0..3"):
        SimExecutor(model, system, {n: 5 for n in model.graph.nodes})
    with pytest.raises(ConfigError, match="no node named 'ghost'"):
        SimExecutor(model, system, {**{n: 0 for n in model.graph.nodes}, "ghost": 1})


def test_model_larger_than_chip_memory():
    from ampsim.hardware.parse import system_from_dict

    d = load_system(HW / "ring4.toml").to_dict()
    d["chip"]["memory_bytes"] = 1000
    system = system_from_dict(d, "tiny.toml")
    model = mlp()
    with pytest.raises(RunError, match="chip 0 out of memory.*parameters"):
        SimExecutor(model, system, {n: 0 for n in model.graph.nodes})


def test_a_run_that_deadlocks_is_reported():
    g = Graph("stuck")
    g.add(Input("x1"))
    g.add(Input("x2"))
    add = g.add(Add("add"))
    from ampsim.ir.nodes.losses import Field, MeanSquaredError

    g.add(MeanSquaredError("loss", 3, Field("t")))
    g.connect("x1", add, 0, 0)
    g.connect("x2", add, 0, 1)
    g.connect(add, "loss")
    # only x1 is ever fed, so the Add waits forever for its second input
    model = Model(g.validate(), InjectFields((("x1", "x"),)), Metric("mse", "loss", "loss"))
    inst = [Instance(0, {"x": np.ones((1, 3), np.float32), "t": np.zeros((1, 3))})]
    system = load_system(HW / "ring4.toml")
    with pytest.raises(RunError, match=r"deadlock at t=.*instance 0 has no messages in flight but is waiting at: add"):
        SimExecutor(model, system, {n: 0 for n in g.nodes}).train(inst)
    for node in model.graph.nodes.values():
        node.reset()  # the aborted run left the Add's half-filled join behind
    with pytest.raises(RunError, match="stuck at add"):
        ReferenceExecutor(model).train(inst)


def test_cli_bad_hardware_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((HW / "ring4.toml").read_text().replace("bandwidth_bytes_per_s = 3.2e10",
                                                            "bandwidth_bytes_per_s = -1.0"))
    for args in (["info", str(bad)],
                 ["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--hardware", str(bad), "--no-progress"]):
        r = subprocess.run([sys.executable, "-m", "ampsim.cli", *args], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [f"ampsim: error: {bad}: link.bandwidth_bytes_per_s: must be > 0, got -1.0"]


def test_info_describes_a_model():
    r = subprocess.run([sys.executable, "-m", "ampsim.cli", "info", str(HW / "torus8x8.toml")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0
    for word in ("chips", "64", "diameter", "bisection", "FLOP/s"):
        assert word in r.stdout

"""``train.staleness``: stale-gradient mitigations carried by the parameterized nodes (issue 16, point 1).

``none`` is the old rule bit for bit; without staleness (mak 1, muf 1) every option equals it exactly;
with staleness (mak 8 on a ring) ``stash`` runs each backward on its forward's parameters, ``scale_lr``
scales each step by 1 / (1 + s) and ``predict`` extrapolates the forward's parameters along the last step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.errors import ConfigError
from ampsim.executors.reference import ReferenceExecutor
from ampsim.executors.sim import SimExecutor
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.param import STALENESS_MODES
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec
from ampsim.placement import place
from ampsim.planning import plan
from ampsim.training import train_experiment

ROOT = Path(__file__).resolve().parents[2]
RING = load_system(ROOT / "hardware_models" / "ring4.toml")


def mlp(mode: str | None = None, kind: str = "momentum", muf: int = 1, delay: float = -1.0):
    model = build_mlp(12, [16, 16, 8], 4, seed=3)
    for n in model.graph.param_nodes:
        n.configure(OptimizerSpec(kind=kind, lr=0.01), muf=muf)
        if mode is not None:
            n.configure_staleness(mode, delay)
    return model


def batches(n: int, seed: int = 0) -> list[Instance]:
    r = np.random.default_rng(seed)
    return [Instance(k, {"x": r.normal(size=(8, 12)).astype(np.float32), "y": r.integers(0, 4, 8)})
            for k in range(n)]


def sim(model, mak: int, n: int = 40) -> SimExecutor:
    ex = SimExecutor(model, RING, place("round_robin", model, RING.chips), mak=mak)
    ex.train(batches(n))
    return ex


def same_params(a, b) -> bool:
    return all(np.array_equal(x.params[k], y.params[k])
               for x, y in zip(a.graph.param_nodes, b.graph.param_nodes) for k in x.params)


def test_none_is_the_default_and_the_old_rule_bit_for_bit():
    assert all(n.staleness_mode == "none" for n in mlp().graph.param_nodes)
    a, b = mlp(), mlp("none")
    ReferenceExecutor(a).train(batches(12))
    ReferenceExecutor(b).train(batches(12))
    assert same_params(a, b)
    for mak in (1, 8):
        a, b = mlp(), mlp("none")
        ea, eb = sim(a, mak), sim(b, mak)
        assert same_params(a, b) and ea.time_s == eb.time_s
        assert ea.summary()["peak_memory_bytes"] == eb.summary()["peak_memory_bytes"]


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("mode", STALENESS_MODES[1:])
def test_without_staleness_every_option_equals_none(mode, kind):
    ref, opt = mlp("none", kind), mlp(mode, kind)
    ReferenceExecutor(ref).train(batches(12))
    ReferenceExecutor(opt).train(batches(12))
    assert same_params(ref, opt)
    assert all(set(n.staleness) == {0} for n in opt.graph.param_nodes)


def test_stash_backward_uses_the_forwards_parameters_and_costs_memory():
    model = mlp("stash")
    node = model.graph.nodes["fc2"]
    used: dict[tuple, np.ndarray] = {}
    checked = {"stale": 0, "all": 0}
    forward, backward = node.forward, node.backward

    def spy_forward(msg, port):
        if node.training:
            used[msg.tag] = (node.version, node.params["W"].copy())
        return forward(msg, port)

    def spy_backward(msg, port):
        version, W = used.pop(msg.tag)
        out = backward(msg, port)
        assert np.array_equal(out[0].msg.payload, msg.payload @ W.T)  # the input gradient of the forward's W
        checked["all"] += 1
        checked["stale"] += node.version != version
        return out

    node.forward, node.backward = spy_forward, spy_backward
    held = []
    step = node.step

    def spy_step(*a):
        held.append(node.held_nbytes)
        return step(*a)

    node.step = spy_step
    ex = sim(model, mak=8)
    assert checked["all"] == 40 and checked["stale"] > 0
    # the copies of superseded versions showed in held_nbytes and in the chips' peak memory, then went
    assert max(held) >= node.param_bytes and node.held_nbytes == 0 and not node._versions
    plain = sim(mlp("none"), mak=8)
    assert sum(ex.summary()["peak_memory_bytes"]) > sum(plain.summary()["peak_memory_bytes"])


def test_scale_lr_divides_each_step_by_one_plus_staleness():
    """A bare Linear, by hand: instance 1's forward precedes instance 0's update, so it applies with s = 1."""
    lin = Linear("lin", 3, 2, seed=1)
    lin.configure(OptimizerSpec(kind="sgd", lr=0.01), muf=1)
    lin.configure_staleness("scale_lr")
    r = np.random.default_rng(0)
    xs = [r.normal(size=(4, 3)).astype(np.float32) for _ in range(2)]
    dys = [r.normal(size=(4, 2)).astype(np.float32) for _ in range(2)]
    insts = [Instance(k, None) for k in (0, 1)]
    for k in (0, 1):
        lin.step(False, Message(insts[k], (), xs[k]), 0)
    lin.step(True, Message(insts[0], (), dys[0]), 0)
    lin.complete(0)
    W1 = lin.params["W"].copy()
    lin.step(True, Message(insts[1], (), dys[1]), 0)
    lin.complete(1)
    expected = W1 - (0.01 * (1.0 / (1 + 1))) * (xs[1].T @ dys[1])  # the rate divided by 1 + s
    assert np.array_equal(lin.params["W"], expected)


def test_scale_lr_in_the_simulator_scales_every_step_exactly():
    model = mlp("scale_lr", kind="sgd")
    node = model.graph.nodes["fc1"]
    seen = {"s": None, "raw": None, "steps": [], "stale": 0}
    complete, param_grads, update = node.complete, node.param_grads, node.optimizer.update

    def spy_complete(key):
        seen["s"] = node.version - node._fwd_version[key] if key in node._fwd_version else None
        return complete(key)

    def spy_grads(entries):
        seen["raw"] = param_grads(entries)
        return seen["raw"]

    def spy_update(name, param, g, lr_scale):
        s = seen["s"]
        assert np.array_equal(g, seen["raw"][name]) and lr_scale == 1.0 / (1 + s)  # the rate scaled, not g
        seen["stale"] += s > 0
        return update(name, param, g, lr_scale)

    node.complete, node.param_grads, node.optimizer.update = spy_complete, spy_grads, spy_update
    sim(model, mak=8)
    assert seen["stale"] > 0


def test_predict_moves_forward_parameters_along_the_velocity():
    model = mlp("predict", kind="momentum", delay=2.0)
    node = model.graph.nodes["fc1"]
    moved = []
    forward, step = node.forward, node.step
    live = {}

    def spy_step(backward, msg, port):
        live["W"] = node.params["W"]
        return step(backward, msg, port)

    def spy_forward(msg, port):
        last = node.optimizer.last_step.get("W")
        if last is None:
            assert node.params["W"] is live["W"]
        else:
            assert np.array_equal(last, 0.01 * node.optimizer.state["W"]["v"])  # lr v: the velocity step
            assert np.array_equal(node.params["W"], live["W"] - 2.0 * last)
            moved.append(True)
        return forward(msg, port)

    node.step, node.forward = spy_step, spy_forward
    ex = sim(model, mak=8)
    assert len(moved) > 30 and ex.time_s > 0


def test_predict_default_delay_is_the_mean_measured_staleness():
    model = mlp("predict")
    node = model.graph.nodes["fc1"]
    assert node.expected_delay() == 0.0
    sim(model, mak=8)
    hist = node.staleness
    assert node.expected_delay() == sum(s * c for s, c in hist.items()) / sum(hist.values()) > 0


def blobs(*sets: str):
    return load_config(ROOT / "experiments" / "blobs_mlp.toml", [parse_override(s) for s in (
        "data.n_train=160", "data.n_test=32", "train.epochs=1", *sets)])


def test_bad_values_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"train\.staleness: must be one of") as e:
        blobs("train.staleness=\"bogus\"")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"train\.predict_delay: must be >= 0 or -1"):
        plan(blobs("train.predict_delay=-0.5"))
    with pytest.raises(ConfigError, match=r"train\.staleness: 'stash' cannot be replayed"):
        plan(blobs("train.staleness=\"stash\"", "executor.kind=\"sim\"", "executor.numerics=false",
                   f"executor.hardware=\"{ROOT / 'hardware_models' / 'ring4.toml'}\""))
    # the key that asked for it (train.staleness was named, which said "none")
    with pytest.raises(ConfigError, match=r"train\.staleness_nodes\.fc1: 'stash' cannot be replayed"):
        plan(blobs("train.staleness_nodes={fc1=\"stash\"}", "executor.kind=\"sim\"", "executor.numerics=false",
                   f"executor.hardware=\"{ROOT / 'hardware_models' / 'ring4.toml'}\""))
    with pytest.raises(ConfigError, match=r"train\.predict_delay: must be a finite number"):  # (a nan loss)
        blobs("train.predict_delay=inf")


@pytest.mark.parametrize("mode", STALENESS_MODES)
@pytest.mark.parametrize("kind", ["reference", "sim"])
def test_every_option_trains_through_the_config(tmp_path, mode, kind):
    sets = [f"train.staleness=\"{mode}\"", f"executor.kind=\"{kind}\"", "train.mak=4"]
    if kind == "sim":
        sets.append(f"executor.hardware=\"{ROOT / 'hardware_models' / 'ring4.toml'}\"")
    cfg = blobs(*sets)
    assert all(n.staleness_mode == mode for n in plan(cfg).task.model.graph.param_nodes)
    summary = train_experiment(cfg, tmp_path / "run")
    assert summary["final_metric"] is not None and np.isfinite(summary["final_metric"])


def test_scale_lr_changes_no_work_so_its_replay_stays_exact(tmp_path):
    ring = f"executor.hardware=\"{ROOT / 'hardware_models' / 'ring4.toml'}\""
    times = [train_experiment(blobs("train.staleness=\"scale_lr\"", "executor.kind=\"sim\"", "train.mak=4", ring,
                                    f"executor.numerics={flag}"), tmp_path / flag)["simulated_time_s"]
             for flag in ("true", "false")]
    assert times[0] == times[1] > 0


def test_per_node_patterns_override_the_global_option():
    cfg = blobs("train.staleness=\"scale_lr\"", "train.staleness_nodes={ \"fc1\" = \"stash\", \"fc*\" = \"none\" }")
    modes = {n.name: n.staleness_mode for n in plan(cfg).task.model.graph.param_nodes}
    assert modes["fc1"] == "stash" and set(modes.values()) == {"stash", "none"}  # first match wins
    with pytest.raises(ConfigError, match=r"train\.staleness_nodes\.fc1: must be one of"):
        plan(blobs("train.staleness_nodes={ \"fc1\" = \"bogus\" }"))
    with pytest.raises(ConfigError, match=r"train\.staleness_nodes\.enc\*: names no parameterized node"):
        plan(blobs("train.staleness_nodes={ \"enc*\" = \"stash\" }"))
    # a pattern whose every node an earlier pattern took was ignored without a word (fc0 stashed, not predicted)
    with pytest.raises(ConfigError, match=r"train\.staleness_nodes\.fc0: sets no node: every node it names \(fc0\) "
                                          r"takes its mode from the earlier pattern fc\* \(first match wins"):
        plan(blobs("train.staleness_nodes={ \"fc*\" = \"stash\", \"fc0\" = \"predict\" }"))

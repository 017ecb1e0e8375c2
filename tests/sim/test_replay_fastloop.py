"""The replay's own event loop (``ampsim/executors/sim/fastloop.py`` on lists from ``fastprep.py``) on the
rules its per-message lists precompute: remote-send costs summed over a step's several sends to other
chips (the Tree-LSTM's splits), receive and wake-up costs, several units per chip, cut-through and
store-and-forward links of different bandwidths, two epochs (a new recording per epoch, the machine's
state carried over), and update jobs on the idle chips of a big switch (wake-ups due at once, completions
set aside). The summary (less losses and metrics), every link's bytes and busy time, and every
chip's item count, peak, held and queued bytes and busy time equal the full run's; a committed replayed
sweep point reruns byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from replay_kit import measured, run_experiment
from test_replay import sim

from ampsim.executors.sim import SimExecutor
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec
from ampsim.placement import place

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", "train.max_instances=24",
                           'hardware.system.switching="cut_through"', "hardware.chip.compute_units=2",
                           "hardware.chip.remote_send_overhead_s=3e-7", "hardware.chip.remote_send_s_per_byte=1e-11",
                           "hardware.chip.remote_receive_overhead_s=2e-7", "hardware.chip.wake_overhead_s=1e-6",
                           "hardware.chip.spin_s=5e-7") + sim("torus8x8.toml", "round_robin", 16, 1)),
    ("sst_treelstm.toml", ("data.limit_train=16", "data.limit_test=4", "train.max_instances=16",
                           "hardware.chip.remote_send_overhead_s=1e-6")
     + sim("hetero_straggler.toml", "round_robin", 4, 2)),
    # packet-switched links (fastpackets), contended: 1 GB/s links carry the trees' messages for longer
    # than the chips take to compute, so several messages share a link most of the time
    ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", "train.max_instances=24",
                           "hardware.link.packet_bytes=256", "hardware.link.bandwidth_bytes_per_s=1e9",
                           "hardware.chip.compute_units=2")
     + sim("torus8x8.toml", "round_robin", 16, 1)),
    # links of two bandwidths (the slow one sets a route's pace), packets larger than some messages
    ("sst_treelstm.toml", ("data.limit_train=16", "data.limit_test=4", "train.max_instances=16",
                           "hardware.link.packet_bytes=1024", "hardware.link.bandwidth_bytes_per_s=2e8")
     + sim("hetero_straggler.toml", "greedy", 8, 2)),
]


@pytest.mark.parametrize("experiment,overrides", CASES, ids=["sst-torus-costs", "sst-hetero-store-and-forward",
                                                              "sst-torus-packets", "sst-hetero-packets"])
def test_the_fast_loop_equals_the_full_run_chip_by_chip(experiment, overrides, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    overrides = ("train.epochs=2",) + overrides
    full, fx, _ = run_experiment(experiment, overrides, True, tmp_path / "full")
    replay, rx, _ = run_experiment(experiment, overrides, False, tmp_path / "replay")
    assert rx.fast_loop and replay["numerics"] is False
    assert measured(replay) == measured(full)
    assert dict(rx.network.bytes) == dict(fx.network.bytes) and dict(rx.network.busy_s) == dict(fx.network.busy_s)
    assert [(c.items, c.peak_bytes, c.held_bytes, c.queued_bytes, c.busy_s) for c in rx.chips] == [
        (c.items, c.peak_bytes, c.held_bytes, c.queued_bytes, c.busy_s) for c in fx.chips]
    assert rx.network.messages == fx.network.messages and rx.messages == fx.messages > 0


def _mlp_chain(layers: int):
    m = build_mlp(4, [4] * (layers - 1), 2, seed=0)
    for n in m.graph.param_nodes:
        n.configure(OptimizerSpec("sgd", lr=0.01), muf=1)
    return m


@pytest.mark.parametrize("chips,mak,extra", [(32, 8, {}), (4, 8, {}), (32, 3, {"chip": {"wake_overhead_s": 2e-6}}),
                                              (32, 8, {"link": {"packet_bytes": 0}}),
                                              (32, 8, {"link": {"packet_bytes": 8, "bandwidth_bytes_per_s": 1e6}})],
                         ids=["idle-chips", "busy-chips", "idle-chips-waking", "idle-chips-whole-messages",
                              "idle-chips-contended-packets"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_the_fast_loop_equals_the_full_run_on_a_big_switch(chips, mak, extra, compiled, monkeypatch):
    """A chain of parameterized nodes on a switch: on 32 chips every update job wakes an idle chip and
    its completion is set aside until something queues behind it (faststate), in lock-step ties (on the
    switch's 256-byte packets, on whole messages, and on packets of a slow link that always shares); on 4
    chips the jobs queue behind messages. Two calls, so the machine's state carries over. On the compiled
    loop (jitkernel, whole-message links) and on the Python loop it copies."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    monkeypatch.setattr(JitReplay, "compiled", compiled)
    system = load_system(ROOT / "hardware_models" / "switch64.toml", {"topology": {"n": chips}, **extra})
    r = np.random.default_rng(0)
    data = [Instance(k, {"x": r.random((1, 4), dtype=np.float32), "y": r.integers(0, 2, 1)}) for k in range(24)]
    runs = []
    for numerics in (True, False):
        m = _mlp_chain(12)
        ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=mak, numerics=numerics)
        ex.train(data[:16])
        ex.train(data[16:])
        runs.append(ex)
    fx, rx = runs
    assert rx.fast_loop and rx.messages == fx.messages > 0 and rx.time_s == fx.time_s
    assert measured(rx.summary()) == measured(fx.summary())
    assert dict(rx.network.bytes) == dict(fx.network.bytes) and dict(rx.network.busy_s) == dict(fx.network.busy_s)
    assert [(c.items, c.peak_bytes, c.held_bytes, c.busy_s) for c in rx.chips] == [
        (c.items, c.peak_bytes, c.held_bytes, c.busy_s) for c in fx.chips]
    assert rx.replay.hops == 2 * rx.network.messages  # every message between chips crosses two links

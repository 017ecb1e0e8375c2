"""Replay runs replicas exactly: with groups and node copies, ring all-reduces over the real network, gates
(or ``overlap``), sync_every, mak and muf, a replayed run's simulated time, chip busy times, per-link
bytes, peak memory, staleness and sync rounds / bytes / time equal the full run's bit for bit; its drift
is not measured (None). A recording of a replicated model is never served to another replica layout."""

from __future__ import annotations

from collections import Counter

import pytest
from replay_kit import HW, measured, run_experiment

from ampsim.executors.sim import executor as sim_executor
from ampsim.executors.sim.recording_cache import clear_memory
from ampsim.executors.sim.replay import update_key
from ampsim.ir.param import ParamNode


def replicas(hw: str, strategy: str, mak: int, muf: int, nodes: str, every: int, overlap: bool,
             groups: int = 2, epochs: int = 1) -> tuple[str, ...]:
    return ('executor.kind="sim"', f'executor.hardware="{HW / hw}"', f'placement.strategy="{strategy}"',
            f"train.mak={mak}", f"train.muf={muf}", f"train.epochs={epochs}", f"replicas.groups={groups}",
            f"replicas.nodes={nodes}", f"replicas.sync_every={every}", f"replicas.overlap={str(overlap).lower()}")


MNIST = ("data.limit_train=320", "data.limit_test=16")
MNIST_MUF = ("data.limit_train=1600", "data.limit_test=16")  # 50 batches: 4 copies x muf 5 x sync_every 2 = 40
SST = ("data.limit_train=16", "data.limit_test=4", "train.max_instances=16")
SST_MUF = ("data.limit_train=24", "data.limit_test=4", "train.max_instances=24")
CASES = [
    # two train calls and a timed evaluation: the completion serials, gates and rounds carry on across epochs
    ("mnist_mlp.toml", MNIST + replicas("torus8x8.toml", "groups", 8, 1, '{"fc1"=2}', 1, False, epochs=2)
     + ("eval.advances_time=true",)),
    ("mnist_mlp.toml", MNIST_MUF + replicas("hetero_straggler.toml", "greedy", 1, 5, '{"fc*"=2}', 2, True)),
    ("mnist_mlp.toml", MNIST_MUF + replicas("hypercube_1024.toml", "groups", 8, 5, '{"fc1"=2}', 2, False)),
    ("sst_treelstm.toml", SST + replicas("torus8x8.toml", "greedy", 8, 1, '{"compose"=2}', 1, True)),
    ("sst_treelstm.toml", SST + replicas("hetero_straggler.toml", "groups", 1, 1, '{"compose"=2}', 2, False)
     + ("executor.trace=true",)),
    ("sst_treelstm.toml", SST_MUF + replicas("hypercube_1024.toml", "groups", 8, 5, '{"compose"=2}', 1, False)),
]


def assert_same_timing(full: dict, fx, replay: dict, rx) -> None:
    """The replay's summary (but what it does not measure), chips' busy time and peak memory and links'
    bytes and busy time equal the full run's; the run synchronized."""
    assert measured(replay) == measured(full)
    assert full["sync_rounds"] > 0 and full["sync_bytes"] > 0 and full["sync_time_s"] > 0
    assert [c.busy_s for c in rx.chips] == [c.busy_s for c in fx.chips]
    assert [c.peak_bytes for c in rx.chips] == [c.peak_bytes for c in fx.chips]
    assert dict(rx.network.bytes) == dict(fx.network.bytes)
    assert dict(rx.network.busy_s) == dict(fx.network.busy_s)


@pytest.mark.parametrize("experiment,overrides", CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_a_replayed_replicated_run_equals_the_fullrun_experiment(experiment, overrides, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    full, fx, fp = run_experiment(experiment, overrides, True, tmp_path / "full")
    replay, rx, rp = run_experiment(experiment, overrides, False, tmp_path / "replay")
    assert rx.fast_loop == (not fx.trace)  # on the fast loop (fastsync); with a trace on SimPy
    assert replay["numerics"] is False and replay["replica_drift"] is None and full["replica_drift"] is not None
    assert_same_timing(full, fx, replay, rx)
    assert any(s["count"] for s in full["staleness"].values())
    if fx.trace:  # every span, the all-reduces' adds and applies included
        assert rx.trace.events == fx.trace.events and any(" sync" in str(e.get("name")) for e in fx.trace.events)
    assert "replicas" in rp.recording_context and "sync_every" not in rp.recording_context


#: the fast loop's synchronization on machine rules the cases above leave out: whole-message links
#: (cut-through and store-and-forward over links of two bandwidths), halving-doubling all-reduces, chips of
#: two units that pay to wake up, the controller's round trip, overlap with muf and sync_every
FAST_CASES = [
    ("mnist_mlp.toml", MNIST + replicas("torus8x8.toml", "groups", 8, 1, '{"fc1"=2}', 1, False, groups=4)
     + ("hardware.link.packet_bytes=0", 'replicas.collective="halving_doubling"')),
    ("mnist_mlp.toml", MNIST + replicas("ring4.toml", "groups", 8, 1, '{"fc*"=2}', 1, False)
     + ("hardware.chip.compute_units=2", "hardware.chip.wake_overhead_s=2e-6", "hardware.chip.spin_s=1e-6")),
    ("mnist_mlp.toml", MNIST_MUF + replicas("hypercube_1024.toml", "groups", 16, 2, '{"fc1"=2}', 2, True, groups=4)
     + ('replicas.collective="halving_doubling"', "hardware.host.completion_latency_s=3e-6")),
    ("mnist_mlp.toml", MNIST + replicas("hetero_straggler.toml", "greedy", 4, 1, '{"fc1"=2}', 1, False)),
    ("sst_treelstm.toml", SST + replicas("torus8x8.toml", "greedy", 8, 1, '{"compose"=2}', 1, False)
     + ("hardware.link.packet_bytes=0",)),
]


@pytest.mark.parametrize("experiment,overrides", FAST_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_the_fast_loop_synchronizes_as_the_simpy_replay_and_the_fullrun_experiment(experiment, overrides, data_root, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    full, fx, _ = run_experiment(experiment, overrides, True, tmp_path / "full")
    fast, rx, _ = run_experiment(experiment, overrides, False, tmp_path / "fast")
    with monkeypatch.context() as m:  # the same replay on SimPy's event loop
        m.setattr(sim_executor, "supports", lambda system, trace: False)
        slow, sx, _ = run_experiment(experiment, overrides, False, tmp_path / "simpy")
    assert rx.fast_loop and not sx.fast_loop
    assert fast == slow
    assert_same_timing(full, fx, fast, rx)
    assert [c.items for c in rx.chips] == [c.items for c in sx.chips]
    replay = rx.replay  # the jobs and chunks that joined the recording's lists for the call have left them
    assert len(replay.wire) == len(replay.nbytes) and len(replay.rec.replay_view["fast"]["join"]) == (
        len(replay.nbytes) + len(replay.stash_node))
    assert [c.queued_bytes + c.held_bytes for c in rx.chips] == [c.queued_bytes + c.held_bytes for c in sx.chips]


def test_replicas_without_sync_replay_on_the_fast_loop(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = MNIST + replicas("torus8x8.toml", "greedy", 8, 1, '{"fc1"=2}', 1, False) + ('replicas.sync="none"',)
    full, _, _ = run_experiment("mnist_mlp.toml", overrides, True, tmp_path / "full")
    replay, rx, _ = run_experiment("mnist_mlp.toml", overrides, False, tmp_path / "replay")
    assert rx.fast_loop
    assert measured(replay) == measured(full)


def test_copies_of_a_node_cost_their_update_once(data_root, tmp_path, monkeypatch):
    """A node's copies (deep copies: the same shapes, optimizer and clipping) share their update's Work with it,
    as any nodes of a kind whose update reads only its parameters' shapes do where those agree
    (``replay.update_key``): it is computed once per key and stash profile, not once per copy, and the replay
    still times as the full run."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = MNIST + replicas("hetero_straggler.toml", "groups", 8, 1, '{"fc1"=2}', 1, False, groups=2) + (
        'replicas.sync="none"',)
    full, _, _ = run_experiment("mnist_mlp.toml", overrides, True, tmp_path / "full")
    calls = Counter()
    work = ParamNode.update_work

    def counted(node, profiles):
        calls[node.name] += 1
        return work(node, profiles)

    monkeypatch.setattr(ParamNode, "update_work", counted)
    replay, rx, _ = run_experiment("mnist_mlp.toml", overrides, False, tmp_path / "replay")
    assert measured(replay) == measured(full)
    physical = {n.name: update_key(n) for n in rx.graph.param_nodes}  # (placement profiles the model as built too)
    costed = Counter(physical[n] for n in calls.elements() if n in physical)
    assert set(costed) == set(physical.values()) and len(physical) > len(costed)  # copies were made
    assert set(costed.values()) == {1}, costed  # each key's update costed once, not once per node


def test_recordings_are_never_shared_between_replica_layouts(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    clear_memory()
    base = MNIST[:1] + ("data.limit_train=64",) + replicas("torus8x8.toml", "greedy", 4, 1, '{"fc1"=1}', 1, False,
                                                          groups=1)
    contexts = {}
    for name, extra in [("plain", ()), ("groups2", ("replicas.groups=2",)),
                        ("groups2-every2", ("replicas.groups=2", "replicas.sync_every=2")),
                        ("fc1x2", ('replicas.nodes={"fc1"=2}',))]:
        _, _, p = run_experiment("mnist_mlp.toml", base + extra, False, tmp_path / name)
        contexts[name] = p.recording_context
    assert "replicas" not in contexts["plain"]  # without replicas the key is the one it always was
    assert contexts["groups2"] == contexts["groups2-every2"]  # sync settings are replay-time choices
    assert len({contexts["plain"], contexts["groups2"], contexts["fc1x2"]}) == 3
    # one file per layout (groups2 and groups2-every2 share theirs)
    assert len(list((tmp_path / "recordings").glob("*.npz"))) == 3

"""Replay (``executor.numerics = false``) is exact: a replayed run's simulated time, throughput, per-chip busy
time, per-link bytes and utilization, peak memory, message counts and staleness equal the full run's bit
for bit, on every task, several shipped hardware models (one with a straggler, one with a calibrated
software transport: framing, polling, wake-ups, remote-send costs; one with packet links), several
placements, mak in {1, 16} and muf in {1, 8}; and a recording is cached, checked and re-recorded when bad.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import logging
import os
import random
from pathlib import Path

import numpy as np
import pytest
from replay_kit import HW, ROOT, filed_recording, measured, run_experiment
from timeline_kit import MS, chain_model, instants, insts, spans, system, weight_model

from ampsim.calibration.workloads import WORKLOADS
from ampsim.config import load_config, parse_override
from ampsim.errors import RunError
from ampsim.executors import make_executor
from ampsim.executors.sim import SimExecutor
from ampsim.executors.sim.recording import RecordingError, record
from ampsim.executors.sim.recording_cache import clear_memory, load, obtain, recording_key, save
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.planning import plan
from ampsim.results import RunDir
from ampsim.training import run_training


def assert_same_timing(experiment: str, overrides: tuple[str, ...], tmp_path: Path) -> tuple:
    """The replayed run's summary, chips and links equal the full run's; returns (full summary, its executor,
    replay summary, its executor)."""
    full, fx, _ = run_experiment(experiment, overrides, True, tmp_path / "full")
    replay, rx, _ = run_experiment(experiment, overrides, False, tmp_path / "replay")
    assert replay["numerics"] is False and replay["final_metric"] is None
    assert measured(replay) == measured(full)
    assert [c.busy_s for c in rx.chips] == [c.busy_s for c in fx.chips]
    assert dict(rx.network.bytes) == dict(fx.network.bytes)
    assert dict(rx.network.busy_s) == dict(fx.network.busy_s)
    assert full["messages_processed"] > 0 and any(s["count"] for s in full["staleness"].values())
    if fx.trace:
        assert rx.trace.events == fx.trace.events
    return full, fx, replay, rx


def sim(hw: str, strategy: str, mak: int, muf: int, *extra: str) -> tuple[str, ...]:
    return ('executor.kind="sim"', f'executor.hardware="{HW / hw}"', f'placement.strategy="{strategy}"',
            f"train.mak={mak}", f"train.muf={muf}", *extra)


OFFLINE = [
    ("blobs_mlp.toml", ("data.n_train=480", "data.n_test=16", "train.epochs=2")
     + sim("ring4.toml", "round_robin", 16, 8, "executor.trace=true")),
    ("list_reduction.toml", ("data.n_train=320", "data.n_test=16", "train.epochs=1")
     + sim("hetero_straggler.toml", "round_robin", 16, 1)),
    ("list_reduction.toml", ("data.n_train=160", "data.n_test=16", "train.epochs=2", "eval.advances_time=true")
     + sim("local_cpu.toml", "min_cut", 1, 8)),
    ("blobs_mlp.toml", ("data.n_train=320", "data.n_test=16", "train.epochs=1", "hardware.link.packet_bytes=256")
     + sim("torus8x8.toml", "greedy", 16, 1)),
    # every rule the replay's own event loop models: several units per chip, cut-through links, remote
    # send and receive costs, wake-ups after a spin, a slow chip, the muf remainder carried across epochs
    ("list_reduction.toml", ("data.n_train=320", "data.n_test=16", "train.epochs=2", "eval.advances_time=true",
                             'hardware.system.switching="cut_through"',
                             "hardware.chip.compute_units=2", "hardware.chip.remote_send_overhead_s=2e-7",
                             "hardware.chip.remote_send_s_per_byte=1e-10", "hardware.chip.remote_receive_overhead_s=3e-7",
                             "hardware.chip.wake_overhead_s=2e-6", "hardware.chip.spin_s=1e-6")
     + sim("hetero_straggler.toml", "greedy", 16, 8)),
    # four chips on two shared cores, the controller's CPU per instance and message competing for them
    ("list_reduction.toml", ("data.n_train=320", "data.n_test=16", "train.epochs=1", "hardware.host.cores=2",
                             "hardware.host.controller_s_per_instance=2e-5",
                             "hardware.host.controller_s_per_message=1e-7")
     + sim("hetero_straggler.toml", "round_robin", 16, 4)),
    # the controller's round trip: update jobs and admissions reach the chips later, as polled frames
    ("list_reduction.toml", ("data.n_train=320", "data.n_test=16", "train.epochs=1",
                             "hardware.host.completion_latency_s=3e-4") + sim("local_cpu.toml", "greedy", 4, 2)),
    ("blobs_mlp.toml", ("data.n_train=480", "data.n_test=16", "train.epochs=2", "hardware.chip.overhead_s=0.0",
                        "hardware.chip.compute_units=3") + sim("mesh4x4.toml", "single", 1, 8)),
    # Adam's moments counted in each update's bytes and each chip's memory
    ("blobs_mlp.toml", ("data.n_train=320", "data.n_test=16", "train.count_optimizer_state=true")
     + sim("torus8x8.toml", "greedy", 16, 4)),
]
REAL_DATA = [
    ("mnist_mlp.toml", ("data.limit_train=640", "data.limit_test=32") + sim("torus8x8.toml", "greedy", 16, 8)),
    ("mnist_mlp.toml", ("data.limit_train=320", "data.limit_test=32") + sim("local_cpu.toml", "round_robin", 1, 1)),
    ("mnist_mlp.toml", ("data.limit_train=320", "data.limit_test=32", "hardware.host.completion_latency_s=5e-4")
     + sim("local_cpu.toml", "greedy", 4, 1)),
    ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", "train.max_instances=24")
     + sim("hetero_straggler.toml", "greedy", 16, 8)),
    ("sst_treelstm.toml", ("data.limit_train=12", "data.limit_test=4", "train.max_instances=12")
     + sim("mesh4x4.toml", "round_robin", 1, 1, "executor.trace=true")),
    # Adagrad's sums counted, and the embedding's sparse rows (its SGD keeps no state)
    ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", "train.max_instances=24",
                           "train.count_optimizer_state=true", 'model.embedding_optimizer="adagrad"')
     + sim("torus8x8.toml", "greedy", 16, 8)),
    ("qm9_ggnn.toml", ("data.limit_train=64", "data.limit_valid=8") + sim("mesh4x4.toml", "greedy", 16, 8)),
    ("qm9_ggnn.toml", ("data.limit_train=80", "data.limit_valid=8")
     + sim("hetero_straggler.toml", "round_robin", 1, 8)),
]


@pytest.mark.parametrize("experiment,overrides", OFFLINE, ids=lambda v: v if isinstance(v, str) else "")
def test_replay_equals_the_full_run_offline(experiment, overrides, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    assert_same_timing(experiment, ("train.epochs=1",) + overrides, tmp_path)


@pytest.mark.parametrize("experiment,overrides", REAL_DATA, ids=lambda v: v if isinstance(v, str) else "")
def test_replay_equals_the_full_run_on_real_data(experiment, overrides, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    assert_same_timing(experiment, ("train.epochs=1",) + overrides, tmp_path)


def random_machine(seed: int) -> tuple[str, tuple[str, ...]]:
    """A random small experiment on a random variant of a shipped machine (every rule the replay models)."""
    r = random.Random(seed)
    exp, data = r.choice([("list_reduction.toml", ("data.n_train=160", "data.n_test=8")),
                          ("blobs_mlp.toml", ("data.n_train=320", "data.n_test=8"))])
    hw = r.choice(["ring4.toml", "mesh4x4.toml", "torus8x8.toml", "hetero_straggler.toml", "fc16.toml"])
    strategy = r.choice(["round_robin", "greedy", "single", "min_cut"])
    return exp, (*data, *sim(hw, strategy, r.choice([1, 2, 3, 16]), r.choice([1, 2, 4])),
                 f"train.epochs={r.choice([1, 2])}", f"eval.advances_time={r.choice(['true', 'false'])}",
                 f'hardware.system.switching="{r.choice(["store_and_forward", "cut_through"])}"',
                 f"hardware.chip.compute_units={r.choice([1, 2, 3])}",
                 f"hardware.link.latency_s={r.choice([0.0, 1e-7, 1e-4])}",
                 f"hardware.link.bandwidth_bytes_per_s={r.choice([1e6, 1e9, 1e11])}",
                 f"hardware.chip.overhead_s={r.choice([0.0, 1e-6])}",
                 f"hardware.chip.remote_send_overhead_s={r.choice([0.0, 1e-6])}",
                 f"hardware.chip.remote_receive_overhead_s={r.choice([0.0, 2e-6])}",
                 f"hardware.chip.wake_overhead_s={r.choice([0.0, 5e-6])}", f"hardware.chip.spin_s={r.choice([0.0, 1e-6])}",
                 f"hardware.link.packet_bytes={r.choice([0, 0, 64, 4096])}",
                 f"hardware.host.completion_latency_s={r.choice([0.0, 0.0, 1e-6, 1e-4])}")


@pytest.mark.parametrize("seed", [3, 11, 17, 29, 41, 53])
def test_replay_equals_the_full_run_on_random_machines(seed, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    experiment, overrides = random_machine(seed)
    assert_same_timing(experiment, overrides, tmp_path)


@pytest.mark.parametrize("seed", [17, 18, 24, 26, 39, 44, 51, 52])
def test_replay_equals_the_full_run_with_synchronizing_replicas_on_random_machines(seed, tmp_path, monkeypatch):
    """Replicas that synchronize (the replay's own loop hosts the collectives, fastsync), densely or by rows,
    and staleness-bounded admission, on random machines: every count and time the full run's (119 seeds
    checked so on 2026-12-05; these eight synchronize, six of them under a bound)."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    experiment, overrides = random_machine(seed)
    r = random.Random(seed)
    groups = r.choice([2, 4])
    replicas = (f"replicas.groups={groups}", f"replicas.sync_every={r.choice([1, 2])}",
                f"replicas.overlap={r.choice(['true', 'false'])}",
                f'replicas.collective="{r.choice(["ring", "halving_doubling"])}"',
                f'placement.strategy="{r.choice(["groups", "round_robin", "greedy"])}"')
    bound = (f"train.max_staleness={r.choice([1.0, 3.0])}",) if r.random() < 0.3 else ()
    sparse = f"replicas.sparse_sync={r.choice(['true', 'false'])}"  # (list reduction's embedding: by rows)
    full, _, _, rx = assert_same_timing(experiment, (*overrides, *replicas, *bound, sparse), tmp_path)
    assert rx.fast_loop and full["sync_rounds"] > 0 and full["sync_bytes"] > 0


def test_a_replay_runs_out_of_memory_where_the_full_run_does(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = ("data.n_train=320", "data.n_test=8", "hardware.chip.memory_bytes=1e6") + sim("ring4.toml", "round_robin", 16, 1)
    errors = []
    for numerics in ("true", "false"):
        cfg = load_config(ROOT / "experiments" / "list_reduction.toml",
                          [parse_override(o) for o in (*overrides, f"executor.numerics={numerics}")])
        p = plan(cfg)
        with pytest.raises(RunError, match="out of memory at t=") as e:
            make_executor(p).train(list(p.task.train_instances(1)))
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "at t=0 s" not in errors[0]


# -- the timing rule, spec-like (as tests/sim/test_timelines.py): a replay's timeline is the full run's --
# Chips at 1 GFLOP/s, no overheads: 1e6 FLOPs take 1 ms; 8-byte payloads are 24 bytes on the wire and
# links move 96 kB/s (0.25 ms per transfer) with 0.5 ms latency.

PLACE = {"x": 0, "a": 0, "b": 1, "end": 1}


def test_replayed_pipeline_reaches_the_bottleneck_throughput(monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    ex = SimExecutor(chain_model(("a", 1e6), ("b", 2e6)), system(), PLACE, mak=5, trace=True,
                     eval_advances_time=True, numerics=False)
    assert ex.evaluate(insts(5)) == []  # nothing measured
    assert spans(ex, "a") == [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0), (4.0, 1.0)]
    # a's first output arrives at 1 + 0.25 + 0.5 = 1.75 ms; b is the bottleneck at 2 ms per instance
    assert spans(ex, "b") == [(1.75, 2.0), (3.75, 2.0), (5.75, 2.0), (7.75, 2.0), (9.75, 2.0)]
    assert ex.env.now == pytest.approx(11.75 * MS, rel=1e-12)


def test_replayed_training_has_the_full_runs_spans(monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    full, replay = (SimExecutor(chain_model(("a", 1e6), ("b", 1e6)), system(), PLACE, mak=2, trace=True,
                                numerics=numerics) for numerics in (True, False))
    full.train(insts(3))
    assert replay.train(insts(3)) == []
    # instance 0: a 0-1, b 1.75-2.75, end, then its b bwd queues behind instance 1's b fwd (2.75-3.75);
    # its a bwd at 5.5 after the 0.75 ms transfer; it completes at 6.5, instance 2 is admitted and queues
    # behind instance 1's a bwd (6.5-7.5)
    assert spans(replay, "a") == [(0.0, 1.0), (1.0, 1.0), (7.5, 1.0)]
    assert spans(replay, "b") == [(1.75, 1.0), (2.75, 1.0), (9.25, 1.0)]
    assert spans(replay, "a", "bwd") == [(5.5, 1.0), (6.5, 1.0), (12.0, 1.0)]
    for name in ("a", "b", "end"):
        for phase in ("fwd", "bwd"):
            assert spans(replay, name, phase) == spans(full, name, phase)
    # the controller's track: an instance completes as its last step (a bwd) ends, and lets the next in
    assert instants(replay, "admit") == instants(full, "admit") == [(0, 0.0), (1, 0.0), (2, 6.5)]
    assert instants(replay, "complete") == instants(full, "complete") == [(0, 6.5), (1, 7.5), (2, 13.0)]
    assert replay.time_s == full.time_s and replay.messages == full.messages == 3 * 7


@pytest.mark.parametrize("latency_s", [0.0, 0.3 * MS])
def test_the_replays_own_loop_runs_where_it_models_the_machine_and_agrees_with_simpy(latency_s, monkeypatch):
    """With and without the controller's round trip (``host.completion_latency_s``)."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    machine = system()
    machine = dataclasses.replace(machine, host=dataclasses.replace(machine.host, completion_latency_s=latency_s))
    runs = {}
    for numerics, trace in ((True, False), (False, False), (False, True)):
        ex = SimExecutor(weight_model(("a", 1e6), ("b", 2e6)), machine, {**PLACE, "w": 0}, mak=3, trace=trace,
                         numerics=numerics)
        ex.train(insts(7))
        # a second call carries on from the first's time, idle chips and links
        ex.train([Instance(k, {"x": np.zeros(1)}) for k in range(7, 11)])
        runs[numerics, trace] = ex
    assert runs[False, False].fast_loop and not runs[False, True].fast_loop  # a trace needs the SimPy replay
    full = runs[True, False]
    for ex in runs.values():
        assert measured(ex.summary()) == measured(full.summary())
        assert ex.time_s == full.time_s > 0 and ex.messages == full.messages == 11 * 9
        assert [c.busy_s for c in ex.chips] == [c.busy_s for c in full.chips]
        assert ex.graph.nodes["w"].staleness == full.graph.nodes["w"].staleness


def test_the_same_instances_trained_twice_replay_exactly(monkeypatch):
    # muf 25 and 40 trees: when the second call brings instance keys 0-6 again, their first gradients still
    # wait for the update (the full run once kept only the later of the two, and the replay both)
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    model, trees = WORKLOADS["tree"][0](40)
    place = {n: i % 4 for i, n in enumerate(model.graph.nodes)}
    runs = []
    for numerics in (True, False):
        ex = SimExecutor(copy.deepcopy(model), load_system(HW / "ring4.toml"), place, mak=8, numerics=numerics)
        ex.train(trees[:7])
        ex.train(trees)
        runs.append(ex)
    full, replay = runs
    assert replay.time_s == full.time_s > 0 and replay.messages == full.messages
    assert [c.busy_s for c in replay.chips] == [c.busy_s for c in full.chips]


def test_recording_leaves_the_nodes_staleness_record_as_it_was():
    """A replay that records its instances first reads the same recent staleness as the full run: recording
    (which pops stale-free backwards) restores each node's histogram and the recent window that
    staleness-bounded admission reads (until 2026-12-05 only the histogram: a replay recording in its own
    call admitted differently)."""
    model, trees = WORKLOADS["tree"][0](12)
    nodes = list(model.graph.param_nodes)
    for i, n in enumerate(nodes):
        for s in (i % 3, 2, 5):
            n.note_staleness(s)
    before = [(n.staleness.copy(), n.recent_staleness()) for n in nodes]
    assert any(r > 0 for _, r in before)
    record(model, trees)
    assert [(n.staleness.copy(), n.recent_staleness()) for n in nodes] == before


def test_a_replay_runs_to_the_end_whatever_train_max_loss(tmp_path, monkeypatch):
    """Recording runs each batch through the real loss nodes at weights a replay never trains: a later epoch's
    batch at the initial weights exceeded train.max_loss and stopped the replay ("the run diverged") where
    the full run trained. The bound stays the full run's, and the loss nodes' once recording is done."""
    from ampsim.errors import Diverged
    from ampsim.ir.message import Message
    from ampsim.ir.nodes.losses import LossNode

    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    clear_memory()
    tight = ("data.n_train=200", "data.n_test=20", "train.epochs=2", "train.max_loss=0.001",
             'executor.kind="sim"', f'executor.hardware="{HW / "ring4.toml"}"')
    with pytest.raises(Diverged, match="above train.max_loss = 0.001"):
        run_experiment("blobs_mlp.toml", tight, True, tmp_path / "full")
    summary, _, p = run_experiment("blobs_mlp.toml", tight, False, tmp_path / "replay")
    assert summary["epochs"] == 2 and "diverged" not in summary and summary["best_metric"] is None
    (loss,) = [n for n in p.task.model.graph.nodes.values() if isinstance(n, LossNode)]
    assert loss.checks_loss and loss.join_observer is None and loss.max_loss == 0.001
    with pytest.raises(Diverged):
        loss.check_loss(Message(Instance(0, {}), (), np.zeros(1)), 1.0, 1)


# -- the cache ----------------------------------------------------------------------------------------

def _chain():
    return chain_model(("a", 1e6), ("b", 1e6))


def test_a_recording_is_filed_once_and_reused(tmp_path):
    model, instances = _chain(), insts(4)
    rec = obtain(model, instances, folder=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    key = recording_key(model, instances, training=True)
    again = load(files[0], key)
    assert all(np.array_equal(a, b) for a, b in zip(rec.arrays().values(), again.arrays().values()))
    assert rec.n_messages == 4 * 7  # per instance: x, a, b, end forward; b, a, x backward
    assert recording_key(model, insts(5), training=True) != key


def test_a_models_digests_are_made_once_while_it_lives(monkeypatch):
    # a sweep point's every train and evaluate call walked each node for the graph's digest and the outside
    # code's (4 ms a call with a thousand nodes); a model made again is digested again, under its own key
    from ampsim.executors.sim import recording_cache
    walked = []
    fingerprint = recording_cache.graph_fingerprint
    monkeypatch.setattr(recording_cache, "graph_fingerprint", lambda m: walked.append(id(m)) or fingerprint(m))
    model = _chain()
    keys = {recording_key(model, insts(2), training=t) for t in (True, False, True)}
    assert len(walked) == 1 and len(keys) == 2
    wider = chain_model(("a", 1e6), ("b", 1e6), ("c", 1e6))
    assert recording_key(wider, insts(2), training=True) not in keys and len(walked) == 2
    mine = {(id(model), ""), (id(wider), "")}
    assert mine <= set(recording_cache._MODEL_DIGESTS)
    del model, wider  # (gone: their entries go with them)
    assert not mine & set(recording_cache._MODEL_DIGESTS)


def test_the_same_instance_data_is_hashed_once(monkeypatch):
    # a sweep's points build their instances from the same kept data: its digest is not computed again
    from ampsim.executors.sim import recording_cache
    clear_memory()
    dumps, pickled = recording_cache.pickle.dumps, []
    monkeypatch.setattr(recording_cache.pickle, "dumps", lambda *a, **k: pickled.append(1) or dumps(*a, **k))
    instances = insts(4)
    digest = recording_cache.instances_digest(instances)
    again = [Instance(i.key, i.data) for i in instances]  # new instances of the same data
    assert recording_cache.instances_digest(again) == digest and len(pickled) == 4
    copies = [Instance(i.key, copy.deepcopy(i.data)) for i in instances]  # equal data, other objects: hashed
    assert recording_cache.instances_digest(copies) == digest and len(pickled) == 8
    assert recording_cache.instances_digest(again[::-1]) != digest  # other keys in order: another digest
    other = [Instance(i.key, {**i.data, "extra": 1}) for i in instances]
    assert recording_cache.instances_digest(other) != digest


def test_a_corrupt_truncated_or_foreign_recording_is_refused_and_recorded_again(tmp_path, caplog):
    model, instances = _chain(), insts(3)
    key = recording_key(model, instances, training=True)
    path = tmp_path / "r.npz"
    save(record(model, instances), path, key)
    with pytest.raises(RecordingError, match="another task"):
        load(path, recording_key(model, insts(2), training=True))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="corrupt or truncated"):
        load(path, key)
    # a flipped byte inside an array: the checksum catches what the zip container may not
    save(record(model, instances), path, key)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["nbytes"] = arrays["nbytes"] + 1
    np.savez(path, **arrays)
    with pytest.raises(RecordingError, match="checksum"):
        load(path, key)
    # obtain re-records over a bad file, with a warning
    (tmp_path / "cache").mkdir()
    clear_memory()
    obtain(model, instances, folder=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("*.npz")
    cached.write_bytes(b"not a zip")
    clear_memory()
    with caplog.at_level(logging.WARNING):
        obtain(model, instances, folder=tmp_path / "cache")
    assert "recording again" in caplog.text
    load(cached, key)  # a good file again


def test_a_recording_damaged_inside_its_compressed_data_is_recorded_again(tmp_path, caplog):
    """Bytes flipped inside a compressed array raised zlib.error (and a bad zip version NotImplementedError)
    past the reader: a traceback on every later replay until the file was deleted by hand."""
    model, instances, cached = filed_recording(tmp_path)
    key = recording_key(model, instances, training=True)
    data = bytearray(cached.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 40):
        data[i] ^= 0x5A
    cached.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="corrupt or truncated recording"):
        load(cached, key)
    clear_memory()
    with caplog.at_level(logging.WARNING):
        obtain(model, instances, folder=tmp_path / "cache")
    assert "recording again" in caplog.text and load(cached, key) is not None


def test_a_recording_that_cannot_be_read_is_said_so_not_called_corrupt(tmp_path, caplog, monkeypatch):
    """A file the process may not read was reported as a "corrupt or truncated recording (PermissionError …)".
    (np.load raises it here: root reads a chmod 000 file all the same.)"""
    model, instances, cached = filed_recording(tmp_path)
    key = recording_key(model, instances, training=True)

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(RecordingError) as e:
        load(cached, key)
    assert str(e.value) == f"{cached}: the recording cannot be read (PermissionError: Permission denied)"
    with caplog.at_level(logging.WARNING):
        obtain(model, instances, folder=tmp_path / "cache")
    assert "cannot be read (PermissionError: Permission denied); recording again" in caplog.text
    assert "corrupt" not in caplog.text
    monkeypatch.undo()
    assert load(cached, key) is not None  # filed again


def test_a_cache_entry_linked_to_another_file_replaces_the_link_not_the_file(tmp_path):
    model, instances, cached = filed_recording(tmp_path)
    cached.unlink()
    (tmp_path / "precious.txt").write_text("precious\n")
    cached.symlink_to(tmp_path / "precious.txt")
    clear_memory()
    obtain(model, instances, folder=tmp_path / "cache")
    assert (tmp_path / "precious.txt").read_text() == "precious\n" and not cached.is_symlink()


@pytest.mark.parametrize("entry", ["link-to-device", "fifo"])
def test_a_cache_entry_that_is_a_device_or_pipe_is_never_written_into(tmp_path, caplog, entry):
    """A cached recording's name linked to /dev/null (an audit linked one to /dev/zero): filing the recording
    followed the link and put a file where the device was. Now the link itself is replaced; a pipe there is
    left alone, with a warning, and the run goes on."""
    model, instances, cached = filed_recording(tmp_path)
    cached.unlink()
    if entry == "fifo":
        os.mkfifo(cached)
    else:
        cached.symlink_to("/dev/null")
    clear_memory()
    with caplog.at_level(logging.WARNING):
        rec = obtain(model, instances, folder=tmp_path / "cache")
    assert rec is not None and Path("/dev/null").is_char_device()
    if entry == "fifo":
        assert cached.is_fifo() and "not a regular file" in caplog.text
    else:
        assert not cached.is_symlink() and load(cached, recording_key(model, instances, training=True)) is not None



@pytest.mark.parametrize("why", ["deleted", "unlisted"])
def test_a_recordings_folder_that_cannot_be_listed_to_prune_costs_a_warning_not_the_run(tmp_path, caplog,
                                                                                        monkeypatch, why):
    """Filing a recording then pruning its folder: a folder that may be written but not listed (chmod 333, a
    drop box), or one deleted since the save (the README lets it go at any time), raised past obtain: the run
    ended 'ampsim: error: <folder>: permission denied' having just filed the recording it needed. A folder
    that cannot be written costs a warning; so does this now."""
    from ampsim.executors.sim import recording_cache

    model, instances, cached = filed_recording(tmp_path)
    cached.unlink()
    if why == "deleted":
        monkeypatch.setattr(recording_cache, "save", lambda *a: cached.parent.rmdir())
    else:  # (root lists a chmod 333 folder all the same)
        def denied(self):
            raise PermissionError(13, "Permission denied", str(self))
        monkeypatch.setattr(Path, "iterdir", denied)
    with caplog.at_level(logging.WARNING):
        rec = obtain(model, instances, folder=tmp_path / "cache")
    assert rec is not None and f"could not prune the recordings in {tmp_path / 'cache'}" in caplog.text
    assert recording_cache.prune(tmp_path / "gone", 0) == 0


@pytest.mark.parametrize("entry", ["link", "fifo"])
def test_a_link_or_pipe_at_the_saves_temporary_name_is_never_written_through(tmp_path, entry):
    """A save wrote its temporary ``.<name>.<pid>.tmp.npz`` with a plain open: a link planted at that name (a
    shared recordings folder, one per pid) had the recording written over the file it named, and a pipe there
    held the run until something read it. The temporary is now made afresh, never opened where it stands."""
    import threading

    model, instances, cached = filed_recording(tmp_path)
    cached.unlink()
    tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.tmp.npz")
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    if entry == "link":
        tmp.symlink_to(victim)
    else:
        os.mkfifo(tmp)

        def drain():  # (what let the old save go on; none of it reaches a recording now)
            with contextlib.suppress(OSError), open(tmp, "rb") as f:
                f.read()
        threading.Timer(3.0, drain).start()
    obtain(model, instances, folder=tmp_path / "cache")
    assert victim.read_text() == "precious\n" and cached.is_file() and not cached.is_symlink()
    assert load(cached, recording_key(model, instances, training=True)) is not None

# -- sweeps --------------------------------------------------------------------------------------------

SWEEP = """
[sweep]
experiment = "{exp}"
hardware = "{hw}"
[fixed]
"executor.numerics" = false
"train.epochs" = 1
[grid]
"train.mak" = [1, 4]
[[figure]]
name = "f"
kind = "{kind}"
x = "train.mak"
y = "{y}"
"""


@pytest.mark.parametrize("kind,y,ok", [("xy", "throughput", True), ("xy", "final_metric", False),
                                       ("curves", "metric", False), ("bar", "time_to_target_s", False)])
def test_sweep_check_refuses_a_replay_with_a_figure_that_needs_a_metric(kind, y, ok, tmp_path):
    from ampsim.errors import ConfigError
    from ampsim.sweeps.spec import load_sweep

    path = tmp_path / "s.toml"
    path.write_text(SWEEP.format(exp=ROOT / "experiments" / "blobs_mlp.toml", hw=HW / "ring4.toml", kind=kind,
                                 y=y).replace('x = "train.mak"\n', 'x = "train.mak"\n' if kind != "curves" else ""))
    if ok:
        sweep = load_sweep(path)
        assert all(dict(p.overrides)["executor.numerics"] is False for p in sweep.points)
    else:
        with pytest.raises(ConfigError, match=r"figure\[0\] \(f\): needs .*executor.numerics = false") as e:
            load_sweep(path)
        assert "\n" not in str(e.value)


def test_replay_is_for_the_simulated_executor_only(tmp_path):
    from ampsim.errors import ConfigError
    from ampsim.sweeps.spec import load_sweep

    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [parse_override("executor.numerics=false")])
    with pytest.raises(ConfigError, match=r"executor.numerics: false replays recordings on the simulated executor "
                                          r"only; executor.kind is 'reference'"):
        plan(cfg)
    path = tmp_path / "s.toml"
    path.write_text(f'[sweep]\nexperiment = "{ROOT / "experiments" / "blobs_mlp.toml"}"\n'
                    '[fixed]\n"executor.numerics" = false\n[grid]\n"train.mak" = [1, 4]\n')
    with pytest.raises(ConfigError, match=r"point 0 .*executor.numerics: false replays"):
        load_sweep(path)


def test_a_silent_progress_is_not_told_of_each_instance(tmp_path, monkeypatch):
    # the compiled loop stops to report every hundredth instance to a counting progress: a sweep's points,
    # which show none, are not stopped for it
    from ampsim.progress import progress
    heard = []
    train = SimExecutor.train
    monkeypatch.setattr(SimExecutor, "train", lambda self, batch, on_done=None: heard.append(on_done)
                        or train(self, batch, on_done))
    cfg = load_config(ROOT / "experiments" / "list_reduction.toml", [parse_override(o) for o in (
        "data.n_train=40", "data.n_test=4", "train.epochs=2", "executor.numerics=false", 'executor.kind="sim"',
        f'executor.hardware="{HW / "ring4.toml"}"')])
    p = plan(cfg)
    silent = run_training(p, make_executor(p), RunDir(tmp_path / "silent"), progress(" ", enabled=False))
    lines, p = progress(" ", total=40, stream=io.StringIO()), plan(cfg)  # (a plan's nodes keep their staleness)
    counted = run_training(p, make_executor(p), RunDir(tmp_path / "lines"), lines)
    assert heard[:2] == [None, None] and heard[2:] == [lines.update] * 2 and lines.done == counted["instances"] > 0
    assert silent == counted


def test_a_replays_progress_lines_say_its_loss_and_metric_are_not_measured(tmp_path):
    """They read ``loss nan, test_accuracy nan``, where a nan loss elsewhere means a run that diverged."""
    from ampsim.progress import progress

    cfg = load_config(ROOT / "experiments" / "list_reduction.toml", [parse_override(o) for o in (
        "data.n_train=40", "data.n_test=4", "train.epochs=2", "executor.numerics=false", 'executor.kind="sim"',
        f'executor.hardware="{HW / "ring4.toml"}"')])
    p, stream = plan(cfg), io.StringIO()
    run_training(p, make_executor(p), RunDir(tmp_path / "r"), progress(" ", total=40, stream=stream))
    epochs = [line for line in stream.getvalue().splitlines() if "epoch" in line]
    assert epochs and all("loss n/a, test_accuracy n/a" in line and "nan" not in line for line in epochs), epochs


def test_a_recording_depends_on_the_code_that_routes_and_composes_it():
    """An edit to replicas.py (which copy an instance's messages go to) kept serving the old routing's
    recordings, and segments.py composes recordings that are saved too: both are in the code digest."""
    from ampsim.executors.sim.recording_cache import code_files

    names = {f"{f.parent.name}/{f.name}" for f in code_files()}
    assert {"ampsim/replicas.py", "sim/segments.py", "sim/recording.py", "hardware/cost.py"} <= names
    assert all(f.is_file() for f in code_files())


def test_the_recordings_folder_expands_a_home_and_follows_xdg(monkeypatch, tmp_path):
    from ampsim.executors.sim.recording_cache import cache_folder

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AMPSIM_RECORDINGS", "~/rec")  # (a folder named ~ was made in the working directory)
    assert cache_folder() == tmp_path / "rec"
    monkeypatch.delenv("AMPSIM_RECORDINGS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "ampsim" / "recordings"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # (ignored, as the XDG spec asks)
    assert cache_folder() == tmp_path / ".cache" / "ampsim" / "recordings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_folder() == tmp_path / ".cache" / "ampsim" / "recordings"
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    assert cache_folder() is None
    for off in ("OFF", "Off", " oFf "):  # (OFF made a folder named OFF in the working directory)
        monkeypatch.setenv("AMPSIM_RECORDINGS", off)
        assert cache_folder() is None, off


def test_a_home_that_is_not_there_keeps_recordings_in_memory_or_is_one_line(monkeypatch):
    """pathlib's "RuntimeError: Could not determine home directory." ended a replay where the user has no home
    folder and $HOME is unset (a container's --user), and for AMPSIM_RECORDINGS=~nosuchuser/rec."""
    import pwd

    from ampsim.errors import ConfigError
    from ampsim.executors.sim.recording_cache import cache_folder

    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("AMPSIM_RECORDINGS", raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert cache_folder() is None  # the default is nowhere: memory only, as with AMPSIM_RECORDINGS=off
    monkeypatch.setenv("AMPSIM_RECORDINGS", "~nosuchuser-of-ampsim/rec")
    with pytest.raises(ConfigError, match=r"^AMPSIM_RECORDINGS=~nosuchuser-of-ampsim/rec: its '~' names no home "
                                          r"folder; give the folder's full path, or off$"):
        cache_folder()


def test_a_full_recordings_folder_lets_the_least_recently_used_go(tmp_path, monkeypatch):
    """Every edit to the code a recording depends on files new ones under new names: nothing removed the old
    (124 MB in a day's work)."""
    from ampsim.errors import ConfigError
    from ampsim.executors.sim.recording_cache import max_bytes, prune

    names = [f"{i:024x}.npz" for i in range(8)]
    for i, name in enumerate(names):  # 1,000 bytes each, used in this order
        (tmp_path / name).write_bytes(b"x" * 1000)
        os.utime(tmp_path / name, ns=(i * 10**9, i * 10**9))
    saving = f".{names[0][:-4]}.{os.getpid()}.tmp.npz"  # a save in progress (of a process that runs)
    for other in ("mine.npz", saving, "notes.txt"):  # not recordings: never counted
        (tmp_path / other).write_bytes(b"y" * 10_000)
    assert prune(tmp_path, 8_000) == 0
    assert prune(tmp_path, 7_000) == 3  # down to three quarters of it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name in names) == names[3:]
    assert prune(tmp_path, 0, keep=tmp_path / names[3]) == 4  # the one just filed stays, whatever the limit
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[3], "mine.npz", "notes.txt", saving])
    monkeypatch.setenv("AMPSIM_RECORDINGS_MAX_BYTES", "5000")
    assert max_bytes() == 5000
    for bad in ("2GB", "2\u00b2"):  # ('²' is a digit to isdigit, a ValueError to int)
        monkeypatch.setenv("AMPSIM_RECORDINGS_MAX_BYTES", bad)
        with pytest.raises(ConfigError, match="AMPSIM_RECORDINGS_MAX_BYTES: expected a whole number of bytes"):
            max_bytes()


def test_hand_built_models_that_differ_only_in_a_nodes_settings_do_not_share_a_recording(monkeypatch):
    """A hand-built model (no plan's [model] context) was keyed by node names, kinds and shapes alone: a second
    chain whose Busy node reports twice the FLOPs replayed the first one's recording (from the process's memory,
    with AMPSIM_RECORDINGS=off too), 0.007 s where its full run takes 0.011."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    for flops in (1e6, 2e6, 1e6):
        times = []
        for numerics in (True, False):
            ex = SimExecutor(chain_model(("a", flops)), system(), {"x": 0, "a": 0, "end": 1}, numerics=numerics)
            ex.train(insts(2))
            times.append(ex.time_s)
        assert times[0] == times[1], (flops, times)
    # and wired otherwise, the same nodes: another recording too
    a, b = chain_model(("a", 1e6), ("b", 1e6)), chain_model(("b", 1e6), ("a", 1e6))
    from ampsim.executors.sim.recording_cache import _scope

    assert _scope(a, True, "")["graph"] != _scope(b, True, "")["graph"]


def test_a_cache_folder_that_cannot_take_recordings_is_said_once_not_per_recording(tmp_path):
    """AMPSIM_RECORDINGS naming a file: every recording's save failed, and each said so (a tiny run five lines, an
    SST sweep point hundreds); the runs go on without the cache, as before."""
    import subprocess
    import sys

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    env = {**os.environ, "AMPSIM_RECORDINGS": str(not_a_folder)}
    out = subprocess.run([sys.executable, "-m", "ampsim", "train", str(ROOT / "experiments" / "blobs_mlp.toml"),
                          "--executor", "sim", "--hardware", str(ROOT / "hardware_models" / "ring4.toml"),
                          "--set", "executor.numerics=false", "--set", "train.epochs=3", "--set", "data.n_train=60",
                          "--set", "data.n_test=20", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stderr.splitlines() if "file a recording in" in line]
    assert len(said) == 1 and str(not_a_folder) in said[0], out.stderr

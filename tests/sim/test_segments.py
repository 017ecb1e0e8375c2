"""A recording composed of other recordings' instances (:mod:`ampsim.executors.sim.segments`) equals what
the recorder makes of the batch, array for array, on every task and with replicas; a later epoch (another
shuffle of the same instances) is composed, not recorded again, and replays exactly."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from test_replay import HW, assert_same_timing, sim

from ampsim.calibration.workloads import WORKLOADS
from ampsim.config import load_config, parse_override
from ampsim.executors.sim import SimExecutor, recording_cache
from ampsim.executors.sim.recording import Recording, record
from ampsim.executors.sim.segments import InstancePool, compose, route_class
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.planning import plan

ROOT = Path(__file__).resolve().parents[2]

OFFLINE = [("list_reduction.toml", ("data.n_train=40", "data.n_test=4")),  # batches: each epoch's its own
           ("blobs_mlp.toml", ("data.n_train=160", "data.n_test=8"))]
REAL_DATA = [("mnist_mlp.toml", ("data.limit_train=320", "data.limit_test=8")),
             ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4")),
             ("sst_treelstm.toml", ("data.limit_train=24", "data.limit_test=4", 'replicas.nodes={"compose"=2}',
                                    "replicas.groups=2", 'replicas.sync="none"')),
             ("qm9_ggnn.toml", ("data.limit_train=80", "data.limit_valid=4"))]


def _task(experiment: str, overrides: tuple[str, ...], hardware: str = "torus8x8.toml"):
    cfg = load_config(ROOT / "experiments" / experiment,
                      [parse_override(o) for o in ('executor.kind="sim"',
                                                   f'executor.hardware="{ROOT / "hardware_models" / hardware}"',
                                                   *overrides)])
    return plan(cfg).task


def assert_equal(a: Recording, b: Recording) -> None:
    for (name, x), y in zip(a.arrays().items(), b.arrays().values()):
        assert x.dtype == y.dtype and np.array_equal(x, y), name


def assert_composes(experiment: str, overrides: tuple[str, ...]) -> None:
    """The batch recorded at once equals the batch made of two other recordings: its instances in another
    order and under other keys (of the same route class), split between them."""
    task = _task(experiment, overrides)
    batch = list(task.train_instances(1))[:8]
    assert len(batch) == 8
    whole = record(task.model, batch)
    period = 1 if route_class(task.model.inject, 0) is None else 4 * 2  # keys of the same group and copies
    moved = [Instance(inst.key + 1000 * period, inst.data) for inst in batch]
    first, second = record(task.model, moved[5:][::-1]), record(task.model, moved[:5])
    parts = [(second, k) for k in range(5)] + [(first, 2 - k) for k in range(3)]
    assert_equal(compose(parts, [inst.key for inst in batch]), whole)
    assert_equal(compose([(whole, k) for k in range(8)], [inst.key for inst in batch]), whole)


@pytest.mark.parametrize("experiment,overrides", OFFLINE, ids=lambda v: v if isinstance(v, str) else "")
def test_a_batch_made_of_earlier_instances_equals_its_recording_offline(experiment, overrides):
    assert_composes(experiment, overrides)


@pytest.mark.parametrize("experiment,overrides", REAL_DATA, ids=lambda v: v if isinstance(v, str) else "")
def test_a_batch_made_of_earlier_instances_equals_its_recording_on_real_data(experiment, overrides, data_root):
    assert_composes(experiment, overrides)


def test_a_replicated_models_instances_are_filed_by_their_group_and_copies():
    task = _task("list_reduction.toml", ("data.n_train=40", "data.n_test=4", "replicas.groups=2",
                                         'replicas.nodes={"*"=3}', 'replicas.sync="none"'))
    inject = task.model.inject
    assert route_class(inject, 0) == (0, 0) and route_class(inject, 1) == (1, 0)
    assert route_class(inject, 2) == (0, 1) and route_class(inject, 6) == (0, 0)  # 2 groups x 3 copies
    plain = _task("list_reduction.toml", ("data.n_train=40", "data.n_test=4"))
    assert route_class(plain.model.inject, 0) is route_class(plain.model.inject, 5) is None
    data = list(task.train_instances(1))[0].data
    keys = InstancePool.file_keys("s", inject, [Instance(0, data), Instance(6, data), Instance(1, data)])
    assert keys[0] == keys[1] != keys[2]


@pytest.fixture
def made(monkeypatch):
    """What the recording cache did on a miss, in order: "record" or "compose"."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    recording_cache.clear_memory()
    seen: list[str] = []
    monkeypatch.setattr(recording_cache, "record", lambda *a, **k: seen.append("record") or record(*a, **k))
    monkeypatch.setattr(recording_cache, "compose", lambda *a: seen.append("compose") or compose(*a))
    return seen


def test_another_shuffle_of_the_same_instances_is_composed_and_replays_exactly(made):
    model, trees = WORKLOADS["tree"][0](24)
    order = np.random.default_rng(0).permutation(len(trees))
    epochs = [trees, [Instance(100 + k, trees[i].data) for k, i in enumerate(order)], trees[5:17]]
    runs = []
    for numerics in (True, False):
        ex = SimExecutor(copy.deepcopy(model), load_system(HW / "ring4.toml"),
                         {n: i % 4 for i, n in enumerate(model.graph.nodes)}, mak=8, numerics=numerics)
        for batch in epochs:
            ex.train(batch)
        runs.append(ex)
    full, replay = runs
    assert replay.time_s == full.time_s > 0 and replay.messages == full.messages
    assert [c.busy_s for c in replay.chips] == [c.busy_s for c in full.chips]
    assert dict(replay.network.bytes) == dict(full.network.bytes)
    assert made == ["record", "compose", "compose"]  # the third: a part of the first epoch's, in order


def test_later_epochs_of_sst_are_composed_and_replay_exactly(made, data_root, tmp_path):
    assert_same_timing("sst_treelstm.toml", ("train.epochs=3", "data.limit_train=16", "data.limit_test=4",
                                             "train.max_instances=16") + sim("torus8x8.toml", "greedy", 8, 1),
                       tmp_path)
    # the greedy plan's profile instances (the epoch's first four), the rest of epoch 1, composed with them;
    # epochs 2 and 3 composed
    assert made == ["record", "record", "compose", "compose", "compose"]


def test_the_pool_keeps_the_newest_recordings():
    pool = InstancePool()
    pool.slots = 1
    a, b = object(), object()  # recordings, as the pool sees them
    pool.add(a, ["x", "y"])
    pool.add(b, ["y", "z"])
    assert pool.find(["x", "y", "z"]) == [None, (b, 0), (b, 1)]
    pool.clear()
    assert pool.find(["y"]) == [None]


def test_no_instances_is_an_empty_recording(made):
    model, _ = WORKLOADS["tree"][0](2)
    rec = recording_cache.obtain(model, [])
    assert rec.n_messages == 0 and len(rec.keys) == 0 and made == ["record"]

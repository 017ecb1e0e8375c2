"""Replay runs sparse synchronization exactly: with ``replicas.sparse_sync`` the copies of an embedding
all-reduce only the rows some copy changed since the last round, so a round's bytes, work and memory depend
on the rows each instance touched. The recording carries them per stash, and a replayed run's simulated
time, chip busy times, per-link bytes, peak memory, staleness and sync rounds / bytes / time equal the full
run's bit for bit (SST Tree-LSTM and the list-reduction LSTM; sync_every 1 and 2, overlap on and off, mak 1
and 16, two machines)."""

from __future__ import annotations

import numpy as np
import pytest
from replay_kit import run_experiment
from test_replay_replicas import assert_same_timing, replicas

from ampsim.executors.sim.recording_cache import clear_memory
from ampsim.ir.nodes.linear import Embedding

SST = ("data.limit_train=24", "data.limit_test=4", "train.max_instances=24")
LIST = ("data.n_train=192", "data.n_test=16", "data.batch=4")
SPARSE = ("replicas.sparse_sync=true",)
CASES = [
    ("sst_treelstm.toml", SST + replicas("torus8x8.toml", "groups", 1, 1, '{"compose"=2}', 1, False)),
    ("sst_treelstm.toml", SST + replicas("torus8x8.toml", "groups", 16, 1, "{}", 2, True, groups=3)),
    ("sst_treelstm.toml", SST + replicas("hypercube_1024.toml", "groups", 16, 1, '{"compose"=2}', 1, False)),
    ("sst_treelstm.toml", SST + replicas("hypercube_1024.toml", "greedy", 1, 2, "{}", 3, True)),
    ("list_reduction.toml", LIST + replicas("torus8x8.toml", "groups", 16, 1, "{}", 1, False)),
    ("list_reduction.toml", LIST + replicas("hypercube_1024.toml", "groups", 1, 2, "{}", 2, True, groups=3)),
    # two train calls and a timed evaluation (rows carry over), and an outer learning rate (the anchor's memory)
    ("sst_treelstm.toml", SST + replicas("torus8x8.toml", "groups", 16, 1, "{}", 2, False, epochs=2)
     + ("eval.advances_time=true", "replicas.outer_lr=2")),
]


def _sparse_sets(p) -> list:
    return [s for s in p.sync_sets if s.row_params]


@pytest.mark.parametrize("experiment,overrides", CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_a_replayed_sparse_sync_run_equals_the_fullrun_experiment(experiment, overrides, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    full, fx, _ = run_experiment(experiment, overrides + SPARSE, True, tmp_path / "full")
    replay, rx, rp = run_experiment(experiment, overrides + SPARSE, False, tmp_path / "replay")
    assert _sparse_sets(rp) and rx.fast_loop  # an embedding synchronizes by rows, on the fast loop (fastsync)
    assert replay["replica_drift"] is None
    assert_same_timing(full, fx, replay, rx)


def test_sparse_sync_replays_fewer_bytes_than_dense(data_root, tmp_path, monkeypatch):
    """The replay does move rows, not the table: the same run dense moves more and takes longer."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    overrides = SST + replicas("torus8x8.toml", "groups", 16, 1, "{}", 1, False)
    sparse, _, _ = run_experiment("sst_treelstm.toml", overrides + SPARSE, False, tmp_path / "sparse")
    dense, _, _ = run_experiment("sst_treelstm.toml", overrides, False, tmp_path / "dense")
    assert sparse["sync_rounds"] == dense["sync_rounds"] > 0
    assert sparse["sync_bytes"] < dense["sync_bytes"] and sparse["sync_time_s"] < dense["sync_time_s"]


def test_the_recorded_changed_rows_are_the_embedding_stash_ids(data_root, tmp_path, monkeypatch):
    """An Embedding's changed rows per stash are the distinct ids its stash profile lists (``[3:]``), and
    a recording read back from its file replays the same run."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", str(tmp_path / "recordings"))
    clear_memory()
    overrides = SST + replicas("torus8x8.toml", "groups", 1, 1, "{}", 1, False) + SPARSE
    first, rx, _ = run_experiment("sst_treelstm.toml", overrides, False, tmp_path / "replay")
    clear_memory()
    again, _, _ = run_experiment("sst_treelstm.toml", overrides, False, tmp_path / "again")
    assert again == first and list((tmp_path / "recordings").glob("*.npz"))
    rec = rx.replay.rec
    profiles = np.split(rec.profiles, rec.prof_ptr[1:-1])
    segments = np.split(rec.row_ids, rec.row_ptr[1:-1])
    checked = 0
    for j, n in enumerate(rec.stash_node.tolist()):
        node = rx.graph.nodes[str(rec.names[n])]
        own = segments[rec.seg_ptr[j]:rec.seg_ptr[j + 1]]
        assert len(own) == len(node.row_params)
        if isinstance(node, Embedding):
            assert own[0].size and np.array_equal(own[0], profiles[j][3:])
            checked += 1
    assert checked > 0

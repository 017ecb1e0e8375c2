"""Sparse synchronization in the simulator: the all-reduce of an embedding moves the rows the copies
changed (and their ids), not the table, and snapshots hold only those rows in chip memory."""

from __future__ import annotations

from pathlib import Path

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.planning import plan
from ampsim.results import RunDir
from ampsim.training import run_training

ROOT = Path(__file__).resolve().parents[2]
BASE = ("data.limit_train=48", "data.limit_test=8", 'executor.kind="sim"',
        f'executor.hardware="{ROOT / "hardware_models" / "torus8x8.toml"}"', 'placement.strategy="groups"',
        "train.mak=4", "train.muf=1", "train.epochs=1", "replicas.groups=2")


def run(tmp: Path, *overrides: str):
    cfg = load_config(ROOT / "experiments" / "sst_treelstm.toml", [parse_override(o) for o in (*BASE, *overrides)])
    p = plan(cfg)
    ex = make_executor(p)
    return run_training(p, ex, RunDir(tmp)), ex, p


def test_sparse_sync_moves_and_holds_the_changed_rows_only(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    dense, dx, dp = run(tmp_path / "dense")
    sparse, sx, sp = run(tmp_path / "sparse", "replicas.sparse_sync=true")
    assert sparse["sync_rounds"] == dense["sync_rounds"] > 0
    table = next(s for s in dp.sync_sets if s.name == "emb").param_bytes
    rounds = dense["sync_rounds"] // len(dp.sync_sets)
    # two copies: each round moves every copy's whole table once (2 steps of half of it) when dense
    assert dense["sync_bytes"] - sparse["sync_bytes"] > 0.9 * rounds * 2 * table
    emb = [sx.where[n].index for n in ("g0/emb", "g1/emb")]
    assert emb and all(sx.chips[i].peak_bytes < dx.chips[i].peak_bytes for i in emb)
    assert sparse["sync_time_s"] < dense["sync_time_s"]


def test_through_the_host_a_sparse_snapshot_moves_its_changed_rows_only(data_root, tmp_path, monkeypatch):
    # replicas.collective = "host": every copy's snapshot goes to the controller and the average comes back.
    # Dense, each round of a set moves 2 k P (k = 2 copies); sparse, the table's rounds move its changed rows
    # both ways, so the difference is nearly 2 k times the table per round (counting the snapshots whole,
    # it would be under k times)
    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    host = ('replicas.collective="host"', "hardware.host.cores=64", "hardware.host.controller_s_per_sync_byte=1e-10")
    dense, _, dp = run(tmp_path / "dense", *host)
    sparse, _, _ = run(tmp_path / "sparse", *host, "replicas.sparse_sync=true")
    assert sparse["sync_rounds"] == dense["sync_rounds"] > 0
    rounds = dense["sync_rounds"] // len(dp.sync_sets)
    assert dense["sync_bytes"] == sum(rounds * 2 * 2 * s.param_bytes for s in dp.sync_sets)
    table = next(s for s in dp.sync_sets if s.name == "emb").param_bytes
    assert dense["sync_bytes"] - sparse["sync_bytes"] > 0.9 * rounds * 2 * 2 * table
    assert sparse["controller_cpu_s"] < dense["controller_cpu_s"]



def test_through_the_host_each_snapshot_counts_its_own_rows():
    # two contributing updates of one copy in flight at once (a chip with two units): each snapshot's
    # bytes are its own rows' when its job ends, not the later snapshot's
    import numpy as np
    import simpy

    from ampsim.executors.sim.collective import Collectives
    from ampsim.ir.nodes.linear import Embedding
    from ampsim.ir.sync import SyncSet

    copies = []
    for i in range(2):
        e = Embedding("emb", 12, 3, seed=7)
        e.name = f"emb#{i}"
        copies.append(e)
    s = SyncSet("emb", copies, 1, sparse=True)
    col = Collectives([s], {}, simpy.Environment(), lambda *a: None, collective="host", host=lambda _s: None)
    for rows in ([1, 4], [2, 5, 7]):  # what two updates changed (Embedding.update records its rows so)
        copies[0].changed_rows.setdefault("W", []).append(np.array(rows))
        col.contributed(copies[0])
    col.snapshot_taken(copies[0])
    assert col.bytes == 2 * (3 * 4 + 8)  # two rows of three float32, and their ids
    col.snapshot_taken(copies[0])
    assert col.bytes == 2 * (3 * 4 + 8) + 3 * (3 * 4 + 8)

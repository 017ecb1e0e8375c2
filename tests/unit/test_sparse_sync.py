"""Sparse synchronization (``replicas.sparse_sync``, ``ampsim/ir/sync.py``): a table updated by rows
synchronizes only the rows some copy changed since the last round, exactly: those rows get the copies'
average, the other rows keep the value every copy already shares."""

from __future__ import annotations

import numpy as np
import pytest

from ampsim.ir.nodes.linear import Embedding
from ampsim.ir.sync import SyncSet
from ampsim.optim import OptimizerSpec, SparseRows


def table_copies(k: int, rows: int = 12, dim: int = 3) -> list[Embedding]:
    out = []
    for i in range(k):
        e = Embedding("emb", rows, dim, seed=7)  # equal tables: the same name draws the same values
        e.name = f"emb#{i}"
        e.configure(OptimizerSpec(kind="sgd", lr=0.5), muf=1)
        out.append(e)
    return out


def step(node: Embedding, rows: list[int], rng: np.random.Generator) -> None:
    """One sparse SGD update of ``rows`` (what Embedding.update does with a row gradient)."""
    r = np.array(sorted(rows), dtype=np.int64)
    g = SparseRows(r, rng.standard_normal((r.size, node.params["W"].shape[1])).astype(np.float32))
    node.optimizer.update("W", node.params["W"], g)
    node.changed_rows.setdefault("W", []).append(r)


def round_of(s: SyncSet, changes: list[list[int]], rng: np.random.Generator):
    for c, rows in zip(s.copies, changes):
        if rows:
            step(c, rows, rng)
        s.contribute(c)
    red = s.reduce()
    for c in s.copies:
        s.apply(c, red)
    return red


def test_only_the_rows_some_copy_changed_are_averaged_and_moved():
    dense, sparse = table_copies(3), table_copies(3)
    ds, ss = SyncSet("emb", dense, 1), SyncSet("emb", sparse, 1, sparse=True)
    for c in dense:
        c.changed_rows = {}  # the dense set does not track rows; the step helper records them anyway
    start = sparse[0].params["W"].copy()
    changes = [[1, 4], [4, 7], []]
    red_dense = round_of(ds, changes, np.random.default_rng(1))
    red_sparse = round_of(ss, changes, np.random.default_rng(1))
    assert list(red_sparse.rows["W"]) == [1, 4, 7]
    W = sparse[0].params["W"]
    for c in sparse[1:]:
        np.testing.assert_array_equal(c.params["W"], W)  # the copies agree exactly after the round
    untouched = [r for r in range(12) if r not in (1, 4, 7)]
    np.testing.assert_array_equal(W[untouched], start[untouched])  # bit for bit: never rewritten
    # on the changed rows the sparse round computes what the dense one does, in the same order
    np.testing.assert_array_equal(W[[1, 4, 7]], dense[0].params["W"][[1, 4, 7]])
    np.testing.assert_allclose(dense[0].params["W"], W, rtol=0, atol=1e-6)  # elsewhere: (3x)/3 rounding only
    # the all-reduce moves three rows and their ids, not the table
    assert red_sparse.nbytes == 3 * 3 * 4 + 3 * 8
    assert red_dense.nbytes is None


def test_rows_changed_after_a_round_are_carried_into_the_next():
    rng = np.random.default_rng(2)
    cs = table_copies(2)
    s = SyncSet("emb", cs, 1, sparse=True)
    round_of(s, [[0], [5]], rng)
    red = round_of(s, [[5], []], rng)
    assert list(red.rows["W"]) == [5]
    np.testing.assert_array_equal(cs[0].params["W"], cs[1].params["W"])


def test_snapshots_hold_only_the_changed_rows_in_memory():
    rng = np.random.default_rng(3)
    cs = table_copies(2, rows=1000, dim=8)
    s = SyncSet("emb", cs, 1, sparse=True)
    held = [c.held_nbytes for c in cs]
    step(cs[0], [3, 9], rng)
    work = s.contribute(cs[0])
    assert cs[0].held_nbytes - held[0] == 2 * 8 * 4  # two rows, not the 1000-row table
    assert work.bytes == 2 * (2 * 8 * 4)
    s.contribute(cs[1])  # changed nothing: an empty snapshot
    assert cs[1].held_nbytes == held[1]
    red = s.reduce()
    for c in cs:
        s.apply(c, red)
    assert [c.held_nbytes for c in cs] == held


@pytest.mark.parametrize("lr", [2.0])
def test_an_outer_learning_rate_steps_the_changed_rows_from_the_last_result(lr):
    rng = np.random.default_rng(4)
    cs = table_copies(2)
    start = cs[0].params["W"].copy()
    s = SyncSet("emb", cs, 1, sparse=True, outer_lr=lr)
    moved = []
    for c, rows in zip(cs, [[2], [2]]):
        before = c.params["W"][2].copy()
        step(c, rows, rng)
        moved.append(c.params["W"][2] - before)
        s.contribute(c)
    red = s.reduce()
    for c in cs:
        s.apply(c, red)
    np.testing.assert_allclose(cs[0].params["W"][2], start[2] + lr * (moved[0] + moved[1]) / 2, atol=1e-6)
    np.testing.assert_array_equal(cs[0].params["W"][3], start[3])

"""The outer learning rate of a synchronization round (``replicas.outer_lr``, ``ampsim/ir/sync.py``):
result = anchor + η (average − anchor), the anchor being the previous result (the copies' start at first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ampsim.config import load_config, parse_override
from ampsim.ir.sync import SyncSet
from ampsim.planning import plan

ROOT = Path(__file__).resolve().parents[2]


def copies(groups: int) -> list:
    """The copies of the list-reduction cell, one per group, as the planner makes them (equal at start)."""
    cfg = load_config(ROOT / "experiments" / "list_reduction.toml",
                      [parse_override(o) for o in ("data.n_train=8", "data.n_test=4", f"replicas.groups={groups}")])
    return plan(cfg).sync_sets[0].copies


def one_round(s: SyncSet, moves: list[float]) -> None:
    """Every copy moves every parameter by its ``moves`` entry (an update), contributes, and the round is
    reduced and applied to every copy, as the reference executor does."""
    for c, d in zip(s.copies, moves):
        for p in c.params.values():
            p += p.dtype.type(d)
        s.contribute(c)
    red = s.reduce()
    for c in s.copies:
        s.apply(c, red)


def test_outer_lr_one_keeps_the_plain_average():
    cs = copies(2)
    start = {k: v.copy() for k, v in cs[0].params.items()}
    s = SyncSet("cell", cs, 1)
    assert s.anchor is None  # the plain path: no anchor kept, no extra memory
    one_round(s, [0.5, 0.25])
    for k, v in start.items():
        for c in cs:
            np.testing.assert_array_equal(c.params[k], (v + np.float32(0.5) + v + np.float32(0.25)) / 2)


def test_outer_lr_equal_to_the_copies_adds_up_their_moves():
    cs = copies(3)
    start = {k: v.copy() for k, v in cs[0].params.items()}
    s = SyncSet("cell", cs, 1, outer_lr=3.0)
    one_round(s, [0.5, 0.25, -0.125])
    for k, v in start.items():
        for c in cs:
            np.testing.assert_allclose(c.params[k], v + 0.625, rtol=0, atol=1e-6)


def test_the_next_round_steps_from_the_previous_result():
    cs = copies(2)
    start = {k: v.copy() for k, v in cs[0].params.items()}
    s = SyncSet("cell", cs, 1, outer_lr=4.0)
    one_round(s, [0.25, 0.25])  # mean move 0.25, times 4
    one_round(s, [0.125, -0.125])  # mean move 0: the result stays where round 0 put it
    for k, v in start.items():
        np.testing.assert_allclose(s.anchor[k], v + 1.0, rtol=0, atol=1e-6)
        for c in cs:
            np.testing.assert_array_equal(c.params[k], s.anchor[k])


def test_the_anchor_counts_in_memory_from_the_first_contribution_on():
    cs = copies(2)
    s = SyncSet("cell", cs, 1, outer_lr=2.0)
    held = [c.held_nbytes for c in cs]
    for c in cs:
        s.contribute(c)
    assert [c.held_nbytes - h for c, h in zip(cs, held)] == [2 * c.param_bytes for c in cs]  # snapshot + anchor
    red = s.reduce()
    work = [s.apply(c, red) for c in cs]
    assert [c.held_nbytes - h for c, h in zip(cs, held)] == [c.param_bytes for c in cs]  # the anchor stays
    plain = SyncSet("cell", copies(2), 1)
    for c in plain.copies:
        plain.contribute(c)
    plain_red = plain.reduce()
    plain_work = plain.apply(plain.copies[0], plain_red)
    # the outer step costs each copy three more operations per element
    n = sum(a.size for a in cs[0].params.values())
    assert work[0].flops == plain_work.flops + 3 * n

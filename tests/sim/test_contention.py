"""Contention between busy chips (``chip.contention_slowdown``, issue 14): exact timelines of the fluid rule in
:mod:`ampsim.executors.sim.chips`, and nothing changes without it.

The timeline kit's chips run 1e6 FLOPs in exactly 1 ms with no other cost; two chains of one node each, one
per chip, run side by side (:func:`side_by_side`).
"""

from __future__ import annotations

import numpy as np
import pytest
from timeline_kit import MS, Busy, End, chain_model, insts, system

from ampsim.executors.sim import SimExecutor
from ampsim.ir.graph import Graph
from ampsim.ir.nodes.io import Input
from ampsim.models.base import InjectFields, Metric, Model


def contended(slowdown: float, **kw):
    s = system(**kw)
    import dataclasses

    chips = tuple(dataclasses.replace(c, contention_slowdown=slowdown) for c in s.chips)
    return dataclasses.replace(s, chips=chips, chip_default=chips[0])


def side_by_side(flops0: float, flops1: float, machine, mak: int = 1, n: int = 1) -> SimExecutor:
    """Node c0 (``flops0`` per message) on chip 0 and c1 on chip 1, each in its own chain; ``n`` instances."""
    g = Graph("pair")
    for i in (0, 1):
        g.add(Input(f"x{i}", dtype=np.float64))
        g.add(Busy(f"c{i}", (flops0, flops1)[i]))
        g.add(End(f"end{i}"))
        g.chain(f"x{i}", f"c{i}", f"end{i}")
    model = Model(g.validate(), InjectFields((("x0", "x"), ("x1", "x"))), Metric("m", "end0", "n"))
    place = {f"{name}{i}": i for i in (0, 1) for name in ("x", "c", "end")}
    ex = SimExecutor(model, machine, place, mak=mak, eval_advances_time=True)
    ex.evaluate(insts(n))
    return ex


def test_two_chips_busy_at_once_both_take_the_factor_times_as_long_exactly():
    ex = side_by_side(1e6, 1e6, contended(0.5))
    assert ex.env.now == 1.5 * MS
    assert [c.busy_s for c in ex.chips] == [1.5 * MS, 1.5 * MS]
    alone = side_by_side(1e6, 1e6, system())
    assert alone.env.now == 1 * MS and [c.busy_s for c in alone.chips] == [1 * MS, 1 * MS]


def test_an_item_is_stretched_only_while_another_chip_is_busy():
    # factor 2: c1 (1 ms of work) ends at 2 ms; c0 (2 ms of work) has done 1 ms by then, the rest alone: 3 ms
    ex = side_by_side(2e6, 1e6, contended(1.0))
    assert ex.env.now == pytest.approx(3 * MS, rel=1e-12)
    assert [c.busy_s for c in ex.chips] == pytest.approx([3 * MS, 2 * MS], rel=1e-12)


def test_a_stream_of_items_side_by_side_runs_at_the_contended_rate():
    ex = side_by_side(1e6, 1e6, contended(0.25), mak=4, n=8)
    assert ex.env.now == pytest.approx(8 * 1.25 * MS, rel=1e-12)


def test_chips_taking_turns_are_not_slowed():
    # a pipeline at mak 1: chip 0 then chip 1, never both busy
    model = chain_model(("a", 1e6), ("b", 2e6))
    times = []
    for machine in (system(), contended(0.5)):
        ex = SimExecutor(model, machine, {"x": 0, "a": 0, "b": 1, "end": 1}, mak=1, eval_advances_time=True)
        ex.evaluate(insts(3))
        times.append((ex.env.now, [c.busy_s for c in ex.chips]))
    assert times[0] == times[1]


def test_one_busy_chip_alone_is_not_slowed():
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, contended(0.5), {"x": 0, "a": 0, "b": 0, "end": 0}, mak=4, eval_advances_time=True)
    ex.evaluate(insts(4))
    assert ex.env.now == pytest.approx(4 * 3 * MS, rel=1e-12)


def test_zero_slowdown_changes_nothing():
    model = chain_model(("a", 1e6), ("b", 2e6))
    runs = []
    for machine in (system(), contended(0.0)):
        ex = SimExecutor(model, machine, {"x": 0, "a": 0, "b": 1, "end": 1}, mak=5, eval_advances_time=True)
        ex.evaluate(insts(5))
        runs.append((ex.env.now, [c.busy_s for c in ex.chips], ex.chips[0].contention.active))
    assert runs[0] == runs[1] and runs[0][2] is False

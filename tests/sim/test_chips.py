"""A chip's counters read over a whole machine at once (:func:`~ampsim.executors.sim.chips.chip_counters`):
the same values, by chip index, as reading each chip, and the debts collected."""

from __future__ import annotations

import simpy

from ampsim.executors.sim.chips import Chip, chip_counters
from ampsim.hardware.spec import ChipSpec


def _chips(n: int) -> list[Chip]:
    env = simpy.Environment()
    return [Chip(env, i, ChipSpec(1e9, 1e9, 0.0, 1, 1 << 30), lambda *a: (0.0, None),
                 serve=False) for i in range(n)]


def test_chip_counters_read_every_chip_and_collect_its_debt():
    chips = _chips(4)
    for c, (param, held, queued, peak, busy, debt) in zip(chips, [(10, 2, 3, 20, 0.5, 0.0), (0, 0, 0, 0, 0.0, 0.0),
                                                                  (7, 1, 0, 9, 1.25, 2e-6), (1, 0, 2.5, 4, 0.0, 1e-3)]):
        c.param_bytes, c.held_bytes, c.queued_bytes, c.peak_bytes, c.busy_s = param, held, queued, peak, busy
        c.charge(debt)
    got = chip_counters(chips)
    assert got == {"used": [15, 0, 8, 3.5], "peak": [20, 0, 9, 4], "busy": [0.5, 0.0, 1.25, 0.0],
                   "debt": [0.0, 0.0, 2e-6, 1e-3]}
    assert [type(u) for u in got["used"]] == [int, int, int, float]  # as the sum of each chip's counters
    assert [c.collect() for c in chips] == [0.0] * 4  # collected

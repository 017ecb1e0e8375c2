"""Exact timelines of the controller's round trip (``host.completion_latency_s``).

Same machine as tests/sim/test_timelines.py (timeline_kit): chips at 1 GFLOP/s, no overheads, links of
0.5 ms latency and 0.25 ms per message. The model is x → w → a → end: w holds 1,200 parameters (its SGD
update takes 2.4 us) and passes messages through at no cost, a takes 1 ms each way.

A worker reports an instance's last step to the controller, which only then queues the instance's
update jobs and admits the next one. With a completion latency L, both reach the chips L after the last
step, as a frame the chip takes in when it next polls; with L = 0 (the default) the controller acts at
the completion's instant, as before.
"""

import dataclasses

import numpy as np
import pytest
from timeline_kit import MS, Busy, End, Weight, instants, insts, spans, system, weight_model

from ampsim.executors.sim import SimExecutor
from ampsim.ir.graph import Graph
from ampsim.ir.nodes.io import Input
from ampsim.models.base import InjectFields, Metric, Model
from ampsim.optim import OptimizerSpec

ONE_CHIP = {"x": 0, "w": 0, "a": 0, "end": 0}
TWO_CHIPS = {"x": 0, "w": 0, "a": 1, "end": 1}


def run(latency_s: float, *, mak: int, n: int, placement: dict, poll_s: float = 0.0) -> SimExecutor:
    machine = system(chip_override={"chips": [0, 1], "poll_interval_s": poll_s}) if poll_s else system()
    machine = dataclasses.replace(machine, host=dataclasses.replace(machine.host, completion_latency_s=latency_s))
    ex = SimExecutor(weight_model(("a", 1e6)), machine, placement, mak=mak, trace=True)
    ex.train(insts(n))
    return ex


@pytest.mark.parametrize("latency_ms", [0.0, 0.5])
def test_the_controller_acts_on_a_completion_its_latency_later(latency_ms):
    """mak = 1 on one chip: a fwd 0-1, a bwd 1-2, the instance completes at 2; its update (2.4 us) and the
    next instance's first step run when the controller's answer arrives, L later: each instance takes
    2 ms + L + 2.4 us."""
    ex = run(latency_ms * MS, mak=1, n=3, placement=ONE_CHIP)
    period = 2.0024 + latency_ms
    assert spans(ex, "a") == [(0.0, 1.0), (round(period, 9), 1.0), (round(2 * period, 9), 1.0)]
    assert instants(ex, "complete") == [(k, round(2.0 + k * period, 9)) for k in range(3)]
    # the next instance is admitted as its predecessor's update is queued, just before it runs
    assert instants(ex, "admit") == [(0, 0.0)] + [(k, round(k * period - 0.0024, 9)) for k in (1, 2)]
    assert spans(ex, "w", "update") == [(round(2.0 + latency_ms + k * period, 9), 0.0024) for k in range(3)]
    assert ex.time_s == pytest.approx((2.0024 + latency_ms + 2 * period) * MS, rel=1e-12)


def test_a_busy_chip_takes_the_controllers_frame_at_its_next_poll():
    """mak = 2 on one chip that polls every 5 ms (so only when its queue runs empty). Instance 0 runs
    0-2; instance 1's first message came in the same frame as the chip started, so it waits in the inbox
    until the queue empties at 2. Instance 0 completes at 2: the controller's answer (its update, instance
    2) arrives at 2.5 while instance 1 runs, and is taken in when the queue empties at 4."""
    ex = run(0.5 * MS, mak=2, n=3, placement=ONE_CHIP, poll_s=5 * MS)
    assert spans(ex, "a") == [(0.0, 1.0), (2.0, 1.0), (4.0024, 1.0)]
    assert instants(ex, "complete") == [(0, 2.0), (1, 4.0), (2, 6.0024)]
    assert instants(ex, "admit") == [(0, 0.0), (1, 0.0), (2, 2.5)]
    # instance 1's update arrives at 4.5, the chip busy with instance 2 until 6.0024; instance 2's at 6.5024
    assert spans(ex, "w", "update") == [(4.0, 0.0024), (6.0024, 0.0024), (6.5024, 0.0024)]


@pytest.mark.parametrize("latency_ms, w_bwd, staleness", [
    # the controller at once: a's backward steps end 4.75, 5.75, 6.75 and reach w 0.75 ms later; each
    # completion's update runs before the next instance's backward step at w: staleness 0, 1, 2, then
    # the two admitted at 5.5 and 6.5 see the two updates before theirs
    (0.0, [(5.5, 0.0), (6.5, 0.0), (7.5, 0.0), (10.5, 0.0), (11.5, 0.0)], {0: 1, 1: 1, 2: 3}),
    # 2 ms: instance 0's update arrives at 7.5, after instance 1's backward step at w (6.5) and just before
    # instance 2's; instance 3 is admitted at 7.5 and instance 4 at 8.5, and each sees fewer updates
    (2.0, [(5.5, 0.0), (6.5, 0.0), (7.5024, 0.0), (12.0024, 0.0), (13.0024, 0.0)], {0: 2, 1: 2, 2: 1}),
])
def test_the_controllers_round_trip_lowers_staleness(latency_ms, w_bwd, staleness):
    """mak = 3, w on chip 0 and a on chip 1: three instances leave w at 0 and queue for a."""
    ex = run(latency_ms * MS, mak=3, n=5, placement=TWO_CHIPS)
    assert spans(ex, "w", "bwd") == w_bwd
    assert dict(ex.graph.nodes["w"].staleness) == staleness


def test_a_unit_left_idle_takes_later_arrivals_after_earlier_ones():
    """mak = 1 (no staleness, whatever the machine) with two weights on a chip of two units that polls every
    10 ms, and a controller 0.5 ms away. Instance 0 completes at 2: its two update jobs and the next
    admission arrive at 2.5, one after another. The first update woke a unit; the second was left in the
    inbox beside the other, idle, unit (the queue was not empty yet), and the admission, with the queue empty
    again, was taken at once, ahead of it: instance 1's forward ran at w2 before w2's update, and its backward
    there saw a staleness of 1. A chip with an idle unit takes an arrival at once: the three run in order."""
    g = Graph("two weights")
    w1, w2 = g.add(Weight("w1")), g.add(Weight("w2"))
    g.chain(g.add(Input("x", dtype=np.float64)), w1, w2, g.add(Busy("a", 1e6)), g.add(End("end")))
    for w in (w1, w2):
        w.configure(OptimizerSpec(kind="sgd", lr=0.5), muf=1)
    model = Model(g.validate(), InjectFields((("x", "x"),)), Metric("m", "end", "n"))
    machine = system(chip_override={"chips": [0, 1], "compute_units": 2, "poll_interval_s": 10 * MS})
    machine = dataclasses.replace(machine, host=dataclasses.replace(machine.host, completion_latency_s=0.5 * MS))
    ex = SimExecutor(model, machine, {"x": 0, "w1": 0, "w2": 0, "a": 0, "end": 0}, mak=1, trace=True)
    ex.train(insts(3))
    assert {name: dict(ex.graph.nodes[name].staleness) for name in ("w1", "w2")} == {"w1": {0: 3}, "w2": {0: 3}}
    updates, forwards = spans(ex, "w2", "update"), spans(ex, "w2")
    assert all(u[0] <= f[0] for u, f in zip(updates, forwards[1:]))  # each update before the next forward

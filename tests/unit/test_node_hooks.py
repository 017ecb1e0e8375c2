"""The nodes' public hooks for an observer (the recorder, :mod:`ampsim.executors.sim.recording`): a join
observer told of every join arrival, and a loss node's switch for its divergence check."""

from __future__ import annotations

import numpy as np
import pytest

from ampsim.errors import Diverged
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.losses import MeanSquaredError
from ampsim.ir.nodes.pointwise import Add


def test_a_join_observer_sees_each_arrival_and_whether_it_completed_the_join():
    add, seen = Add("a"), []
    add.join_observer = lambda node, msg, part, complete: seen.append((node, msg.tag, part.nbytes, complete))
    msg = Message(Instance(7, {}), (0,), np.ones((1, 2)))
    assert not add.step(False, msg, 1).sends
    (sent,) = add.step(False, msg.with_payload(np.ones((1, 2))), 0).sends
    assert seen == [(add, (7, (0,)), 16, False), (add, (7, (0,)), 16, True)]
    assert np.array_equal(sent.msg.payload, np.full((1, 2), 2.0))
    add.join_observer = None
    add.step(True, msg, 0)
    assert len(seen) == 2 and not add.has_state()


def test_a_loss_nodes_check_is_off_while_checks_loss_is_false():
    loss = MeanSquaredError("l", 1, lambda inst, state: np.zeros((1, 1)))
    loss.max_loss = 1.0
    msg = Message(Instance(0, {}), (), np.zeros(1))
    loss.checks_loss = False
    loss.check_loss(msg, float("inf"), 1)  # nothing raised
    loss.checks_loss = True
    with pytest.raises(Diverged):
        loss.check_loss(msg, float("inf"), 1)

"""The compiled replay's packet links keep each link's messages in a region of a shared pool
(``ampsim/executors/sim/jitpackets.py``); before every event the kernel makes sure the pool has
:func:`~ampsim.executors.sim.jitpackets.pool_need` slots, so that no join during the event can run past its
end. The bound, stated as a property: whatever the links hold, one event that makes at most ``sends``
messages join them never takes the pool's top past it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.executors.sim import jitpackets
from ampsim.executors.sim.jitstate import N_K, ONLINK, PTOP

COUNT, BOUND_O = jitpackets.COUNT, jitpackets.BOUND_O


def _links(n: int) -> tuple:
    LI = np.zeros((n, 7), dtype=np.int64)
    LI[:, BOUND_O] = -1
    return LI, np.zeros(1 << 16, dtype=np.int64), np.zeros(1 << 16), np.zeros(N_K, dtype=np.int64)


def _join(LI, LS, LL, K, lid: int) -> None:
    jitpackets._append(LI, LS, LL, K, lid, 0, 1.0)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_one_event_never_needs_more_of_the_pool_than_pool_need(data):
    n = data.draw(st.integers(1, 6), label="links")
    sends = data.draw(st.integers(1, 40), label="sends")
    LI, LS, LL, K = _links(n)
    # what the links went through before: joins (regions moving up the pool as they fill) and departures
    for lid, joins in data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.booleans()), max_size=300),
                                label="history"):
        if joins:
            _join(LI, LS, LL, K, lid)
        elif LI[lid, COUNT]:  # a served message leaves its region (the region stays where it is)
            LI[lid, COUNT] -= 1
            K[ONLINK] -= 1
    need = jitpackets.pool_need(K, sends)
    for lid in data.draw(st.lists(st.integers(0, n - 1), max_size=sends), label="the event's joins"):
        _join(LI, LS, LL, K, lid)
    assert K[PTOP] <= need


def test_a_full_link_joined_by_every_send_of_a_step_fits():
    """The bound's worst case at hand: a link whose region is full, joined by a step's every send."""
    LI, LS, LL, K = _links(1)
    for _ in range(64):  # 64 messages: regions of 16, 32, 64, the last full
        _join(LI, LS, LL, K, 0)
    need = jitpackets.pool_need(K, 65)
    for _ in range(65):  # 65 more: regions of 128 and 256
        _join(LI, LS, LL, K, 0)
    assert K[PTOP] == 16 + 32 + 64 + 128 + 256 <= need

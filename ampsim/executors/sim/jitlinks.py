"""Whole-message links in the compiled replay loop (numba): :class:`~ampsim.executors.sim.network.Network`'s
``send`` and a message's hops as :mod:`~ampsim.executors.sim.fastloop` takes them, on the arrays
:mod:`~ampsim.executors.sim.jitkernel` describes (``rt``: per hop of every route its link, latency, bandwidth,
whether it adds its occupancy, and the event that comes next; ``lk``: per link when it is free, its busy
seconds and bytes). The packet-switched links' are :mod:`~ampsim.executors.sim.jitpackets`. Inlined into the
kernel (:data:`~ampsim.executors.sim.jitcache.jitted_inline`): they cost nothing there."""

from __future__ import annotations

from ampsim.executors.sim.jitcache import jitted_inline  # cached under the kernel's stamp
from ampsim.executors.sim.jitstate import EV_C, EV_CODE, EV_F, EV_O, EV_T, EV_X, HAS_EV, ORDER, hpush

__all__ = ["reserve", "send"]


@jitted_inline
def reserve(msg, rt, lk, K, h, k, now):
    """Network: message ``k`` claims hop ``h``'s link now (it waits for the link to be free, then holds it
    for its occupancy); returns when the hop's event comes up (the next hop, or the arrival), its order
    drawn."""
    occ_of, wire = msg[11], msg[12]
    free, link_busy, link_bytes = lk
    lid, latency = rt[1][h], rt[2][h]
    occ = occ_of[k] if len(occ_of) > 0 else wire[k] / rt[3][h]
    f = free[lid]
    start = now if now >= f else f
    free[lid] = start + occ
    link_busy[lid] += occ
    link_bytes[lid] += wire[k]
    K[ORDER] += 1
    return now + (start - now + latency + occ if rt[4][h] else start - now + latency)


@jitted_inline
def send(msg, rt, lk, ev, K, F, now, k):
    """Network.send: message ``k`` enters its route's first link (the hop event: its next hop or its
    arrival), into the pending slot where it is free (:func:`~ampsim.executors.sim.jitstate.pend`)."""
    h = rt[0][msg[10][k]]
    t = reserve(msg, rt, lk, K, h, k, now)
    if K[HAS_EV]:
        hpush(ev[0], t, K[ORDER], rt[5][h], k, rt[6][h], 0.0)
    else:
        K[HAS_EV] = 1
        F[EV_T], F[EV_F] = t, 0.0
        K[EV_O], K[EV_CODE], K[EV_C], K[EV_X] = K[ORDER], rt[5][h], k, rt[6][h]

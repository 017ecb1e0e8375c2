"""Packet-switched links in the compiled replay loop (numba): :mod:`~ampsim.executors.sim.fastpackets`, step
for step, on arrays.

The same two events as there, on the kernel's heap::

    (t, order, PHEAD, m, i)    the head of message m reaches hop i of its route: it joins that link
    (t, order, PDONE, l, gen)  link l's earliest message may be served; stale if l's generation moved on

and the delivery is the kernel's own ARRIVE. What :class:`~ampsim.executors.sim.fastpackets.FastPackets` keeps
in a dict per link (the bytes each message on it has still to cross, in the order they joined) is a region per
link of two pooled arrays: ``LS[o:o + n]`` the *slots* of its ``n`` messages in the order they joined and
``LL[o:o + n]`` their bytes left, ``o`` the link's offset (sharing the link's bandwidth walks the region,
contiguous in memory; a linked list through the slots, which lie wherever their messages' hops lie, cost a
cache miss a step). A link's first message gives it a region :data:`FIRST_REGION` long at the pool's top; a
link that fills its region moves to one twice as long there (the old one is left unused), so the pool holds
about twice what the links used hold at
most, however unevenly they are loaded (a row per link as long as the fullest, tried first, allocated tens of
megabytes on the 1,024-chip hypercube's slow links). A slot is message ``m``'s hop ``i``, ``m_ptr[m] + i``
(the placement lays every message's hops out once), holding when the hop served its last byte and when it
passed on the tail (NaN: not yet). Per link (``LI``, ``LF``): its count, generation, offset and region length;
when the bytes were last brought up to date, the fewest bytes left when its pending completion was
scheduled, its bandwidth; that completion's key (time, order) and whether it is on the heap; and a bound on
the key of the link's earliest event there (FastPackets' ``live``, ``live_in``, ``bound``: a rescheduled
completion goes onto the heap only where no earlier event of its link is there,
:mod:`~ampsim.executors.sim.fastpackets`). The float operations are FastPackets' in the same order (a
message's bytes left are its own: where it sits changes no value), and every event's order is drawn from the
kernel's counter where FastPackets draws it, so the two loops' runs are equal bit for bit. The kernel stops
with GROW before the pool could overflow during the next event (:func:`pool_need`) and the caller lengthens
it.

``pk`` is the tuple ``(LI, LF, LS, LL, served, tail, msg, hop, m_ptr, packet, scratch, packet_bytes,
link_busy, link_bytes)`` (per slot: ``served`` … ``hop``; per message: ``m_ptr``, its packet size;
``scratch`` holds the slots one completion serves; the last two are the kernel's link counters);
``rt`` is the kernel's routes, ``route`` and ``wire`` its per-message columns.

The functions are inlined where they are called (:data:`~ampsim.executors.sim.jitstate.jitted_inline`): a
call would hand over every array of the tuples, and even of the few it takes, as fields of its own. Side
by side on 2026-12-05, without the four that take the tuples (:func:`send`, :func:`enter`, :func:`event`,
:func:`settle`) inlined SST on 256-byte packets took 129–131 ms a call against 78–80, and the whole-message
chains 5–15 % more; inlining the three small ones too (the pool's regions) took the loop from 85 to 77 ms
there and from 138 to 127 ms on the 1,024-chip hypercube's 100 MB/s links. Compiling the kernel takes
about 10 s instead of 6, once per install (numba's cache).
"""

from __future__ import annotations

import numpy as np

from ampsim.executors.sim.jitcache import jitted_inline
from ampsim.executors.sim.jitstate import ARRIVE, ONLINK, ORDER, PTOP, hpush
from ampsim.executors.sim.packets import RESIDUE_BYTES

__all__ = ["BOUND_O", "COUNT", "PHEAD", "event", "pool_need", "send"]

PHEAD, PDONE = 8, 9  # as fastpackets numbers them
COUNT, GEN, OFF, CAP, LIVE_O, LIVE_IN, BOUND_O = range(7)  # LI columns (BOUND_O -1: no bound known)
FIRST_REGION = 16  # a link's first region in the pool
T, DUE, BW, LIVE_T, BOUND_T = range(5)  # LF columns


@jitted_inline
def _append(LI, LS, LL, K, lid, s, left):
    """Slot ``s`` joins link ``lid`` with ``left`` bytes to cross (its region moved up the pool if full)."""
    K[ONLINK] += 1  # messages on links, all together: what one completion may deliver at most
    n, o = LI[lid, COUNT], LI[lid, OFF]
    if n == LI[lid, CAP]:
        top = K[PTOP]
        room = max(FIRST_REGION, 2 * n)
        if top + room > len(LS):  # the caller's bound was wrong: fail, rather than write past the pool
            raise IndexError("replay kernel: packet links' pool full")
        for j in range(n):
            LS[top + j], LL[top + j] = LS[o + j], LL[o + j]
        LI[lid, OFF], LI[lid, CAP], o = top, room, top
        K[PTOP] = top + room
    LS[o + n], LL[o + n] = s, left
    LI[lid, COUNT] = n + 1


@jitted_inline
def pool_need(K, sends):
    """The pool's length the next event may need at most (the kernel's bound before each event, and its
    caller's when it lengthens the pool): its top (``K[PTOP]``) and the regions the event may give. One event
    makes at most ``sends`` messages join links (the most children of one step, or a head at its next hop: a
    link's completion makes none join). A link that ``a`` of them join, holding ``n`` messages before,
    moves up at most to regions of 16, 32, … or 2 n, 4 n, … slots, the last at most ``max(16, 2 (n + a))``
    long and all of them together at most twice that; summed over the links they join, at most
    ``32 sends + 4 (K[ONLINK] + sends)``, ``K[ONLINK]`` the messages on all links before the event. (The
    bound was ``4 m (l + m)``, ``m`` the event stores' margin, ``l`` the fullest link's count so far: on the
    1,024-chip hypercube's slow links the pool grew to 720,000 slots, copied at each growth, where 5,000 were
    used.)"""
    return K[PTOP] + 36 * sends + 4 * K[ONLINK] + 8


@jitted_inline
def _elapse(LF, link_busy, lid, n, now):
    """The bytes each of the ``n`` messages on link ``lid`` has crossed since the link was last brought up to
    date (0.0 where no time passed: ``x - 0.0`` is ``x``, bit for bit), the time counted busy."""
    t = LF[lid, T]
    if now > t:
        link_busy[lid] += now - t
        return (now - t) * LF[lid, BW] / n
    return 0.0


@jitted_inline
def _advance(LI, LF, LL, link_busy, lid, now):
    """SharedLink._advance: the messages on ``lid`` share its bandwidth equally since it was last updated;
    returns the fewest bytes any of them has left then (inf: none), found in the same pass (FastPackets takes
    the ``min`` after: a minimum is exact whichever way it is found)."""
    n, o = LI[lid, COUNT], LI[lid, OFF]
    share = _elapse(LF, link_busy, lid, n, now)
    low = np.inf
    for j in range(o, o + n):
        v = LL[j] - share
        LL[j] = v
        if v < low:
            low = v
    return low


@jitted_inline
def _schedule(LI, LF, Q, K, lid, t):
    """FastPackets._schedule: link ``lid``'s pending completion is now (``t``, the order just drawn); onto
    the heap unless an earlier event of the link is there, which puts it there when it comes up."""
    o = K[ORDER]
    LF[lid, LIVE_T], LI[lid, LIVE_O] = t, o
    if LI[lid, BOUND_O] >= 0 and (LF[lid, BOUND_T] < t or (LF[lid, BOUND_T] == t and LI[lid, BOUND_O] < o)):
        LI[lid, LIVE_IN] = 0
        return
    LI[lid, LIVE_IN] = 1
    LF[lid, BOUND_T], LI[lid, BOUND_O] = t, o
    hpush(Q, t, o, PDONE, lid, LI[lid, GEN], 0.0)


@jitted_inline
def send(pk, rt, route, wire, Q, K, m, now):
    """FastPackets.send: message ``m`` leaves its chip now."""
    served, tail, m_ptr, packet, packet_bytes = pk[4], pk[5], pk[8], pk[9], pk[11]
    r = np.int64(route[m])
    base = m_ptr[m]
    for s in range(base, base + rt[0][r + 1] - rt[0][r]):
        served[s] = np.nan
        tail[s] = np.nan
    w = wire[m]
    packet[m] = min(packet_bytes, float(w)) if w > 0 else 0.0
    enter(pk, rt, route, wire, Q, K, m, 0, now)


@jitted_inline
def enter(pk, rt, route, wire, Q, K, m, i, now):
    """FastPackets._enter: the head of ``m`` reaches hop ``i`` now."""
    LI, LF, LS, LL, m_ptr, packet = pk[0], pk[1], pk[2], pk[3], pk[8], pk[9]
    r = np.int64(route[m])
    h = rt[0][r] + i
    lid, bandwidth = rt[1][h], rt[3][h]
    s = m_ptr[m] + i
    pk[6][s], pk[7][s] = m, i
    if LI[lid, COUNT]:
        low = _advance(LI, LF, LL, pk[12], lid, now)
        _append(LI, LS, LL, K, lid, s, float(wire[m]))
        due = max(min(low, float(wire[m])), 0.0)
    else:
        due = max(float(wire[m]), 0.0)
        _append(LI, LS, LL, K, lid, s, due)
    LF[lid, DUE] = due
    LF[lid, T] = now
    LI[lid, GEN] += 1
    n = LI[lid, COUNT]
    K[ORDER] += 1
    _schedule(LI, LF, Q, K, lid, now + due * n / bandwidth)
    if i + 1 < rt[0][r + 1] - rt[0][r]:
        K[ORDER] += 1
        hpush(Q, now + (packet[m] * n / bandwidth + rt[2][h]), K[ORDER], PHEAD, m, i + 1, 0.0)


@jitted_inline
def event(pk, rt, route, wire, Q, K, code, c, x, now):
    """FastPackets.event: a PHEAD or PDONE event comes up."""
    if code == PHEAD:
        enter(pk, rt, route, wire, Q, K, c, x, now)
        return
    LI, LF, LS, LL, served = pk[0], pk[1], pk[2], pk[3], pk[4]
    smsg, shop, scratch = pk[6], pk[7], pk[10]
    link_busy, link_bytes = pk[12], pk[13]
    n, o = LI[c, COUNT], LI[c, OFF]
    if x != LI[c, GEN]:  # a message joined or left since: this completion was rescheduled
        if not n:
            LI[c, BOUND_O] = -1
            return
        if not LI[c, LIVE_IN]:  # the link's pending one is due no sooner: now onto the heap
            LI[c, LIVE_IN] = 1
            hpush(Q, LF[c, LIVE_T], LI[c, LIVE_O], PDONE, c, LI[c, GEN], 0.0)
        LF[c, BOUND_T], LI[c, BOUND_O] = LF[c, LIVE_T], LI[c, LIVE_O]
        return
    LI[c, LIVE_IN], LI[c, BOUND_O] = 0, -1  # its other events on the heap are all stale
    if n == 1:  # alone on the link: it is the one this completion was scheduled for
        k = LS[o]
        link_busy[c] += now - LF[c, T] if now > LF[c, T] else 0.0
        LF[c, T] = now
        LI[c, COUNT] = 0
        K[ONLINK] -= 1
        LI[c, GEN] += 1
        served[k] = now
        link_bytes[c] += wire[smsg[k]]
        settle(pk, rt, route, Q, K, smsg[k], shop[k], now)
        return
    due = LF[c, DUE] + RESIDUE_BYTES  # SharedLink._complete: judged before the fluid update
    # one pass: the served (those within ``due``) listed in the region's order and dropped from it, the others
    # advanced (SharedLink._advance: every message's share, the served ones' going unused) and kept in order,
    # and the fewest bytes the kept have left
    share = _elapse(LF, link_busy, c, n, now)
    LF[c, T] = now
    n_served = kept = 0
    low = np.inf
    for j in range(o, o + n):
        v = LL[j]
        if v <= due:
            scratch[n_served] = LS[j]
            n_served += 1
        else:
            v -= share
            LS[o + kept], LL[o + kept] = LS[j], v
            kept += 1
            if v < low:
                low = v
    LI[c, COUNT] = kept
    K[ONLINK] -= n_served
    LI[c, GEN] += 1  # SharedLink._schedule
    n = kept
    if n:
        due = LF[c, DUE] = max(low, 0.0)
        K[ORDER] += 1
        _schedule(LI, LF, Q, K, c, now + due * n / LF[c, BW])
    for a in range(n_served):  # PacketRoute._served, in the order they joined
        k = scratch[a]
        served[k] = now
        link_bytes[c] += wire[smsg[k]]
        settle(pk, rt, route, Q, K, smsg[k], shop[k], now)


@jitted_inline
def settle(pk, rt, route, Q, K, m, i, now):
    """FastPackets._settle: fix hop ``i``'s tail once its own service and the previous hop's tail are
    known; the last hop's schedules the delivery."""
    served, tail, m_ptr, packet = pk[4], pk[5], pk[8], pk[9]
    r = np.int64(route[m])
    first, length, base = rt[0][r], rt[0][r + 1] - rt[0][r], m_ptr[m]
    while i < length and np.isnan(tail[base + i]) and not np.isnan(served[base + i]):
        s = base + i
        if i == 0:
            tail[s] = served[s]
        elif np.isnan(tail[s - 1]):
            return
        else:
            tail[s] = max(served[s], tail[s - 1] + rt[2][first + i - 1] + packet[m] / rt[3][first + i])
        if i + 1 == length:
            arrive = tail[s] + rt[2][first + i]
            K[ORDER] += 1
            hpush(Q, now + (arrive - now), K[ORDER], ARRIVE, m, rt[6][first + i], 0.0)
        i += 1

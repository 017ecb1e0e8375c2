"""Packet-switched links in the compiled replay loop (numba): :mod:`~ampsim.executors.sim.fastpackets`, step
for step, on arrays.

The same two events as there, on the kernel's heap::

    (t, order, PHEAD, m, i)    the head of message m reaches hop i of its route: it joins that link
    (t, order, PDONE, l, gen)  link l's earliest message may be served; stale if l's generation moved on

and the delivery is the kernel's own ARRIVE. What :class:`~ampsim.executors.sim.fastpackets.FastPackets`
keeps in a dict per link (the bytes each message on it has still to cross, in the order they joined) is a
linked list per link through *slots*: message ``m``'s hop ``i`` is slot ``m_ptr[m] + i`` (the placement
lays every message's hops out once), holding its bytes left, when the hop served its last byte and when it
passed on the tail (NaN: not yet). Per link: its list's first and last slot, their count and the link's
generation (``LI``), when the bytes were last brought up to date, the fewest bytes left when its pending
completion was scheduled, and its bandwidth (``LF``). The float operations are FastPackets' in the same
order, and every event's order is drawn from the kernel's counter where FastPackets draws it, so the two
loops' runs are equal bit for bit.

``pk`` is the tuple ``(LI, LF, left, prev, nxt, served, tail, msg, hop, m_ptr, packet, scratch,
packet_bytes, link_busy, link_bytes)`` (per slot: ``left`` … ``hop``; per message: ``m_ptr``, its packet
size; ``scratch`` holds the slots one completion serves; the last two are the kernel's link counters);
``rt`` is the kernel's routes, ``route`` and ``wire`` its per-message columns.

The four functions that take those tuples (:func:`send`, :func:`enter`, :func:`event`, :func:`settle`) are
inlined where they are called (numba's ``inline="always"``): a call hands over some 26 arrays and adjusts
each one's reference count on the way in and out, which cost a third of the packet loop's time (SST, 300
trees, 256-byte packets: the loop's 302 ms → 210 ms, side by side on 2026-12-05; the whole-message rows
moved by 1–3 %, within the noise). Compiling the kernel takes about 10 s instead of 6, once per install
(numba's cache).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ampsim.executors.sim.jitstate import ARRIVE, HN, ONLINK, ORDER, _hpush
from ampsim.executors.sim.packets import _RESIDUE_BYTES

PHEAD, PDONE = 8, 9  # as fastpackets numbers them
HEAD, TAIL, COUNT, GEN = range(4)  # LI columns
T, DUE, BW = range(3)  # LF columns


@njit(cache=True)
def _append(LI, prev, nxt, K, lid, s):
    K[ONLINK] += 1  # messages on links, all together: what one completion may deliver at most
    last = LI[lid, TAIL]
    prev[s], nxt[s] = last, -1
    if last >= 0:
        nxt[last] = s
    else:
        LI[lid, HEAD] = s
    LI[lid, TAIL] = s
    LI[lid, COUNT] += 1


@njit(cache=True)
def _unlink(LI, prev, nxt, K, lid, s):
    K[ONLINK] -= 1
    p, q = prev[s], nxt[s]
    if p >= 0:
        nxt[p] = q
    else:
        LI[lid, HEAD] = q
    if q >= 0:
        prev[q] = p
    else:
        LI[lid, TAIL] = p
    LI[lid, COUNT] -= 1


@njit(cache=True)
def _fewest(LI, left, nxt, lid):
    """The fewest bytes left of the messages on link ``lid``, but not below 0."""
    low = np.inf
    k = LI[lid, HEAD]
    while k >= 0:
        if left[k] < low:
            low = left[k]
        k = nxt[k]
    return max(low, 0.0)


@njit(cache=True)
def _advance(LI, LF, left, nxt, link_busy, lid, now):
    """SharedLink._advance: the messages on ``lid`` share its bandwidth equally since it was last updated."""
    t = LF[lid, T]
    if now > t:
        share = (now - t) * LF[lid, BW] / LI[lid, COUNT]
        k = LI[lid, HEAD]
        while k >= 0:
            left[k] -= share
            k = nxt[k]
        link_busy[lid] += now - t


@njit(cache=True, inline="always")
def send(pk, rt, route, wire, E, K, m, now):
    """FastPackets.send: message ``m`` leaves its chip now."""
    served, tail, m_ptr, packet, packet_bytes = pk[5], pk[6], pk[9], pk[10], pk[12]
    r = np.int64(route[m])
    base = m_ptr[m]
    for s in range(base, base + rt[0][r + 1] - rt[0][r]):
        served[s] = np.nan
        tail[s] = np.nan
    w = wire[m]
    packet[m] = min(packet_bytes, float(w)) if w > 0 else 0.0
    enter(pk, rt, route, wire, E, K, m, 0, now)


@njit(cache=True, inline="always")
def enter(pk, rt, route, wire, E, K, m, i, now):
    """FastPackets._enter: the head of ``m`` reaches hop ``i`` now."""
    LI, LF, left, prev, nxt, m_ptr, packet = pk[0], pk[1], pk[2], pk[3], pk[4], pk[9], pk[10]
    r = np.int64(route[m])
    h = rt[0][r] + i
    lid, bandwidth = rt[1][h], rt[3][h]
    s = m_ptr[m] + i
    pk[7][s], pk[8][s] = m, i
    if LI[lid, COUNT]:
        _advance(LI, LF, left, nxt, pk[13], lid, now)
        left[s] = float(wire[m])
        _append(LI, prev, nxt, K, lid, s)
        due = _fewest(LI, left, nxt, lid)
    else:
        due = max(float(wire[m]), 0.0)
        left[s] = due
        _append(LI, prev, nxt, K, lid, s)
    LF[lid, DUE] = due
    LF[lid, T] = now
    LI[lid, GEN] += 1
    n = LI[lid, COUNT]
    K[ORDER] += 1
    K[HN] = _hpush(E, K[HN], now + due * n / bandwidth, K[ORDER], PDONE, lid, LI[lid, GEN], 0.0)
    if i + 1 < rt[0][r + 1] - rt[0][r]:
        K[ORDER] += 1
        K[HN] = _hpush(E, K[HN], now + (packet[m] * n / bandwidth + rt[2][h]), K[ORDER], PHEAD, m, i + 1, 0.0)


@njit(cache=True, inline="always")
def event(pk, rt, route, wire, E, K, code, c, x, now):
    """FastPackets.event: a PHEAD or PDONE event comes up."""
    if code == PHEAD:
        enter(pk, rt, route, wire, E, K, c, x, now)
        return
    LI, LF, left, prev, nxt, served = pk[0], pk[1], pk[2], pk[3], pk[4], pk[5]
    smsg, shop, scratch = pk[7], pk[8], pk[11]
    link_busy, link_bytes = pk[13], pk[14]
    if x != LI[c, GEN]:  # a message joined or left since: this completion was rescheduled
        return
    if LI[c, COUNT] == 1:  # alone on the link: it is the one this completion was scheduled for
        k = LI[c, HEAD]
        link_busy[c] += now - LF[c, T] if now > LF[c, T] else 0.0
        LF[c, T] = now
        _unlink(LI, prev, nxt, K, c, k)
        LI[c, GEN] += 1
        served[k] = now
        link_bytes[c] += wire[smsg[k]]
        settle(pk, rt, route, E, K, smsg[k], shop[k], now)
        return
    due = LF[c, DUE] + _RESIDUE_BYTES  # SharedLink._complete: judged before the fluid update
    n_served = 0
    k = LI[c, HEAD]
    while k >= 0:
        if left[k] <= due:
            scratch[n_served] = k
            n_served += 1
        k = nxt[k]
    _advance(LI, LF, left, nxt, link_busy, c, now)
    LF[c, T] = now
    for a in range(n_served):
        _unlink(LI, prev, nxt, K, c, scratch[a])
    LI[c, GEN] += 1  # SharedLink._schedule
    n = LI[c, COUNT]
    if n:
        due = LF[c, DUE] = _fewest(LI, left, nxt, c)
        K[ORDER] += 1
        K[HN] = _hpush(E, K[HN], now + due * n / LF[c, BW], K[ORDER], PDONE, c, LI[c, GEN], 0.0)
    for a in range(n_served):  # PacketRoute._served, in the order they joined
        k = scratch[a]
        served[k] = now
        link_bytes[c] += wire[smsg[k]]
        settle(pk, rt, route, E, K, smsg[k], shop[k], now)


@njit(cache=True, inline="always")
def settle(pk, rt, route, E, K, m, i, now):
    """FastPackets._settle: fix hop ``i``'s tail once its own service and the previous hop's tail are
    known; the last hop's schedules the delivery."""
    served, tail, m_ptr, packet = pk[5], pk[6], pk[9], pk[10]
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
            K[HN] = _hpush(E, K[HN], now + (arrive - now), K[ORDER], ARRIVE, m, rt[6][first + i], 0.0)
        i += 1

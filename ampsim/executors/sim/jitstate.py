"""The compiled replay loop's state between events and what changes it off the hot path (numba): the event
stores, the chips' queues, waking a unit, and the controller (admission, completion, update jobs). Each
function is the copy of a :class:`~ampsim.executors.sim.faststate.FastMachine` method of the same name,
on the arrays :mod:`~ampsim.executors.sim.jitkernel` describes; the scalars live in ``K`` and ``F``. The
functions the kernel, the packet links or :class:`~ampsim.executors.sim.jitreplay.JitReplay` call are public
(``complete`` and ``control`` copy ``FastMachine._complete`` and ``_control``); the rest are this module's."""

from __future__ import annotations

import numpy as np

from ampsim.executors.sim.jitcache import jitted, jitted_inline  # cached under the kernel's stamp
from ampsim.executors.sim.jitqueue import cq_grow, cq_new, cq_pop, cq_push, cq_replace
from ampsim.executors.sim.jitrungs import NTOT, event_rows

__all__ = ["ARRIVE", "COST_B", "COST_D", "COST_NONE", "CUR", "DONE", "EVENTS", "EV_C", "EV_CODE", "EV_F", "EV_O",
           "EV_T", "EV_X", "HAS_EV", "HOP", "JOIN_UPDATE_JOB", "MESSAGES", "NDONE", "NONE", "NOW", "NSTALE", "N_K",
           "ONLINK", "ORDER", "OUT_C", "OUT_J", "OUT_R", "PTOP", "RESUME", "SENT", "SH", "SN", "STATUS", "WAKE",
           "WPEND", "complete", "control", "enqueue", "hpop", "hpush", "hreplace", "pend", "spush", "unidle"]

NONE = -(1 << 62)  # the item of a completion that released nothing
START, GET, PUT, WAKE, DONE, LEARN, HOP, ARRIVE = range(8)  # as faststate and fastprep number them
JOIN_UPDATE_JOB = -3  # as fastprep writes it (a copy here, under the kernel's cache stamp; a test keeps them equal)
FINAL = -1
# K: the integer scalars
(ORDER, SH, SN, LEVEL, PENDING, NEXT, MESSAGES, SENT, NDONE, STATUS, OUT_C, OUT_J, RESUME, CUR, NSTALE,
 HAS_EV, EV_O, EV_CODE, EV_C, EV_X, EVENTS, ONLINK, PTOP, WSIZE, INFLIGHT, AWAIT, WPEND) = range(27)
#: staleness-bounded admission: the window's size (-1: no window), the instances in flight, the controller's
#: wait on the window (FastMachine.admit_wait) and the completions the caller has still to show the window
ADMIT = -1  # the controller's wait on the window ends (faststate.ADMIT)
# F: the float scalars
NOW, OUT_R, COST_D, COST_B, COST_NONE, EV_T, EV_F = range(7)
N_K, N_F = 27, 7



@jitted_inline
def hpush(Q, t, o, code, c, x, f):
    """An event joins the timed events ``Q`` (:mod:`~ampsim.executors.sim.jitqueue`: ``Q[0][0]`` is the
    earliest; ``Q[5][NTOT]`` counts them)."""
    cq_push(Q[0], Q[1], Q[2], Q[3], Q[4], Q[5], Q[6], t, o, code, c, x, f)


@jitted_inline
def hpop(Q):
    """The earliest timed event (``Q[0][0]``, read first) leaves."""
    cq_pop(Q[0], Q[1], Q[2], Q[3], Q[4], Q[5], Q[6])


@jitted_inline
def hreplace(Q, t, o, code, c, x, f):
    """The earliest timed event (``Q[0][0]``, read first) leaves and this one joins (heapq's heappushpop)."""
    cq_replace(Q[0], Q[1], Q[2], Q[3], Q[4], Q[5], Q[6], t, o, code, c, x, f)


@jitted_inline
def spush(S, K, t, code, c, f):
    """An event due now, with the next order, at the FIFO's tail (a ring of rows as the heap's)."""
    K[ORDER] += 1
    if K[SN] >= len(S):
        raise IndexError("replay kernel: event FIFO full")
    i = (K[SH] + K[SN]) % len(S)
    S[i, 0], S[i, 1], S[i, 2], S[i, 3], S[i, 4], S[i, 5] = t, K[ORDER], code, c, 0, f
    K[SN] += 1


@jitted_inline
def pend(Q, K, F, t, code, c, x):
    """An event of the next order, (t, code, c, x), into the pending slot; where a send took it, the later
    of the two joins the heap (the pending event is taken before the heap's first when it is the earlier:
    a send's next hop is, on a big machine whose chips idle between messages, more often than not)."""
    K[ORDER] += 1
    o = K[ORDER]
    if K[HAS_EV]:
        if F[EV_T] <= t:  # (at the same time, its order is the older)
            hpush(Q, t, o, code, c, x, 0.0)
            return
        hpush(Q, F[EV_T], K[EV_O], K[EV_CODE], K[EV_C], K[EV_X], F[EV_F])
    K[HAS_EV] = 1
    F[EV_T], F[EV_F] = t, 0.0
    K[EV_O], K[EV_CODE], K[EV_C], K[EV_X] = o, code, c, x


@jitted_inline
def enqueue(nxt, qhead, qtail, c, item):
    nxt[item] = -1
    if qhead[c] < 0:
        qhead[c] = item
    else:
        nxt[qtail[c]] = item
    qtail[c] = item


@jitted_inline
def unidle(n_idle, idle_buf, idle_head, idle_len, c):
    """An idle unit of chip ``c`` wakes up: since when it had been idle (0.0 where waking up is free: no
    rings kept)."""
    n_idle[c] -= 1
    if not len(idle_buf):
        return 0.0
    since = idle_buf[c, idle_head[c]]
    idle_head[c] = (idle_head[c] + 1) % idle_buf.shape[1]
    idle_len[c] -= 1
    return since


@jitted
def wake_unit(ch, ev, K, F, c):
    """FastMachine.wake_unit: an item has joined chip ``c``'s queue."""
    n_idle, lazy_t, lazy_o, idle_buf, idle_head, idle_len = ch[3], ch[5], ch[6], ch[7], ch[8], ch[9]
    Q, S = ev
    now = F[NOW]
    if n_idle[c]:
        since = unidle(n_idle, idle_buf, idle_head, idle_len, c)
    elif lazy_o[c] < 0:
        return
    else:  # FastMachine._settle
        t, lo = lazy_t[c], lazy_o[c]
        lazy_o[c] = -1
        if t > now or (t == now and lo > K[CUR]):
            hpush(Q, t, lo, DONE, c, NONE, 0.0)
            return
        since = t
    spush(S, K, now, WAKE, c, since)


@jitted
def _completed(ch, ev, inst, K, F, i, training, mak):
    """FastMachine._completed: the controller acts on instance ``i``'s completion (update jobs, a slot)."""
    nxt, qhead, qtail, n_idle, lazy_o = ch[0], ch[1], ch[2], ch[3], ch[6]
    stash_ptr, stash_chip, base = inst[2], inst[3], inst[5]
    if training:
        for j in range(stash_ptr[i], stash_ptr[i + 1]):
            c = stash_chip[j]
            enqueue(nxt, qhead, qtail, c, base + j)
            if n_idle[c] or lazy_o[c] >= 0:
                wake_unit(ch, ev, K, F, c)
    K[NDONE] += 1
    K[INFLIGHT] -= 1
    if training and K[WSIZE] >= 0:  # the window takes this completion with the staleness noted so far: the
        inst[6][K[WPEND]] = K[NSTALE]  # caller shows it at the next event boundary, before any admission
        K[WPEND] += 1
    K[LEVEL] += 1  # free_slot
    spush(ev[1], K, F[NOW], PUT, 0, 0.0)
    if K[AWAIT] == 1:  # FastMachine._admission_wake
        K[AWAIT] = 2
        spush(ev[1], K, F[NOW], ADMIT, 0, 0.0)


@jitted
def complete(ch, ev, inst, K, F, i, training, mak, latency):
    if latency:
        K[ORDER] += 1
        hpush(ev[0], F[NOW] + latency, K[ORDER], LEARN, i, 0, 0.0)
    else:
        _completed(ch, ev, inst, K, F, i, training, mak)


@jitted
def _request(ev, K, F, amount):
    if K[LEVEL] >= amount:
        K[LEVEL] -= amount
        spush(ev[1], K, F[NOW], GET, 0, 0.0)
    else:
        K[PENDING] = amount


@jitted
def control(ch, ev, inst, msg_node, nbytes, chip_of_node, K, F, code, i, training, mak):
    """FastMachine._control: a controller event."""
    root_ptr, roots, live = inst[0], inst[1], inst[4]
    n_inst = len(root_ptr) - 1
    if code == LEARN:
        _completed(ch, ev, inst, K, F, i, training, mak)
    elif code == START:
        K[NEXT] = 0 if n_inst else FINAL
        _request(ev, K, F, 1 if n_inst else mak)
    elif code == GET or code == ADMIT:
        K[AWAIT] = 0
        i = K[NEXT]
        if i == FINAL:
            K[LEVEL] += mak
            return
        if training and K[WSIZE] >= 0 and K[INFLIGHT] >= K[WSIZE]:  # the window is full: wait (ex.wait_for_admission)
            K[AWAIT] = 1
            return
        K[INFLIGHT] += 1
        nxt, qhead, qtail, used = ch[0], ch[1], ch[2], ch[10]
        for a in range(root_ptr[i], root_ptr[i + 1]):
            r = roots[a]
            live[i] += 1
            c = chip_of_node[msg_node[r]]
            used[c] += nbytes[r]
            enqueue(nxt, qhead, qtail, c, r)
            wake_unit(ch, ev, K, F, c)
        K[NEXT] = i + 1 if i + 1 < n_inst else FINAL
        _request(ev, K, F, 1 if K[NEXT] != FINAL else mak)
    elif K[PENDING] and K[LEVEL] >= K[PENDING]:  # PUT
        K[LEVEL] -= K[PENDING]
        K[PENDING] = 0
        spush(ev[1], K, F[NOW], GET, 0, 0.0)


# -- the event stores, host side (JitReplay makes and enlarges them between kernel calls) ---------------
def event_stores(n: int) -> tuple:
    """The timed events' queue and the FIFO of events due now, with room for ``n`` events each."""
    return cq_new(n), event_rows(n)


def grown_stores(ev: tuple, K: np.ndarray, margin: int) -> tuple:
    """The event stores, each at least twice the size it needs for the next event."""
    Q, S = ev
    hn, sh, sn = int(Q[5][NTOT]), int(K[SH]), int(K[SN])
    if 2 * (hn + margin) > len(Q[0]):
        Q = cq_grow(Q, 2 * (hn + margin))
    if 2 * (sn + margin) > len(S):
        S2 = event_rows(2 * (sn + margin))
        S2[:sn] = S[(sh + np.arange(sn)) % len(S)]
        S = S2
        K[SH] = 0
    return Q, S

"""The replay's own event loop, compiled: :mod:`~ampsim.executors.sim.fastloop`'s loop, line for line, on
numpy arrays (numba), so that a message costs about a tenth of a microsecond instead of two or three. It is
the executable copy of :meth:`~ampsim.executors.sim.fastloop.FastReplay._loop` and of the controller
:class:`~ampsim.executors.sim.faststate.FastMachine` runs (admission, completion, update jobs, wake-ups,
set-aside completions): every event is scheduled, ordered and processed as there, with the same IEEE
operations in the same order, so its simulated results are the Python loop's bit for bit (the tests run
both against the full run). What differs is only the representation:

* events: a ladder queue ``Q`` (:mod:`~ampsim.executors.sim.jitqueue`: the earliest in ``E[0]``, ``E = Q[0]``),
  a row of floats per event (time, order, code, chip or message, item, an idle unit's since-time: a cache
  line), and the FIFO of events due now as a ring of such rows (``S``); the integers are exact in a float
  (below 2**53); an item of ``None`` (a completion that released nothing) is :data:`NONE`;
* a chip's queue: a linked list through ``nxt`` (an item, message ``m`` or ``n_messages + j`` for stash
  ``j``'s update job, is on at most one queue at a time); a set-aside completion's key in ``lazy_t`` /
  ``lazy_o`` (order -1: none); since when each idle unit has been idle, a ring per chip;
* the scalars the Python loop keeps as locals or attributes between events live in ``K`` (ints) and ``F``
  (floats), so a call can stop at an event boundary and the next carry on;
* the event a step schedules last (the loop's ``ev``, taken with the next pop without touching the heap where it is
  the earliest) is here the earliest of a step's own completion and its first send's hop
  (:func:`~ampsim.executors.sim.jitstate.pend`): on a big machine whose chips idle between messages a step schedules
  no completion of its own, and its send then took a push and a pop of the heap (an event's key is unique, so which
  of the two waits in the heap changes no order).

The steps on the hot path that :func:`run` shares are inlined helpers
(:data:`~ampsim.executors.sim.jitcache.jitted_inline`: :mod:`~ampsim.executors.sim.jitlinks`' ``reserve``, a message
claiming a link, for a send and for a hop; :func:`_release`, a step's child; :func:`_hold`, a chip's memory;
:func:`_stop`, handing back to the caller): a function that takes the state tuples and is not inlined receives every
array in them as fields of its own, by value, and folded into such helpers the loop ran 2.6× slower (the chains of
``bench_replay``, side by side on 2026-12-05; 5–7× while the kernel still counted references); inlined, they cost
nothing (the same chains 5–7 % faster than written out), as jitstate's ``enqueue``, ``unidle``, ``spush`` (a
message's at an idle chip: 2–6 % off the loop on 16–1,024 chips, scratch, 2026-12-06); the others it calls run once
per instance or wake-up (:mod:`~ampsim.executors.sim.jitstate`).

A call returns :data:`FINISHED` when no event is left, or stops early: :data:`GROW` (an event store may fill up during
the next event: the caller enlarges them), :data:`REPORT` (completions to pass to a progress callback), :data:`OOM` (a
chip exceeded its memory: the caller raises the error), :data:`WINDOW` (completions the admission window has to take
in), :data:`UPDATE_JOB` (an update job of a node with muf > 1 completes its muf stashes: the caller, who keeps the
ready stashes, takes in those this call noted (``new_ready``), computes the update's cost and calls again with
``K[RESUME] = 1``, the cost in ``F``). A job that leaves fewer than muf ready runs here: it costs nothing but the
chip's debt (stopping at each too made SST, muf 25, stop 1,200 times for 300 trees instead of 48; a stop costs a few
microseconds of Python and of handing the arrays over again). The caller is
:class:`~ampsim.executors.sim.jitreplay.JitReplay`.
"""

from __future__ import annotations

import numpy as np

from ampsim.executors.sim import jitlinks, jitpackets
from ampsim.executors.sim.jitcache import jitted, jitted_inline
from ampsim.executors.sim.jitrungs import NTOT
from ampsim.executors.sim.jitstate import (
    ARRIVE,
    COST_B,
    COST_D,
    COST_NONE,
    CUR,
    DONE,
    EV_C,
    EV_CODE,
    EV_F,
    EV_O,
    EV_T,
    EV_X,
    EVENTS,
    HAS_EV,
    HOP,
    JOIN_UPDATE_JOB,
    MESSAGES,
    NDONE,
    NONE,
    NOW,
    NSTALE,
    ONLINK,
    ORDER,
    OUT_C,
    OUT_J,
    OUT_R,
    RESUME,
    SENT,
    SH,
    SN,
    STATUS,
    WAKE,
    WPEND,
    complete,
    control,
    enqueue,
    hpop,
    hpush,
    hreplace,
    pend,
    spush,
    unidle,
)

__all__ = ["FINISHED", "GROW", "OOM", "REPORT", "UPDATE_JOB", "WINDOW", "run"]
FINISHED, GROW, REPORT, OOM, UPDATE_JOB, WINDOW = range(6)  # why a call returns


@jitted
def _local(ch, S, K, F, c, k, nbytes):
    """A child for the sender's own chip: onto its queue; another idle unit of the chip wakes up (``S``: the
    events due now; a function not inlined is handed only the arrays it uses)."""
    ch[10][c] += nbytes[k]
    enqueue(ch[0], ch[1], ch[2], c, k)
    n_idle = ch[3]
    if n_idle[c]:
        spush(S, K, F[NOW], WAKE, c, unidle(n_idle, ch[7], ch[8], ch[9], c))


@jitted_inline
def _hold(used, peak, memory, c, n):
    """Chip ``c`` holds ``n`` bytes from now: its peak follows; whether that is more than its memory."""
    used[c] = n
    if n > peak[c]:
        peak[c] = n
        return n > memory[c]
    return False


@jitted_inline
def _stop(K, status, c, events):
    """Hand back to the caller with ``status`` about chip ``c`` (the events of this call counted)."""
    K[STATUS], K[OUT_C] = status, c
    K[EVENTS] += events
    return status


@jitted_inline
def _release(msg, rt, lk, ch, ev, K, F, pk, packets, c, k, now):
    """Child ``k`` of a step that chip ``c`` finished: onto the chip's own queue, or into its route's first
    link."""
    if msg[10][k] < 0:
        _local(ch, ev[1], K, F, c, k, msg[13])
    else:
        K[SENT] += 1
        if packets:
            jitpackets.send(pk, rt, msg[10], msg[12], ev[0], K, k, now)
        else:
            jitlinks.send(msg, rt, lk, ev, K, F, now, k)


@jitted
def run(msg, grp, rt, lk, ch, ev, inst, upd, K, F, flags, latency, pk):
    """Run events until none is left or the caller must act (see the module docstring); returns the status."""
    d0, d1, d1t, t_send, join, stale, kid, child_ptr, children, group = msg[:10]
    nbytes, inst_of, node_of, dh0, dh1 = msg[13], msg[14], msg[15], msg[16], msg[17]
    remaining, saves, pop_ref, ver_at = grp
    rptr, h_then, h_x = rt[0], rt[5], rt[6]
    (nxt, qhead, qtail, n_idle, single, lazy_t, lazy_o, idle_buf, idle_head, idle_len, used, memory, spin,
     wake, receive, peak, busy, debt, updates) = ch
    Q, S = ev
    E, Qi = Q[0], Q[5]  # the earliest timed event in E[0]; Qi[NTOT] of them
    live = inst[4]
    stash_node, muf1, ukind, ucost_d, ucost_b, version, st_n, st_v, chip_of_node, muf_of, n_ready, new_ready = upd
    wire = msg[12]
    receiving, waking, debts, training, mak, report_every, margin, packets, sends = flags
    route_id = msg[10]
    n_messages = len(d0)
    scap, hcap = len(S), len(E)
    pool = len(pk[2])  # the packet links' pool (jitpackets)
    now = F[NOW]
    r = 0.0
    resume = K[RESUME]
    events = 0  # counted here, added to K[EVENTS] as the call returns
    K[RESUME] = 0
    c, x, xf, oc, code, d = 0, NONE, 0.0, 0, 0, 0.0
    while True:
        if not resume:
            # -- an event boundary: hand back to the caller where it must act ----------------------
            # what the next event may schedule at most: a margin for a step's sends, a completion's update
            # jobs or an admission's roots, and on packet links every message on them (one link's
            # completion may deliver them all); the packet links' pool, a step's sends' links moved up it
            need = margin + K[ONLINK]
            if (Qi[NTOT] + need >= hcap or K[SN] + need >= scap or K[NDONE] >= report_every or K[WPEND]
                    or (packets and jitpackets.pool_need(K, sends) >= pool)):
                if K[HAS_EV]:  # the pending event joins the heap (the earliest of all is taken alike)
                    K[HAS_EV] = 0
                    hpush(Q, F[EV_T], K[EV_O], K[EV_CODE], K[EV_C], K[EV_X], F[EV_F])
                F[NOW] = now
                K[STATUS] = WINDOW if K[WPEND] else GROW if K[NDONE] < report_every else REPORT
                K[EVENTS] += events
                return K[STATUS]
            # -- the earliest of the pending event, the heap's first and the FIFO's first ---------
            has = K[HAS_EV]
            src = 0  # 0: the pending event, 1: the heap's first, 2: the FIFO's first
            if K[SN]:
                s = K[SH]
                st, so = S[s, 0], S[s, 1]
                heap_first = Qi[NTOT] > 0 and (E[0, 0] < st or (E[0, 0] == st and E[0, 1] < so))
                if not has:
                    src = 1 if heap_first else 2
                elif (st < F[EV_T] or (st == F[EV_T] and so < K[EV_O])) and not heap_first:
                    hpush(Q, F[EV_T], K[EV_O], K[EV_CODE], K[EV_C], K[EV_X], F[EV_F])
                    src = 2
                elif Qi[NTOT] > 0 and (E[0, 0] < F[EV_T] or (E[0, 0] == F[EV_T] and E[0, 1] < K[EV_O])):
                    src = 3  # heappushpop: the heap's first out, the pending event in
            elif not has:
                if Qi[NTOT] == 0:
                    break
                src = 1
            elif Qi[NTOT] > 0 and (E[0, 0] < F[EV_T] or (E[0, 0] == F[EV_T] and E[0, 1] < K[EV_O])):
                src = 3
            if src == 0:
                now, oc, code, c, x, xf = F[EV_T], K[EV_O], K[EV_CODE], K[EV_C], K[EV_X], F[EV_F]
            elif src == 2:
                s = K[SH]
                now, xf = S[s, 0], S[s, 5]
                oc, code, c, x = np.int64(S[s, 1]), np.int64(S[s, 2]), np.int64(S[s, 3]), np.int64(S[s, 4])
                K[SH] = (s + 1) % scap
                K[SN] -= 1
            else:
                now, xf = E[0, 0], E[0, 5]
                oc, code, c, x = np.int64(E[0, 1]), np.int64(E[0, 2]), np.int64(E[0, 3]), np.int64(E[0, 4])
                if src == 1:
                    hpop(Q)
                else:
                    hreplace(Q, F[EV_T], K[EV_O], K[EV_CODE], K[EV_C], K[EV_X], F[EV_F])
            K[HAS_EV] = 0
            events += 1
            F[NOW] = now
            K[CUR] = oc
            # -- the event ---------------------------------------------------------------------------
            if code == HOP:  # message c reaches hop x of its route
                h = rptr[msg[10][c]] + x
                F[EV_T] = jitlinks.reserve(msg, rt, lk, K, h, c, now)
                K[HAS_EV] = 1
                K[EV_O], K[EV_CODE], K[EV_C], K[EV_X], F[EV_F] = K[ORDER], h_then[h], c, h_x[h], 0.0
                continue
            if code == ARRIVE:  # message c reaches chip x
                m, c = c, x
                if receiving and receive[c]:
                    debt[c] += receive[c]
                used[c] += nbytes[m]
                enqueue(nxt, qhead, qtail, c, m)
                if n_idle[c]:
                    xf = unidle(n_idle, idle_buf, idle_head, idle_len, c)
                elif lazy_o[c] < 0:
                    continue
                elif lazy_t[c] < now or (lazy_t[c] == now and lazy_o[c] < oc):  # its completion has come up
                    xf = lazy_t[c]
                    lazy_o[c] = -1
                else:  # it comes up later and serves the queue
                    hpush(Q, lazy_t[c], lazy_o[c], DONE, c, NONE, 0.0)
                    lazy_o[c] = -1
                    continue
                if K[SN] or (Qi[NTOT] > 0 and E[0, 0] <= now):  # else its wake-up is the next event: run it now
                    spush(S, K, now, WAKE, c, xf)
                    continue
                code = WAKE
            if code == WAKE:
                if waking and now - xf > spin[c]:  # it had gone to sleep
                    debt[c] += wake[c]
                x = NONE
            elif code >= jitpackets.PHEAD:  # a packet's head at its next hop, or a link's completion
                jitpackets.event(pk, rt, route_id, wire, Q, K, code, c, x, now)
                continue
            elif code != DONE:  # the controller
                control(ch, ev, inst, node_of, nbytes, chip_of_node, K, F, code, c, training, mak)
                continue
        # -- chip c's unit releases x and serves its queue ------------------------------------------
        while True:
            if resume:  # the caller has costed the update job this unit took (K[OUT_C], K[OUT_J])
                resume = 0
                c, r, x = K[OUT_C], F[OUT_R], NONE
                now, oc = F[NOW], K[CUR]
                g = stash_node[K[OUT_J]]
                if F[COST_NONE]:
                    n, d = used[c], r
                else:
                    n, d = used[c] + np.int64(F[COST_B]), F[COST_D] + r
                if _hold(used, peak, memory, c, n):
                    return _stop(K, OOM, c, events)
                if F[COST_NONE]:
                    n_ready[g] += 1
                else:
                    version[g] += 1
                    n_ready[g] = 0
            else:
                if x != NONE:
                    if x >= 0:
                        k = kid[x]
                        if k >= 0:  # its one child (the instance's live messages are unchanged)
                            _release(msg, rt, lk, ch, ev, K, F, pk, packets, c, k, now)
                        else:  # none or several
                            g = group[x]
                            a, b = child_ptr[g], child_ptr[g + 1]
                            for e in range(a, b):
                                _release(msg, rt, lk, ch, ev, K, F, pk, packets, c, children[e], now)
                            i = inst_of[x]
                            live[i] += b - a - 1
                            if not live[i]:
                                complete(ch, ev, inst, K, F, i, training, mak, latency)
                    else:
                        i = inst_of[-1 - x]
                        live[i] -= 1
                        if not live[i]:
                            complete(ch, ev, inst, K, F, i, training, mak, latency)
                if qhead[c] < 0:  # the unit goes idle
                    n_idle[c] += 1
                    if waking:
                        idle_buf[c, (idle_head[c] + idle_len[c]) % idle_buf.shape[1]] = now
                        idle_len[c] += 1
                    break
                m = qhead[c]
                qhead[c] = nxt[m]
                if debts:  # Chip.collect
                    r = debt[c]
                    debt[c] = 0.0
                g = join[m]
                if g == -1:  # a message alone in its group: it runs its step
                    K[MESSAGES] += 1
                    x = m
                    d = d1[m] + r + t_send[m] if r else d1t[m]
                    if _hold(used, peak, memory, c, used[c] + dh1[m]):
                        return _stop(K, OOM, c, events)
                elif g != JOIN_UPDATE_JOB:
                    K[MESSAGES] += 1
                    left = 0
                    if g >= 0:
                        left = remaining[g] - 1
                        remaining[g] = left
                    if left:  # a join buffers this input: nothing is sent
                        x = -1 - m
                        d = d0[m] + r
                        n = used[c] + dh0[m]
                    else:
                        x = m
                        d = d1[m] + r + t_send[m] if r else d1t[m]
                        n = used[c] + dh1[m]
                    if _hold(used, peak, memory, c, n):
                        return _stop(K, OOM, c, events)
                    if not left and stale[m]:  # Replay._staleness
                        g, nd = group[m], node_of[m]
                        if saves[g]:
                            ver_at[g] = version[nd]
                        g = pop_ref[g]
                        if g >= 0:
                            st_n[K[NSTALE]] = nd
                            st_v[K[NSTALE]] = version[nd] - ver_at[g]
                            K[NSTALE] += 1
                else:  # the update job of stash j
                    j = m - n_messages
                    updates[c] += 1
                    x = NONE
                    g = stash_node[j]
                    if muf1[g]:
                        u = ukind[j]
                        d = ucost_d[u] + r
                        if _hold(used, peak, memory, c, used[c] + ucost_b[u]):
                            return _stop(K, OOM, c, events)
                        version[g] += 1
                    elif n_ready[g] + 1 < muf_of[g]:  # fewer than muf ready: it joins them, nothing to update
                        b = new_ready[g, 0] + 1  # noted for the caller, whose lists the ready stashes are
                        new_ready[g, b], new_ready[g, 0] = j, b
                        n_ready[g] += 1
                        d = r
                        if _hold(used, peak, memory, c, used[c]):  # its peak follows the arrivals since
                            return _stop(K, OOM, c, events)
                    else:  # the node's ready stashes are the caller's: it costs the update
                        F[NOW], F[OUT_R] = now, r
                        K[CUR], K[OUT_J] = oc, j
                        return _stop(K, UPDATE_JOB, c, events)
            if d > 0:
                busy[c] += d
                if x == NONE and qhead[c] < 0 and single[c]:  # its completion would only idle the unit
                    K[ORDER] += 1
                    lazy_t[c], lazy_o[c] = now + d, K[ORDER]
                else:
                    pend(Q, K, F, now + d, DONE, c, x)
                break
    F[NOW] = now
    K[STATUS] = FINISHED
    K[EVENTS] += events
    return FINISHED

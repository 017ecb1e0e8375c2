"""The compiled replay's event queue: a ladder queue (Tang, Goh and Thng, ACM TOMACS 2005) over a four-ary
heap, popping events in exactly the order of (time, order), at a cost per event that does not grow with
how many wait.

Why: a busy machine keeps about as many timed events waiting as it has instances in flight, and a heap's
cost per event grows with the log of that (its comparisons' mispredicted branches): the four-ary heap the
compiled replay used alone took 17 ns per event with 4 waiting and 130 with 4,096 on the hold model of
``benchmarks/bench_event_queue.py`` (``results/bench/event_queue.csv``); this queue 35–42 ns from 128 to
4,096 waiting, and up to :data:`~ampsim.executors.sim.jitrungs.SPILL` waiting it is that heap alone.

Life cycle of an event::

    push ──► a rung's bucket (unsorted) ──► the deepest rung's ──► the bottom heap ``E`` ──► pop
         └──► (its bucket is being emptied, or no rungs) ───────────────────────────┘

Contract (what the kernel relies on): ``E[0]`` is the earliest event of the whole queue whenever any waits
(read its columns 0–5 as the heap's); :func:`cq_push` adds one, :func:`cq_pop` drops ``E[0]``,
:func:`cq_replace` drops ``E[0]`` and adds one (the heap's "pushpop" at the root); ``Qi[NTOT]`` events wait.
Ties in time break by order however the events were pushed (earlier than the last popped, or with old
orders, as a set-aside completion is), because a bucket is monotone in time and the heap compares (time,
order). ``tests/sim/test_jitqueue.py`` checks the popped sequence against :mod:`heapq` on random workloads.
The rungs and their rules: :mod:`~ampsim.executors.sim.jitrungs`.
"""

from __future__ import annotations

import numpy as np

from ampsim.executors.sim.jitcache import jitted, jitted_inline
from ampsim.executors.sim.jitrungs import (
    BASE_,
    CAP,
    CUR_,
    DEPTH,
    ELIM,
    FV,
    IW_,
    LV,
    NB_,
    NBTOT,
    NE,
    NR_,
    NREF,
    NTOT,
    POPS,
    RS_,
    RUN,
    SINK,
    SPILL,
    TMAX_,
    TMIN_,
    TOPN_,
    _alloc,
    _free,
    _npush,
    _nsift,
    _pooled,
    _refill,
    _retop,
    _split,
    cq_new,
)

__all__ = ["cq_new", "cq_push", "cq_pop", "cq_replace", "cq_grow"]


@jitted
def _gather(E, P, nx, bt, fs, Qi, Qf):
    """All above the heap to rung 0's top (for a new rung 0)."""
    cap, nbtot = Qi[CAP], Qi[NBTOT]
    mn, mx = Qf[FV + TMIN_], Qf[FV + TMAX_]
    n = Qi[LV + TOPN_]
    for lvl in range(Qi[DEPTH]):
        i, j = LV + 4 * lvl, FV + 5 * lvl
        base = Qi[i + BASE_]
        for g in range(base + Qi[i + CUR_] + 1, base + Qi[i + NB_] + 1):
            if g == base + Qi[i + NB_]:  # and the rung's top
                if lvl == 0:
                    break
                g = nbtot + lvl
                Qi[i + TOPN_] = 0
                Qf[j + TMIN_], Qf[j + TMAX_] = np.inf, -np.inf
            r = nx[cap + g]
            if r < 0:
                continue
            nx[bt[nbtot]] = r
            bt[nbtot] = bt[g]
            nx[cap + g] = -1
            bt[g] = cap + g
            while r >= 0:
                t = P[r, 0]
                mn = min(mn, t)
                mx = max(mx, t)
                n += 1
                r = nx[r]
    Qi[LV + TOPN_] = n
    Qf[FV + TMIN_], Qf[FV + TMAX_] = mn, mx
    Qi[DEPTH] = 0


@jitted
def _spill(E, P, nx, bt, fs, Qi, Qf):
    """No rungs and more than SPILL in the heap: all of it to the top, then a rung."""
    m = Qi[NE]
    nbtot = Qi[NBTOT]
    mn, mx = Qf[FV + TMIN_], Qf[FV + TMAX_]
    for k in range(m):
        r = _pooled(E, P, fs, Qi, k)
        nx[r] = -1
        t = E[k, 0]
        mn = min(mn, t)
        mx = max(mx, t)
        nx[bt[nbtot]] = r
        bt[nbtot] = r
    r = Qi[RUN]  # the rest of a run, too
    while r >= 0:
        mn = min(mn, P[r, 0])
        mx = max(mx, P[r, 0])
        nx[bt[nbtot]] = r
        bt[nbtot] = r
        m += 1
        r = nx[r]
    Qi[LV + TOPN_] += m
    Qf[FV + TMIN_], Qf[FV + TMAX_] = mn, mx
    Qi[NE] = 0
    Qi[RUN] = -1
    _retop(E, P, nx, bt, fs, Qi, Qf, 0)
    if Qi[NE] == 0:
        _refill(E, P, nx, bt, fs, Qi, Qf)


@jitted
def _regrow(E, P, nx, bt, fs, Qi, Qf):
    """Twice as many events wait as when rung 0 was made: all above the heap spread anew."""
    _gather(E, P, nx, bt, fs, Qi, Qf)
    Qi[POPS] = 0
    if Qi[LV + TOPN_]:
        _retop(E, P, nx, bt, fs, Qi, Qf, 0)
    Qi[ELIM] = max(Qi[NE], SINK if Qi[DEPTH] else SPILL)


@jitted
def _crowded(E, P, nx, bt, fs, Qi, Qf):
    """The heap holds more than ELIM: without rungs, all of it to rung 0's top and a rung; with rungs, it
    (and a run) a rung one deeper; when that cannot be, the limit doubles."""
    if Qi[DEPTH] == 0:
        _spill(E, P, nx, bt, fs, Qi, Qf)
    else:
        r = Qi[RUN]
        m = Qi[NE]
        if _split(E, P, nx, bt, fs, Qi, Qf, m, r):
            Qi[RUN] = -1
            _refill(E, P, nx, bt, fs, Qi, Qf)
        else:
            Qi[ELIM] = 2 * m
            return
    Qi[ELIM] = SINK if Qi[DEPTH] else SPILL


@jitted_inline
def _far(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f, lvl, xb):
    """Put an event in rung ``lvl`` (``xb``: its bucket coordinate there, >= NR[lvl])."""
    r = _alloc(fs, Qi)
    P[r, 0], P[r, 1], P[r, 2], P[r, 3], P[r, 4], P[r, 5] = t, o, code, c, x, f
    nx[r] = -1
    i = LV + 4 * lvl
    if xb < Qi[i + NB_]:
        g = Qi[i + BASE_] + int(xb)
    else:
        g = Qi[NBTOT] + lvl
        Qi[i + TOPN_] += 1
        j = FV + 5 * lvl
        Qf[j + TMIN_] = min(Qf[j + TMIN_], t)
        Qf[j + TMAX_] = max(Qf[j + TMAX_], t)
    nx[bt[g]] = r
    bt[g] = r


@jitted_inline
def _place(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f):
    """Put the event in the rung it belongs to (True), or not (False: it belongs to the heap)."""
    for lvl in range(Qi[DEPTH]):
        j = FV + 5 * lvl
        xb = (t - Qf[j + RS_]) * Qf[j + IW_]
        if xb >= Qf[j + NR_]:
            _far(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f, lvl, xb)
            return True
    return False


@jitted_inline
def cq_push(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f):
    Qi[NTOT] += 1
    if Qi[NTOT] > 2 * Qi[NREF] and Qi[DEPTH]:
        _regrow(E, P, nx, bt, fs, Qi, Qf)
    if not _place(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f):
        Qi[NE] = _npush(E, Qi[NE], t, o, code, c, x, f, 0.0)
        Qi[POPS] += 1
        if Qi[NE] > Qi[ELIM]:
            _crowded(E, P, nx, bt, fs, Qi, Qf)


@jitted_inline
def _runnext(E, P, nx, fs, Qi):
    """The run's flagged element leaves: the run's next replaces it at the root (flagged if more follow)."""
    r = Qi[RUN]
    q = nx[r]
    Qi[RUN] = q
    _nsift(E, Qi[NE], P[r, 0], P[r, 1], P[r, 2], P[r, 3], P[r, 4], P[r, 5], 1.0 if q >= 0 else 0.0)
    _free(fs, Qi, r)


@jitted_inline
def _drop(E, P, nx, bt, fs, Qi, Qf):
    """Drop E[0] (the heap keeps the earliest at its root, refilled when empty)."""
    if E[0, 7] != 0.0:
        _runnext(E, P, nx, fs, Qi)
        return
    m = Qi[NE] - 1
    Qi[NE] = m
    if m:
        _nsift(E, m, E[m, 0], E[m, 1], E[m, 2], E[m, 3], E[m, 4], E[m, 5], E[m, 7])
    elif Qi[DEPTH]:  # (a call, not inlined: the hot path stays small where there are no rungs)
        _refill(E, P, nx, bt, fs, Qi, Qf)
    else:
        Qi[ELIM] = SPILL  # as _refill leaves it without rungs


@jitted_inline
def cq_pop(E, P, nx, bt, fs, Qi, Qf):
    Qi[NTOT] -= 1
    _drop(E, P, nx, bt, fs, Qi, Qf)


@jitted_inline
def cq_replace(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f):
    """Drop the earliest and push (t, o, ...)."""
    if _place(E, P, nx, bt, fs, Qi, Qf, t, o, code, c, x, f):
        _drop(E, P, nx, bt, fs, Qi, Qf)
        return
    Qi[POPS] += 1
    if E[0, 7] != 0.0:  # the root stands for the run: its next takes its place, and the event joins
        _runnext(E, P, nx, fs, Qi)
        Qi[NE] = _npush(E, Qi[NE], t, o, code, c, x, f, 0.0)
        if Qi[NE] > Qi[ELIM]:
            _crowded(E, P, nx, bt, fs, Qi, Qf)
    else:  # the event takes the root's place
        _nsift(E, Qi[NE], t, o, code, c, x, f, 0.0)


@jitted
def _transfer(E, P, nx, bt, fs, Qi, Qf, E2, P2, nx2, bt2, fs2, Qi2, Qf2):
    while Qi[NTOT] > 0:
        cq_push(E2, P2, nx2, bt2, fs2, Qi2, Qf2, E[0, 0], E[0, 1], E[0, 2], E[0, 3], E[0, 4], E[0, 5])
        cq_pop(E, P, nx, bt, fs, Qi, Qf)


def cq_grow(Q, cap):
    """A queue with room for ``cap`` events holding those of ``Q`` (which it empties)."""
    Q2 = cq_new(cap)
    _transfer(*Q, *Q2)
    return Q2

"""The rungs of the compiled replay's event queue (:mod:`~ampsim.executors.sim.jitqueue`): its arrays, the
bottom heap, the pool of events above it, and what moves events between rungs (numba).

Events above the heap wait unsorted in the buckets of up to :data:`LMAX` *rungs*, each rung a run of
buckets of one width spanning a time range, with a *top* beyond its last bucket; a bucket is
``int((t - start) * inverse_width)``, monotone in ``t``, so a bucket's events precede, in (time, order),
those of every later bucket, of the rungs above and of the top. What is here, and when it runs:

* :func:`_spread` makes a rung of a list of events (bucket width given);
* :func:`_retop` a spent rung's top becomes the rung anew (width from the events' rate through rung 0, at
  most :data:`NARROW` times narrower than the top's spacing), or, :data:`SMALL` events or fewer, the heap;
* :func:`_refill` the heap ran empty: the deepest rung's next non-empty bucket comes down, into the heap
  while sorted (a sorted rest stays a *run* behind one flagged heap element: a bucket of equal times costs
  one heap entry), or, more than :data:`THRESH` unsorted events, a rung one deeper (:func:`_split`);
* (in :mod:`~ampsim.executors.sim.jitqueue`: a heap grown past its limit becomes a rung, and twice as many
  events waiting as when rung 0 was made spread all above the heap anew).

Layout (``Qi`` ints, ``Qf`` floats; per rung ``lvl`` its entries from ``LV + 4 lvl`` and ``FV + 5 lvl``): the pool
``P`` holds rows as the heap ``E`` does (time, order, code, c, x, f; column 7 of ``E``: the run's flag), in
lists linked by ``nx`` (-1 ends one; node ``cap + g`` is bucket ``g``'s sentinel, ``cap + nbtot + lvl`` rung
``lvl``'s top's); ``bt`` the last node of each list; ``fs`` a stack of free pool rows.
"""

from __future__ import annotations

import numpy as np

from ampsim.executors.sim.jitcache import jitted, jitted_inline

__all__ = ["BASE_", "CAP", "CUR_", "DEPTH", "ELIM", "FREE", "FV", "IW_", "LV", "NBTOT", "NB_", "NE", "NREF", "NR_",
           "NTOT", "POPS", "RS_", "RUN", "SINK", "SPILL", "TMAX_", "TMIN_", "TOPN_", "cq_new", "event_rows"]

LMAX = 8  # rungs at most
# Qi
NE, FREE, RUN, NTOT, POPS, CAP, NBMAX, NBTOT, DEPTH, NREF, ELIM, LV = range(12)
N_QI = LV + 4 * LMAX  # then CUR, NB, BASE, TOPN of each rung
# Qf
LASTW, T0, FV = range(3)
N_QF = FV + 5 * LMAX  # then RS, IW, NR, TOPMIN, TOPMAX of each rung
# offsets within a rung's Qi / Qf entries
CUR_, NB_, BASE_, TOPN_ = range(4)
RS_, IW_, NR_, TMIN_, TMAX_ = range(5)

KB = 4.0  # events per bucket aimed at
SMALL = 16  # a top of this many or fewer goes to the heap (no rungs)
SPILL = 32  # without rungs: more than this in the heap, and a rung is built
RUNLEN = 1  # a sorted bucket: this many in the heap, the rest a run
THRESH = 48  # a bucket of more unsorted events than this becomes a rung
SINK = 2 * THRESH  # a heap of more events than this (with rungs) becomes a rung
RMIN = 32  # events through the last rung 0 that make a rate to size the next one's buckets by
NARROW = 32.0  # buckets at most this many times narrower than the top's mean spacing would make them


def event_rows(n: int) -> np.ndarray:
    """Room for ``n`` events: 8 floats each, a 64-byte row aligned to a cache line."""
    buf = np.zeros((n + 1) * 8)
    skip = (-buf.ctypes.data % 64) // 8
    return buf[skip:skip + n * 8].reshape(n, 8)


def cq_new(cap: int) -> tuple:
    """The queue's arrays ``(E, P, nx, bt, fs, Qi, Qf)`` for up to ``cap`` events waiting."""
    cap = max(int(cap), SPILL + 2)
    nbmax = cap + 64  # rung 0's buckets at most
    nbtot = nbmax + (LMAX - 1) * (int(cap / KB) + 2)
    E = event_rows(cap)
    P = event_rows(cap)
    nx = np.full(cap + nbtot + LMAX, -1, np.int64)
    bt = np.arange(cap, cap + nbtot + LMAX, dtype=np.int64)
    fs = np.arange(cap - 1, -1, -1, dtype=np.int64)
    Qi = np.zeros(N_QI, np.int64)
    Qf = np.zeros(N_QF, np.float64)
    Qi[FREE], Qi[CAP], Qi[NBMAX], Qi[NBTOT] = cap, cap, nbmax, nbtot
    Qi[RUN] = -1
    Qi[NREF] = SPILL
    Qi[ELIM] = SPILL
    for lvl in range(LMAX):
        Qf[FV + 5 * lvl + TMIN_], Qf[FV + 5 * lvl + TMAX_] = np.inf, -np.inf
    Qf[LASTW] = 1.0
    Qf[T0] = np.nan
    return E, P, nx, bt, fs, Qi, Qf


# -- the bottom heap (column 7: the run's flag) ------------------------------------------------------------


@jitted_inline
def _npush(E, n, t, o, code, c, x, f, flag):
    if n >= E.shape[0]:
        raise IndexError("event queue: bottom heap full")
    i = n
    while i > 0:
        p = (i - 1) >> 2
        if t < E[p, 0] or (t == E[p, 0] and o < E[p, 1]):
            for k in range(8):
                E[i, k] = E[p, k]
            i = p
        else:
            break
    E[i, 0], E[i, 1], E[i, 2], E[i, 3], E[i, 4], E[i, 5], E[i, 7] = t, o, code, c, x, f, flag
    return n + 1


@jitted_inline
def _nsift(E, n, t, o, code, c, x, f, flag):
    i = 0
    while True:
        a = 4 * i + 1
        if a >= n:
            break
        for b in range(a + 1, min(a + 4, n)):
            if E[b, 0] < E[a, 0] or (E[b, 0] == E[a, 0] and E[b, 1] < E[a, 1]):
                a = b
        if E[a, 0] < t or (E[a, 0] == t and E[a, 1] < o):
            for k in range(8):
                E[i, k] = E[a, k]
            i = a
        else:
            break
    E[i, 0], E[i, 1], E[i, 2], E[i, 3], E[i, 4], E[i, 5], E[i, 7] = t, o, code, c, x, f, flag


# -- the pool and its lists ----------------------------------------------------------------------------


@jitted_inline
def _alloc(fs, Qi):
    k = Qi[FREE]
    if k == 0:
        raise IndexError("event queue: pool full")
    k -= 1
    Qi[FREE] = k
    return fs[k]


@jitted_inline
def _pooled(E, P, fs, Qi, k):
    """Heap row ``k``'s event copied into a fresh pool row (returned; its link is the caller's to set)."""
    r = _alloc(fs, Qi)
    for c in range(6):
        P[r, c] = E[k, c]
    return r


@jitted_inline
def _free(fs, Qi, r):
    fs[Qi[FREE]] = r
    Qi[FREE] += 1


@jitted
def _spread(P, nx, bt, Qi, Qf, lvl, r, n, mn, mx, w):
    """Make rung ``lvl`` of the list from ``r`` (``n`` events between ``mn`` and ``mx``), buckets ``w`` wide
    (those beyond the room it has stay on the rung's top)."""
    nbtot = Qi[NBTOT]
    i, j = LV + 4 * lvl, FV + 5 * lvl
    if lvl == 0:
        base, room = 0, Qi[NBMAX]
    else:
        base = Qi[i - 4 + BASE_] + Qi[i - 4 + NB_]
        room = nbtot - base
    invw = 1.0 / w if w > 0.0 else 1e300
    if not invw < 1e300:  # a spread too small to divide
        invw = 1e300
    span = (mx - mn) * invw
    nb = int(span) + 1 if span < room else room
    Qi[i + CUR_], Qi[i + NB_], Qi[i + BASE_] = -1, nb, base
    Qf[j + RS_], Qf[j + IW_], Qf[j + NR_] = mn, invw, 0.0
    Qi[DEPTH] = lvl + 1
    tn = 0
    tmn, tmx = np.inf, -np.inf
    while r >= 0:
        nr = nx[r]
        nx[r] = -1
        t = P[r, 0]
        xb = (t - mn) * invw
        if xb < nb:
            g = base + int(xb)
        else:  # beyond the rung: on its top
            g = nbtot + lvl
            tn += 1
            tmn = min(tmn, t)
            tmx = max(tmx, t)
        nx[bt[g]] = r
        bt[g] = r
        r = nr
    Qi[i + TOPN_] = tn
    Qf[j + TMIN_], Qf[j + TMAX_] = tmn, tmx


@jitted
def _retop(E, P, nx, bt, fs, Qi, Qf, lvl):
    """Rung ``lvl`` is spent and its top is not empty: the top becomes rung ``lvl`` anew, or goes to the heap
    (SMALL or fewer: the rung ends)."""
    cap, nbtot = Qi[CAP], Qi[NBTOT]
    i, j = LV + 4 * lvl, FV + 5 * lvl
    n = Qi[i + TOPN_]
    ts = cap + nbtot + lvl  # the top's sentinel
    r = nx[ts]
    nx[ts] = -1
    bt[nbtot + lvl] = ts
    Qi[i + TOPN_] = 0
    mn, mx = Qf[j + TMIN_], Qf[j + TMAX_]
    Qf[j + TMIN_], Qf[j + TMAX_] = np.inf, -np.inf
    if n <= SMALL:  # to the heap
        m = Qi[NE]
        while r >= 0:
            m = _npush(E, m, P[r, 0], P[r, 1], P[r, 2], P[r, 3], P[r, 4], P[r, 5], 0.0)
            _free(fs, Qi, r)
            r = nx[r]
        Qi[NE] = m
        Qi[POPS] += n
        Qi[DEPTH] = lvl
        return
    if mx > mn:
        w = KB * (mx - mn) / n  # the top's mean spacing
        if lvl == 0:
            if Qi[POPS] >= RMIN and mn > Qf[T0]:  # the rate since the last rung 0
                wr = KB * (mn - Qf[T0]) / Qi[POPS]
                w = max(min(wr, w), w / NARROW)
            Qf[LASTW] = w
    else:
        w = Qf[LASTW] if lvl == 0 else 1.0
    if lvl == 0:
        Qf[T0] = mn
        Qi[POPS] = 0
        Qi[NREF] = max(Qi[NTOT], SPILL)
    _spread(P, nx, bt, Qi, Qf, lvl, r, n, mn, mx, w)


@jitted
def _split(E, P, nx, bt, fs, Qi, Qf, m, r):
    """A bucket of more than THRESH unsorted events: ``m`` of them in the heap (all it holds), the rest the
    list from ``r``: all of them a rung one deeper (True), unless they cannot be spread (False)."""
    d = Qi[DEPTH]
    i = LV + 4 * (d - 1)
    room = Qi[NBTOT] - (Qi[i + BASE_] + Qi[i + NB_])
    if d >= LMAX or room < 2:
        return False
    mn, mx = np.inf, -np.inf
    n = 0
    q = r
    while q >= 0:
        mn = min(mn, P[q, 0])
        mx = max(mx, P[q, 0])
        n += 1
        q = nx[q]
    for k in range(m):
        mn = min(mn, E[k, 0])
        mx = max(mx, E[k, 0])
    if not mx > mn:
        return False
    h = r
    for k in range(m):  # the heap's back to the pool, in front of the rest
        q = _pooled(E, P, fs, Qi, k)
        nx[q] = h
        h = q
    Qi[NE] = 0
    n += m
    _spread(P, nx, bt, Qi, Qf, d, h, n, mn, mx, KB * (mx - mn) / n)
    return True


@jitted
def _refill(E, P, nx, bt, fs, Qi, Qf):
    """The heap is empty (and so is the run): the deepest rung's next bucket comes down; rungs end, the top
    becomes one."""
    cap = Qi[CAP]
    while True:
        d = Qi[DEPTH]
        if d == 0:
            Qi[ELIM] = SINK if Qi[DEPTH] else SPILL
            return
        lvl = d - 1
        i = LV + 4 * lvl
        nb, base = Qi[i + NB_], Qi[i + BASE_]
        b = Qi[i + CUR_] + 1
        while b < nb and nx[cap + base + b] < 0:
            b += 1
        if b >= nb:  # the rung is spent: its top becomes it, else the rung ends
            if Qi[i + TOPN_]:
                _retop(E, P, nx, bt, fs, Qi, Qf, lvl)
                if Qi[NE]:
                    Qi[ELIM] = SINK if Qi[DEPTH] else SPILL
                    return
            else:
                Qi[DEPTH] = lvl
            continue
        Qi[i + CUR_] = b
        Qf[FV + 5 * lvl + NR_] = b + 1.0
        g = base + b
        r = nx[cap + g]
        nx[cap + g] = -1
        bt[g] = cap + g
        # into the heap while sorted, up to RUNLEN; then, if all the rest is sorted, it is a run
        m = 0
        srt = True
        pt, po = -np.inf, -np.inf
        split = False
        tried = False
        while r >= 0:
            t, o = P[r, 0], P[r, 1]
            if srt:
                if t < pt or (t == pt and o < po):
                    srt = False
                elif m == RUNLEN:
                    q, qt, qo = r, pt, po
                    k = 0
                    while q >= 0:
                        if P[q, 0] < qt or (P[q, 0] == qt and P[q, 1] < qo):
                            break
                        qt, qo = P[q, 0], P[q, 1]
                        q = nx[q]
                        k += 1
                    if q < 0:  # sorted: the last in the heap (the greatest there) stands for the rest
                        E[m - 1, 7] = 1.0
                        Qi[RUN] = r
                        Qi[POPS] += k
                        break
                    srt = False
                pt, po = t, o
            if not srt and m >= THRESH and not tried:
                tried = True
                if _split(E, P, nx, bt, fs, Qi, Qf, m, r):
                    split = True
                    break
            m = _npush(E, m, t, o, P[r, 2], P[r, 3], P[r, 4], P[r, 5], 0.0)
            _free(fs, Qi, r)
            r = nx[r]
        if split:
            continue
        Qi[POPS] += m
        Qi[NE] = m
        Qi[ELIM] = SINK if Qi[DEPTH] else SPILL
        return

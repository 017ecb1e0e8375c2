"""The compiled replay's event queue (ampsim/executors/sim/jitqueue.py) pops exactly what heapq pops.

Events are (time, order); a workload is a list of operations: push at now + delay, push at an absolute time
(possibly before now, as a set-aside completion is), pop the earliest, replace the earliest (heapq's
heapreplace: the earliest out, then the event in). Orders are the push count, or a permutation (the kernel
pushes set-aside completions with the order they were given earlier). The popped sequence must equal
heapq's on tuples, every pool row must be free again at the end, and a queue grown mid-way must go on the
same.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from ampsim.executors.sim import jitqueue as jq
from ampsim.executors.sim import jitrungs as jr

PUSH, POP, HOLD, AT = range(4)  # HOLD: replace the earliest by one `delay` after it (pop and push at once)


@njit(cache=False)
def _drive(E, P, nx, bt, fs, Qi, Qf, ops, a, ov, out, start, stop):
    """Run ``ops[start:stop]`` on the queue; the popped (time, order) go to ``out``'s rows, their count and the
    last order drawn kept in its last row (so a later call carries on)."""
    m = int(out[-1, 0])
    order = int(out[-1, 1])
    for k in range(start, stop):
        op = ops[k]
        now = E[0, 0] if Qi[jr.NTOT] > 0 else 0.0
        if op == PUSH or op == AT or (op == HOLD and Qi[jr.NTOT] == 0):
            order += 1
            t = a[k] if op == AT else now + a[k]
            jq.cq_push(E, P, nx, bt, fs, Qi, Qf, t, order if ov[k] < 0 else ov[k], 4, 0, 0, 0.0)
        elif Qi[jr.NTOT] > 0:
            out[m, 0], out[m, 1] = E[0, 0], E[0, 1]
            m += 1
            if op == POP:
                jq.cq_pop(E, P, nx, bt, fs, Qi, Qf)
            else:
                order += 1
                jq.cq_replace(E, P, nx, bt, fs, Qi, Qf, now + a[k], order if ov[k] < 0 else ov[k], 4, 0, 0, 0.0)
    out[-1, 0], out[-1, 1] = m, order
    return m


@njit(cache=False)
def _drain(E, P, nx, bt, fs, Qi, Qf, out):
    m = int(out[-1, 0])
    while Qi[jr.NTOT] > 0:
        out[m, 0], out[m, 1] = E[0, 0], E[0, 1]
        m += 1
        jq.cq_pop(E, P, nx, bt, fs, Qi, Qf)
    out[-1, 0] = m
    return m


def reference(ops, a, ov) -> list[tuple[float, float]]:
    h: list = []
    order, out = 0, []
    for op, x, w in zip(ops.tolist(), a.tolist(), ov.tolist()):
        now = h[0][0] if h else 0.0
        if op in (PUSH, AT) or (op == HOLD and not h):
            order += 1
            heapq.heappush(h, (x if op == AT else now + x, order if w < 0 else w))
        elif h:
            out.append(h[0])
            if op == POP:
                heapq.heappop(h)
            else:
                order += 1
                heapq.heapreplace(h, (now + x, order if w < 0 else w))
    out += [heapq.heappop(h) for _ in range(len(h))]
    return [(t, float(o)) for t, o in out]


def queued(ops, a, ov, grow_at: int | None = None) -> tuple[list[tuple[float, float]], tuple]:
    """What the queue pops for the workload (grown to twice its room after op ``grow_at``), and the queue."""
    n = len(ops)
    out = np.zeros((n + 1, 2))
    cap = n + 10 if grow_at is None else max(jr.SPILL + 2, int(np.count_nonzero(ops[:grow_at] != POP)) + 2)
    Q = jq.cq_new(cap)
    if grow_at is None:
        _drive(*Q, ops, a, ov, out, 0, n)
    else:
        _drive(*Q, ops, a, ov, out, 0, grow_at)
        Q = jq.cq_grow(Q, n + 10)
        _drive(*Q, ops, a, ov, out, grow_at, n)
    m = _drain(*Q, out)
    return [(out[i, 0], out[i, 1]) for i in range(m)], Q


def _delays(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "exp":
        return rng.exponential(1.0, n)
    if kind == "bimodal":  # link hops against compute steps
        return np.where(rng.random(n) < 0.7, rng.uniform(0, 0.01, n), rng.exponential(1.0, n))
    if kind == "ties":  # a few fixed step lengths: many events at exactly one time
        return rng.choice([0.5, 1.0, 1.5, 2.0], n)
    if kind == "zeros":
        return np.where(rng.random(n) < 0.2, 0.0, rng.exponential(1.0, n))
    return rng.integers(0, 3, n) * 1e-300  # "tiny": ties at spacings far below the times' resolution


def _phases(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bursts of pushes, of pops, and mixes: the queue grows and shrinks through every size."""
    ops = np.empty(n, np.int64)
    k = 0
    while k < n:
        ln = min(int(rng.integers(1, 1500)), n - k)
        ops[k:k + ln] = [np.full(ln, PUSH), np.full(ln, POP), rng.choice([PUSH, POP, HOLD], ln, p=[0.3, 0.3, 0.4]),
                         rng.choice([PUSH, POP, HOLD, AT], ln, p=[0.4, 0.2, 0.3, 0.1])][int(rng.integers(0, 4))]
        k += ln
    return ops


KINDS = ("exp", "bimodal", "ties", "zeros", "tiny")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pending", [1, 3, 20, 60, 300, 2000])
def test_the_hold_model_pops_what_heapq_pops(kind, pending):
    rng = np.random.default_rng(pending)
    n = pending + 6000
    ops = np.full(n, HOLD, np.int64)
    ops[:pending] = PUSH
    a, ov = _delays(kind, n, rng), -np.ones(n)
    got, Q = queued(ops, a, ov)
    assert got == reference(ops, a, ov)
    assert Q[5][jr.FREE] == Q[5][jr.CAP]  # every pool row free again


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("permuted", [False, True])
def test_growing_and_shrinking_queues_with_pushes_into_the_past_pop_what_heapq_pops(kind, permuted):
    rng = np.random.default_rng(KINDS.index(kind))
    n = 30_000
    ops = _phases(rng, n)
    a = np.where(ops == AT, rng.uniform(0, 50, n), _delays(kind, n, rng))
    ov = rng.permutation(n).astype(float) + 1e6 if permuted else -np.ones(n)
    got, Q = queued(ops, a, ov)
    assert got == reference(ops, a, ov)
    assert Q[5][jr.FREE] == Q[5][jr.CAP]


@pytest.mark.parametrize("kind", ["exp", "ties"])
def test_a_queue_grown_midway_goes_on_popping_what_heapq_pops(kind):
    rng = np.random.default_rng(7)
    n = 20_000
    ops = np.full(n, HOLD, np.int64)
    ops[:3000] = PUSH
    a, ov = _delays(kind, n, rng), -np.ones(n)
    got, _ = queued(ops, a, ov, grow_at=3500)
    assert got == reference(ops, a, ov)


def test_a_full_queue_refuses_rather_than_writing_past_its_arrays():
    cap = jr.SPILL + 2  # room for cap events at least (in the heap and the pool together, up to twice that)
    Q = jq.cq_new(cap)
    ops, a = np.full(2 * cap + 1, PUSH, np.int64), np.arange(2 * cap + 1, dtype=float)
    with pytest.raises(IndexError):
        _drive(*Q, ops, a, -np.ones(len(ops)), np.zeros((len(ops) + 1, 2)), 0, len(ops))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([PUSH, PUSH, POP, HOLD, AT]),
                          st.sampled_from([0.0, 0.0, 1e-9, 0.25, 0.5, 1.0, 3.0, 100.0])), max_size=400))
def test_any_workload_pops_what_heapq_pops(steps):
    ops = np.array([s[0] for s in steps], dtype=np.int64)
    a = np.array([s[1] for s in steps], dtype=float)
    ov = -np.ones(len(steps))
    got, Q = queued(ops, a, ov)
    assert got == reference(ops, a, ov)
    assert Q[5][jr.FREE] == Q[5][jr.CAP]

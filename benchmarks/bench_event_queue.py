"""What one event costs the replay's event queue, by how many events wait in it. Writes
results/bench/event_queue.csv.

The replay's loop (:mod:`ampsim.executors.sim.fastloop`) keeps its timed events in a ``heapq`` of tuples
``(time, order, code, c, x)``, as SimPy does. A busy machine keeps about as many events waiting as it has
instances in flight, and a heap's pop sifts through log2(size) levels, each a tuple comparison. This
measures the classic *hold* model (pop the earliest event, push one a random delay later, so the queue's
size stays ``pending``) with two queues, side by side in one run:

* ``heap``: the loop's heap (``heappushpop`` of one tuple per event);
* ``calendar``: a calendar queue (events bucketed by time, ~16 per bucket, the earliest bucket a small
  heap) written in Python: O(1) per event in theory, the usual answer to a heap's growth;
* ``kernel_heap``: a four-ary heap of float rows compiled (numba), the compiled replay's queue until
  2026-12-05 (:func:`~ampsim.executors.sim.jitrungs._nsift` replacing the earliest event by the next; now
  the bottom of its queue), the same hold model. Its growth was the ``load`` series' (a branch-free choice
  among the four children was 10–15 % faster from 128 events waiting and slower below: not adopted);
* ``kernel_queue``: the compiled replay's queue now (:mod:`~ampsim.executors.sim.jitqueue`: a ladder queue
  over that heap, :func:`~ampsim.executors.sim.jitqueue.cq_replace`), the same hold model.

``trace_switch<N>`` rows: not a model but the queue operations a real replay makes, recorded and replayed on
the compiled queue alone (``kernel_queue_ns_per_event``, ns per operation, and ``queue_ns_per_message``):
those of ``bench_replay``'s 512-layer chain on a switch of 4, 16 and 1,024 chips, 8 instances in flight
(recorded from the replay's Python loop, whose pushes and pops the compiled loop copies; ``pending`` is the
mean number waiting at a pop). They say how much of the compiled loop's growth in cost per message from 4 to
1,024 busy chips (``bench_replay``'s ``loop_us_per_message``) is the queue's: on 4 chips most messages wait
in busy chips' queues and about 4 events in the event queue; spread over 16 chips or more, 7.

The calendar's constant, paid in interpreted bytecode, is higher than the heap's logarithm, which runs
in C, until thousands of events wait: that is why the Python loop keeps the heap, and why its cost per
message grows with the instances in flight. Compiled, the ladder's constant is paid in machine code, and
it costs less than the heap from a few dozen events waiting. Delays are exponential with mean 1; each
case is timed five times, interleaved, and the fastest counts.

``python -m benchmarks.bench_event_queue [--quick --out DIR]``.
"""

from __future__ import annotations

import functools
import random
import time
from heapq import heapify, heappop, heappush, heappushpop
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks.common import OUT, load, machine, run_one, write_csv

PENDING = (4, 16, 128, 1024, 4096)
REPEATS = 5
TRACED = (4, 16, 1024)  # the switch sizes of the trace rows
COLUMNS = ("case", "pending", "events", "heap_ns_per_event", "calendar_ns_per_event", "heap_relative_to_fewest",
           "kernel_heap_ns_per_event", "kernel_heap_relative_to_fewest", "kernel_queue_ns_per_event",
           "kernel_queue_relative_to_fewest", "queue_ns_per_message", "machine", "load")


def _delays(pending: int, events: int) -> list[float]:
    rng = random.Random(pending)
    return [rng.expovariate(1.0) for _ in range(pending + events)]


def hold_heap(pending: int, events: int) -> float:
    """Nanoseconds per event of the hold model on a heap of event tuples."""
    r = _delays(pending, events)
    heap = [(r[i], i, 4, 0, 0) for i in range(pending)]
    heapify(heap)
    order, ev = pending, heappop(heap)
    t0 = time.perf_counter()
    for k in range(events):
        order += 1
        ev = heappushpop(heap, (ev[0] + r[pending + k], order, 4, 0, 0))
    return (time.perf_counter() - t0) / events * 1e9


def hold_calendar(pending: int, events: int, per_bucket: int = 16) -> float:
    """Nanoseconds per event of the hold model on a calendar queue: bucket ``int(time / width)`` (monotone
    in time, so buckets in order and a heap inside the current one give the exact order)."""
    r = _delays(pending, events)
    inv_width = pending / per_bucket  # ``pending`` events per unit of time: ``per_bucket`` per bucket
    buckets: dict[int, list] = {}
    ids: list[int] = []  # the buckets' numbers, a heap

    def put(ev: tuple) -> None:
        b = int(ev[0] * inv_width)
        bucket = buckets.get(b)
        if bucket is None:
            buckets[b] = [ev]
            heappush(ids, b)
        else:
            bucket.append(ev)

    for i in range(pending):
        put((r[i], i, 4, 0, 0))
    current = heappop(ids)
    near = buckets.pop(current)
    heapify(near)
    order, ev = pending, heappop(near)
    t0 = time.perf_counter()
    for k in range(events):
        order += 1
        new = (ev[0] + r[pending + k], order, 4, 0, 0)
        if int(new[0] * inv_width) <= current:
            ev = heappushpop(near, new)
            continue
        put(new)
        if not near:
            current = heappop(ids)
            near = buckets.pop(current)
            heapify(near)
        ev = heappop(near)
    return (time.perf_counter() - t0) / events * 1e9


@functools.cache
def _kernel_holds() -> tuple:
    """The hold model on the four-ary heap alone and on the kernel's queue, compiled (numba is imported only
    here)."""
    from ampsim.executors.sim import jitcache

    jitcache.register(__file__)  # cached with the kernel's sources: recompiled when the queue's code changes
    from ampsim.executors.sim.jitcache import jitted
    from ampsim.executors.sim.jitqueue import cq_push, cq_replace
    from ampsim.executors.sim.jitrungs import _npush, _nsift

    @jitted
    def heap_hold(E, delays, pending, events):
        n = 0
        for i in range(pending):
            n = _npush(E, n, delays[i], i, 4, 0, 0, 0.0, 0.0)
        order = pending
        for k in range(events):
            order += 1
            _nsift(E, n, E[0, 0] + delays[pending + k], order, 4, 0, 0, 0.0, 0.0)
        return E[0, 0]

    @jitted
    def queue_hold(E, P, nx, bt, fs, Qi, Qf, delays, pending, events):
        for i in range(pending):
            cq_push(E, P, nx, bt, fs, Qi, Qf, delays[i], i, 4, 0, 0, 0.0)
        order = pending
        for k in range(events):
            order += 1
            cq_replace(E, P, nx, bt, fs, Qi, Qf, E[0, 0] + delays[pending + k], order, 4, 0, 0, 0.0)
        return E[0, 0]

    return heap_hold, queue_hold


def _hold_compiled(which: int, stores: Callable[[int], tuple], pending: int, events: int) -> float:
    """Nanoseconds per event of compiled hold model ``which`` (:func:`_kernel_holds`) on fresh ``stores(n)``."""
    delays = np.array(_delays(pending, events))
    hold = _kernel_holds()[which]
    hold(*stores(pending + 1), delays[:pending + 1], pending, 1)  # compiled (or loaded) before timing
    arrays = stores(pending + 1)
    t0 = time.perf_counter()
    hold(*arrays, delays, pending, events)
    return (time.perf_counter() - t0) / events * 1e9


def hold_kernel_heap(pending: int, events: int) -> float:
    """Nanoseconds per event of the hold model on the four-ary heap the compiled replay used alone before."""
    from ampsim.executors.sim.jitrungs import event_rows  # the kernel's rows: 64 bytes, aligned

    return _hold_compiled(0, lambda n: (event_rows(n),), pending, events)


def hold_kernel_queue(pending: int, events: int) -> float:
    """Nanoseconds per event of the hold model on the compiled replay's queue."""
    from ampsim.executors.sim.jitqueue import cq_new

    return _hold_compiled(1, cq_new, pending, events)


def recorded_operations(chips: int, instances: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The event-queue operations of ``bench_replay``'s 512-layer chain replayed on a switch of ``chips``:
    each one's kind (0 push, 1 the earliest leaves and this joins, 2 the earliest leaves), time and order,
    and the run's messages. Recorded from the Python loop, which the compiled one copies event for event."""
    from unittest import mock

    import ampsim.executors.sim.fastloop as fastloop
    import ampsim.executors.sim.faststate as faststate
    from ampsim.executors.sim.jitreplay import JitReplay
    from benchmarks.bench_replay import Chain, _chain_setup, _chain_time

    ops: list[tuple[int, float, int]] = []

    def push(heap: list, ev: tuple) -> None:
        ops.append((0, ev[0], ev[1]))
        heappush(heap, ev)

    def pushpop(heap: list, ev: tuple) -> tuple:
        if heap and heap[0] < ev:  # else it comes straight back: the queue is not touched
            ops.append((1, ev[0], ev[1]))
        return heappushpop(heap, ev)

    def pop(heap: list) -> tuple:
        ops.append((2, 0.0, 0))
        return heappop(heap)

    setup = _chain_setup(Chain("switch", "switch64.toml", 512, instances, switch_chips=chips), instances)
    with mock.patch.object(JitReplay, "compiled", False), mock.patch.object(fastloop, "heappush", push), \
            mock.patch.object(fastloop, "heappushpop", pushpop), mock.patch.object(fastloop, "heappop", pop), \
            mock.patch.object(faststate, "heappush", push):
        _, ex = _chain_time(*setup)
    a = np.array(ops)
    return a[:, 0].astype(np.int64), a[:, 1].copy(), a[:, 2].copy(), ex.messages


@functools.cache
def _replayer() -> Callable:
    from ampsim.executors.sim import jitcache

    jitcache.register(__file__)
    from ampsim.executors.sim.jitcache import jitted
    from ampsim.executors.sim.jitqueue import cq_pop, cq_push, cq_replace

    @jitted
    def replay(E, P, nx, bt, fs, Qi, Qf, kind, t, o):
        for i in range(len(kind)):
            if kind[i] == 0:
                cq_push(E, P, nx, bt, fs, Qi, Qf, t[i], o[i], 4, 0, 0, 0.0)
            elif kind[i] == 1:
                cq_replace(E, P, nx, bt, fs, Qi, Qf, t[i], o[i], 4, 0, 0, 0.0)
            else:
                cq_pop(E, P, nx, bt, fs, Qi, Qf)
        return Qi[0]

    return replay


def traced(operations: tuple, repeats: int) -> tuple[float, float]:
    """Nanoseconds per operation and per message of ``operations`` (:func:`recorded_operations`) on the
    compiled queue, the fastest of ``repeats``; and the mean number of events waiting at a pop."""
    from ampsim.executors.sim.jitqueue import cq_new

    kind, t, o, messages = operations
    replay = _replayer()
    replay(*cq_new(len(kind) + 64), kind[:0], t[:0], o[:0])  # compiled (or loaded) before timing
    best = float("inf")
    for _ in range(repeats):
        queue = cq_new(len(kind) + 64)
        t0 = time.perf_counter()
        replay(*queue, kind, t, o)
        best = min(best, time.perf_counter() - t0)
    waiting = np.cumsum(np.where(kind == 0, 1, np.where(kind == 2, -1, 0)))
    leaving = kind != 0
    pending = float((waiting[leaving] + (kind[leaving] == 2)).mean())  # counted before the pop
    return best / len(kind) * 1e9, best / messages * 1e9, pending


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Run the measurements, write ``out/event_queue.csv`` and return its rows."""
    events = 2_000 if quick else 300_000
    queues = {"heap": hold_heap, "calendar": hold_calendar, "kernel_heap": hold_kernel_heap,
              "kernel_queue": hold_kernel_queue}
    best = {(q, n): float("inf") for q in queues for n in PENDING}
    for _ in range(1 if quick else REPEATS):
        for n in PENDING:
            for q, hold in queues.items():
                best[q, n] = min(best[q, n], hold(n, events))
    rows = [{"case": f"hold_{n}", "pending": n, "events": events, "heap_ns_per_event": round(best["heap", n]),
             "calendar_ns_per_event": round(best["calendar", n]),
             "heap_relative_to_fewest": round(best["heap", n] / best["heap", PENDING[0]], 2),
             "kernel_heap_ns_per_event": round(best["kernel_heap", n], 1),
             "kernel_heap_relative_to_fewest": round(best["kernel_heap", n] / best["kernel_heap", PENDING[0]], 2),
             "kernel_queue_ns_per_event": round(best["kernel_queue", n], 1),
             "kernel_queue_relative_to_fewest": round(best["kernel_queue", n] / best["kernel_queue", PENDING[0]], 2),
             "machine": machine(), "load": load()} for n in PENDING]
    recorded = {n: recorded_operations(n, 2 if quick else 38) for n in TRACED}
    timed = {n: traced(ops, 1 if quick else REPEATS) for n, ops in recorded.items()}
    fewest = timed[TRACED[0]][1]
    traces = [{"case": f"trace_switch{n}", "pending": round(timed[n][2], 2), "events": len(recorded[n][0]),
               "kernel_queue_ns_per_event": round(timed[n][0], 1), "queue_ns_per_message": round(timed[n][1], 1),
               "kernel_queue_relative_to_fewest": round(timed[n][1] / fewest, 2), "machine": machine(),
               "load": load()} for n in TRACED]
    path = write_csv(out, "event_queue.csv", COLUMNS, rows + traces)
    for r in traces:
        print(f"{r['case']}: {r['events']} queue operations, {r['pending']} events waiting at a pop on average: "
              f"{r['kernel_queue_ns_per_event']} ns an operation, {r['queue_ns_per_message']} ns a message "
              f"({r['kernel_queue_relative_to_fewest']}× the fewest chips)")
    for r in rows:
        print(f"{r['pending']} events waiting: heap {r['heap_ns_per_event']} ns per event "
              f"({r['heap_relative_to_fewest']}× the fewest), calendar {r['calendar_ns_per_event']} ns, the compiled "
              f"four-ary heap {r['kernel_heap_ns_per_event']} ns ({r['kernel_heap_relative_to_fewest']}×), its queue "
              f"{r['kernel_queue_ns_per_event']} ns ({r['kernel_queue_relative_to_fewest']}×)")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

"""The machine state of the replay's own event loop between events, and what changes it outside the loop's
hot path: the controller, queueing roots and update jobs, waking units, writing the counters back.

:class:`FastMachine` is the state :class:`~ampsim.executors.sim.fastloop.FastReplay` runs on (its
:meth:`~ampsim.executors.sim.fastloop.FastReplay._loop` is the hot path). Events are plain tuples
``(time, order, code, c, x)`` ordered by ``(time, order)``; ``order`` is a running counter, so ties are
broken as SimPy breaks them (insertion order). Two stores hold them:

* ``heap``: the events scheduled after a delay (a unit's completion, a hop, an arrival);
* ``soon``: the events scheduled for *now* (a unit's wake-up, the controller's slot gets and puts), in
  order. Every one of them has the current time and a later order than anything scheduled before, so a
  FIFO holds them sorted; the loop takes whichever of the two stores' first events is earlier (an exact
  merge). A completion floods the machine with update jobs, one wake-up each; in the heap they made
  every other event's push and pop dearer (57 events in the heap on average on 1,024 chips, against 4
  on four, for the same chain of nodes).

A chip keeps only how many of its units are idle (without a trace its units are interchangeable) and,
where waking up costs (``wake_overhead_s``), since when each has been idle, oldest first (SimPy's FIFO of
waiting units). A single-unit chip that finishes an update job with nothing queued behind it does not
schedule the completion: it only idles the unit. The completion's key ``(time, order)`` is set aside in
``lazy``, with its order drawn from the counter as if it were pushed, and :meth:`FastMachine._settle`
pushes it with that same key as soon as an item joins the chip's queue before that key comes up, or
else idles the unit as of that time. So the order of every event, and of every tie, is the one of a run
that schedules them all.
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from operator import attrgetter

import numpy as np

from ampsim.executors.sim.chips import Chip, chip_counters
from ampsim.executors.sim.fastprep import Placed, placement_arrays, recording_arrays
from ampsim.executors.sim.replay import Replay
from ampsim.executors.sim.replayhost import ReplayHost
from ampsim.ir.param import ParamNode

__all__ = ["ADMIT", "DONE", "FastMachine", "WAKE", "counters_are_ints"]

START, GET, PUT, WAKE, DONE, LEARN = range(6)  # and HOP, ARRIVE (fastprep: a route's hops)
#: the controller's wait on staleness-bounded admission's window ends (negative: the loop's cold codes,
#: with fastsync's below it)
ADMIT = -1
FINAL = -1


def counters_are_ints(chips: list[Chip]) -> bool:
    """Whether every chip's memory counters are ints (the compiled loop's arrays hold int64): read in C, a
    counter at a time over the chips (a float anywhere makes its sum a float)."""
    return all(type(sum(map(attrgetter(name), chips))) is int
               for name in ("param_bytes", "held_bytes", "queued_bytes", "peak_bytes"))


class FastMachine(Replay):
    uses_children = False  # the loop reads kid/kids (fastprep) instead

    def __init__(self, ex: ReplayHost, context: str = "") -> None:
        super().__init__(ex, context)
        self.now = 0.0
        self.cur = 0  # the order of the event being processed (with ``now``, its key)
        self.heap: list[tuple] = []
        self.soon: deque[tuple] = deque()
        self.order = 0  # the scheduling order: events at the same time are popped in it
        specs = ex.system.chips  # the executor's chips are built after this
        self.queues: list[deque] = [deque() for _ in specs]
        self.n_idle = [c.compute_units for c in specs]  # idle units per chip
        self.single = [c.compute_units == 1 for c in specs]  # chips whose completions may be set aside
        self.lazy: list[tuple[float, int] | None] = [None] * len(specs)  # a set-aside completion's key
        self.waking = any(c.wake_overhead_s for c in specs)
        #: per chip, when each idle unit went idle, oldest first (kept only where waking up costs: a deque is
        #: 760 bytes, and a thousand of them for nothing crowd the CPU's caches)
        self.idle_at: list[deque] = [deque([0.0] * c.compute_units) for c in specs] if self.waking else []
        #: what a call reads of the chips' specs, by chip index (fixed: a spec is frozen): the memory limit, the
        #: spin, wake-up and receive costs (SimExecutor.receive, one message)
        self.chip_specs: dict[str, list] = {
            "memory": [c.memory_bytes for c in specs], "spin": [c.spin_s for c in specs],
            "wake": [c.wake_overhead_s for c in specs],
            "receive": [c.remote_receive_overhead_s * 1 + 0.0 for c in specs]}
        self.used: list[int] = [0] * len(specs)  # during a call: each chip's parameters + held + queued bytes
        # links, by the network's dense ids: the next free time of each (kept across calls; the busy seconds
        # and bytes are the network's own arrays, which the compiled loop adds to in place)
        self.links = ex.network.links
        self.bandwidth_bytes_per_s = self.links.bandwidth_bytes_per_s  # per link id (packet-switched links share it)
        self.free = np.zeros(len(self.links))
        self.level = ex.mak
        self.completion_latency_s = ex.system.host.completion_latency_s  # the controller's round trip (0: acts at once)
        self.pending = 0  # the amount of the controller's waiting slot request (0: none)
        self.admit_wait = 0  # the controller waits on the window: 1, woken (its event pending): 2
        self._placed: tuple | None = None  # (recording, Placed, update cost per stash kind)
        self.hops = 0  # links crossed by the messages replayed so far (summed over messages)
        self._sync_host = None  # the replicas' synchronization on this loop (fastsync.FastSync), once built

    def _prepare(self) -> tuple[Placed, dict, list]:
        """The per-message lists of this recording on this placement (built once per recording), and its
        update costs per stash kind (filled as the jobs first run)."""
        rec, ex = self.rec, self.ex
        fast = recording_arrays(rec, rec.replay_view)
        if self._placed is None or self._placed[0] is not rec:
            placed = placement_arrays(rec, fast, [c.index for c in self.chip_of], ex.system.chips,
                                      self.durations, self.duration_arrays, self.links.hops, ex.network.cut_through)
            self._placed = (rec, placed, [None] * len(fast["ukind_first"]))
        return self._placed[1], fast, self._placed[2]

    # -- what a call starts from (the Python loop and the compiled one alike) ------------------------
    def _per_stash_nodes(self) -> list[bool]:
        """Per node, whether its every update job applies an update of one stash (Replay.update_cost's first
        case: one cost per stash kind)."""
        return [isinstance(nd, ParamNode) and nd.muf == 1 and not self.ready.get(i) for i, nd in enumerate(self.nodes)]

    def _chip_state(self) -> dict[str, list]:
        """What a call reads of the executor's chips, by chip index: the memory in use (also ``self.used``)
        and its limit, the spin, wake-up and receive costs, and the counters it carries on (peak, busy
        seconds, the debt each chip has collected so far); the links' busy seconds and bytes so far are in
        the network's ``link_busy_s`` and ``link_bytes``."""
        counters = chip_counters(self.ex.chips)
        self.used, self.peak = counters["used"], counters["peak"]
        return {**counters, **self.chip_specs}

    # -- units ---------------------------------------------------------------------------------------
    def _settle(self, c: int) -> float | None:
        """Chip ``c``'s set-aside completion, now that an item has joined its queue: when its unit went
        idle if the completion's key has passed, else ``None`` (the completion is pushed: it serves the
        queue)."""
        t, o = self.lazy[c]
        self.lazy[c] = None
        if t > self.now or (t == self.now and o > self.cur):
            heappush(self.heap, (t, o, DONE, c, None))
            return None
        return t

    def wake_unit(self, c: int) -> None:
        """An item has joined chip ``c``'s queue: an idle unit, if there is one, wakes up now (an event
        that carries since when it was idle)."""
        if self.n_idle[c]:
            self.n_idle[c] -= 1
            since = self.idle_at[c].popleft() if self.waking else 0.0
        elif self.lazy[c] is None:
            return
        else:
            since = self._settle(c)
            if since is None:
                return
        self.order += 1
        self.soon.append((self.now, self.order, WAKE, c, since))

    def _lazy_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The set-aside completions' keys as arrays (time, order; order -1: none), for the compiled loop."""
        n = len(self.lazy)
        if self.lazy.count(None) == n:  # none (between calls, but for an interrupted one): read in C
            return np.zeros(n), np.full(n, -1, dtype=np.int64)
        return (np.array([0.0 if p is None else p[0] for p in self.lazy]),
                np.array([-1 if p is None else p[1] for p in self.lazy], dtype=np.int64))

    def _idle_lazy(self) -> None:
        """The end of a call: the set-aside completions come up, idling their units (the last one's time is
        the simulated time)."""
        if self.lazy.count(None) == len(self.lazy):  # (none: a big machine's list is read in C)
            return
        for c, p in enumerate(self.lazy):
            if p is not None:
                self.lazy[c] = None
                self.n_idle[c] += 1
                if self.waking:
                    self.idle_at[c].append(p[0])
                self.now = max(self.now, p[0])

    def put(self, chip: Chip, item: int, nbytes: int) -> None:
        """Chip.put (the controller's roots, the update jobs of a completed instance: ``-1 - j`` for the
        replay, ``n_messages + j`` on this loop's queues)."""
        c = chip.index
        if item < 0:
            item = self.n_messages - 1 - item
        self.used[c] += nbytes
        self.queues[c].append(item)
        self.wake_unit(c)

    def _put_update(self, j: int, serial: int) -> None:
        """Replay._put_update on this loop's queues (the serial kept for the gates: fastsync)."""
        self._sync_host.serial[j] = serial
        self._queue_updates([j])

    def _queue_updates(self, stashes: list[int]) -> None:
        """Replay._queue_updates on this loop's queues, by the stashes' chips (no bytes to add)."""
        queues, n_idle, lazy, stash_chip, base = (
            self.queues, self.n_idle, self.lazy, self._placed[1].lists().stash_chip, self.n_messages)
        for j in stashes:
            c = stash_chip[j]
            queues[c].append(base + j)
            if n_idle[c] or lazy[c] is not None:  # (the call only where a unit may wake: it is dearer)
                self.wake_unit(c)

    # -- the controller (SimExecutor._controller / Replay.controller) ---------------------------------
    def _complete(self, i: int) -> None:
        """Instance ``i`` has completed: the controller acts on it now, or learns of it
        ``completion_latency_s`` later (an event, where SimPy schedules its timeout: Replay._complete)."""
        if self.completion_latency_s:
            self.order += 1
            heappush(self.heap, (self.now + self.completion_latency_s, self.order, LEARN, i, 0))
        else:
            self._completed(i)

    def _control(self, code: int, i: int) -> None:
        if code == LEARN:  # the controller learns that instance i has completed
            self._completed(i)
        elif code == START:
            self.next = 0 if self.roots else FINAL
            self._request(1 if self.roots else self.ex.mak)
        elif code == GET or code == ADMIT:  # a slot, or a wake-up of the wait on the window
            self.admit_wait = 0
            self._controller_step()
        elif self.pending and self.level >= self.pending:  # PUT: a processed put triggers waiting gets
            self.level -= self.pending
            self.pending = 0
            self._push(GET)

    def _push(self, code: int) -> None:
        self.order += 1
        self.soon.append((self.now, self.order, code, 0, 0))

    def _request(self, amount: int) -> None:
        if self.level >= amount:
            self.level -= amount
            self._push(GET)
        else:
            self.pending = amount

    def _controller_step(self) -> None:
        i = self.next
        if i == FINAL:  # every instance has completed: release the slots (nobody waits for them)
            self.level += self.ex.mak
            return
        if self.ex.window_full(self.in_flight):  # Replay.controller's wait on the window (ex.wait_for_admission):
            self.admit_wait = 1  # a completion's _admission_wake ends it
            return
        self.in_flight += 1
        node, nbytes, chip_of = self.node, self.nbytes, self.chip_of
        for r in self.roots[i]:
            self.live[i] += 1
            self.put(chip_of[node[r]], r, nbytes[r])
        self.next = i + 1 if i + 1 < len(self.roots) else FINAL
        self._request(1 if self.next != FINAL else self.ex.mak)

    def free_slot(self) -> None:
        self.in_flight -= 1
        self.level += 1
        self._push(PUT)

    def _admission_wake(self) -> None:
        """SimExecutor.admission_wake: a controller waiting on the window re-checks it (an event, once)."""
        if self.admit_wait == 1:
            self.admit_wait = 2
            self._push(ADMIT)

    # -- the executor's chips and network ------------------------------------------------------------
    def _write_back(self, placed: Placed, counters: dict, done: bool, touched: list[int] | None = None) -> None:
        """Write a call's counters back to the executor's chips and network (``items`` only when the call
        completed: every message and update job is then one item on its chip); ``touched``: the chips whose
        counters may have changed, where the caller knows (the others are left as they are)."""
        ex = self.ex
        chips, net = ex.chips, ex.network
        ex.messages += counters["messages"]
        net.messages += counters["sent"]
        if done:
            self.hops += placed.hops
        if "links" in counters:  # the Python loop's lists (the compiled loop adds to the arrays in place)
            self.free[:], net.link_busy_s[:], net.link_bytes[:] = counters["links"]
        if net.packet_bytes:  # the SimPy links' own count, should a later call take the SimPy path
            for i in np.flatnonzero(net.link_bytes).tolist():
                net.shared(self.links.link_of(i), self.bandwidth_bytes_per_s[i]).busy_s = float(net.link_busy_s[i])
        used, queues, per_chip = self.used, self.queues, placed.per_chip
        peaks, busies, debts, updates = counters["peak"], counters["busy"], counters["debt"], counters["updates"]
        for c in range(len(chips)) if touched is None else touched:
            chip, debt = chips[c], debts[c]
            chip.queued_bytes = self._queued(c) if queues[c] or self.sync is not None else 0
            chip.held_bytes = used[c] - chip.param_bytes - chip.queued_bytes
            chip.peak_bytes, chip.busy_s = peaks[c], busies[c]
            if debt:
                chip.charge(debt)
            chip.items += updates[c] + per_chip[c] if done else updates[c]

    def _queued(self, c: int) -> int:
        """Chip ``c``'s queued bytes: its queue's messages, and those set aside for a gate (Chip.queued_bytes)."""
        parked = self.sync.parked_nbytes(c) if self.sync is not None else 0
        return sum(self.nbytes[k] for k in self.queues[c] if k < self.n_messages) + parked

    def out_of_memory(self, c: int, now: float) -> None:
        """Chip ``c`` has just exceeded its memory: raise the error its :meth:`Chip.account` raises."""
        self.now = now
        chip = self.ex.chips[c]
        chip.queued_bytes = self._queued(c)
        chip.held_bytes = self.used[c] - chip.param_bytes - chip.queued_bytes
        chip.account(0)

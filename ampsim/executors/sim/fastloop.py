"""The replay's own event loop: SimPy's semantics, without SimPy's per-event objects.

A :class:`FastReplay` is a :class:`~ampsim.executors.sim.replay.Replay` that runs the controller, the
chips' units and the links itself, on one heap of plain tuples ``(time, order, code, u, c, x)``, instead
of SimPy processes, events and a ``Container``. It takes every step the SimPy version takes in the same
order: an event is pushed where SimPy would schedule one (a unit's timeout, the wake-up of an idle unit, a
hop's timeout, the controller's slot requests and releases), with a running counter for ties (SimPy's
order; the controller's start is the only URGENT event and always first), and the code that runs when it
is popped is the code the SimPy callback runs (:mod:`ampsim.executors.sim.chips`,
:meth:`~ampsim.executors.sim.network.Network._hop`, ``simpy.Container``'s get/put triggers). Events that
change nothing (a process ending, the controller's last release) are left out: they never reorder the
others. The replay's staleness and muf rules are shared, so the simulated results are the SimPy replay's,
hence the full run's, bit for bit (``tests/sim/test_replay.py`` checks both).

Per message the loop touches only flat lists built once per recording and placement with numpy
(:mod:`ampsim.executors.sim.fastprep`: the step durations on the message's chip, its route and link
occupancy, its children): no per-message dict lookup, method call, cost arithmetic or object but the
heap's tuples. An event that would be popped right after the step that schedules it never waits in the
heap (``heappushpop``; an idle unit's wake-up runs at once when nothing else is due now). The chips' and
links' counters live in lists during a call and are written back to the executor's
:class:`~ampsim.executors.sim.chips.Chip` and :class:`~ampsim.executors.sim.network.Network` at its end
(and on an error, except each chip's ``items``, which counts its messages only when the call completes).
The cyclic garbage collector is paused meanwhile (:func:`~ampsim.executors.sim.replay.gc_paused`). A
work item on a chip's queue is an int: message ``m``, or ``n_messages + j`` for the update job of stash
``j``.

It covers the common machine: chips without framing or polling (``frame_*``, ``coalesce_window_s``,
``poll_interval_s`` unset), whole-message links (no ``link.packet_bytes``), no trace; :func:`supports`
says so, and the executor falls back to the SimPy replay otherwise, and for replicas that synchronize.

Life cycle: built once per executor (units idle, links free, time 0) → :meth:`FastReplay.loop` per
``train``/``evaluate`` call runs until no event is left → ``now`` is the simulated time.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush, heappushpop

from ampsim.executors.sim.chips import Chip
from ampsim.executors.sim.fastprep import ARRIVE, HOP, Placed, placement_arrays, recording_arrays
from ampsim.executors.sim.replay import Replay, ReplayHost, gc_paused
from ampsim.hardware.spec import SystemSpec

START, GET, PUT, WAKE, DONE, END = range(6)  # and HOP, ARRIVE (fastprep: a route's hops)
UPDATE = -3  # join[item] of an update job
FINAL = -1


def supports(system: SystemSpec, trace: bool) -> bool:
    """Whether :class:`FastReplay` models every rule this machine uses (else: the SimPy replay)."""
    return (not trace and not system.link.packet_bytes
            and all(not c.framed and not c.poll_interval_s for c in system.chips))


class FastReplay(Replay):
    uses_children = False  # it reads kid/kids (fastprep) instead

    def __init__(self, ex: ReplayHost, context: str = "") -> None:
        super().__init__(ex, context)
        self.now = 0.0
        self.heap: list[tuple] = []
        self.order = 0  # the scheduling order: events at the same time are popped in it
        specs = ex.system.chips  # the executor's chips are built after this
        self.queues: list[deque] = [deque() for _ in specs]
        self.idle = [deque(range(c.compute_units)) for c in specs]
        self.idle_from = [[0.0] * c.compute_units for c in specs]
        self.used: list[int] = [0] * len(specs)  # during a call: each chip's parameters + held + queued bytes
        # links, by a dense id: next free time (kept across calls), busy seconds and bytes (during a call)
        self.link_ids: dict[tuple, int] = {}
        self.free: list[float] = []
        self.link_busy: list[float] = []
        self.link_bytes: list[float] = []
        self.level = ex.mak
        self.pending = 0  # the amount of the controller's waiting slot request (0: none)
        self._placed: tuple | None = None  # (recording, Placed)

    def _link_id(self, link: tuple) -> int:
        i = self.link_ids.get(link)
        if i is None:
            i = self.link_ids[link] = len(self.free)
            self.free.append(0.0)
            self.link_busy.append(0.0)
            self.link_bytes.append(0.0)
        return i

    def _prepare(self) -> tuple[Placed, dict]:
        """The per-message lists of this recording on this placement (built once per recording)."""
        rec, ex = self.rec, self.ex
        if self._placed is None or self._placed[0] is not rec:
            placed = placement_arrays(rec, [c.index for c in self.chip_of], [c.spec for c in ex.chips],
                                      self.durations, self.duration_arrays, ex.network.path, self._link_id,
                                      ex.network.cut_through)
            self._placed = (rec, placed)
        return self._placed[1], recording_arrays(rec, rec.replay_view)

    # -- the run ------------------------------------------------------------------------------------
    def loop(self) -> None:
        with gc_paused():
            self._loop()

    def _loop(self) -> None:
        placed, fast = self._prepare()
        d0, d1, d1t, t_send = placed.d0, placed.d1, placed.d1t, placed.t
        route, occ_of = placed.route, placed.occ
        join, stale, kid, kids, dh0, dh1 = (fast[k] for k in ("join", "stale", "kid", "kids", "dh0", "dh1"))
        nbytes, wire, inst_of, group = self.nbytes, self.wire, self.inst_of, self.group
        remaining, live = self.remaining, self.live
        node_of, saves, pop_ref, ver_at, version, staleness = (
            self.node, self.saves, self.pop_ref, self.ver_at, self.version, self.staleness)
        queues, idle, idle_from = self.queues, self.idle, self.idle_from
        ex = self.ex
        chips, net = ex.chips, ex.network
        used = self.used = [c.param_bytes + c.held_bytes + c.queued_bytes for c in chips]
        peak = [c.peak_bytes for c in chips]
        memory = [c.spec.memory_bytes for c in chips]
        busy = [c.busy_s for c in chips]
        debt = [c.collect() for c in chips]
        spin = [c.spec.spin_s for c in chips]
        wake = [c.spec.wake_overhead_s for c in chips]
        receive = [c.spec.remote_receive_overhead_s * 1 + 0.0 for c in chips]  # SimExecutor._receive, 1 message
        free, link_busy, link_bytes = self.free, self.link_busy, self.link_bytes
        for link, i in self.link_ids.items():
            link_busy[i], link_bytes[i] = net.busy_s.get(link, 0.0), net.bytes.get(link, 0.0)
        fixed = occ_of is not None
        receiving, waking = any(receive), any(wake)
        debts, r = receiving or waking or any(debt), 0.0
        n_messages = self.n_messages = len(nbytes)
        heap = self.heap = []
        o = self.order
        now = self.now
        messages = sent = 0
        updates = [0] * len(chips)  # update jobs run, per chip (for its item count)
        done = False
        # An event is (time, order, code, u, c, x): unit u of chip c (and for DONE the item x it has
        # processed); for HOP and ARRIVE message u and the hop it reaches or its chip. The last event a step
        # schedules is pushed together with the next pop (heappushpop: where it is the earliest, it comes
        # straight back); the others are pushed at once. A step that schedules nothing pops the next event
        # itself (or ends the loop).
        ev = (now, o, START, 0, 0, 0)
        try:
            while True:
                now, _, code, u, c, x = heappushpop(heap, ev)
                if code == HOP:  # message u reaches hop c of its route
                    lid, latency, bw, add, code, c = route[u][c]
                    occ = occ_of[u] if fixed else wire[u] / bw
                    f = free[lid]
                    start = now if now >= f else f
                    free[lid] = start + occ
                    link_busy[lid] += occ
                    link_bytes[lid] += wire[u]
                    o += 1
                    ev = (now + (start - now + latency + occ if add else start - now + latency), o, code, u, c, 0)
                    continue
                if code == ARRIVE:  # message u reaches chip c (SimExecutor._receive: a cost, then the queue)
                    if receiving and receive[c]:
                        debt[c] += receive[c]
                    used[c] += nbytes[u]
                    queues[c].append(u)
                    if not idle[c]:
                        ev = heappop(heap) if heap else (now, 0, END, 0, 0, 0)
                        continue
                    u = idle[c].popleft()
                    if heap and heap[0][0] <= now:  # else its wake-up is the next event: run it now
                        o += 1
                        ev = (now, o, WAKE, u, c, 0)
                        continue
                    code = WAKE
                if code == WAKE:
                    if waking and now - idle_from[c][u] > spin[c]:  # it had gone to sleep
                        debt[c] += wake[c]
                    x = None
                elif code != DONE:
                    if code == END:
                        break
                    self.now, self.order = now, o
                    self._control(code)
                    o = self.order
                    ev = heappop(heap) if heap else (now, 0, END, 0, 0, 0)
                    continue
                q = queues[c]
                while True:
                    # release what unit u of chip c has just processed (x: message that ran its step;
                    # -1 - m: message m a join buffered; None: nothing), then serve its queue
                    if x is not None:
                        if x >= 0:
                            k = kid[x]
                            if k >= 0:  # its one child (the instance's live messages are unchanged)
                                rt = route[k]
                                if rt is None:  # to this chip's own queue
                                    used[c] += nbytes[k]
                                    q.append(k)
                                    if idle[c]:
                                        o += 1
                                        heappush(heap, (now, o, WAKE, idle[c].popleft(), c, 0))
                                else:
                                    sent += 1  # Network.send, its first hop
                                    lid, latency, bw, add, then, hop = rt[0]
                                    occ = occ_of[k] if fixed else wire[k] / bw
                                    f = free[lid]
                                    start = now if now >= f else f
                                    free[lid] = start + occ
                                    link_busy[lid] += occ
                                    link_bytes[lid] += wire[k]
                                    o += 1
                                    heappush(heap, (now + (start - now + latency + occ if add
                                                           else start - now + latency), o, then, k, hop, 0))
                            else:  # none or several: the same, for each
                                ks = kids[x]
                                for k in ks:
                                    rt = route[k]
                                    if rt is None:
                                        used[c] += nbytes[k]
                                        q.append(k)
                                        if idle[c]:
                                            o += 1
                                            heappush(heap, (now, o, WAKE, idle[c].popleft(), c, 0))
                                        continue
                                    sent += 1
                                    lid, latency, bw, add, then, hop = rt[0]
                                    occ = occ_of[k] if fixed else wire[k] / bw
                                    f = free[lid]
                                    start = now if now >= f else f
                                    free[lid] = start + occ
                                    link_busy[lid] += occ
                                    link_bytes[lid] += wire[k]
                                    o += 1
                                    heappush(heap, (now + (start - now + latency + occ if add
                                                           else start - now + latency), o, then, k, hop, 0))
                                i = inst_of[x]
                                n = live[i] = live[i] + len(ks) - 1
                                if not n:
                                    self.now, self.order = now, o
                                    self._complete(i)
                                    o = self.order
                        else:
                            i = inst_of[-1 - x]
                            n = live[i] = live[i] - 1
                            if not n:
                                self.now, self.order = now, o
                                self._complete(i)
                                o = self.order
                    if not q:
                        idle[c].append(u)
                        idle_from[c][u] = now
                        ev = heappop(heap) if heap else (now, 0, END, 0, 0, 0)
                        break
                    m = q.popleft()
                    if debts:  # Chip.collect (else r stays 0.0)
                        r = debt[c]
                        debt[c] = 0.0
                    g = join[m]
                    if g == -1:  # a message alone in its group: it runs its step
                        messages += 1
                        x = m
                        d = d1[m] + r + t_send[m] if r else d1t[m]
                        n = used[c] = used[c] + dh1[m]
                        if n > peak[c]:  # Chip.account
                            peak[c] = n
                            if n > memory[c]:
                                self._out_of_memory(c, now)
                    elif g != UPDATE:
                        messages += 1
                        if g >= 0:
                            left = remaining[g] - 1
                            remaining[g] = left
                        else:
                            left = 0
                        if left:  # a join buffers this input: nothing is sent
                            x = -1 - m
                            d = d0[m] + r
                            n = used[c] = used[c] + dh0[m]
                        else:
                            x = m
                            d = d1[m] + r + t_send[m] if r else d1t[m]
                            n = used[c] = used[c] + dh1[m]
                        if n > peak[c]:
                            peak[c] = n
                            if n > memory[c]:
                                self._out_of_memory(c, now)
                        if not left and stale[m]:  # Replay._staleness, inlined
                            g, n = group[m], node_of[m]
                            if saves[g]:
                                ver_at[g] = version[n]
                            g = pop_ref[g]
                            if g >= 0:
                                staleness[n][version[n] - ver_at[g]] += 1
                    else:  # the update job of stash m - n_messages
                        updates[c] += 1
                        x = None
                        cost = self.update_cost(chips[c], m - n_messages)
                        n, d = (used[c], r) if cost is None else (used[c] + cost[1], cost[0] + r)
                        used[c] = n
                        if n > peak[c]:
                            peak[c] = n
                            if n > memory[c]:
                                self._out_of_memory(c, now)
                        if cost is not None:
                            self.applied(m - n_messages)
                    if d > 0:
                        busy[c] += d
                        o += 1
                        ev = (now + d, o, DONE, u, c, x)
                        break
            done = True
        finally:
            self.now, self.order = now, o
            ex.messages += messages
            net.messages += sent
            for link, i in self.link_ids.items():
                if link_bytes[i]:
                    net.busy_s[link], net.bytes[link] = link_busy[i], link_bytes[i]
            for c, chip in enumerate(chips):
                chip.queued_bytes = self._queued(c)
                chip.held_bytes = used[c] - chip.param_bytes - chip.queued_bytes
                chip.peak_bytes, chip.busy_s = peak[c], busy[c]
                chip.charge(debt[c])
            for c, n in enumerate(updates):  # every message and update job is one item on its chip
                chips[c].items += n + (placed.per_chip[c] if done else 0)

    def _queued(self, c: int) -> int:
        return sum(self.nbytes[k] for k in self.queues[c] if k < self.n_messages)

    def _out_of_memory(self, c: int, now: float) -> None:
        """Chip ``c`` has just exceeded its memory: raise the error its :meth:`Chip.account` raises."""
        self.now = now
        chip = self.ex.chips[c]
        chip.queued_bytes = self._queued(c)
        chip.held_bytes = self.used[c] - chip.param_bytes - chip.queued_bytes
        chip.account(0)

    # -- the controller (SimExecutor._controller / Replay.controller) ---------------------------------
    def _control(self, code: int) -> None:
        if code == START:
            self.next = 0 if self.roots else FINAL
            self._request(1 if self.roots else self.ex.mak)
        elif code == GET:
            self._controller_step()
        elif self.pending and self.level >= self.pending:  # PUT: a processed put triggers waiting gets
            self.level -= self.pending
            self.pending = 0
            self._push(GET)

    def _push(self, code: int) -> None:
        self.order += 1
        heappush(self.heap, (self.now, self.order, code, 0, 0, 0))

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
        node, nbytes, chip_of = self.node, self.nbytes, self.chip_of
        for r in self.roots[i]:
            self.live[i] += 1
            self.put(chip_of[node[r]], r, nbytes[r])
        self.next = i + 1 if i + 1 < len(self.roots) else FINAL
        self._request(1 if self.next != FINAL else self.ex.mak)

    def free_slot(self) -> None:
        self.level += 1
        self._push(PUT)

    def put(self, chip: Chip, item: int, nbytes: int) -> None:
        """Chip.put (the controller's roots, the update jobs of a completed instance: ``-1 - j`` for the
        replay, ``n_messages + j`` on this loop's queues)."""
        c = chip.index
        if item < 0:
            item = self.n_messages - 1 - item
        self.used[c] += nbytes
        self.queues[c].append(item)
        idle = self.idle[c]
        if idle:
            self.order += 1
            heappush(self.heap, (self.now, self.order, WAKE, idle.popleft(), c, 0))

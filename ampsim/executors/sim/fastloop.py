"""The replay's own event loop: SimPy's semantics, without SimPy's per-event objects.

A :class:`FastReplay` is a :class:`~ampsim.executors.sim.replay.Replay` that runs the controller, the
chips' units and the links itself, on plain tuples ``(time, order, code, c, x)`` (a heap, and a FIFO of
the events due now: :mod:`ampsim.executors.sim.faststate`), instead of SimPy processes, events and a
``Container``. It takes every step the SimPy version takes in the same order: an event is scheduled where
SimPy would schedule one (a unit's timeout, the wake-up of an idle unit, a hop's timeout, the
controller's slot requests and releases), with a running counter for ties (SimPy's order; the
controller's start is the only URGENT event and always first), and the code that runs when it is popped
is the code the SimPy callback runs (:mod:`ampsim.executors.sim.chips`,
:meth:`~ampsim.executors.sim.network.Network._hop`, ``simpy.Container``'s get/put triggers). Events that
change nothing (a process ending, the controller's last release) are left out: they never reorder the
others; a unit's completion that would only idle it is scheduled only once something queues behind it,
with the key it would have had (:mod:`~ampsim.executors.sim.faststate`). The replay's staleness and muf
rules are shared, so the simulated results are the SimPy replay's, hence the full run's, bit for bit
(``tests/sim/test_replay.py`` checks both).

Per message the loop touches only flat lists built once per recording and placement with numpy
(:mod:`ampsim.executors.sim.fastprep`: the step durations on the message's chip, its route and link
occupancy, its children): no per-message dict lookup, method call, cost arithmetic or object but the
events' tuples. An event that would be popped right after the step that schedules it never waits in the
heap (``heappushpop``; an idle unit's wake-up runs at once when nothing else is due now). The chips' and
links' counters live in lists during a call and are written back to the executor's
:class:`~ampsim.executors.sim.chips.Chip` and :class:`~ampsim.executors.sim.network.Network` at its end
(and on an error, except each chip's ``items``, which counts its messages only when the call completes).
The cyclic garbage collector is paused meanwhile (:func:`~ampsim.gcpause.gc_paused`). A
work item on a chip's queue is an int: message ``m``, or ``n_messages + j`` for the update job of stash
``j``.

What a message costs should not grow with the machine: a chip keeps no per-unit state but how many
units are idle (:mod:`~ampsim.executors.sim.faststate`), the many wake-ups of a completion's update
jobs wait in the FIFO rather than deepen the heap, an update job of a node with muf = 1 looks its cost
up by its stash's kind (one cost per node and profile on a placement), and a placement routes each
distinct pair of communicating nodes once, from a table of the links
(:mod:`~ampsim.executors.sim.fastprep`).

It covers the common machine: chips without framing, polling or contention (``frame_*``,
``coalesce_window_s``, ``poll_interval_s``, ``contention_slowdown`` unset; the controller's round trip,
``host.completion_latency_s``, is one event per completion), whole-message or packet-switched links
(``link.packet_bytes``: :mod:`~ampsim.executors.sim.fastpackets` runs those, its two events go through the
controller's branch so whole-message machines pay nothing for them), no trace;
:func:`supports` says so, and the executor falls back to the SimPy replay otherwise. Replicas that synchronize
run here too: the simulator's own collectives, hosted by :mod:`~ampsim.executors.sim.fastsync`, whose jobs,
chunks and events enter the loop through its cold branches (negative event codes, ``join`` = ``SYNCJOB``).

This loop is also the readable specification of its compiled copy, :mod:`~ampsim.executors.sim.jitkernel`
(numba, the same steps on numpy arrays), which :class:`~ampsim.executors.sim.jitreplay.JitReplay` runs
instead (packet-switched links: :mod:`~ampsim.executors.sim.jitpackets`); both are tested against the full run.

Life cycle: built once per executor (units idle, links free, time 0) → :meth:`FastReplay.loop` per
``train``/``evaluate`` call runs until no event is left → ``now`` is the simulated time.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush, heappushpop

from ampsim.executors.sim.fastpackets import PHEAD, FastPackets
from ampsim.executors.sim.fastprep import ARRIVE, HOP, JOIN_UPDATE_JOB
from ampsim.executors.sim.faststate import ADMIT, DONE, WAKE, FastMachine
from ampsim.executors.sim.fastsync import AFTER, FastSync
from ampsim.gcpause import gc_paused
from ampsim.hardware.spec import SystemSpec

__all__ = ["FastReplay", "supports"]


def supports(system: SystemSpec, trace: bool) -> bool:
    """Whether :class:`FastReplay` models every rule this machine uses (else: the SimPy replay)."""
    return (not trace and not system.host.shares_cores
            and all(not c.framed and not c.poll_interval_s and not c.contention_slowdown for c in system.chips))


class FastReplay(FastMachine):
    def loop(self) -> None:
        with gc_paused():
            self._loop()

    def _fast_sync(self) -> FastSync | None:
        """The host of the replicas' synchronization on this loop (built on the first call), or None."""
        if self.sync is None:
            return None
        if self._sync_host is None:
            self._sync_host = FastSync(self)
        return self._sync_host

    def _loop(self) -> None:
        placed, fast, ucost = self._prepare()
        self.group_counters()
        d0, d1, d1t, t_send, route, occ_of, _ = placed.lists()  # (the stashes' chips: _queue_updates)
        join, stale, kid, kids, dh0, dh1, ukind = (
            fast[k] for k in ("join", "stale", "kid", "kids", "dh0", "dh1", "ukind"))
        nbytes, wire, inst_of, group, stash_node = self.nbytes, self.wire, self.inst_of, self.group, self.stash_node
        remaining, live = self.remaining, self.live
        node_of, saves, pop_ref, ver_at, version, staleness = (
            self.node, self.saves, self.pop_ref, self.ver_at, self.version, self.staleness)
        muf1 = self._per_stash_nodes()
        # staleness-bounded admission reads each node's recent staleness: ParamNode.note_staleness (else the
        # histogram alone)
        windowed = self.ex.admission_window is not None
        note = [getattr(nd, "note_staleness", None) for nd in self.nodes] if windowed else None
        queues, n_idle, idle_at, waking, single, lazy = (
            self.queues, self.n_idle, self.idle_at, self.waking, self.single, self.lazy)
        chips = self.ex.chips
        state = self._chip_state()
        used, memory, spin, wake, receive = (state[k] for k in ("used", "memory", "spin", "wake", "receive"))
        counters = {"peak": state["peak"], "busy": state["busy"], "debt": state["debt"], "updates": [0] * len(chips),
                    "messages": 0, "sent": 0}
        peak, busy, debt, updates = (counters[k] for k in ("peak", "busy", "debt", "updates"))
        net = self.ex.network  # lists for this loop, written back into the arrays at its end
        free, link_busy, link_bytes = self.free.tolist(), net.link_busy_s.tolist(), net.link_bytes.tolist()
        counters["links"] = (free, link_busy, link_bytes)
        heap = self.heap = []
        packet_bytes = net.packet_bytes
        fs = self._fast_sync()  # replicas that synchronize (fastsync), or None
        if fs is not None:  # the lists by item id: its jobs and chunks join them for this call
            occ_of = fs.begin(join, route, wire, occ_of, counters["links"])
        gates = fs.gates if fs is not None else {}
        fixed = occ_of is not None
        pk = FastPackets(packet_bytes, route, wire, heap, self.bandwidth_bytes_per_s, link_busy, link_bytes) \
            if packet_bytes else None
        if fs is not None:
            fs.pk = pk
        receiving = any(receive)
        debts, r = receiving or waking or any(debt), 0.0
        n_messages = self.n_messages = len(nbytes)
        soon = self.soon = deque()
        popleft = soon.popleft
        o = self.order
        now = self.now
        messages = sent = 0
        done = False
        # An event is (time, order, code, c, x): for WAKE a unit of chip c wakes up (x: since when it was
        # idle); for DONE a unit of chip c has processed item x; for HOP and ARRIVE message c reaches hop x
        # of its route, or chip x. ``ev`` is the event a step schedules last, or None: it is pushed
        # together with the next pop (heappushpop: where it is the earliest, it comes straight back); the
        # others are pushed at once, onto the heap or, when due now, the FIFO ``soon``.
        ev = (now, o, 0, 0, 0)  # START
        try:
            while True:
                if soon:  # the earliest of ev, the heap's first and the FIFO's first
                    s = soon[0]
                    if ev is None:
                        ev = heappop(heap) if heap and heap[0] < s else popleft()
                    elif s < ev and not (heap and heap[0] < s):
                        heappush(heap, ev)
                        ev = popleft()
                    else:
                        ev = heappushpop(heap, ev)
                elif ev is None:
                    if not heap:
                        break
                    ev = heappop(heap)
                else:
                    ev = heappushpop(heap, ev)
                now, oc, code, c, x = ev
                if code == HOP:  # message c reaches hop x of its route
                    lid, latency, bw, add, code, x = route[c][x]
                    occ = occ_of[c] if fixed else wire[c] / bw
                    f = free[lid]
                    start = now if now >= f else f
                    free[lid] = start + occ
                    link_busy[lid] += occ
                    link_bytes[lid] += wire[c]
                    o += 1
                    ev = (now + (start - now + latency + occ if add else start - now + latency), o, code, c, x)
                    continue
                if code == ARRIVE:  # message c reaches chip x (SimExecutor.receive: a cost, then the queue)
                    m, c = c, x
                    if receiving and receive[c]:
                        debt[c] += receive[c]
                    used[c] += nbytes[m]
                    queues[c].append(m)
                    ev = None
                    if n_idle[c]:
                        n_idle[c] -= 1
                        x = idle_at[c].popleft() if waking else 0.0
                    elif lazy[c] is None:
                        continue
                    elif lazy[c] < (now, oc):  # its set-aside completion has come up: idle since then
                        x = lazy[c][0]
                        lazy[c] = None
                    else:  # it comes up later and serves the queue (FastMachine._settle)
                        self.now, self.cur = now, oc
                        self._settle(c)
                        continue
                    if soon or (heap and heap[0][0] <= now):  # else its wake-up is the next event: run it now
                        o += 1
                        soon.append((now, o, WAKE, c, x))
                        continue
                    code = WAKE
                if code == WAKE:
                    if waking and now - x > spin[c]:  # it had gone to sleep
                        debt[c] += wake[c]
                    x = None
                elif code != DONE:
                    if code >= PHEAD:  # a packet's head at its next hop, or a link's completion
                        o = pk.event(code, c, x, now, o)
                        ev = None
                        continue
                    self.now, self.order = now, o
                    if oc >= 0:  # (an URGENT event's order is below every other: cur stays the last normal one)
                        self.cur = oc
                    if code >= ADMIT:  # the controller
                        self._control(code, c)
                        o = self.order
                        ev = None
                        continue
                    serve = fs.event(code, c, x)  # a synchronization's (fastsync): the chip's job may have ended
                    o = self.order
                    ev = None
                    if not serve:
                        continue
                    x = None
                q = queues[c]
                ev = None
                while True:
                    # release what a unit of chip c has just processed (x: message that ran its step;
                    # -1 - m: message m a join buffered; None: nothing), then serve its queue
                    if x is not None:
                        if x >= 0:
                            k = kid[x]
                            if k >= 0:  # its one child (the instance's live messages are unchanged)
                                rt = route[k]
                                if rt is None:  # to this chip's own queue
                                    used[c] += nbytes[k]
                                    q.append(k)
                                    if n_idle[c]:  # another unit of this chip wakes up
                                        n_idle[c] -= 1
                                        o += 1
                                        soon.append((now, o, WAKE, c, idle_at[c].popleft() if waking else 0.0))
                                elif pk is not None:  # packet-switched links (fastpackets)
                                    sent += 1
                                    o = pk.send(k, now, o)
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
                                                           else start - now + latency), o, then, k, hop))
                            else:  # none or several: the same, for each
                                ks = kids[x]
                                for k in ks:
                                    rt = route[k]
                                    if rt is None:
                                        used[c] += nbytes[k]
                                        q.append(k)
                                        if n_idle[c]:
                                            n_idle[c] -= 1
                                            o += 1
                                            soon.append((now, o, WAKE, c, idle_at[c].popleft() if waking else 0.0))
                                        continue
                                    sent += 1
                                    if pk is not None:
                                        o = pk.send(k, now, o)
                                        continue
                                    lid, latency, bw, add, then, hop = rt[0]
                                    occ = occ_of[k] if fixed else wire[k] / bw
                                    f = free[lid]
                                    start = now if now >= f else f
                                    free[lid] = start + occ
                                    link_busy[lid] += occ
                                    link_bytes[lid] += wire[k]
                                    o += 1
                                    heappush(heap, (now + (start - now + latency + occ if add
                                                           else start - now + latency), o, then, k, hop))
                                i = inst_of[x]
                                n = live[i] = live[i] + len(ks) - 1
                                if not n:
                                    self.now, self.cur, self.order = now, oc, o
                                    self._complete(i)
                                    o = self.order
                        else:
                            i = inst_of[-1 - x]
                            n = live[i] = live[i] - 1
                            if not n:
                                self.now, self.cur, self.order = now, oc, o
                                self._complete(i)
                                o = self.order
                    if not q:  # the unit goes idle
                        n_idle[c] += 1
                        if waking:
                            idle_at[c].append(now)
                        break
                    m = q.popleft()
                    if gates and fs.parked(c, m):  # its copy waits for a synchronization (Collectives.park)
                        updates[c] += 1  # (an item all the same: Chip.items)
                        x = None
                        continue
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
                                self.out_of_memory(c, now)
                    elif g > JOIN_UPDATE_JOB:
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
                                self.out_of_memory(c, now)
                        if not left and stale[m]:  # Replay._staleness, inlined
                            g, n = group[m], node_of[m]
                            if saves[g]:
                                ver_at[g] = version[n]
                            g = pop_ref[g]
                            if g >= 0:
                                if note is None:
                                    staleness[n][version[n] - ver_at[g]] += 1
                                else:  # the node's own bookkeeping: the admission window reads it
                                    note[n](version[n] - ver_at[g])
                    elif fs is not None:  # an update job, or a synchronization's job (fastsync)
                        updates[c] += 1
                        x = None
                        self.now, self.cur, self.order = now, oc, o
                        d, after = fs.job(c, m, r)
                        o = self.order
                        if after is not None:  # its end runs something: never set aside
                            if d > 0:
                                busy[c] += d
                                o += 1
                                ev = (now + d, o, AFTER, c, after)
                                break
                            after()
                            o = self.order
                            continue
                    else:  # the update job of stash j
                        j = m - n_messages
                        updates[c] += 1
                        x = None
                        g = stash_node[j]
                        if muf1[g]:  # the same cost for every stash of its kind (Replay.update_cost)
                            cost = ucost[ukind[j]]
                            if cost is None:
                                cost = ucost[ukind[j]] = self.update_cost(chips[c], j)
                        else:
                            cost = self.update_cost(chips[c], j)
                        n, d = (used[c], r) if cost is None else (used[c] + cost[1], cost[0] + r)
                        used[c] = n
                        if n > peak[c]:
                            peak[c] = n
                            if n > memory[c]:
                                self.out_of_memory(c, now)
                        if cost is not None:
                            if muf1[g]:  # Replay.applied: such a node keeps no ready stashes
                                version[g] += 1
                            else:
                                self.applied(j)
                    if d > 0:
                        busy[c] += d
                        o += 1
                        if x is None and not q and single[c]:  # its completion would only idle the unit
                            lazy[c] = (now + d, o)
                        else:
                            ev = (now + d, o, DONE, c, x)
                        break
            self.now = now
            self._idle_lazy()
            now = self.now
            done = True
        finally:
            if fs is not None:
                fs.end()
            self.now, self.order = now, o
            counters["messages"], counters["sent"] = messages, sent
            self._write_back(placed, counters, done)

"""The replay's own event loop: SimPy's semantics, without SimPy's per-event objects.

A :class:`FastReplay` is a :class:`~ampsim.executors.sim.replay.Replay` that runs the controller, the
chips' units and the links itself, on one heap of plain tuples ``(time, priority, order, code, args...)``,
instead of SimPy processes, events and a ``Container``. It takes every step the SimPy version takes in the
same order: an event is pushed where SimPy would schedule one (a unit's timeout, the wake-up of an idle
unit, a hop's timeout, the controller's slot requests and releases), with SimPy's priorities (URGENT for
the controller's start, NORMAL for the rest) and a running counter for ties, and the code that runs when
it is popped is the code the SimPy callback runs (:mod:`ampsim.executors.sim.chips`,
:meth:`~ampsim.executors.sim.network.Network._hop`, ``simpy.Container``'s get/put triggers). Events
that change nothing (a process ending, the controller's last release) are left out: they never reorder
the others. The replay's handler, release and muf rule are shared, so the simulated results are the
SimPy replay's, hence the full run's, bit for bit (``tests/sim/test_replay.py`` checks both).

It covers the common machine: chips without framing or polling (``frame_*``, ``coalesce_window_s``,
``poll_interval_s`` unset), whole-message links (no ``link.packet_bytes``), no trace; :func:`supports`
says so, and the executor falls back to the SimPy replay otherwise.

Life cycle: built once per executor (units idle, links free, time 0) → :meth:`FastReplay.loop` per
``train``/``evaluate`` call runs until no event is left → ``now`` is the simulated time.
"""

from __future__ import annotations

from collections import defaultdict, deque
from heapq import heappop, heappush

from ampsim.executors.sim.chips import Chip
from ampsim.executors.sim.replay import Replay, ReplayHost
from ampsim.hardware.spec import SystemSpec

URGENT, NORMAL = 0, 1  # simpy.events.URGENT, NORMAL
START, GET, PUT, WAKE, DONE, HOP = range(6)
FINAL = -1


def supports(system: SystemSpec, trace: bool) -> bool:
    """Whether :class:`FastReplay` models every rule this machine uses (else: the SimPy replay)."""
    return (not trace and not system.link.packet_bytes
            and all(not c.framed and not c.poll_interval_s for c in system.chips))


class FastReplay(Replay):
    def __init__(self, ex: ReplayHost, context: str = "") -> None:
        super().__init__(ex, context)
        self.now = 0.0
        self.heap: list[tuple] = []
        self.order = 0
        specs = ex.system.chips  # the executor's chips are built after this
        self.queues: list[deque] = [deque() for _ in specs]
        self.idle = [deque(range(c.compute_units)) for c in specs]
        self.idle_from = [[0.0] * c.compute_units for c in specs]
        self.current: list[list] = [[None] * c.compute_units for c in specs]
        self.free_at: dict[tuple, float] = defaultdict(float)
        self.level = ex.mak
        self.pending = 0  # the amount of the controller's waiting slot request (0: none)

    def _push(self, t: float, prio: int, code: int, *args) -> None:
        self.order += 1
        heappush(self.heap, (t, prio, self.order, code, *args))

    def _prepare(self) -> None:
        """Per-chip step durations (every message, on this chip's spec) and link paths, looked up once."""
        chips = self.ex.chips
        self.chips = chips
        self.dur = [self.durations(c.spec) for c in chips]
        self.paths: dict[tuple[int, int], tuple] = {}
        net = self.ex.network
        self.cut_through, self.link_busy, self.link_bytes = net.cut_through, net.busy_s, net.bytes

    # -- the run ------------------------------------------------------------------------------------
    def loop(self) -> None:
        self._prepare()
        heap, chips, current = self.heap, self.chips, self.current
        self._push(self.now, URGENT, START)
        while heap:
            ev = heappop(heap)
            self.now = ev[0]
            code = ev[3]
            if code == HOP:
                hop = ev[4]  # [path, i, wire, hold, target chip, item, nbytes]
                if hop[1] + 1 < len(hop[0]):
                    hop[1] += 1
                    self._hop(hop)
                else:  # SimExecutor._receive: the chip pays for receiving the message, then queues it
                    target = hop[4]
                    cost = target.spec.remote_receive_overhead_s * 1 + 0.0
                    if cost:
                        target.charge(cost)
                    self.put(target, hop[5], hop[6])
            elif code == DONE:
                c, u = ev[4], ev[5]
                m, children = current[c][u]
                if m >= 0:
                    self._release(chips[c], m, children)
                self._serve(c, u)
            elif code == WAKE:
                c, u = ev[4], ev[5]
                spec = chips[c].spec
                if self.now - self.idle_from[c][u] > spec.spin_s:
                    chips[c].charge(spec.wake_overhead_s)
                self._serve(c, u)
            elif code == PUT:  # Container: a processed put triggers waiting gets
                if self.pending and self.level >= self.pending:
                    self.level -= self.pending
                    self.pending = 0
                    self._push(self.now, NORMAL, GET)
            elif code == GET:
                self._controller_step()
            else:
                self.next = 0 if self.roots else FINAL
                self._request(1 if self.roots else self.ex.mak)

    # -- the controller (SimExecutor._controller / Replay.controller) ---------------------------------
    def _request(self, amount: int) -> None:
        if self.level >= amount:
            self.level -= amount
            self._push(self.now, NORMAL, GET)
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
        self._push(self.now, NORMAL, PUT)

    # -- chips (Chip.put, Chip._serve with Replay.handle inlined) -------------------------------------
    def put(self, chip: Chip, item: int, nbytes: int) -> None:
        chip.queued_bytes += nbytes
        c = chip.index
        self.queues[c].append((item, nbytes))
        idle = self.idle[c]
        if idle:
            self.order += 1
            heappush(self.heap, (self.now, NORMAL, self.order, WAKE, c, idle.popleft()))

    def _serve(self, c: int, u: int) -> None:
        chip = self.chips[c]
        queue = self.queues[c]
        d0, d1 = self.dur[c]
        group, remaining, ex = self.group, self.remaining, self.ex
        h0, h1, saves, pop_ref, children_of = self.h0, self.h1, self.saves, self.pop_ref, self.children
        spec = chip.spec
        remote = spec.remote_send_overhead_s or spec.remote_send_s_per_byte
        while True:
            if not queue:
                self.idle[c].append(u)
                self.idle_from[c][u] = self.now
                return
            m, nbytes = queue.popleft()
            chip.queued_bytes -= nbytes
            received = chip.collect()
            children = None
            if m < 0:
                duration = self._update(chip, u, -1 - m, received)[0]
            else:
                g = group[m]
                left = remaining[g] - 1
                remaining[g] = left
                ex.messages += 1
                if left:  # a join buffers this input: nothing is sent
                    chip.account(h0[m])
                    duration = d0[m] + received
                else:
                    chip.account(h1[m])
                    duration = d1[m] + received
                    if saves[g] or pop_ref[g] >= 0:
                        self._staleness(m, g)
                    children = children_of[g]
                    if children and remote:
                        t = 0.0
                        for k in children:
                            if self.chip_of[self.node[k]] is not chip:
                                t += spec.remote_send_overhead_s + spec.remote_send_s_per_byte * self.wire[k]
                        duration += t
            chip.items += 1
            if duration > 0:
                chip.busy_s += duration
                self.current[c][u] = (m, children)
                self.order += 1
                heappush(self.heap, (self.now + duration, NORMAL, self.order, DONE, c, u))
                return
            if m >= 0:
                self._release(chip, m, children)

    def _release(self, chip: Chip, m: int, children) -> None:
        i = self.inst_of[m]
        live = self.live
        if children:
            node, chip_of, nbytes, wire = self.node, self.chip_of, self.nbytes, self.wire
            for k in children:
                live[i] += 1
                target = chip_of[node[k]]
                if target is chip:
                    self.put(target, k, nbytes[k])
                else:
                    self.send(chip, target, wire[k], k, nbytes[k])
        live[i] -= 1
        if live[i] == 0:
            self._complete(i)

    # -- links (Network.send, Network._hop; SimExecutor._receive) -----------------------------------
    def send(self, chip: Chip, target: Chip, wire: int, item: int, nbytes: int) -> None:
        self.ex.network.messages += 1
        p = self.paths.get((chip.index, target.index))
        if p is None:
            path = self.ex.network.path(chip.index, target.index)
            p = self.paths[(chip.index, target.index)] = (path, min(bw for _, _, bw in path))
        self._hop([p[0], 0, wire, wire / p[1] if self.cut_through else 0.0, target, item, nbytes])

    def _hop(self, hop: list) -> None:
        """The message ``hop`` = [path, i, wire bytes, hold, target chip, item, nbytes] reaches link i now."""
        path, i, wire, hold = hop[0], hop[1], hop[2], hop[3]
        link, latency, bandwidth = path[i]
        now = self.now
        free = self.free_at[link]
        start = now if now >= free else free  # max(now, free)
        cut = self.cut_through
        occupy = hold if cut else wire / bandwidth
        self.free_at[link] = start + occupy
        self.link_busy[link] += occupy
        self.link_bytes[link] += wire
        last = i + 1 == len(path)
        delay = start - now + latency + (occupy if not cut or last else 0.0)
        self.order += 1
        heappush(self.heap, (now + delay, NORMAL, self.order, HOP, hop))

"""Packet-switched links on the replay's own event loop: :mod:`~ampsim.executors.sim.packets` on plain
lists and dicts, event for event.

:class:`FastPackets` is what :class:`~ampsim.executors.sim.fastloop.FastReplay` calls where a message
leaves its chip and where one of the two events below comes up, when the machine's links are
packet-switched (``link.packet_bytes`` > 0). It takes every step :class:`~ampsim.executors.sim.packets.
SharedLink` and :class:`~ampsim.executors.sim.packets.PacketRoute` take, with the same float operations
in the same order, and schedules an event wherever they create a SimPy timeout, drawing its order from
the loop's counter at that moment. So ties break as in SimPy and a replay on packets equals the SimPy
replay's, hence the full run's, bit for bit (``tests/sim/test_replay_fastloop.py``). Two events::

    (t, order, PHEAD, m, i)    the head of message m reaches hop i of its route: it joins that link
    (t, order, PDONE, l, gen)  link l's earliest message may be served; stale if l's generation moved on

and the delivery is the loop's own ``(t, order, ARRIVE, m, chip)`` (a replica synchronization's chunk: its
route's last code, ``DELIVER``: :mod:`~ampsim.executors.sim.fastsync`).

A link's completion is rescheduled whenever a message joins it, which SimPy does with a new timeout, the old
one left to fire for nothing. Here a rescheduled completion goes onto the heap only where no earlier event
of its link is there already (:meth:`FastPackets._schedule`); otherwise that earlier one, coming up stale,
puts the pending completion there, with the key (time, order) drawn when it was scheduled. The heap hands
out keys in their order whatever else it holds, and the pending completion is on it before it is due, so
every event that does anything comes up in SimPy's order; what goes is most of the stale completions'
pushes and pops (about 100,000 of the 870,000 events of an SST point of ``whatif_sst_hypercube``). Which
of a link's events are on the heap is known only as a bound: ``bound`` is a key no earlier than the link's
earliest there (None: unknown), so a push is skipped only when an earlier event of the link is certainly
there. (The last event of a run is never a skipped one: a completion is superseded only when a message
joins, which delays every message already on the link past it.)

Per link direction (a dense link id): the bytes each message on it has still to cross, in the order they
joined (a dict: the fluid round robin serves them equally, and the ones served together leave in that
order), when those were last brought up to date, and a generation count that supersedes a completion
scheduled before a message joined or left. Per message in flight: its route (the placement's hop tuples,
:mod:`~ampsim.executors.sim.fastprep`), its packet size, and when each hop served its last byte and passed
on its tail. Links are empty when a call ends (the loop runs until no event is left), so nothing but the
busy seconds and bytes, which the loop writes back, carries over between calls.
"""

from __future__ import annotations

from heapq import heappush

from ampsim.executors.sim.packets import RESIDUE_BYTES

__all__ = ["FastPackets", "PHEAD", "PDONE"]

PHEAD, PDONE = 8, 9  # after fastprep's HOP, ARRIVE


class FastPackets:
    """The packet-switched links of one :meth:`FastReplay._loop` call, by dense link id
    (``bandwidth_bytes_per_s`` per link; ``busy``, ``nbytes``: the loop's per-link counters, updated in place)."""

    __slots__ = ("packet_bytes", "route", "wire", "heap", "bandwidth_bytes_per_s", "busy", "nbytes", "left", "hop_of",
                 "t", "gen", "due", "flows", "live", "live_in", "bound")

    def __init__(self, packet_bytes: float, route: list, wire: list, heap: list, bandwidth_bytes_per_s: list[float],
                 busy: list[float], nbytes: list[float]) -> None:
        self.packet_bytes, self.route, self.wire, self.heap = packet_bytes, route, wire, heap
        self.bandwidth_bytes_per_s, self.busy, self.nbytes = bandwidth_bytes_per_s, busy, nbytes
        n = len(busy)
        self.left: list[dict[int, float]] = [{} for _ in range(n)]  # message -> bytes still to cross
        self.hop_of: list[dict[int, int]] = [{} for _ in range(n)]  # message -> its hop index on this link
        self.t = [0.0] * n  # when ``left`` was last brought up to date
        self.gen = [0] * n
        self.due = [0.0] * n  # the fewest bytes left when the link's pending completion was scheduled
        self.flows: dict[int, list] = {}  # message -> [route, packet, served per hop, tail per hop]
        self.live: list[tuple | None] = [None] * n  # the key (time, order) of the link's pending completion
        self.live_in = [False] * n  # whether that key is on the heap itself
        self.bound: list[tuple | None] = [None] * n  # no earlier than the link's earliest event on the heap

    def send(self, m: int, now: float, o: int) -> int:
        """Message ``m`` leaves its chip now (Network.send); returns the loop's order counter."""
        w = self.wire[m]
        rt = self.route[m]
        self.flows[m] = [rt, min(self.packet_bytes, w) if w > 0 else 0.0, [None] * len(rt), [None] * len(rt)]
        return self._enter(m, 0, now, o)

    def event(self, code: int, c: int, x: int, now: float, o: int) -> int:
        """A PHEAD or PDONE event comes up; returns the loop's order counter."""
        if code == PHEAD:
            return self._enter(c, x, now, o)
        gen = self.gen
        left, hop_of = self.left[c], self.hop_of[c]
        if x != gen[c]:  # a message joined or left since: this completion was rescheduled
            if left and not self.live_in[c]:  # the link's pending one is due no sooner: now onto the heap
                self.live_in[c] = True
                heappush(self.heap, (*self.live[c], PDONE, c, gen[c]))
            self.bound[c] = self.live[c] if left else None
            return o
        self.live_in[c], self.bound[c] = False, None  # its other events on the heap are all stale
        n = len(left)
        if n == 1:  # alone on the link: it is the one this completion was scheduled for
            (k,) = left
            self.busy[c] += now - self.t[c] if now > self.t[c] else 0.0
            self.t[c] = now
            del left[k]
            i = hop_of.pop(k)
            gen[c] += 1
            self.flows[k][2][i] = now
            self.nbytes[c] += self.wire[k]
            return self._settle(k, i, now, o)
        due = self.due[c] + RESIDUE_BYTES  # SharedLink._complete: judged before the fluid update
        served = [k for k, v in left.items() if v <= due]
        t = self.t[c]
        bandwidth = self.bandwidth_bytes_per_s[c]
        if now > t:  # SharedLink._advance
            share = (now - t) * bandwidth / n
            for k in left:
                left[k] -= share
            self.busy[c] += now - t
        self.t[c] = now
        hops = []
        for k in served:
            del left[k]
            hops.append(hop_of.pop(k))
        gen[c] += 1  # SharedLink._schedule
        if left:
            due = self.due[c] = max(min(left.values()), 0.0)
            o += 1
            self._schedule(c, (now + due * len(left) / bandwidth, o))
        flows, wire, nbytes = self.flows, self.wire, self.nbytes
        for k, i in zip(served, hops):  # PacketRoute._served, in the order they joined
            flows[k][2][i] = now
            nbytes[c] += wire[k]
            o = self._settle(k, i, now, o)
        return o

    def _schedule(self, lid: int, key: tuple) -> None:
        """Link ``lid``'s pending completion is now ``key`` (SharedLink._schedule's timeout): onto the heap
        unless an earlier event of the link is there, which puts it there when it comes up (:meth:`event`)."""
        self.live[lid] = key
        b = self.bound[lid]
        if b is not None and b < key:
            self.live_in[lid] = False
            return
        self.live_in[lid] = True
        self.bound[lid] = key
        heappush(self.heap, (*key, PDONE, lid, self.gen[lid]))

    def _enter(self, m: int, i: int, now: float, o: int) -> int:
        """PacketRoute.enter: the head of ``m`` reaches hop ``i`` now (SharedLink.join, its _advance
        inlined; its _schedule: :meth:`_schedule`)."""
        flow = self.flows[m]
        rt = flow[0]
        hop = rt[i]
        lid = hop[0]
        bandwidth = hop[2]
        left = self.left[lid]
        if left:
            t = self.t[lid]
            if now > t:
                share = (now - t) * bandwidth / len(left)
                for k in left:
                    left[k] -= share
                self.busy[lid] += now - t
            left[m] = float(self.wire[m])
            due = self.due[lid] = max(min(left.values()), 0.0)
        else:
            due = self.due[lid] = max(float(self.wire[m]), 0.0)
            left[m] = due
        self.t[lid] = now
        self.hop_of[lid][m] = i
        self.gen[lid] += 1
        n = len(left)
        o += 1
        self._schedule(lid, (now + due * n / bandwidth, o))
        if i + 1 < len(rt):
            o += 1
            heappush(self.heap, (now + (flow[1] * n / bandwidth + hop[1]), o, PHEAD, m, i + 1))
        return o

    def _settle(self, m: int, i: int, now: float, o: int) -> int:
        """PacketRoute._settle: fix hop ``i``'s tail once its own service and the previous hop's tail are
        known; the last hop's schedules the delivery."""
        rt, packet, served, tail = self.flows[m]
        while i < len(rt) and tail[i] is None and served[i] is not None:
            if i == 0:
                tail[0] = served[0]
            elif tail[i - 1] is None:
                return o
            else:
                tail[i] = max(served[i], tail[i - 1] + rt[i - 1][1] + packet / rt[i][2])
            if i + 1 == len(rt):
                arrive = tail[i] + rt[i][1]
                o += 1
                heappush(self.heap, (now + (arrive - now), o, rt[i][4], m, rt[i][5]))  # ARRIVE (a chunk: DELIVER)
                del self.flows[m]
            i += 1
        return o

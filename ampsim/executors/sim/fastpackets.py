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

and the delivery is the loop's own ``(t, order, ARRIVE, m, chip)``.

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

from ampsim.executors.sim.fastprep import ARRIVE
from ampsim.executors.sim.packets import _RESIDUE_BYTES

__all__ = ["FastPackets", "PHEAD", "PDONE"]

PHEAD, PDONE = 8, 9  # after fastprep's HOP, ARRIVE


class FastPackets:
    """The packet-switched links of one :meth:`FastReplay._loop` call, by dense link id (``bandwidth``
    per link; ``busy``, ``nbytes``: the loop's per-link counters, updated in place)."""

    __slots__ = ("packet_bytes", "route", "wire", "heap", "bandwidth", "busy", "nbytes", "left", "hop_of", "t",
                 "gen", "due", "flows")

    def __init__(self, packet_bytes: float, route: list, wire: list, heap: list, bandwidth: list[float],
                 busy: list[float], nbytes: list[float]) -> None:
        self.packet_bytes, self.route, self.wire, self.heap = packet_bytes, route, wire, heap
        self.bandwidth, self.busy, self.nbytes = bandwidth, busy, nbytes
        n = len(busy)
        self.left: list[dict[int, float]] = [{} for _ in range(n)]  # message -> bytes still to cross
        self.hop_of: list[dict[int, int]] = [{} for _ in range(n)]  # message -> its hop index on this link
        self.t = [0.0] * n  # when ``left`` was last brought up to date
        self.gen = [0] * n
        self.due = [0.0] * n  # the fewest bytes left when the link's pending completion was scheduled
        self.flows: dict[int, list] = {}  # message -> [route, packet, served per hop, tail per hop]

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
        if x != gen[c]:  # a message joined or left since: this completion was rescheduled
            return o
        left, hop_of = self.left[c], self.hop_of[c]
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
        due = self.due[c] + _RESIDUE_BYTES  # SharedLink._complete: judged before the fluid update
        served = [k for k, v in left.items() if v <= due]
        t = self.t[c]
        bandwidth = self.bandwidth[c]
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
            heappush(self.heap, (now + due * len(left) / bandwidth, o, PDONE, c, gen[c]))
        flows, wire, nbytes = self.flows, self.wire, self.nbytes
        for k, i in zip(served, hops):  # PacketRoute._served, in the order they joined
            flows[k][2][i] = now
            nbytes[c] += wire[k]
            o = self._settle(k, i, now, o)
        return o

    def _enter(self, m: int, i: int, now: float, o: int) -> int:
        """PacketRoute.enter: the head of ``m`` reaches hop ``i`` now (SharedLink.join, its _advance and
        _schedule inlined)."""
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
        g = self.gen[lid] = self.gen[lid] + 1
        n = len(left)
        heap = self.heap
        o += 1
        heappush(heap, (now + due * n / bandwidth, o, PDONE, lid, g))
        if i + 1 < len(rt):
            o += 1
            heappush(heap, (now + (flow[1] * n / bandwidth + hop[1]), o, PHEAD, m, i + 1))
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
                heappush(self.heap, (now + (arrive - now), o, ARRIVE, m, rt[i][5]))
                del self.flows[m]
            i += 1
        return o

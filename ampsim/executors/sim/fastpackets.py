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
        if x != self.gen[c]:  # a message joined or left since: this completion was rescheduled
            return o
        left, hop_of = self.left[c], self.hop_of[c]
        due = self.due[c] + _RESIDUE_BYTES  # SharedLink._complete: judged before the fluid update
        served = [k for k, v in left.items() if v <= due]
        self._advance(c, now)
        hops = []
        for k in served:
            del left[k]
            hops.append(hop_of.pop(k))
        o = self._schedule(c, now, o)
        for k, i in zip(served, hops):  # PacketRoute._served, in the order they joined
            self.flows[k][2][i] = now
            self.nbytes[c] += self.wire[k]
            o = self._settle(k, i, now, o)
        return o

    def _enter(self, m: int, i: int, now: float, o: int) -> int:
        """PacketRoute.enter: the head of ``m`` reaches hop ``i`` now."""
        flow = self.flows[m]
        rt = flow[0]
        lid, latency, bandwidth = rt[i][0], rt[i][1], rt[i][2]
        self._advance(lid, now)  # SharedLink.join
        left = self.left[lid]
        left[m] = float(self.wire[m])
        self.hop_of[lid][m] = i
        o = self._schedule(lid, now, o)
        if i + 1 < len(rt):
            o += 1
            heappush(self.heap, (now + (flow[1] * len(left) / bandwidth + latency), o, PHEAD, m, i + 1))
        return o

    def _advance(self, lid: int, now: float) -> None:
        left = self.left[lid]
        t = self.t[lid]
        if left and now > t:
            served = (now - t) * self.bandwidth[lid] / len(left)
            for k in left:
                left[k] -= served
            self.busy[lid] += now - t
        self.t[lid] = now

    def _schedule(self, lid: int, now: float, o: int) -> int:
        self.gen[lid] += 1
        left = self.left[lid]
        if not left:
            return o
        due = self.due[lid] = max(min(left.values()), 0.0)
        delay = due * len(left) / self.bandwidth[lid]
        o += 1
        heappush(self.heap, (now + delay, o, PDONE, lid, self.gen[lid]))
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

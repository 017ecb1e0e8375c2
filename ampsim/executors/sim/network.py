"""The simulated interconnect: messages cross a networkx topology of contended links.

Each direction of a full-duplex link is a FIFO server with capacity one: a message that reaches a link
while it is busy waits until every message that reached it earlier has gone through. The server is kept
as its *next free time*, so crossing a hop costs one SimPy timeout (the arrival at the next hop) and no
process per message; the order in which messages claim a link is the order in which they reach it, as
with a ``simpy.Resource``. Routes are the topology's precomputed shortest paths. Two switching modes:

* ``store_and_forward`` — at each hop the message waits for the link, occupies it for
  ``nbytes / bandwidth`` (serialization), then propagates for ``latency``; the next hop starts when the
  whole message has arrived. Uncontended: ``Σ (latency_i + nbytes / bandwidth_i)``.
* ``cut_through`` — the head advances hop by hop (waiting for each link, then its ``latency``), and each
  link it enters stays occupied for ``nbytes / min bandwidth`` while the body streams through; the tail
  arrives one such time after the head. Uncontended: ``Σ latency_i + nbytes / min_i bandwidth_i``.

With ``packet_bytes`` > 0 (the hardware model's ``link.packet_bytes``) links are packet-switched instead:
messages share each link's bandwidth rather than queueing whole (:mod:`ampsim.executors.sim.packets`).

Counts: each direction's busy seconds and bytes, in arrays by the id the network's
:class:`~ampsim.executors.sim.linktable.LinkTable` gives it (``link_busy_s``, ``link_bytes``), which the
replay's loops add to as this class does (the compiled one in place); ``busy_s`` and ``bytes`` read them
back by link, for the links that carried a message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Callable

import networkx as nx
import numpy as np
import simpy

from ampsim.executors.sim.linktable import LinkTable
from ampsim.executors.sim.packets import PacketRoute, SharedLink
from ampsim.hardware.routing import Routes
from ampsim.trace import LINK_PID, TraceRecorder, lane_tid

__all__ = ["Network"]


class Network:
    def __init__(self, env: simpy.Environment, graph: nx.Graph, routes: Routes,
                 trace: TraceRecorder | None = None, packet_bytes: float = 0.0) -> None:
        self.env, self.graph, self.routes, self.trace = env, graph, routes, trace
        self.cut_through = graph.graph["switching"] == "cut_through"
        self.packet_bytes = packet_bytes
        self._shared: dict[tuple, SharedLink] = {}
        self._free_at: dict[tuple, float] = defaultdict(float)
        self._paths: dict[tuple[int, int], list[tuple[tuple, float, float, int]]] = {}
        #: the directed links by a dense id (the replay's loops index theirs alike)
        self.links = LinkTable(graph, routes)
        #: per link id: seconds busy and bytes carried so far (the replay's compiled loop adds to these
        #: arrays in place; this side through memoryviews, a Python float each, dearer as numpy scalars)
        self.link_busy_s = np.zeros(len(self.links))
        self.link_bytes = np.zeros(len(self.links))
        self._busy, self._bytes = memoryview(self.link_busy_s), memoryview(self.link_bytes)
        self._empty: set[int] = set()  # links that carried only messages of no bytes (counted all the same)
        self._lanes: dict[int, list[float]] = {}  # packet links, traced: per link the end of each lane's last span
        self.messages = 0
        if trace:
            trace.name_process(LINK_PID, "links")

    def path(self, src: int, dst: int) -> list[tuple[tuple, float, float, int]]:
        """The directed links from ``src`` to ``dst`` as ``(link, latency_s, bandwidth_bytes_per_s, id)``."""
        p = self._paths.get((src, dst))
        if p is None:
            p = self._paths[(src, dst)] = [
                ((u, v), self.graph.edges[u, v]["latency_s"], self.graph.edges[u, v]["bandwidth_bytes_per_s"],
                 self.links.id_of((u, v)))
                for u, v in self.routes.links(src, dst)]
            if self.trace:
                for link, _, _, lid in p:  # a link's thread in the trace is its id's
                    self.trace.name_thread(LINK_PID, lane_tid(lid), f"{link[0]}->{link[1]}")
        return p

    def send(self, src: int, dst: int, nbytes: int, deliver: Callable[[], None]) -> None:
        """Start moving ``nbytes`` from chip ``src`` to chip ``dst``; call ``deliver()`` on arrival."""
        self.messages += 1
        path = self.path(src, dst)
        if self.packet_bytes:
            PacketRoute(self, self.messages, path, nbytes, self.packet_bytes, deliver).enter(0)
            return
        hold = nbytes / min(bw for _, _, bw, _ in path) if self.cut_through else 0.0
        self._hop(path, 0, nbytes, hold, deliver)

    def _hop(self, path, i: int, nbytes: int, hold: float, deliver: Callable[[], None]) -> None:
        """The message (its head, for cut-through) reaches link ``i`` now."""
        link, latency, bandwidth, lid = path[i]
        now = self.env.now
        start = max(now, self._free_at[link])
        occupy = hold if self.cut_through else nbytes / bandwidth
        self._free_at[link] = start + occupy
        self._busy[lid] += occupy
        self._bytes[lid] += nbytes
        if not nbytes:
            self._empty.add(lid)
        if self.trace:
            self.trace.span(f"{nbytes} B", LINK_PID, lane_tid(lid), start, occupy)
        # store-and-forward: the whole message arrives after serialization + latency;
        # cut-through: the head moves on after the latency, the tail follows ``hold`` after the last head.
        last = i + 1 == len(path)
        delay = start - now + latency + (occupy if not self.cut_through or last else 0.0)
        ev = self.env.timeout(delay)
        ev.callbacks.append(lambda _e: deliver() if last else self._hop(path, i + 1, nbytes, hold, deliver))

    def shared(self, link: tuple, bandwidth: float) -> SharedLink:
        """The packet-switched server of one link direction."""
        s = self._shared.get(link)
        if s is None:
            s = self._shared[link] = SharedLink(self.env, bandwidth)
        return s

    def account(self, hop: tuple, start: float, duration: float, nbytes: float) -> None:
        """A packet-switched message was on ``hop`` (an entry of :meth:`path`) from ``start`` for ``duration``."""
        link, lid = hop[0], hop[3]
        self._bytes[lid] += nbytes
        self._busy[lid] = self._shared[link].busy_s
        if not nbytes:
            self._empty.add(lid)
        if self.trace:
            self.trace.span(f"{nbytes} B", LINK_PID, self._lane(hop, start, start + duration), start, duration)

    def _lane(self, hop: tuple, start: float, stop: float) -> int:
        """The trace thread of a packet-switched message's span on ``hop``: messages that share the link at once
        take lanes of their own (the thread of the link's id, then of id + k x links, as
        :func:`~ampsim.trace.lane_tid` numbers them, all named as the link), for spans on one thread must not
        overlap (Chrome's and Perfetto's trace format). Spans come in the order they end, so a lane whose last
        span ended by ``start`` is free."""
        link, lid = hop[0], hop[3]
        ends = self._lanes.setdefault(lid, [])
        k = next((k for k, end in enumerate(ends) if end <= start), len(ends))
        if k == len(ends):
            ends.append(stop)
            if k:
                self.trace.name_thread(LINK_PID, lane_tid(lid + k * len(self.links)), f"{link[0]}->{link[1]}")
        else:
            ends[k] = stop
        return lane_tid(lid + k * len(self.links))

    def carried(self) -> np.ndarray:
        """The ids of the links that carried a message so far, ascending."""
        ids = np.flatnonzero(self.link_bytes)
        if self._empty:
            ids = np.union1d(ids, np.fromiter(self._empty, dtype=np.int64))
        return ids

    @property
    def busy_s(self) -> Mapping[tuple, float]:
        """Seconds busy so far per link that carried a message (read only: the counts are the arrays)."""
        return self._by_link(self.link_busy_s)

    @property
    def bytes(self) -> Mapping[tuple, float]:
        """Bytes carried so far per link that carried a message (read only: the counts are the arrays)."""
        return self._by_link(self.link_bytes)

    def _by_link(self, counts: np.ndarray) -> Mapping[tuple, float]:
        ids = self.carried().tolist()
        return MappingProxyType(dict(zip(map(self.links.link_of, ids), counts[ids].tolist())))

    def utilization(self, elapsed_s: float) -> dict[str, float]:
        return {f"{u}->{v}": (b / elapsed_s if elapsed_s else 0.0) for (u, v), b in sorted(
            self.busy_s.items(), key=lambda kv: str(kv[0]))}

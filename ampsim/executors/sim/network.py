"""The simulated interconnect: messages cross a networkx topology of contended links.

Each direction of a full-duplex link is a SimPy ``Resource`` of capacity 1, so messages queue behind
each other in arrival order. Routes are the topology's precomputed shortest paths. Two switching modes:

* ``store_and_forward`` — at each hop the message waits for the link, occupies it for
  ``nbytes / bandwidth`` (serialization), then propagates for ``latency``; the next hop starts when the
  whole message has arrived. Uncontended: ``Σ (latency_i + nbytes / bandwidth_i)``.
* ``cut_through`` — the head advances hop by hop (waiting for each link, then its ``latency``), and each
  link it enters stays occupied for ``nbytes / min bandwidth`` while the body streams through; the tail
  arrives one such time after the head. Uncontended: ``Σ latency_i + nbytes / min_i bandwidth_i``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import networkx as nx
import simpy

from ampsim.hardware.topology import Routes
from ampsim.trace import TraceRecorder

LINK_PID = 1_000_000  # trace process id of the links


class Network:
    def __init__(self, env: simpy.Environment, graph: nx.Graph, routes: Routes,
                 trace: TraceRecorder | None = None) -> None:
        self.env, self.graph, self.routes, self.trace = env, graph, routes, trace
        self.switching = graph.graph["switching"]
        self._links: dict[tuple, simpy.Resource] = {}
        self._paths: dict[tuple[int, int], list[tuple[tuple, float, float]]] = {}
        self.busy_s: dict[tuple, float] = defaultdict(float)
        self.bytes: dict[tuple, float] = defaultdict(float)
        self.messages = 0
        if trace:
            trace.name_process(LINK_PID, "links")

    def path(self, src: int, dst: int) -> list[tuple[tuple, float, float]]:
        """The directed links from ``src`` to ``dst`` as ``(link, latency_s, bandwidth_bytes_per_s)``."""
        p = self._paths.get((src, dst))
        if p is None:
            p = self._paths[(src, dst)] = [
                ((u, v), self.graph.edges[u, v]["latency_s"], self.graph.edges[u, v]["bandwidth_bytes_per_s"])
                for u, v in self.routes.links(src, dst)]
        return p

    def send(self, src: int, dst: int, nbytes: int, deliver: Callable[[], None]) -> None:
        """Start moving ``nbytes`` from chip ``src`` to chip ``dst``; call ``deliver()`` on arrival."""
        self.messages += 1
        run = self._store_and_forward if self.switching == "store_and_forward" else self._cut_through
        self.env.process(run(self.path(src, dst), nbytes, deliver))

    def _link(self, link: tuple) -> simpy.Resource:
        res = self._links.get(link)
        if res is None:
            res = self._links[link] = simpy.Resource(self.env, capacity=1)
            if self.trace:
                self.trace.name_thread(LINK_PID, self._tid(link), f"{link[0]}->{link[1]}")
        return res

    def _tid(self, link: tuple) -> int:
        return self.graph.edges[link]["link_id"] * 2 + (0 if str(link[0]) < str(link[1]) else 1)

    def _occupy(self, link: tuple, hold: float, nbytes: int) -> None:
        self.busy_s[link] += hold
        self.bytes[link] += nbytes
        if self.trace:
            self.trace.span(f"{nbytes} B", LINK_PID, self._tid(link), self.env.now, hold)

    def _store_and_forward(self, path, nbytes: int, deliver):
        env = self.env
        for link, latency, bandwidth in path:
            hold = nbytes / bandwidth
            with self._link(link).request() as req:
                yield req
                self._occupy(link, hold, nbytes)
                yield env.timeout(hold)
            if latency:
                yield env.timeout(latency)
        deliver()

    def _cut_through(self, path, nbytes: int, deliver):
        env = self.env
        hold = nbytes / min(bw for _, _, bw in path)
        for link, latency, _ in path:
            res = self._link(link)
            req = res.request()
            yield req
            self._occupy(link, hold, nbytes)
            env.process(self._release(res, req, hold))
            if latency:
                yield env.timeout(latency)
        yield env.timeout(hold)
        deliver()

    def _release(self, res: simpy.Resource, req, hold: float):
        yield self.env.timeout(hold)
        res.release(req)

    def utilization(self, elapsed_s: float) -> dict[str, float]:
        return {f"{u}->{v}": (b / elapsed_s if elapsed_s else 0.0) for (u, v), b in sorted(
            self.busy_s.items(), key=lambda kv: str(kv[0]))}

"""The machine's directed links as the replay's loops index them: a dense id per direction, its latency and
bandwidth, and the routes between chip pairs as ids.

Contract: :meth:`LinkTable.hops` gives, for chip pairs, their routes' link ids, latencies and bandwidths as
flat arrays (what :class:`~ampsim.executors.sim.fastprep.Hops` is made of); :meth:`LinkTable.id_of` and
:meth:`LinkTable.link_of` turn a link ``(u, v)`` into its id and back. The executor's network owns its
machine's table and counts each link's busy time and bytes by these ids, which the replay's loops share.
Ids only index arrays: no result depends on them.

Where :func:`~ampsim.hardware.topology.build_topology` made the graph, its edges are numbered (``link_id``,
in the structure's sorted order) and listed with their latencies and bandwidths in ``graph.graph["links"]``:
a direction's id is ``2 link_id``, the end whose name sorts first as text first, or ``2 link_id + 1``, and a
table is two arrays read once. The ids of a chip pair's route then depend only on the structure and the
routes, which every machine with one routing key shares (:mod:`ampsim.hardware.routing`), so they are kept
per routing key in the process: a sweep's points on machines that route alike, which differ in bandwidth or
latency, look a pair's route up once (reading the links of 2,047 chip pairs on a 1,024-chip torus from the
graph took 5 ms of every replayed call; reading all 10,240 links of a 1,024-chip hypercube up front, 7 ms of
a point that crosses a few dozen), and a whole set of pairs (one placement's) is flattened once. Other graphs
are numbered in edge order, all at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from ampsim.hardware.routing import ROUTING_SLOTS
from ampsim.recent import Recent

__all__ = ["LinkTable"]

#: routing key -> ({(source chip, destination chip): the route's directed link ids}, {id: directed link},
#: {a set of chip pairs: their routes' lengths and link ids, flat})
_ROUTE_IDS: Recent = Recent(ROUTING_SLOTS)  # (as many as the routing tables kept)
#: route ids kept per routing key at most (then forgotten at once: a route is microseconds to read again)
ROUTES_KEPT = 65536
#: sets of chip pairs whose flat routes are kept per routing key (a sweep's points on one structure and
#: placement ask for the same set: 2,047 pairs on a 1,024-chip torus took 0.5 ms to look up and flatten)
PAIR_SETS_KEPT = 4


class LinkTable:
    """The directed links of ``graph``, whose routes ``routes`` gives (a :class:`~ampsim.hardware.routing.Routes`)."""

    def __init__(self, graph: nx.Graph, routes) -> None:
        self.graph, self.routes = graph, routes
        listed = graph.graph.get("links")
        if listed is not None and len(listed[0]) != graph.number_of_edges():  # edges added or removed since
            listed = None
        if listed is not None:
            self._edges, lat, bw = listed
            self._ids: dict[tuple, int] | None = None
            key = graph.graph.get("routing_key")
            kept = _kept() if key is None else _ROUTE_IDS.get(key)
            if kept is None:
                kept = _ROUTE_IDS[key] = _kept()
            self._route_ids, self._links, self._pair_sets = kept
        else:
            self._edges, lat, bw = [], [], []
            self._ids, self._link_of = {}, []
            for u, v, e in graph.edges(data=True):
                self._ids[u, v], self._ids[v, u] = 2 * len(self._edges), 2 * len(self._edges) + 1
                self._link_of += [(u, v), (v, u)]
                self._edges.append((u, v))
                lat.append(e["latency_s"])
                bw.append(e["bandwidth_bytes_per_s"])
            self._route_ids, self._pair_sets = {}, Recent(PAIR_SETS_KEPT)
        self.n = 2 * len(self._edges)
        #: per link id: latency and bandwidth (each edge's two directions alike)
        self.latency_s = np.repeat(np.asarray(lat, dtype=np.float64), 2)
        self._bw = np.repeat(np.asarray(bw, dtype=np.float64), 2)
        self.bandwidth_bytes_per_s = self._bw.tolist()  # (a list: the Python loop indexes it)

    def __len__(self) -> int:
        return self.n

    def id_of(self, link: tuple) -> int:
        """The id of directed link ``(u, v)`` (a KeyError where there is none)."""
        if self._ids is not None:
            return self._ids[link]
        u, v = link
        return 2 * self.graph.adj[u][v]["link_id"] + (0 if str(u) < str(v) else 1)

    def link_of(self, i: int) -> tuple:
        """The directed link of id ``i``."""
        if self._ids is not None:
            return self._link_of[i]
        link = self._links.get(i)
        if link is None:
            a, b = self._edges[i >> 1]
            lo, hi = (a, b) if str(a) < str(b) else (b, a)
            link = self._links[i] = (lo, hi) if i % 2 == 0 else (hi, lo)
        return link

    def hops(self, pairs: Sequence[tuple[int, int]] | np.ndarray) -> tuple[np.ndarray, ...]:
        """The routes of chip ``pairs`` (source, destination; or an array of them, one pair per row), flat:
        each route's number of hops, and per hop its link's id, latency and bandwidth (in route order)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        key = pairs.tobytes()
        got = self._pair_sets.get(key)
        if got is None:
            got = self._pair_sets[key] = self._flat(list(map(tuple, pairs.tolist())))
        lengths, lid = got
        return lengths, lid, self.latency_s[lid], self._bw[lid]

    def _flat(self, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's route length and the routes' link ids, flat (each route's ids kept for the next set)."""
        kept = self._route_ids
        got = [kept.get(p) for p in pairs]
        missing = [k for k, ids in enumerate(got) if ids is None]
        if missing:
            if len(kept) + len(missing) > ROUTES_KEPT:
                kept.clear()
            paths = self.routes.many([pairs[k] for k in missing])
            for k, nodes in zip(missing, paths):
                got[k] = kept[pairs[k]] = tuple(self.id_of(hop) for hop in zip(nodes, nodes[1:]))
        lengths = np.fromiter((len(ids) for ids in got), dtype=np.int64, count=len(got))
        lid = np.fromiter((i for ids in got for i in ids), dtype=np.int64, count=int(lengths.sum()))
        return lengths, lid  # (shared by the machines of one routing key: never changed; left writeable, as
        # the compiled loop is typed for writeable arrays and would compile a second copy for read-only ones)


def _kept() -> tuple[dict, dict, Recent]:
    """A routing key's kept routes: per chip pair, per id, per set of pairs (see ``_ROUTE_IDS``)."""
    return {}, {}, Recent(PAIR_SETS_KEPT)

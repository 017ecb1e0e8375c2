"""Routes between chips: shortest paths over a topology graph (:mod:`ampsim.hardware.topology`'s), and the
tables that find them, shared among the graphs that route alike.

A graph's routes depend on its structure and its links' latencies, never on bandwidths:
:func:`~ampsim.hardware.topology.build_topology` stamps each graph with that *routing key*, and every
:class:`Routes` of graphs with one key shares one indexed graph and one set of predecessor trees in the
process (a sweep builds its machine again for every point, and a 1,024-chip torus's trees take a quarter of
a second). Trees are computed lazily, per source chip. A graph changed after it was built (an edge added,
removed or given another latency) no longer routes as its key says: delete its ``routing_key`` first, or it
would share, and change, the tables of every machine built alike in the process.

Which route, of several equally short: nothing promises that the route back is the route's links reversed,
nor dimension order; the rule is this. A route is best by total link latency (femtoseconds), then by hops.
Each source ``s`` has one tree, in which every node's predecessor is the first, in ``node_sort_key`` order
(chips by number, then switches), of its neighbours on a best route from ``s``; ``routes[s, d]`` is the
tree's path, read from ``d`` back to ``s``. So, reversed, it is the walk from ``d`` that always steps to the
lowest-numbered neighbour one best step closer to ``s``, and ``routes[d, s]`` the like walk from ``s``
towards ``d``: the two part where ties fall differently at each end. Counted (2026-12-07): on an 8×8
``torus2d`` 808 of the 4,096 ordered pairs do, on a 5×5 one 40 of 625, on a ring of 6, 8 or 10 chips some
antipodes (1 and 4 of 6); none on the 3×3 and 4×4 ``mesh2d``, the 4×4 and 4×4×4 tori, the hypercubes of 16
and 64 chips, a binary tree. The simulated times, and so committed results, depend on these routes: changing
the rule changes them.

>>> from ampsim.hardware.parse import system_from_dict
>>> from ampsim.hardware.topology import build_topology
>>> torus = build_topology(system_from_dict({"system": {"name": "t", "source": "doc"},
...     "chip": {"flops_per_s": 1e12, "mem_bandwidth_bytes_per_s": 1e11, "overhead_s": 0, "memory_bytes": 1},
...     "link": {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9},
...     "topology": {"kind": "torus2d", "shape": [8, 8]}}, "doc.toml"))
>>> r = routes(torus)
>>> r[0, 41]  # from 41 = (5, 1) back: its lowest neighbour nearer 0 is 40, then 48, 56 (over the wrap), 0
(0, 56, 48, 40, 41)
>>> r[41, 0]  # from 0 back: 1 (lower than 56, as near 41), 57, 49, 41
(41, 49, 57, 1, 0)
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterator, Mapping, Sequence

import networkx as nx

from ampsim.hardware.spec import LinkSpec, Node, node_sort_key
from ampsim.hardware.topology import path_link_specs, transfer_time_s
from ampsim.recent import Recent

__all__ = ["Routes", "routes", "hop_bfs", "ROUTING_SLOTS"]

#: machines (routing keys) whose routing tables a process keeps, the most recently used: a sweep hands a
#: worker the points of more machines than this grouped by machine (:mod:`ampsim.sweeps.order`)
ROUTING_SLOTS = 8
#: routing tables (indexed graph, predecessor trees) shared by every Routes of graphs with one routing key:
#: the trees of a 1,024-chip torus take a quarter of a second, and a sweep builds the machine anew for
#: every point (most points of a sweep over bandwidth or latency route alike)
_SHARED: Recent = Recent(ROUTING_SLOTS)  # routing key -> (_Indexed, trees by source)


def _tables(graph: nx.Graph) -> tuple[_Indexed, dict[int, list[int]]]:
    """The routing tables of ``graph``: shared through :data:`_SHARED` where it carries a routing key
    (:func:`~ampsim.hardware.topology.build_topology`'s graphs do), its own otherwise. Under a key of uniform
    latency the shared ``lat_fs`` are the first graph's, which nothing reads: such routes are fewest hops."""
    key = graph.graph.get("routing_key")
    if key is None:
        return _Indexed(graph), {}
    got = _SHARED.get(key)
    if got is None:
        got = _SHARED[key] = (_Indexed(graph), {})
    return got


def hop_bfs(adj: Sequence[Sequence[int]], s: int) -> tuple[list[int], list[int]]:
    """Hop distances from ``s`` over adjacency lists (-1: unreachable) and predecessors: each node's is
    its smallest-index neighbour one hop closer to ``s`` (frontiers are scanned in ascending order).

    Parameters
    ----------
    adj : sequence of sequences of int
        ``adj[u]``: the neighbours of node ``u`` (nodes are ``0 .. len(adj) - 1``).
    s : int
        The source node.

    Returns
    -------
    dist, pred : list of int
        Per node, its hops from ``s`` and its predecessor on a shortest path (-1 for ``s`` itself and for
        the unreachable).

    Examples
    --------
    A 4-cycle ``0-1-2-3-0`` and a node 4 on its own: node 2 is two hops away, reached through 1 (the
    smaller of its neighbours 1 and 3):

    >>> hop_bfs([[1, 3], [0, 2], [1, 3], [0, 2], []], 0)
    ([0, 1, 2, 1, -1], [-1, 0, 1, 0, -1])
    """
    n = len(adj)
    dist, pred, frontier, d = [-1] * n, [-1] * n, [s], 0
    dist[s] = 0
    while frontier:
        d += 1
        nxt = []
        for u in frontier:
            for v in adj[u]:
                if dist[v] < 0:
                    dist[v] = d
                    pred[v] = u
                    nxt.append(v)
        nxt.sort()
        frontier = nxt
    return dist, pred


class _Indexed:
    """Integer-indexed adjacency (nodes in ``node_sort_key`` order) for fast BFS/Dijkstra."""

    def __init__(self, graph: nx.Graph) -> None:
        self.nodes: list[Node] = sorted(graph.nodes, key=node_sort_key)
        self.index = {v: i for i, v in enumerate(self.nodes)}
        self.chips = [self.index[v] for v in self.nodes if graph.nodes[v]["kind"] == "chip"]
        self.adj: list[list[int]] = [sorted(self.index[w] for w in graph[v]) for v in self.nodes]
        # latencies in integer femtoseconds, so equal-latency paths compare equal exactly
        self.lat_fs: list[dict[int, int]] = [
            {self.index[w]: round(graph.edges[v, w].get("latency_s", 0.0) * 1e15) for w in graph[v]}
            for v in self.nodes]
        self.uniform = len({x for d in self.lat_fs for x in d.values()}) <= 1

    def bfs(self, s: int) -> tuple[list[int], list[int]]:
        """Hop distances and predecessors from ``s`` (:func:`hop_bfs`)."""
        return hop_bfs(self.adj, s)

    def dijkstra(self, s: int) -> list[int]:
        """Predecessors for minimum (latency, hops); ties go to the smallest-index predecessor.
        Keys strictly increase along every edge (hops do), so all optimal predecessors of a node are
        settled before it and the choice is independent of heap order."""
        n = len(self.nodes)
        big = n + 1
        key, pred, done = [None] * n, [-1] * n, [False] * n
        key[s] = 0
        heap = [(0, s)]
        while heap:
            k, u = heapq.heappop(heap)
            if done[u]:
                continue
            done[u] = True
            for v, lat in self.lat_fs[u].items():
                kv = k + lat * big + 1  # latency first, hops as tie-break
                if key[v] is None or kv < key[v]:
                    key[v], pred[v] = kv, u
                    heapq.heappush(heap, (kv, v))
                elif kv == key[v] and u < pred[v]:
                    pred[v] = u
        return pred


class Routes(Mapping):
    """Shortest routes between chips: ``routes[src, dst]`` is the node path ``(src, ..., dst)``.

    Routes minimise total link latency, ties broken by fewer hops, then deterministically (each
    node's predecessor is the smallest in ``node_sort_key`` order among equally good ones: the module's
    docstring). So a route and the route back need not be the same links reversed where several are equally
    short (a ring of 6: ``routes[1, 4] == (1, 2, 3, 4)``, ``routes[4, 1] == (4, 5, 0, 1)``; 808 of the 8×8
    torus's 4,096 ordered pairs): a message and its reply may use different links.
    Bandwidth does not affect routing. Latencies are compared at femtosecond resolution. Routes may
    pass through switches but start and end at chips; ``routes[c, c] == (c,)``. Predecessor trees
    are computed lazily per source and cached, so a 1024-chip machine costs only the sources used
    (all of them: about a quarter of a second for a uniform-latency 32×32 torus); the graphs of
    :func:`build_topology` with the same routing key (structure, and latencies unless uniform) share
    them in a process, so every machine of a sweep that routes alike pays once. Iterating yields all
    ordered chip pairs, including ``(c, c)``.
    """

    def __init__(self, graph: nx.Graph) -> None:
        self.graph = graph
        self._ix, self._pred = _tables(graph)
        self._chip_set = set(self._ix.chips)

    def _tree(self, s: int) -> list[int]:
        tree = self._pred.get(s)
        if tree is None:
            tree = self._ix.bfs(s)[1] if self._ix.uniform else self._ix.dijkstra(s)
            self._pred[s] = tree
        return tree

    def _chip_index(self, c: Node) -> int:
        try:  # accepts numpy integers too
            i = None if isinstance(c, (bool, tuple)) else self._ix.index.get(operator.index(c))
        except TypeError:
            i = None
        if i is None or i not in self._chip_set:
            raise KeyError(f"no chip {c!r}")
        return i

    def _walk(self, s: int, d: int) -> tuple[Node, ...]:
        """The node path between node indices ``s`` and ``d``, from ``s``'s predecessor tree."""
        pred, path = self._tree(s), [d]
        while d != s:
            d = pred[d]
            path.append(d)
        nodes = self._ix.nodes
        return tuple([nodes[i] for i in reversed(path)])

    def __getitem__(self, pair: tuple[int, int]) -> tuple[Node, ...]:
        try:
            src, dst = pair
        except (TypeError, ValueError):  # (a Mapping's ``in`` and ``get`` expect a KeyError: ``5 in routes`` raised)
            raise KeyError(f"not a (source, destination) chip pair: {pair!r}") from None
        return self._walk(self._chip_index(src), self._chip_index(dst))

    def many(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[Node, ...]]:
        """``[self[p] for p in pairs]``, checking each distinct chip once (a 1,024-chip placement asks
        for thousands of routes at once: :mod:`ampsim.executors.sim.fastprep`)."""
        index = {c: self._chip_index(c) for c in {c for p in pairs for c in p}}
        return [self._walk(index[src], index[dst]) for src, dst in pairs]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        chips = [self._ix.nodes[i] for i in self._ix.chips]
        return ((a, b) for a in chips for b in chips)

    def __len__(self) -> int:
        return len(self._ix.chips) ** 2

    def precompute(self) -> "Routes":
        """Compute every source's tree now (otherwise done on first use). Returns self."""
        for s in self._ix.chips:
            self._tree(s)
        return self

    def hops(self, src: int, dst: int) -> int:
        return len(self[src, dst]) - 1

    def links(self, src: int, dst: int) -> tuple[tuple[Node, Node], ...]:
        """The directed links ``(u, v)`` a message from ``src`` to ``dst`` crosses, in order. Each
        direction of a full-duplex link is a separate resource: key contention on ``(u, v)``."""
        path = self[src, dst]
        return tuple(zip(path[:-1], path[1:]))

    def link_specs(self, src: int, dst: int) -> list[LinkSpec]:
        """The :class:`LinkSpec` of each link on the route, in order (for :func:`transfer_time_s`)."""
        return path_link_specs(self.graph, self[src, dst])

    def transfer_time_s(self, src: int, dst: int, nbytes: float) -> float:
        """Uncontended transfer time on the route, with the graph's switching mode (or packets)."""
        return transfer_time_s(self.link_specs(src, dst), nbytes, self.graph.graph["switching"],
                               packet_bytes=self.graph.graph.get("packet_bytes", 0.0))


def routes(graph: nx.Graph) -> Routes:
    """Shortest routes between all chip pairs of ``graph`` (lazy, cached per source); see :class:`Routes`.

    Parameters
    ----------
    graph : networkx.Graph
        A topology graph (:func:`~ampsim.hardware.topology.build_topology`'s).

    Returns
    -------
    Routes
        ``routes[src, dst]``: the node path from chip ``src`` to chip ``dst``, switches included.

    Examples
    --------
    >>> from ampsim.hardware.parse import system_from_dict
    >>> from ampsim.hardware.topology import build_topology
    >>> def machine(topology):
    ...     return build_topology(system_from_dict({"system": {"name": "t", "source": "doc"},
    ...         "chip": {"flops_per_s": 1e12, "mem_bandwidth_bytes_per_s": 1e11, "overhead_s": 0, "memory_bytes": 1},
    ...         "link": {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9}, "topology": topology}, "doc.toml"))
    >>> r = routes(machine({"kind": "ring", "n": 6}))
    >>> r[0, 2], r[0, 4], r[3, 3]  # the shorter way round
    ((0, 1, 2), (0, 5, 4), (3,))
    >>> r.hops(0, 3), r.links(0, 2)
    (3, ((0, 1), (1, 2)))
    >>> r.transfer_time_s(0, 2, 1e6)  # 1 MB over two links, store-and-forward: 2 x (1 us + 1 ms)
    0.002002
    >>> routes(machine({"kind": "tree", "branching": 2, "height": 2}))[0, 3]  # through the switches
    (0, ('switch', 1), ('switch', 0), ('switch', 2), 3)
    """
    return Routes(graph)

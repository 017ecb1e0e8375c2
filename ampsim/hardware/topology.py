"""Topology graphs, routes and transfer-time formulas.

The machine is a ``networkx.Graph`` (plain data, as in networkx; algorithms are functions):

* **Nodes.** A chip is the integer ``0..n_chips-1``; a switch (not a chip, it computes nothing) is
  ``("switch", k)``. Every node has ``kind`` = ``"chip"`` or ``"switch"``. Chip nodes also carry their
  :class:`~ampsim.hardware.spec.ChipSpec` fields (``flops_per_s``, ``mem_bandwidth_bytes_per_s``,
  ``overhead_s``, ``compute_units``, ``memory_bytes``, ``remote_send_*``, after overrides); grid chips carry ``coord``.
* **Edges.** One undirected edge per full-duplex link with ``latency_s`` and ``bandwidth_bytes_per_s``
  (each direction independently; after overrides), ``link_id`` (0.. in sorted edge order) and
  ``bandwidth_scale`` (1, or the number of chips below the link in a fat tree).
* **Graph.** ``graph.graph`` has ``name``, ``kind`` (topology kind), ``switching``, ``n_chips``,
  ``n_switches`` and ``vertex_transitive`` (every chip sees the same hop structure).

Chip numbering: ring/fully_connected/switch/explicit: as given; mesh2d/torus2d/torus3d: row-major over
``shape`` (``coord`` = ``(i, j[, k])``, chip = ``(i*shape[1] + j)*shape[2] + k``); hypercube: the
chip's binary address (neighbours differ in one bit); switch: a star, hub ``("switch", 0)``; tree: a
balanced tree with chips as the ``branching**height`` leaves (left to right) and switches as the
internal nodes in breadth-first order (root ``("switch", 0)``), optionally *fat* (each link's
bandwidth multiplied by the number of chips below it). Switch traversal costs nothing by itself: fold
a switch's delay into its links' ``latency_s``.
"""

from __future__ import annotations

import functools
import heapq
import logging
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict

import networkx as nx

from ampsim.hardware.spec import LinkSpec, Node, SystemSpec, TopologySpec, node_sort_key

log = logging.getLogger(__name__)

_VERTEX_TRANSITIVE = {"ring", "torus2d", "torus3d", "fully_connected", "switch", "hypercube"}


def structure_graph(topo: TopologySpec) -> nx.Graph:
    """The bare topology of ``topo``: nodes with ``kind`` (and ``coord``), edges with
    ``bandwidth_scale`` only. Cached; treat the result as read-only (``build_topology`` copies it)."""
    return _structure(topo)


@functools.lru_cache(maxsize=16)
def _structure(topo: TopologySpec) -> nx.Graph:
    kind, coords = topo.kind, None
    if kind == "ring":
        g = nx.cycle_graph(topo.n)
    elif kind == "fully_connected":
        g = nx.complete_graph(topo.n)
    elif kind == "explicit":
        g = nx.empty_graph(topo.n)
        g.add_edges_from(topo.edges)
    elif kind == "switch":
        g = nx.relabel_nodes(nx.star_graph(topo.n), lambda v: ("switch", 0) if v == 0 else v - 1)
    elif kind in ("mesh2d", "torus2d"):
        g = nx.grid_2d_graph(*topo.shape, periodic=(kind == "torus2d"))
        coords = True
    elif kind == "torus3d":
        g = nx.grid_graph(dim=list(reversed(topo.shape)), periodic=True)  # nodes are (i, j, k)
        coords = True
    elif kind == "hypercube":
        g = nx.relabel_nodes(nx.hypercube_graph(topo.dim), _bits_to_int)
    elif kind == "tree":
        g = nx.balanced_tree(topo.branching, topo.height)
        n_sw = topo.n_switches
        g = nx.relabel_nodes(g, lambda v: ("switch", v) if v < n_sw else v - n_sw)
    else:  # pragma: no cover - spec validation rejects unknown kinds
        raise ValueError(f"unknown topology kind {kind!r}")
    if coords:
        index = {c: _row_major(c, topo.shape) for c in g.nodes}
        g = nx.relabel_nodes(g, index)
        nx.set_node_attributes(g, {i: c for c, i in index.items()}, "coord")
    out = nx.Graph(kind=kind)
    for v in sorted(g.nodes, key=node_sort_key):  # deterministic insertion order
        out.add_node(v, kind="chip" if isinstance(v, int) else "switch", **g.nodes[v])
    edges = sorted((tuple(sorted(e, key=node_sort_key)) for e in g.edges), key=_edge_key)
    for u, v in edges:
        out.add_edge(u, v, bandwidth_scale=1)
    if kind == "tree" and topo.fat:
        for u, v in edges:  # sorted: a leaf link is (chip, switch); else the parent has the lower label
            child = u if isinstance(u, int) else v
            out.edges[u, v]["bandwidth_scale"] = _chips_below(child, topo)
    return out


def _bits_to_int(bits: int | tuple[int, ...]) -> int:
    """hypercube_graph labels nodes by bit tuples (a bare int for dim 1); most significant first."""
    return bits if isinstance(bits, int) else int("".join(map(str, bits)), 2)


def _row_major(coord: tuple[int, ...], shape: tuple[int, ...]) -> int:
    i = 0
    for c, s in zip(coord, shape):
        i = i * s + c
    return i


def _chips_below(node: Node, topo: TopologySpec) -> int:
    if isinstance(node, int):
        return 1
    depth, first, k = 0, 0, node[1]  # BFS labels: level d spans [first, first + b**d)
    while k >= first + topo.branching ** depth:
        first += topo.branching ** depth
        depth += 1
    return topo.branching ** (topo.height - depth)


def _edge_key(e: tuple[Node, Node]) -> tuple:
    return (node_sort_key(e[0]), node_sort_key(e[1]))


def build_topology(system: SystemSpec) -> nx.Graph:
    """The attributed topology graph of ``system`` (see the module docstring for the conventions)."""
    g = structure_graph(system.topology).copy()
    topo = system.topology
    g.graph.update(name=system.name, switching=system.switching, n_chips=topo.n_chips,
                   n_switches=topo.n_switches, vertex_transitive=topo.kind in _VERTEX_TRANSITIVE)
    for i, chip in enumerate(system.chips):
        g.nodes[i].update(asdict(chip))
    overrides = {o.between: o for o in system.link_overrides}
    for link_id, (u, v) in enumerate(sorted(g.edges, key=_edge_key)):
        attrs = g.edges[u, v]
        lat = system.link.latency_s
        bw = system.link.bandwidth_bytes_per_s * attrs["bandwidth_scale"]
        o = overrides.get(tuple(sorted((u, v), key=node_sort_key)))
        if o is not None:
            lat = lat if o.latency_s is None else o.latency_s
            bw = bw if o.bandwidth_bytes_per_s is None else o.bandwidth_bytes_per_s
        attrs.update(latency_s=lat, bandwidth_bytes_per_s=bw, link_id=link_id)
    log.debug("built %s topology %s: %d chips, %d switches, %d links", topo.kind, system.name,
              topo.n_chips, topo.n_switches, g.number_of_edges())
    return g


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
        """Hop distances and predecessors; each node's predecessor is its smallest-index neighbour
        one hop closer to ``s`` (frontiers are scanned in ascending order)."""
        n = len(self.nodes)
        dist, pred, frontier, d = [-1] * n, [-1] * n, [s], 0
        dist[s] = 0
        adj = self.adj
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
    node's predecessor is the smallest in ``node_sort_key`` order among equally good ones).
    Bandwidth does not affect routing. Latencies are compared at femtosecond resolution. Routes may
    pass through switches but start and end at chips; ``routes[c, c] == (c,)``. Predecessor trees
    are computed lazily per source and cached, so a 1024-chip machine costs only the sources used
    (all of them: about a second for a uniform-latency 32×32 torus). Iterating yields all ordered
    chip pairs, including ``(c, c)``.
    """

    def __init__(self, graph: nx.Graph) -> None:
        self.graph = graph
        self._ix = _Indexed(graph)
        self._chip_set = set(self._ix.chips)
        self._pred: dict[int, list[int]] = {}

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

    def __getitem__(self, pair: tuple[int, int]) -> tuple[Node, ...]:
        src, dst = pair
        s, d = self._chip_index(src), self._chip_index(dst)
        pred, path = self._tree(s), [d]
        while path[-1] != s:
            path.append(pred[path[-1]])
        nodes = self._ix.nodes
        return tuple(nodes[i] for i in reversed(path))

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
        """Uncontended transfer time on the route, with the graph's switching mode."""
        return transfer_time_s(self.link_specs(src, dst), nbytes, self.graph.graph["switching"])


def routes(graph: nx.Graph) -> Routes:
    """Shortest routes between all chip pairs of ``graph`` (lazy, cached per source); see Routes."""
    return Routes(graph)


def path_link_specs(graph: nx.Graph, path: Sequence[Node]) -> list[LinkSpec]:
    """The :class:`LinkSpec` of each consecutive pair of ``path`` (a node path in ``graph``)."""
    out = []
    for u, v in zip(path[:-1], path[1:]):
        e = graph.edges[u, v]
        out.append(LinkSpec(latency_s=e["latency_s"], bandwidth_bytes_per_s=e["bandwidth_bytes_per_s"]))
    return out


def transfer_time_s(path_links: Sequence[LinkSpec], nbytes: float, switching: str) -> float:
    """Uncontended time for a message of ``nbytes`` to cross ``path_links`` (in order).

    * ``store_and_forward``: each hop receives the whole message before sending it on:
      ``Σ_i (latency_i + nbytes / bandwidth_i)``.
    * ``cut_through``: the head is forwarded as soon as it arrives, so the message is pipelined
      over the path and limited by its slowest link: ``Σ_i latency_i + nbytes / min_i bandwidth_i``
      (flit/header size neglected).

    An empty path (same chip) takes 0. Under contention an executor holds link i (one direction)
    for ``nbytes / bandwidth_i`` per message.
    """
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if not path_links:
        return 0.0
    if switching == "store_and_forward":
        return sum(link.latency_s + nbytes / link.bandwidth_bytes_per_s for link in path_links)
    if switching == "cut_through":
        return (sum(link.latency_s for link in path_links)
                + nbytes / min(link.bandwidth_bytes_per_s for link in path_links))
    raise ValueError(f"unknown switching mode {switching!r}")


def diameter_hops(graph: nx.Graph) -> int:
    """Largest number of links on a shortest (fewest-hop) path between two chips; 0 for one chip.
    Uses one BFS when ``graph.graph['vertex_transitive']``, else one per chip."""
    ix = _Indexed(graph)
    sources = ix.chips[:1] if graph.graph.get("vertex_transitive") else ix.chips
    best = 0
    for s in sources:
        dist = ix.bfs(s)[0]
        best = max(best, max(dist[c] for c in ix.chips))
    return best


def bisection_bandwidth_bytes_per_s(system: SystemSpec, graph: nx.Graph) -> float:
    """Bisection bandwidth (per direction): the least total ``bandwidth_bytes_per_s`` of the links
    cut when the chips are split into halves of ``⌊n/2⌋`` and ``⌈n/2⌉`` (switches on either side).

    Exact by formula for uniform links (no link overrides) on: ring (2 links), fully_connected
    (⌊n/2⌋·⌈n/2⌉), switch (⌊n/2⌋), hypercube (2^(d-1)), mesh2d/torus2d/torus3d whose longest side L
    is even (n/L links, twice that for a torus) and trees with even branching b (b/2 links; n/2 leaf
    links' worth when fat). Otherwise an **estimate** (an upper bound on the true minimum): the
    smaller of the natural cut for the kind (chips split in index order, grids across the longest
    side, switches placed by local search) and, for switch-free graphs, networkx's Kernighan–Lin
    bisection (seed 0). :func:`bisection_is_exact` tells which. 0 for a single chip.
    """
    return _bisection(system, graph)


def bisection_is_exact(system: SystemSpec) -> bool:
    """Whether :func:`bisection_bandwidth_bytes_per_s` uses an exact formula for ``system``."""
    return _formula_links(system) is not None


def _formula_links(system: SystemSpec) -> float | None:
    topo, n = system.topology, system.topology.n_chips
    if system.link_overrides:
        return None
    if topo.kind == "ring":
        return 2
    if topo.kind == "fully_connected":
        return (n // 2) * ((n + 1) // 2)
    if topo.kind == "switch":
        return n // 2
    if topo.kind == "hypercube":
        return n // 2
    if topo.kind in ("mesh2d", "torus2d", "torus3d") and max(topo.shape) % 2 == 0:
        return (n // max(topo.shape)) * (1 if topo.kind == "mesh2d" else 2)
    if topo.kind == "tree" and topo.branching % 2 == 0:
        return n // 2 if topo.fat else topo.branching // 2
    return None


def _bisection(system: SystemSpec, graph: nx.Graph) -> float:
    n = system.n_chips
    if n < 2:
        return 0.0
    links = _formula_links(system)
    if links is not None:
        return float(links * system.link.bandwidth_bytes_per_s)
    w = "bandwidth_bytes_per_s"
    topo = system.topology
    chips = list(range(n))
    if topo.shape is not None:
        d = topo.shape.index(max(topo.shape))
        chips.sort(key=lambda c: (graph.nodes[c]["coord"][d], graph.nodes[c]["coord"]))
    side_a = set(chips[: n // 2])
    side_a |= _place_switches(graph, side_a)
    best = nx.cut_size(graph, side_a, weight=w)
    if topo.n_switches == 0:
        a, b = nx.algorithms.community.kernighan_lin_bisection(graph, weight=w, seed=0)
        best = min(best, nx.cut_size(graph, a, b, weight=w))
    return float(best)


def _place_switches(graph: nx.Graph, side_a: set[Node]) -> set[Node]:
    """Switches to put on side A (given the chips there) by local search on the cut weight."""
    switches = sorted((v for v in graph if graph.nodes[v]["kind"] == "switch"), key=node_sort_key)
    in_a: set[Node] = set()
    for _ in range(len(switches) + 1):
        changed = False
        for s in switches:
            gain = 0.0  # cut weight saved by having s on side A rather than B
            for t, e in graph[s].items():
                on_a = t in side_a or t in in_a
                gain += e["bandwidth_bytes_per_s"] * (1 if on_a else -1)
            if (gain > 0) != (s in in_a) and gain != 0:
                (in_a.add if gain > 0 else in_a.discard)(s)
                changed = True
        if not changed:
            break
    return in_a

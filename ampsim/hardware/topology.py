"""Topology graphs and transfer-time formulas (routes: :mod:`ampsim.hardware.routing`; diameter and
bisection bandwidth: :mod:`ampsim.hardware.properties`).

The machine is a ``networkx.Graph`` (plain data, as in networkx; algorithms are functions):

* **Nodes.** A chip is the integer ``0..n_chips-1``; a switch (not a chip, it computes nothing) is
  ``("switch", k)``. Every node has ``kind`` = ``"chip"`` or ``"switch"``. Chip nodes also carry their
  :class:`~ampsim.hardware.spec.ChipSpec` fields (``flops_per_s``, ``mem_bandwidth_bytes_per_s``,
  ``overhead_s``, ``compute_units``, ``memory_bytes``, ``remote_send_*``, after overrides); grid chips carry ``coord``.
* **Edges.** One undirected edge per full-duplex link with ``latency_s`` and ``bandwidth_bytes_per_s``
  (each direction independently; after overrides), ``link_id`` (0.. in sorted edge order) and
  ``bandwidth_scale`` (1, or the number of chips below the link in a fat tree).
* **Graph.** ``graph.graph`` has ``name``, ``kind`` (topology kind), ``switching``, ``packet_bytes`` (0:
  whole messages), ``n_chips``, ``n_switches``, ``vertex_transitive`` (every chip sees the same hop
  structure), ``routing_key`` (what its routes depend on: graphs with equal keys route alike) and
  ``links``, the edges as three lists by ``link_id`` (the edges ``(u, v)``, their ``latency_s`` and their
  ``bandwidth_bytes_per_s``: what a replay reads of a big machine, without walking the graph).

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
import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict

import networkx as nx

from ampsim.errors import ConfigError
from ampsim.hardware.spec import LinkSpec, Node, SystemSpec, TopologySpec, node_sort_key

__all__ = ["build_topology", "path_link_specs", "routing_key", "structure_graph", "transfer_time_s"]

log = logging.getLogger(__name__)

_VERTEX_TRANSITIVE = {"ring", "torus2d", "torus3d", "fully_connected", "switch", "hypercube"}


def structure_graph(topo: TopologySpec) -> nx.Graph:
    """The bare topology of ``topo``: nodes with ``kind`` (and ``coord``), edges with
    ``bandwidth_scale`` only. Cached; treat the result as read-only."""
    return _structure(topo)


@functools.lru_cache(maxsize=16)
def _structure(topo: TopologySpec) -> nx.Graph:
    nodes, edges, scales = _structure_lists(topo)
    out = nx.Graph(kind=topo.kind)
    out.add_nodes_from((v, dict(attrs)) for v, attrs in nodes)
    out.add_edges_from((u, v, {"bandwidth_scale": s}) for (u, v), s in zip(edges, scales))
    return out


_Lists = tuple[list[tuple[Node, dict]], list[tuple[Node, Node]], list[int]]


@functools.lru_cache(maxsize=16)
def _structure_lists(topo: TopologySpec) -> _Lists:
    """``(nodes with their attributes, edges, bandwidth scales)``: nodes in ``node_sort_key`` order,
    edges ``(u, v)`` with u before v, sorted; the insertion order every graph of ``topo`` is built in
    (so ``link_id`` and iteration orders are deterministic). Read-only.

    Generated directly rather than with networkx's generators and relabelling, which took seconds at
    65,536 chips; the unit tests check both constructions give the same graph for every kind.
    """
    kind, n = topo.kind, topo.n_chips
    if kind in ("mesh2d", "torus2d", "torus3d"):
        return _grid_lists(topo.shape, periodic=kind != "mesh2d")
    if kind == "tree":
        return _tree_lists(topo)
    nodes: list[tuple[Node, dict]] = [(i, {"kind": "chip"}) for i in range(n)]
    if kind == "ring":
        edges: list[tuple[Node, Node]] = sorted([(i, i + 1) for i in range(n - 1)] + [(0, n - 1)])
    elif kind == "fully_connected":
        edges = list(itertools.combinations(range(n), 2))
    elif kind == "explicit":
        edges = sorted(topo.edges)
    elif kind == "switch":  # a star around hub ("switch", 0)
        nodes.append((("switch", 0), {"kind": "switch"}))
        edges = [(i, ("switch", 0)) for i in range(n)]
    elif kind == "hypercube":  # neighbours differ in one bit of the chip's binary address
        edges = sorted((u, u | 1 << b) for u in range(n) for b in range(topo.dim) if not u >> b & 1)
    else:  # pragma: no cover - spec validation rejects unknown kinds
        raise ValueError(f"unknown topology kind {kind!r}")
    return nodes, edges, [1] * len(edges)


def _grid_lists(shape: tuple[int, ...], periodic: bool) -> _Lists:
    """Row-major grid chips (``coord`` = index per axis) and a link to the next chip along every axis,
    wrapping around when ``periodic`` (torus sizes are >= 3, so a wrap link never repeats another)."""
    coords = list(itertools.product(*(range(s) for s in shape)))
    nodes: list[tuple[Node, dict]] = [(i, {"kind": "chip", "coord": c}) for i, c in enumerate(coords)]
    strides = [math.prod(shape[a + 1:]) for a in range(len(shape))]
    edges = []
    for i, c in enumerate(coords):
        for x, size, stride in zip(c, shape, strides):
            if x + 1 < size:
                edges.append((i, i + stride))
            elif periodic:
                edges.append((i - x * stride, i))
    edges.sort()
    return nodes, edges, [1] * len(edges)


def _tree_lists(topo: TopologySpec) -> _Lists:
    """A balanced tree numbered breadth-first like networkx's ``balanced_tree``: internal node k is
    ``("switch", k)`` with children ``b*k + 1 .. b*k + b``; leaf v is chip ``v - n_switches``."""
    b, n_sw = topo.branching, topo.n_switches
    nodes: list[tuple[Node, dict]] = [(i, {"kind": "chip"}) for i in range(topo.n_chips)]
    nodes += [(("switch", k), {"kind": "switch"}) for k in range(n_sw)]
    edges: list[tuple[Node, Node]] = []
    for k in range(n_sw):
        for c in range(b * k + 1, b * k + b + 1):  # chips sort before switches; a parent before its child
            edges.append((c - n_sw, ("switch", k)) if c >= n_sw else (("switch", k), ("switch", c)))
    edges.sort(key=_edge_key)
    # fat: a link carries the traffic of every chip below it (its child: the chip, else the higher label)
    scales = [_chips_below(u if isinstance(u, int) else v, topo) if topo.fat else 1 for u, v in edges]
    return nodes, edges, scales


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
    """The attributed topology graph of ``system`` (see the module docstring for the conventions).

    Linear in the number of chips and links: 65,536 chips take about a second."""
    topo = system.topology
    nodes, edges, scales = _structure_lists(topo)
    g = nx.Graph(kind=topo.kind, name=system.name, switching=system.switching,
                 packet_bytes=system.link.packet_bytes, n_chips=topo.n_chips,
                 n_switches=topo.n_switches, vertex_transitive=topo.kind in _VERTEX_TRANSITIVE)
    # asdict per distinct chip (per chip took seconds), found by identity: a machine's chips share a few spec
    # objects, and hashing a spec (a dataclass: all its fields) per chip took 30 ms of 16,384 chips
    chips = system.chips
    fields = {k: asdict(c) for k, c in {id(c): c for c in chips}.items()}
    g.add_nodes_from((v, {**attrs, **fields[id(chips[v])]} if isinstance(v, int) else attrs) for v, attrs in nodes)
    # each link's latency and bandwidth (its scale times the machine's, unless an override says otherwise)
    lat0, bw0 = system.link.latency_s, system.link.bandwidth_bytes_per_s
    lats, bws = [lat0] * len(edges), [bw0 * s for s in scales]
    if system.link_overrides:
        where = {e: i for i, e in enumerate(edges)}  # the parser sorts ``between`` like the edges
        for o in system.link_overrides:
            # a spec made by hand (``dataclasses.replace``, for ``ampsim.plan(cfg, system=...)``) need not be
            # sorted: its override of (1, 0), or of no link at all, was dropped without a word
            i = where.get(tuple(sorted(o.between, key=node_sort_key)))
            if i is None:
                a, b = o.between
                raise ConfigError(f"{system.name}: link_override.between: no link between {a!r} and {b!r} in this "
                                  f"{topo.kind} topology")
            lats[i] = lats[i] if o.latency_s is None else o.latency_s
            bws[i] = bws[i] if o.bandwidth_bytes_per_s is None else o.bandwidth_bytes_per_s
    g.add_edges_from((u, v, {"bandwidth_scale": s, "latency_s": lat, "bandwidth_bytes_per_s": bw, "link_id": i})
                     for i, ((u, v), s, lat, bw) in enumerate(zip(edges, scales, lats, bws)))
    g.graph["routing_key"] = routing_key(system)
    g.graph["links"] = (edges, lats, bws)  # by link_id, as the edges hold them (read-only; a replay reads these)
    log.debug("built %s topology %s: %d chips, %d switches, %d links", topo.kind, system.name,
              topo.n_chips, topo.n_switches, len(edges))  # (not g.number_of_edges(): a pass over every edge)
    return g


def routing_key(system: SystemSpec) -> tuple:
    """What the routes of ``system``'s graph depend on: its structure and, unless every link has the same
    latency (then routes are fewest hops whatever it is), the links' latencies. Bandwidths never matter."""
    lat = system.link.latency_s
    custom = tuple((o.between, o.latency_s) for o in system.link_overrides
                   if o.latency_s is not None and o.latency_s != lat)
    return (system.topology, "hops") if not custom else (system.topology, lat, custom)


def path_link_specs(graph: nx.Graph, path: Sequence[Node]) -> list[LinkSpec]:
    """The :class:`LinkSpec` of each consecutive pair of ``path`` (a node path in ``graph``)."""
    out = []
    for u, v in zip(path[:-1], path[1:]):
        e = graph.edges[u, v]
        out.append(LinkSpec(latency_s=e["latency_s"], bandwidth_bytes_per_s=e["bandwidth_bytes_per_s"]))
    return out


def transfer_time_s(path_links: Sequence[LinkSpec], nbytes: float, switching: str, *,
                    packet_bytes: float = 0.0) -> float:
    """Uncontended time for a message of ``nbytes`` to cross ``path_links`` (in order).

    * ``store_and_forward``: each hop receives the whole message before sending it on:
      ``Σ_i (latency_i + nbytes / bandwidth_i)``.
    * ``cut_through``: the head is forwarded as soon as it arrives, so the message is pipelined
      over the path and limited by its slowest link: ``Σ_i latency_i + nbytes / min_i bandwidth_i``
      (flit/header size neglected).

    * ``packet_bytes`` > 0 (packet-switched links, any ``switching``): packets of ``p = min(packet_bytes,
      nbytes)`` are forwarded as each crosses a hop, and a hop passes on the last packet no sooner than
      one packet time after it arrived (:mod:`ampsim.executors.sim.packets`). Over equal links:
      ``Σ_i latency_i + nbytes / bandwidth + (hops − 1) · p / bandwidth``.

    An empty path (same chip) takes 0. Under contention an executor holds link i (one direction)
    for ``nbytes / bandwidth_i`` per message (whole messages) or shares it (packets).

    >>> links = [LinkSpec(1e-6, 1e9)] * 3
    >>> round(transfer_time_s(links, 1e6, "cut_through", packet_bytes=1e3) * 1e6, 6)  # µs: 3 + 1000 + 2
    1005.0
    """
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if not path_links:
        return 0.0
    if packet_bytes > 0:
        p = min(packet_bytes, nbytes)
        head = 0.0  # when the first packet reaches hop i
        tail = 0.0  # when the last packet has crossed hop i
        for i, link in enumerate(path_links):
            served = head + nbytes / link.bandwidth_bytes_per_s
            if i:
                served = max(served, tail + path_links[i - 1].latency_s + p / link.bandwidth_bytes_per_s)
            tail = served
            head += p / link.bandwidth_bytes_per_s + link.latency_s
        return tail + path_links[-1].latency_s
    if switching == "store_and_forward":
        return sum(link.latency_s + nbytes / link.bandwidth_bytes_per_s for link in path_links)
    if switching == "cut_through":
        return (sum(link.latency_s for link in path_links)
                + nbytes / min(link.bandwidth_bytes_per_s for link in path_links))
    raise ValueError(f"unknown switching mode {switching!r}")

"""Whole-machine properties of a topology: diameter and bisection bandwidth, for ``ampsim info``.

Both are computed in time close to linear in the machine's size, so that ``ampsim info`` answers in
seconds at 65,536 chips:

* **Closed forms** for every regular kind (:func:`closed_form_diameter_hops`,
  :func:`bisection_bandwidth_bytes_per_s`); they depend only on the :class:`TopologySpec`.
* **Explicit edge lists**: the diameter by eccentricity bounding (Takes & Kosters, "Determining the
  diameter of small world networks", CIKM 2011): a few breadth-first searches usually pin it exactly;
  exact at any cost up to :data:`EXACT_DIAMETER_MAX_CHIPS` chips, beyond that a bounded number of
  searches, and when they do not meet, the best lower bound (``ampsim info`` prints
  ``≥ N (sampled)``).
* **Bisection without a formula** (odd sizes, links given other bandwidths, explicit lists): an upper bound from the
  kind's natural cut, improved by Kernighan–Lin for switch-free graphs of up to :data:`KL_MAX_NODES`
  nodes.

:func:`diameter_hops` is the plain exact computation (one BFS per chip; one when every chip sees the same
hop structure), kept as the reference the closed forms are tested against.
"""

from __future__ import annotations

import logging

import networkx as nx

from ampsim.hardware.routing import hop_bfs
from ampsim.hardware.spec import Node, SystemSpec, TopologySpec, node_sort_key
from ampsim.hardware.topology import structure_graph

__all__ = ["bisection_bandwidth_bytes_per_s", "bisection_is_exact", "closed_form_diameter_hops", "diameter_bounds",
           "diameter_hops", "system_diameter_hops"]

log = logging.getLogger(__name__)

#: explicit topologies up to this many chips get an exact diameter however many searches it takes
EXACT_DIAMETER_MAX_CHIPS = 2000
#: above that, the diameter search stops after about this many node visits (BFS sources x graph size)
DIAMETER_WORK = 4_000_000
#: ... but not before this many searches
MIN_DIAMETER_SEARCHES = 8
#: Kernighan–Lin bisection (about n log n per pass in networkx, seconds at 16,384 nodes) only up to this size
KL_MAX_NODES = 4096


# --------------------------------------------------------------------------- diameter
def closed_form_diameter_hops(topo: TopologySpec) -> int | None:
    """Largest number of links between two chips on a fewest-hop path, by formula.

    Parameters
    ----------
    topo : TopologySpec
        A validated topology (sizes as :mod:`ampsim.hardware.parse` accepts them: ring n >= 3, torus
        sides >= 3, switch n >= 2, tree branching >= 2 and height >= 1).

    Returns
    -------
    int or None
        ``n // 2`` for a ring; 1 for fully_connected (0 for one chip); 2 for a switch (chip, hub,
        chip); ``Σ (side - 1)`` for mesh2d; ``Σ ⌊side / 2⌋`` for torus2d and torus3d; ``dim`` for a
        hypercube; ``2 · height`` for a tree (leaf to root to leaf, switches count as hops). None for
        an explicit edge list (no formula: see :func:`system_diameter_hops`).

    Examples
    --------
    >>> from ampsim.hardware.spec import TopologySpec
    >>> closed_form_diameter_hops(TopologySpec("ring", 7, 0, n=7))
    3
    >>> closed_form_diameter_hops(TopologySpec("mesh2d", 12, 0, shape=(3, 4)))
    5
    >>> closed_form_diameter_hops(TopologySpec("torus3d", 60, 0, shape=(3, 4, 5)))
    5
    >>> closed_form_diameter_hops(TopologySpec("tree", 65536, 21845, branching=4, height=8, fat=True))
    16
    >>> closed_form_diameter_hops(TopologySpec("explicit", 2, 0, n=2, edges=((0, 1),))) is None
    True
    """
    kind = topo.kind
    if topo.n_chips == 1:
        return 0
    if kind == "ring":
        return topo.n // 2
    if kind == "fully_connected":
        return 1
    if kind == "switch":
        return 2
    if kind == "mesh2d":
        return sum(s - 1 for s in topo.shape)
    if kind in ("torus2d", "torus3d"):
        return sum(s // 2 for s in topo.shape)
    if kind == "hypercube":
        return topo.dim
    if kind == "tree":
        return 2 * topo.height
    return None


def system_diameter_hops(system: SystemSpec, graph: nx.Graph) -> tuple[int, bool]:
    """``(hops, exact)``: the diameter in hops of ``system`` (``graph = build_topology(system)``).

    The closed form for regular kinds; for an explicit edge list, eccentricity bounding, exact up to
    :data:`EXACT_DIAMETER_MAX_CHIPS` chips and wherever the bounds meet; otherwise ``exact`` is False and
    ``hops`` a lower bound (the largest eccentricity found). Link overrides change no hop count.
    """
    hops = closed_form_diameter_hops(system.topology)
    if hops is not None:
        return hops, True
    n, m = graph.number_of_nodes(), graph.number_of_edges()
    budget = None
    if system.n_chips > EXACT_DIAMETER_MAX_CHIPS:
        budget = max(MIN_DIAMETER_SEARCHES, DIAMETER_WORK // (n + m))
    lower, upper = diameter_bounds(graph, max_searches=budget)
    if lower < upper:
        log.info("%s: diameter between %d and %d hops after %d searches; reporting the lower bound",
                 system.name, lower, upper, budget)
    return lower, lower == upper


def diameter_hops(graph: nx.Graph) -> int:
    """Largest number of links on a shortest (fewest-hop) path between two chips; 0 for one chip.
    Exact by breadth-first search: one when ``graph.graph['vertex_transitive']``, else one per chip
    (quadratic: prefer :func:`system_diameter_hops`)."""
    index = {v: i for i, v in enumerate(sorted(graph, key=node_sort_key))}
    adj = [[index[w] for w in graph[v]] for v in index]
    chips = [i for v, i in index.items() if graph.nodes[v]["kind"] == "chip"]
    sources = chips[:1] if graph.graph.get("vertex_transitive") else chips
    best = 0
    for s in sources:
        dist = hop_bfs(adj, s)[0]
        best = max(best, max(dist[c] for c in chips))
    return best


def diameter_bounds(graph: nx.Graph, max_searches: int | None = None) -> tuple[int, int]:
    """``(lower, upper)`` bounds on the diameter in hops of a connected graph of chips (no switches).

    Eccentricity bounding: a BFS from v gives its eccentricity e, and for every node w at distance d
    ``max(d, e - d) <= ecc(w) <= e + d``. Sources alternate between the candidate with the largest upper
    bound and the one with the smallest lower bound; a node leaves the candidates once it cannot raise
    the diameter or teach more. Stops when the bounds meet (``lower == upper``: exact) or after
    ``max_searches`` searches (None: no limit).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.path_graph(10)
    >>> nx.set_node_attributes(g, "chip", "kind")
    >>> diameter_bounds(g)
    (9, 9)
    """
    nodes = sorted(graph, key=node_sort_key)
    if any(graph.nodes[v]["kind"] != "chip" for v in nodes):
        raise ValueError("diameter_bounds: graphs with switches have closed forms; use diameter_hops")
    n = len(nodes)
    if n <= 1:
        return 0, 0
    index = {v: i for i, v in enumerate(nodes)}
    adj = [[index[w] for w in graph[v]] for v in nodes]
    lo, hi = [0] * n, [n - 1] * n  # n - 1 hops: the longest possible shortest path
    candidates = set(range(n))
    lower, upper, searches, high = 0, n - 1, 0, True
    source = max(range(n), key=lambda i: (len(adj[i]), -i))  # a hub first: a central node bounds well
    while candidates and lower < upper and (max_searches is None or searches < max_searches):
        dist = hop_bfs(adj, source)[0]
        searches += 1
        if min(dist) < 0:
            raise ValueError("diameter_bounds: the graph is not connected")
        ecc = max(dist)
        for w in candidates:
            d = dist[w]
            lo[w] = max(lo[w], d, ecc - d)
            hi[w] = min(hi[w], ecc + d)
        lower = max(lower, max(lo[w] for w in candidates))
        # ruled out: eccentricity known or at most `lower` (so it cannot be the diameter), and too far
        # from the centre to tighten others' bounds as a source
        candidates -= {w for w in candidates if lo[w] == hi[w] or (hi[w] <= lower and 2 * lo[w] >= upper)}
        upper = max([lower, *(hi[w] for w in candidates)])  # every ruled-out node has eccentricity <= lower
        if candidates:  # alternate: the largest upper bound (peripheral) and the smallest lower (central)
            source = (max(candidates, key=lambda w: (hi[w], len(adj[w]), -w)) if high
                      else min(candidates, key=lambda w: (lo[w], -len(adj[w]), w)))
            high = not high
    return lower, upper


# --------------------------------------------------------------------------- bisection
def bisection_bandwidth_bytes_per_s(system: SystemSpec, graph: nx.Graph) -> float:
    """Bisection bandwidth (per direction): the least total ``bandwidth_bytes_per_s`` of the links
    cut when the chips are split into halves of ``⌊n/2⌋`` and ``⌈n/2⌉`` (switches on either side).

    Exact by formula for uniform links (no link override that changes a bandwidth: a latency cuts no
    bandwidth) on: ring (2 links), fully_connected
    (⌊n/2⌋·⌈n/2⌉), switch (⌊n/2⌋), hypercube (2^(d-1)), mesh2d/torus2d/torus3d whose longest side L
    is even (n/L links, twice that for a torus) and trees with even branching b (b/2 links; n/2 leaf
    links' worth when fat). Otherwise an **estimate** (an upper bound on the true minimum): the
    smaller of the natural cut for the kind (chips split in index order, grids across the longest
    side, switches placed by local search) and, for switch-free graphs of at most :data:`KL_MAX_NODES`
    nodes, networkx's Kernighan–Lin bisection (seed 0). :func:`bisection_is_exact` tells which. 0 for
    a single chip.

    Examples
    --------
    >>> from ampsim.hardware.parse import system_from_dict
    >>> from ampsim.hardware.topology import build_topology
    >>> s = system_from_dict({"system": {"name": "t", "source": "doc"},
    ...     "chip": {"flops_per_s": 1e12, "mem_bandwidth_bytes_per_s": 1e11, "overhead_s": 0, "memory_bytes": 1},
    ...     "link": {"latency_s": 1e-7, "bandwidth_bytes_per_s": 1e9},
    ...     "topology": {"kind": "torus2d", "shape": [4, 4]}}, "doc.toml")
    >>> bisection_bandwidth_bytes_per_s(s, build_topology(s))  # 2 x 4 links
    8000000000.0
    """
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
    if topo.n_switches == 0 and graph.number_of_nodes() <= KL_MAX_NODES:
        a, b = nx.algorithms.community.kernighan_lin_bisection(graph, weight=w, seed=0)
        best = min(best, nx.cut_size(graph, a, b, weight=w))
    return float(best)


def bisection_is_exact(system: SystemSpec) -> bool:
    """Whether :func:`bisection_bandwidth_bytes_per_s` uses an exact formula for ``system``."""
    return _formula_links(system) is not None


def _formula_links(system: SystemSpec) -> float | None:
    topo, n = system.topology, system.topology.n_chips
    if _bandwidth_overridden(system):
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


def _place_switches(graph: nx.Graph, side_a: set[Node]) -> set[Node]:
    """Switches to put on side A (given the chips there) by local search on the cut weight."""
    switches = sorted((v for v in graph if graph.nodes[v]["kind"] == "switch"), key=node_sort_key)
    # neighbour lists read once: networkx's views cost more than the search itself
    links = {s: [(t, e["bandwidth_bytes_per_s"]) for t, e in graph[s].items()] for s in switches}
    in_a: set[Node] = set()
    for _ in range(len(switches) + 1):
        changed = False
        for s in switches:
            gain = 0.0  # cut weight saved by having s on side A rather than B
            for t, bw in links[s]:
                on_a = t in side_a or t in in_a
                gain += bw * (1 if on_a else -1)
            if (gain > 0) != (s in in_a) and gain != 0:
                (in_a.add if gain > 0 else in_a.discard)(s)
                changed = True
        if not changed:
            break
    return in_a


def _bandwidth_overridden(system: SystemSpec) -> bool:
    """Whether a ``[[link_override]]`` gives a link another bandwidth than ``[link]`` does (times its scale in a
    fat tree, as :func:`~ampsim.hardware.topology.build_topology` computes it). An override of latency only, or
    of a bandwidth to the value the link has anyway, leaves the links uniform: it made the formula's exact
    bisection an estimate (``ampsim info``'s "(estimate)"), computed by a search that may miss the minimum."""
    given = [o for o in system.link_overrides if o.bandwidth_bytes_per_s is not None]
    if not given:
        return False
    scales = structure_graph(system.topology).edges  # (cached per topology)
    bw = system.link.bandwidth_bytes_per_s
    return any(o.bandwidth_bytes_per_s != bw * scales[o.between]["bandwidth_scale"] for o in given)

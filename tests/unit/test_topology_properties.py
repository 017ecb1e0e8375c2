"""Closed forms and bounds of ampsim.hardware.properties against networkx's exact computations, and the
direct topology construction against networkx's generators, on small sizes of every kind."""

from __future__ import annotations

import doctest
import itertools
import random

import networkx as nx
import pytest

from ampsim.hardware import properties
from ampsim.hardware.info import describe, format_info
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.properties import (
    bisection_bandwidth_bytes_per_s,
    bisection_is_exact,
    closed_form_diameter_hops,
    diameter_bounds,
    system_diameter_hops,
)
from ampsim.hardware.spec import node_sort_key
from ampsim.hardware.topology import build_topology

BW = 2.5e10

#: several sizes of every regular kind (small enough for networkx's all-pairs search)
REGULAR = (
    [{"kind": "ring", "n": n} for n in (3, 4, 7, 10)]
    + [{"kind": "fully_connected", "n": n} for n in (1, 2, 5, 8)]
    + [{"kind": "switch", "n": n} for n in (2, 3, 6)]
    + [{"kind": "mesh2d", "shape": s} for s in ([1, 1], [1, 6], [2, 3], [4, 4], [5, 3])]
    + [{"kind": "torus2d", "shape": s} for s in ([3, 3], [3, 6], [4, 5], [6, 6])]
    + [{"kind": "torus3d", "shape": s} for s in ([3, 3, 3], [3, 4, 5], [6, 3, 4])]
    + [{"kind": "hypercube", "dim": d} for d in (1, 2, 3, 5)]
    + [{"kind": "tree", "branching": b, "height": h, "fat": fat}
       for b, h in ((2, 1), (2, 3), (3, 2), (4, 2)) for fat in (False, True)]
)


def system(topology: dict, **sections):
    d = {"system": {"name": "t", "source": "test"},
         "chip": {"flops_per_s": 1.0e12, "mem_bandwidth_bytes_per_s": 1.0e11, "overhead_s": 1.0e-6,
                  "memory_bytes": 1000},
         "link": {"latency_s": 1.0e-7, "bandwidth_bytes_per_s": BW},
         "topology": topology, **sections}
    return system_from_dict(d, "test.toml")


def tid(topology: dict) -> str:
    return "-".join(str(v).replace(" ", "") for v in topology.values())


def chips_of(g: nx.Graph) -> list:
    return [v for v in g if g.nodes[v]["kind"] == "chip"]


def networkx_diameter(g: nx.Graph) -> int:
    """Chip-to-chip diameter from networkx's all-pairs breadth-first search."""
    chips = set(chips_of(g))
    return max(d for c in chips for t, d in nx.single_source_shortest_path_length(g, c).items() if t in chips)


# --------------------------------------------------------------------------- diameter
@pytest.mark.parametrize("topology", REGULAR, ids=tid)
def test_closed_form_diameter_equals_networkx(topology):
    s = system(topology)
    g = build_topology(s)
    assert closed_form_diameter_hops(s.topology) == networkx_diameter(g)
    assert system_diameter_hops(s, g) == (networkx_diameter(g), True)
    assert properties.diameter_hops(g) == networkx_diameter(g)  # the exact BFS reference agrees


def random_connected_edges(n: int, extra: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    edges = {tuple(sorted((i, rng.randrange(i)))) for i in range(1, n)}  # a random spanning tree
    while len(edges) < n - 1 + extra:
        a, b = rng.sample(range(n), 2)
        edges.add((min(a, b), max(a, b)))
    return [list(e) for e in sorted(edges)]


@pytest.mark.parametrize("n, extra, seed", [(2, 0, 0), (9, 0, 1), (30, 5, 2), (60, 40, 3), (200, 20, 4),
                                            (120, 400, 5)])
def test_explicit_diameter_is_exact_and_equals_networkx(n, extra, seed):
    s = system({"kind": "explicit", "edges": random_connected_edges(n, extra, seed)})
    g = build_topology(s)
    assert closed_form_diameter_hops(s.topology) is None
    assert diameter_bounds(g) == (nx.diameter(g),) * 2
    assert system_diameter_hops(s, g) == (nx.diameter(g), True)


@pytest.mark.parametrize("seed", range(5))
def test_budgeted_diameter_bounds_bracket_the_truth(seed):
    g = nx.connected_watts_strogatz_graph(300, 4, 0.1, seed=seed)
    nx.set_node_attributes(g, "chip", "kind")
    true = nx.diameter(g)
    for budget in (0, 1, 2, 3):
        lower, upper = diameter_bounds(g, max_searches=budget)
        assert lower <= true <= upper
    assert diameter_bounds(g) == (true, true)


def test_large_explicit_diameter_is_sampled_and_says_so(monkeypatch):
    # a long path with a chord: one search from the hub cannot pin the diameter
    edges = [[i, i + 1] for i in range(59)] + [[10, 50]]
    s = system({"kind": "explicit", "edges": edges})
    g = build_topology(s)
    monkeypatch.setattr(properties, "EXACT_DIAMETER_MAX_CHIPS", 10)
    monkeypatch.setattr(properties, "DIAMETER_WORK", 1)
    monkeypatch.setattr(properties, "MIN_DIAMETER_SEARCHES", 1)
    hops, exact = system_diameter_hops(s, g)
    assert not exact and 0 < hops < nx.diameter(g)
    d = describe(s, g)
    assert d["diameter_hops"] == hops and d["diameter_exact"] is False
    assert f"≥ {hops} (sampled)" in format_info(d)
    monkeypatch.setattr(properties, "MIN_DIAMETER_SEARCHES", 100)
    assert system_diameter_hops(s, g) == (nx.diameter(g), True)
    assert "(sampled)" not in format_info(describe(s, g))


def test_diameter_bounds_rejects_switches_and_disconnected_graphs():
    with pytest.raises(ValueError, match="switches"):
        diameter_bounds(build_topology(system({"kind": "switch", "n": 3})))
    g = nx.Graph([(0, 1), (2, 3)])
    nx.set_node_attributes(g, "chip", "kind")
    with pytest.raises(ValueError, match="not connected"):
        diameter_bounds(g)


# --------------------------------------------------------------------------- bisection
def brute_force_bisection(g: nx.Graph) -> float:
    chips, switches = chips_of(g), [v for v in g if g.nodes[v]["kind"] == "switch"]
    best = float("inf")
    for side in itertools.combinations(chips, len(chips) // 2):
        for mask in range(2 ** len(switches)):
            a = set(side) | {s for i, s in enumerate(switches) if mask >> i & 1}
            best = min(best, nx.cut_size(g, a, weight="bandwidth_bytes_per_s"))
    return best


@pytest.mark.parametrize("topology", [t for t in REGULAR if system(t).n_chips <= 12
                                      and system(t).topology.n_switches <= 4], ids=tid)
def test_bisection_formula_or_estimate_against_brute_force(topology):
    s = system(topology)
    if s.n_chips < 2:
        return
    g = build_topology(s)
    exact, value = brute_force_bisection(g), bisection_bandwidth_bytes_per_s(s, g)
    if bisection_is_exact(s):
        assert value == pytest.approx(exact)
    else:
        assert exact <= value <= 1.5 * exact


# --------------------------------------------------------------------------- construction
def networkx_structure(topo) -> nx.Graph:
    """The topology built with networkx's generators and relabelling (the original construction)."""
    kind, coords = topo.kind, False
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
        g, coords = nx.grid_2d_graph(*topo.shape, periodic=(kind == "torus2d")), True
    elif kind == "torus3d":
        g, coords = nx.grid_graph(dim=list(reversed(topo.shape)), periodic=True), True
    elif kind == "hypercube":
        g = nx.relabel_nodes(nx.hypercube_graph(topo.dim),
                             lambda b: b if isinstance(b, int) else int("".join(map(str, b)), 2))
    else:
        g = nx.relabel_nodes(nx.balanced_tree(topo.branching, topo.height),
                             lambda v: ("switch", v) if v < topo.n_switches else v - topo.n_switches)
    if coords:
        index = {}
        for c in g:  # row-major
            i = 0
            for x, size in zip(c, topo.shape):
                i = i * size + x
            index[c] = i
        g = nx.relabel_nodes(g, index)
        nx.set_node_attributes(g, {i: c for c, i in index.items()}, "coord")
    return g


@pytest.mark.parametrize("topology", REGULAR + [{"kind": "explicit", "edges": [[0, 3], [3, 1], [1, 2]]}],
                         ids=tid)
def test_direct_construction_equals_networkx_generators(topology):
    s = system(topology)
    g, ref = build_topology(s), networkx_structure(s.topology)
    assert sorted(g, key=node_sort_key) == list(g)  # deterministic insertion order
    assert set(g) == set(ref) and {frozenset(e) for e in g.edges} == {frozenset(e) for e in ref.edges}
    for v in ref:
        assert g.nodes[v]["kind"] == ("chip" if isinstance(v, int) else "switch")
        assert g.nodes[v].get("coord") == ref.nodes[v].get("coord")
    ids = [e["link_id"] for *_, e in g.edges(data=True)]
    assert ids == list(range(g.number_of_edges()))  # link ids in sorted edge order
    if topology.get("fat"):
        for u, v, e in g.edges(data=True):
            child = u if isinstance(u, int) else max(u, v, key=node_sort_key)
            below = sum(1 for c in nx.descendants(nx.bfs_tree(ref, ("switch", 0)), child) if isinstance(c, int))
            assert e["bandwidth_bytes_per_s"] == BW * max(below, 1)


def test_link_overrides_reach_chip_and_switch_links():
    s = system({"kind": "tree", "branching": 2, "height": 2, "fat": True},
               link_override=[{"between": ["switch0", "switch1"], "bandwidth_bytes_per_s": 1e9},
                              {"between": [3, "switch2"], "latency_s": 5e-6}])
    g = build_topology(s)
    assert g.edges[("switch", 0), ("switch", 1)]["bandwidth_bytes_per_s"] == 1e9
    assert g.edges[3, ("switch", 2)]["latency_s"] == 5e-6 and g.edges[2, ("switch", 2)]["latency_s"] == 1e-7
    assert g.edges[("switch", 0), ("switch", 2)]["bandwidth_bytes_per_s"] == 2 * BW


def test_docstring_examples():
    assert doctest.testmod(properties, raise_on_error=True).attempted >= 7

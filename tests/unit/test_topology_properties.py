"""Closed forms and bounds of ampsim.hardware.properties against networkx's exact computations, and the
direct topology construction against networkx's generators, on small sizes of every kind; then, by property
over random small machines of every kind the parser accepts, what :mod:`ampsim.hardware.topology` and
:mod:`ampsim.hardware.routing` promise: each kind's chip and link counts and degrees by formula, its links
where the kind puts them, routes that are paths of links as short as the kind's closed-form distance (least
latency, then fewest hops, then the smallest predecessor, under per-link latencies), the same in another
process, per-link overrides on exactly the links they name, and ``ampsim info`` agreeing with the graph."""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import hashlib
import io
import itertools
import math
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ampsim.cli import main
from ampsim.errors import ConfigError
from ampsim.executors.sim.linktable import LinkTable
from ampsim.hardware import properties
from ampsim.hardware.info import describe, format_info
from ampsim.hardware.parse import load_system, system_from_dict
from ampsim.hardware.properties import (
    bisection_bandwidth_bytes_per_s,
    bisection_is_exact,
    closed_form_diameter_hops,
    diameter_bounds,
    system_diameter_hops,
)
from ampsim.hardware.routing import routes
from ampsim.hardware.spec import TOPOLOGY_PARAMS, LinkOverride, node_sort_key
from ampsim.hardware.topology import build_topology
from ampsim.tomltext import dump_toml

BW, LAT = 2.5e10, 1.0e-7

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
         "link": {"latency_s": LAT, "bandwidth_bytes_per_s": BW},
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


# =========================================================================== properties, by kind
# Each kind's structure written out again from the README's topology table and the topology module's
# docstring (numbering, which chips are linked, hop distances), independently of how topology.py builds it.

#: small and derandomized: each test takes seconds, the section well under a minute
PROPS = settings(derandomize=True, deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def explicit_edges(draw) -> list[list[int]]:
    """A connected random graph on 2..16 chips: a random spanning tree plus extra links, relabelled at
    random and each pair written either way round."""
    n = draw(st.integers(2, 16))
    label = draw(st.permutations(range(n)))
    pairs = {frozenset((i, draw(st.integers(0, i - 1)))) for i in range(1, n)}
    for a, b in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=24)):
        if a != b:
            pairs.add(frozenset((a, b)))
    edges = [sorted(label[x] for x in p) for p in sorted(pairs, key=sorted)]
    return [e[::-1] if draw(st.booleans()) else e for e in edges]


def _tree(b: int, h: int, fat: bool) -> dict:
    return {"kind": "tree", "branching": b, "height": h, "fat": fat}


#: a strategy of ``[topology]`` tables per kind the parser accepts, sizes from the smallest allowed
KINDS = {
    "ring": st.builds(lambda n: {"kind": "ring", "n": n}, st.integers(3, 24)),
    "fully_connected": st.builds(lambda n: {"kind": "fully_connected", "n": n}, st.integers(1, 12)),
    "switch": st.builds(lambda n: {"kind": "switch", "n": n}, st.integers(2, 20)),
    "mesh2d": st.builds(lambda s: {"kind": "mesh2d", "shape": s}, st.lists(st.integers(1, 7), min_size=2, max_size=2)),
    "torus2d": st.builds(lambda s: {"kind": "torus2d", "shape": s}, st.lists(st.integers(3, 7), min_size=2, max_size=2)),
    "torus3d": st.builds(lambda s: {"kind": "torus3d", "shape": s}, st.lists(st.integers(3, 4), min_size=3, max_size=3)),
    "hypercube": st.builds(lambda d: {"kind": "hypercube", "dim": d}, st.integers(1, 6)),
    "tree": st.one_of(st.builds(_tree, st.integers(2, 8), st.integers(1, 2), st.booleans()),
                      st.builds(_tree, st.integers(3, 4), st.just(3), st.booleans()),
                      st.builds(_tree, st.just(2), st.integers(3, 6), st.booleans())),
    "explicit": st.builds(lambda e, n: {"kind": "explicit", "edges": e, **({"n": max(map(max, e)) + 1} if n else {})},
                          explicit_edges(), st.booleans()),
}
ANY_TOPOLOGY = st.sampled_from(sorted(KINDS)).flatmap(KINDS.get)


def test_every_kind_the_parser_accepts_is_drawn():
    assert set(KINDS) == set(TOPOLOGY_PARAMS)


class Reference:
    """One machine's structure by the kind's formulas: its chips, switches, links (as sets of two nodes),
    each chip's degree and the hop distance between two chips, and for trees each chip's path."""

    def __init__(self, t: dict):
        self.kind = kind = t["kind"]
        self.shape = tuple(t.get("shape", ()))
        self.switches: list = []
        if kind in ("ring", "fully_connected", "switch"):
            self.n = t["n"]
        elif self.shape:
            self.n = math.prod(self.shape)
        elif kind == "hypercube":
            self.n = 2 ** t["dim"]
        elif kind == "tree":
            b, h = t["branching"], t["height"]
            self.b, self.n_sw, self.n = b, (b ** h - 1) // (b - 1), b ** h
            self.switches = [("switch", k) for k in range(self.n_sw)]
        else:
            self.edges = {frozenset(e) for e in t["edges"]}
            self.n = max(max(e) for e in t["edges"]) + 1
            self._nx = nx.Graph(list(map(tuple, self.edges)))
        if kind == "switch":
            self.switches = [("switch", 0)]
        self.n_links = len(self.edges) if kind == "explicit" else {
            "ring": self.n, "fully_connected": self.n * (self.n - 1) // 2, "switch": self.n,
            "mesh2d": sum((s - 1) * self.n // s for s in self.shape), "torus2d": 2 * self.n, "torus3d": 3 * self.n,
            "hypercube": t.get("dim", 0) * self.n // 2, "tree": self.n + len(self.switches) - 1}[kind]

    def coord(self, c: int) -> tuple[int, ...]:
        """Row-major: chip = (i*shape[1] + j)*shape[2] + k."""
        out = []
        for s in reversed(self.shape):
            c, x = divmod(c, s)
            out.append(x)
        return tuple(reversed(out))

    def axis_steps(self, a: int, b: int) -> list[int]:
        """Hops along each axis between two grid chips: |dx|, or the shorter way round a torus."""
        steps = [abs(x - y) for x, y in zip(self.coord(a), self.coord(b))]
        return steps if self.kind == "mesh2d" else [min(d, s - d) for d, s in zip(steps, self.shape)]

    def node(self, label: int):
        """A tree's breadth-first label: internal nodes are switches, leaves chips (left to right)."""
        return ("switch", label) if label < self.n_sw else label - self.n_sw

    def tree_path(self, a: int, b: int) -> tuple:
        """Up from chip a to the lowest common ancestor, then down to chip b (parent of label k: (k-1)//b)."""
        up, down = [a + self.n_sw], [b + self.n_sw]
        while up[-1] != down[-1]:  # leaves all at one depth: climb both sides together
            up.append((up[-1] - 1) // self.b)
            down.append((down[-1] - 1) // self.b)
        return tuple(self.node(k) for k in up + down[-2::-1])

    def linked(self, u, v) -> bool:
        """Whether the kind puts a link between nodes u and v (u != v)."""
        kind = self.kind
        if kind == "tree":
            lu, lv = (x[1] if isinstance(x, tuple) else x + self.n_sw for x in (u, v))
            return (max(lu, lv) - 1) // self.b == min(lu, lv)
        if kind == "switch":
            return isinstance(u, tuple) != isinstance(v, tuple)
        if kind == "explicit":
            return frozenset((u, v)) in self.edges
        return self.distance(u, v) == 1

    def distance(self, a: int, b: int) -> int:
        """Hops between chips a and b on a fewest-hop path, by formula."""
        kind = self.kind
        if a == b:
            return 0
        if kind == "ring":
            return min((a - b) % self.n, (b - a) % self.n)
        if kind == "fully_connected":
            return 1
        if kind == "switch":
            return 2
        if self.shape:
            return sum(self.axis_steps(a, b))
        if kind == "hypercube":
            return bin(a ^ b).count("1")
        if kind == "tree":
            return len(self.tree_path(a, b)) - 1
        return nx.shortest_path_length(self._nx, a, b)  # (no formula for a list of links)

    def degree(self, v) -> int:
        kind = self.kind
        if kind == "ring":
            return 2
        if kind == "fully_connected":
            return self.n - 1
        if kind == "switch":
            return self.n if isinstance(v, tuple) else 1
        if kind == "mesh2d":
            return sum((x > 0) + (x < s - 1) for x, s in zip(self.coord(v), self.shape))
        if kind in ("torus2d", "torus3d"):
            return 2 * len(self.shape)
        if kind == "hypercube":
            return self.n.bit_length() - 1
        if kind == "tree":
            return 1 if isinstance(v, int) else self.b + (v != ("switch", 0))
        return sum(v in e for e in self.edges)


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPS
@given(data=st.data())
def test_counts_degrees_and_links_are_the_kinds(kind, data):
    topology = data.draw(KINDS[kind])
    ref, s = Reference(topology), system(topology)
    g = build_topology(s)
    assert (s.n_chips, s.topology.n_switches, g.number_of_edges()) == (ref.n, len(ref.switches), ref.n_links)
    assert (g.graph["n_chips"], g.graph["n_switches"]) == (ref.n, len(ref.switches))
    assert list(g) == list(range(ref.n)) + ref.switches  # chips, then switches: node_sort_key order
    assert nx.is_connected(g)
    for v in g:
        assert g.nodes[v]["kind"] == ("chip" if isinstance(v, int) else "switch")
        assert g.degree(v) == ref.degree(v), v
        if ref.shape:
            assert g.nodes[v]["coord"] == ref.coord(v)
    if g.graph["vertex_transitive"]:  # (so the diameter takes one search) every chip sees the same distances
        assert len({tuple(sorted(ref.distance(a, b) for b in range(ref.n))) for a in range(ref.n)}) == 1
    assert properties.diameter_hops(g) == max(ref.distance(a, b) for a in range(ref.n) for b in range(ref.n))
    for u, v, e in g.edges(data=True):  # a fat tree's link: the chips below it times the bandwidth
        below = 1
        if ref.kind == "tree" and topology["fat"] and not isinstance(u, int):
            below = ref.b ** (topology["height"] - _depth(v[1], ref.b))
        assert (e["bandwidth_scale"], e["bandwidth_bytes_per_s"], e["latency_s"]) == (below, below * BW, LAT)
    expected = {frozenset((u, v)) for u, v in itertools.combinations(list(g), 2) if ref.linked(u, v)}
    assert {frozenset(e) for e in g.edges} == expected  # wrap-around links on a torus, none on a mesh
    edges, lats, bws = g.graph["links"]
    assert [(u, v) for u, v, _ in sorted(g.edges(data="link_id"), key=lambda e: e[2])] == edges
    assert all(node_sort_key(u) < node_sort_key(v) for u, v in edges) and edges == sorted(edges, key=_pair_key)
    assert lats == [LAT] * len(edges) and bws == [g.edges[e]["bandwidth_bytes_per_s"] for e in edges]


def _depth(label: int, b: int) -> int:
    """A breadth-first label's depth in a tree of branching b (the root's is 0)."""
    return 0 if label == 0 else 1 + _depth((label - 1) // b, b)


def _pair_key(e):
    return node_sort_key(e[0]), node_sort_key(e[1])


def check_route(g, ref: Reference, r, a: int, b: int) -> tuple:
    path = r[a, b]
    assert path[0] == a and path[-1] == b and len(set(path)) == len(path)
    assert all(g.has_edge(u, v) for u, v in zip(path, path[1:])), path
    assert len(path) - 1 == r.hops(a, b) == ref.distance(a, b), (a, b, path)
    assert r.links(a, b) == tuple(zip(path, path[1:]))
    if ref.kind in ("tree", "switch"):  # the one path: up to the common ancestor (the hub) and down
        assert path == (ref.tree_path(a, b) if ref.kind == "tree" else (a, ("switch", 0), b) if a != b else (a,))
    else:
        assert all(isinstance(v, int) for v in path)
    return path


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPS
@given(data=st.data())
def test_routes_are_shortest_paths_of_links_and_the_same_every_time(kind, data):
    topology = data.draw(KINDS[kind])
    ref, s = Reference(topology), system(topology)
    g = build_topology(s)
    r = routes(g)
    got = {(a, b): check_route(g, ref, r, a, b) for a in range(ref.n) for b in range(ref.n)}
    assert dict(r.items()) == got and len(r) == ref.n ** 2
    again = build_topology(system(topology))
    del again.graph["routing_key"]  # computed anew, not read from the tables the first machine filled
    assert dict(routes(again).items()) == got
    assert r.many(list(got)) == list(got.values())
    # a route's way back is its reverse where the shortest path is unique (trees, the switch's star, one hop).
    # Not in general, and no docstring says so: each end takes its smallest predecessor, so on a ring of 6
    # 1 -> 4 is (1, 2, 3, 4) and 4 -> 1 is (4, 5, 0, 1), both the same way round; a message and its reply
    # need not share links (808 of the 4,096 ordered pairs of the 8x8 torus)
    for (a, b), path in got.items():
        if ref.kind in ("tree", "switch", "fully_connected") or ref.distance(a, b) <= 1:
            assert got[b, a] == path[::-1]


def lat_fs(e: dict) -> int:
    return round(e["latency_s"] * 1e15)


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPS
@given(data=st.data())
def test_overrides_apply_to_the_named_links_and_routes_take_least_latency_then_fewest_hops(kind, data):
    topology = data.draw(KINDS[kind])
    ref, plain = Reference(topology), build_topology(system(topology))
    links = list(plain.edges)
    named = data.draw(st.lists(st.sampled_from(links), unique=True, max_size=min(len(links), 6)) if links
                      else st.just([]))
    tables, want = [], {}
    for u, v in named:
        lat = data.draw(st.sampled_from([None, 0.0, 0.5 * LAT, LAT, 2 * LAT, 3 * LAT]))
        bw = data.draw(st.sampled_from([None, 1e9, BW]))
        if lat is None and bw is None:
            bw = 1e9
        ends = [x if isinstance(x, int) else f"switch{x[1]}" for x in ((u, v) if data.draw(st.booleans()) else (v, u))]
        tables.append({"between": ends, **({} if lat is None else {"latency_s": lat}),
                       **({} if bw is None else {"bandwidth_bytes_per_s": bw})})
        want[frozenset((u, v))] = (LAT if lat is None else lat,
                                   plain.edges[u, v]["bandwidth_bytes_per_s"] if bw is None else bw)
    s = system(topology, **({"link_override": tables} if tables else {}))
    assert system_from_dict(s.to_dict(), "again.toml") == s  # (what a run's hardware.toml holds)
    g = build_topology(s)
    for u, v, e in g.edges(data=True):  # the named links as the overrides say, every other as the plain machine's
        lat, bw = want.get(frozenset((u, v)), (LAT, plain.edges[u, v]["bandwidth_bytes_per_s"]))
        assert (e["latency_s"], e["bandwidth_bytes_per_s"]) == (lat, bw), (u, v)
        assert e["bandwidth_scale"] == plain.edges[u, v]["bandwidth_scale"] and e["link_id"] == plain.edges[u, v]["link_id"]
    # routes: least total latency, ties to fewer hops, then to the smallest predecessor (Routes' docstring)
    big = g.number_of_nodes() + 1
    r = routes(g)
    for a in range(ref.n):
        key = nx.single_source_dijkstra_path_length(g, a, weight=lambda u, v, e: lat_fs(e) * big + 1)
        for b in range(ref.n):
            path = r[a, b]
            assert path[0] == a and path[-1] == b and key[b] == sum(
                lat_fs(g.edges[u, v]) * big + 1 for u, v in zip(path, path[1:])), (a, b, path)
            for u, v in zip(path, path[1:]):
                best = [w for w in g[v] if key[w] + lat_fs(g.edges[w, v]) * big + 1 == key[v]]
                assert u == min(best, key=node_sort_key), (a, b, path, v, best)
            if not any("latency_s" in t for t in tables):
                assert len(path) - 1 == ref.distance(a, b)
    fresh = g.copy()
    del fresh.graph["routing_key"]
    assert dict(routes(fresh).items()) == dict(r.items())
    # the replay's link table: one id per direction of each link, and each route's ids, latencies and bandwidths
    table = LinkTable(g, r)
    assert sorted(map(frozenset, map(table.link_of, range(len(table))))) == sorted(
        frozenset(e) for e in g.edges for _ in "uv") and len(table) == 2 * g.number_of_edges()
    assert all(table.id_of(table.link_of(i)) == i for i in range(len(table)))
    pairs = [(a, b) for a in range(ref.n) for b in range(ref.n)]
    lengths, lid, lats, bws = table.hops(pairs)
    assert lengths.tolist() == [r.hops(a, b) for a, b in pairs]
    assert [table.link_of(i) for i in lid] == [link for a, b in pairs for link in r.links(a, b)]
    assert lats.tolist() == [g.edges[table.link_of(i)]["latency_s"] for i in lid]
    assert bws.tolist() == [g.edges[table.link_of(i)]["bandwidth_bytes_per_s"] for i in lid]
    d = describe(s, g)
    # heterogeneous: some link differs from what [link] gives it (an override to the same values changes none)
    assert d["heterogeneous"] == any((e["latency_s"], e["bandwidth_bytes_per_s"]) != (LAT, BW * e["bandwidth_scale"])
                                     for *_, e in g.edges(data=True))
    assert len(d.get("link_override", ())) <= len(tables)
    assert d["min_link_bandwidth_bytes_per_s"] == min((e for *_, e in g.edges(data="bandwidth_bytes_per_s")),
                                                      default=0.0)
    assert d["max_link_latency_s"] == max((e for *_, e in g.edges(data="latency_s")), default=0.0)


def test_an_override_to_the_links_own_values_is_no_heterogeneity():
    """``heterogeneous`` (chips or links differ) said yes for a [[link_override]] that changed nothing, while a
    [[chip_override]] to the default chip's values was rightly no heterogeneity."""
    for override in ({"latency_s": LAT}, {"bandwidth_bytes_per_s": BW}):
        s = system({"kind": "ring", "n": 4}, link_override=[{"between": [0, 1], **override}])
        assert describe(s, build_topology(s))["heterogeneous"] is False
    s = system({"kind": "ring", "n": 4}, link_override=[{"between": [0, 1], "latency_s": 2 * LAT}])
    assert describe(s, build_topology(s))["heterogeneous"] is True


def test_later_overrides_of_one_link_win_field_by_field():
    g = build_topology(system({"kind": "tree", "branching": 2, "height": 2, "fat": True}, link_override=[
        {"between": ["switch1", "switch0"], "latency_s": 5e-6}, {"between": ["switch0", "switch1"], "bandwidth_bytes_per_s": 1e9},
        {"between": ["switch1", "switch0"], "latency_s": 7e-6}]))
    e = g.edges[("switch", 0), ("switch", 1)]
    assert (e["latency_s"], e["bandwidth_bytes_per_s"]) == (7e-6, 1e9)


#: the routes of these machines are computed again in processes with other hash seeds
ACROSS = [{"kind": "ring", "n": 8}, {"kind": "torus2d", "shape": [4, 5]}, {"kind": "torus3d", "shape": [3, 4, 3]},
          {"kind": "mesh2d", "shape": [3, 5]}, {"kind": "hypercube", "dim": 4}, {"kind": "switch", "n": 5},
          {"kind": "fully_connected", "n": 5}, _tree(3, 2, True),
          {"kind": "explicit", "edges": [[0, 3], [3, 1], [1, 2], [2, 0], [4, 1], [4, 3]]}]


def across_digest() -> str:
    """A digest of every route of the :data:`ACROSS` machines, with uniform latencies and with a slow first
    link and a free last one."""
    out = []
    for t in ACROSS:
        first, *_, last = build_topology(system(t)).graph["links"][0]
        ends = [[x if isinstance(x, int) else f"switch{x[1]}" for x in e] for e in (first, last)]
        slow = [{"between": ends[0], "latency_s": 3 * LAT}, {"between": ends[1], "latency_s": 0.0}]
        for sections in ({}, {"link_override": slow}):
            out.append(sorted(routes(build_topology(system(t, **sections))).items(), key=repr))
    return hashlib.sha256(repr(out).encode()).hexdigest()


def test_routes_are_the_same_in_other_processes_whatever_the_hash_seed():
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); " \
           "from test_topology_properties import across_digest; print(across_digest())"
    digests = {across_digest()}
    for seed in ("0", "1", "4242", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(run.stdout.strip())
    assert len(digests) == 1


@PROPS
@given(topology=ANY_TOPOLOGY)
def test_info_agrees_with_the_graph(topology):
    ref, s = Reference(topology), system(topology)
    g = build_topology(s)
    r = routes(g)
    d = describe(s, g)
    assert (d["topology"], d["n_chips"], d["n_switches"], d["n_links"]) == (
        ref.kind, ref.n, len(ref.switches), g.number_of_edges())
    assert (d["diameter_hops"], d["diameter_exact"]) == (max(r.hops(a, b) for a, b in r), True)
    assert d["min_link_bandwidth_bytes_per_s"] == min((e for *_, e in g.edges(data="bandwidth_bytes_per_s")),
                                                      default=0.0)
    assert d["max_link_latency_s"] == (LAT if ref.n_links else 0.0) and d["heterogeneous"] is False


@settings(derandomize=True, deadline=None, max_examples=9, suppress_health_check=[HealthCheck.too_slow])
@given(topology=ANY_TOPOLOGY)
def test_the_info_command_prints_the_graphs_numbers(topology):
    s = system(topology)
    d = describe(s, build_topology(s))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hw.toml"
        path.write_text(dump_toml(s.to_dict()), encoding="utf-8")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["info", str(path)]) == 0
    assert out.getvalue() == format_info(d) + "\n"
    rows = {k: v.strip() for k, _, v in (line.partition(" ") for line in out.getvalue().splitlines())}
    assert (rows["n_chips"], rows["n_links"], rows["diameter_hops"]) == (str(d["n_chips"]), str(d["n_links"]),
                                                                          str(d["diameter_hops"]))


def _name(node) -> int | str:
    return node if isinstance(node, int) else f"switch{node[1]}"


@PROPS
@given(topology=ANY_TOPOLOGY.filter(lambda t: Reference(t).n <= 10 and len(Reference(t).switches) <= 4),
       override=st.sampled_from([None, "latency", "same bandwidth"]))
def test_info_bisection_is_the_formula_where_exact_else_an_upper_bound(topology, override):
    """Exact where ``bisection_exact`` says so, otherwise at least the true minimum; a link override that
    changes no bandwidth (a latency, or the bandwidth the link has) keeps the formula's exact bisection."""
    plain = system(topology)
    g = build_topology(plain)
    s = plain
    if override and g.number_of_edges():
        (u, v), scale = g.graph["links"][0][-1], g.edges[g.graph["links"][0][-1]]["bandwidth_scale"]
        change = {"latency_s": 2 * LAT} if override == "latency" else {"bandwidth_bytes_per_s": BW * scale}
        s = system(topology, link_override=[{"between": [_name(v), _name(u)], **change}])
    d = describe(s, build_topology(s))
    if s.n_chips < 2:
        assert d["bisection_bandwidth_bytes_per_s"] == 0.0
        return
    truth = brute_force_bisection(g)
    assert d["bisection_bandwidth_bytes_per_s"] >= truth * (1 - 1e-12)
    assert d["bisection_exact"] == bisection_is_exact(plain)
    if d["bisection_exact"]:
        assert d["bisection_bandwidth_bytes_per_s"] == pytest.approx(truth)


def test_an_override_that_changes_no_bandwidth_keeps_the_exact_bisection():
    """A latency-only [[link_override]] (or one giving a link the bandwidth it has) made ``ampsim info``'s exact
    bisection "(estimate)"; a bandwidth that differs, a fat tree's unscaled one included, still does."""
    torus = {"kind": "torus2d", "shape": [4, 4]}
    for override in ({"latency_s": 5e-6}, {"bandwidth_bytes_per_s": BW}):
        s = system(torus, link_override=[{"between": [1, 0], **override}])
        d = describe(s, build_topology(s))
        assert d["bisection_exact"] and d["bisection_bandwidth_bytes_per_s"] == 8 * BW
        assert "(estimate)" not in format_info(d)
    fat = {"kind": "tree", "branching": 2, "height": 2, "fat": True}
    assert bisection_is_exact(system(fat, link_override=[{"between": ["switch0", "switch1"],
                                                          "bandwidth_bytes_per_s": 2 * BW}]))
    assert not bisection_is_exact(system(fat, link_override=[{"between": ["switch0", "switch1"],
                                                              "bandwidth_bytes_per_s": BW}]))
    assert not bisection_is_exact(system(torus, link_override=[{"between": [0, 1], "bandwidth_bytes_per_s": 1e9}]))


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "hardware_models").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_shipped_machines_have_their_kinds_structure_and_routes(path):
    s = load_system(path)
    ref, g = Reference(s.to_dict()["topology"]), build_topology(s)
    assert (s.n_chips, s.topology.n_switches, g.number_of_edges()) == (ref.n, len(ref.switches), ref.n_links)
    assert all(g.degree(v) == ref.degree(v) for v in g)
    r, rng = routes(g), random.Random(path.stem)
    pairs = list(itertools.product(range(ref.n), repeat=2)) if ref.n <= 64 else [
        (rng.randrange(ref.n), rng.randrange(ref.n)) for _ in range(200)]
    uniform_latency = not any(o.latency_s is not None for o in s.link_overrides)
    for a, b in pairs:
        path_ = r[a, b]
        assert all(g.has_edge(u, v) for u, v in zip(path_, path_[1:]))
        assert len(path_) - 1 == ref.distance(a, b) or not uniform_latency


@PROPS
@given(topology=ANY_TOPOLOGY, data=st.data())
def test_chip_overrides_reach_exactly_the_named_chips_later_ones_winning(topology, data):
    n = Reference(topology).n
    tables = data.draw(st.lists(st.fixed_dictionaries(
        {"chips": st.lists(st.integers(0, n - 1), min_size=1, max_size=5)},
        optional={"flops_per_s": st.sampled_from([1e11, 2e12]), "overhead_s": st.sampled_from([0.0, 1e-6, 2e-6])}),
        max_size=3).filter(lambda ts: all(len(t) > 1 for t in ts)))
    s = system(topology, **({"chip_override": tables} if tables else {}))
    g = build_topology(s)
    want = {c: {"flops_per_s": 1.0e12, "overhead_s": 1.0e-6} for c in range(n)}  # the [chip] table's
    for t in tables:
        for c in t["chips"]:
            want[c].update({k: v for k, v in t.items() if k != "chips"})
    for c in range(n):
        assert {k: g.nodes[c][k] for k in want[c]} == want[c] and g.nodes[c]["memory_bytes"] == 1000
    assert all("flops_per_s" not in g.nodes[v] for v in g if not isinstance(v, int))  # a switch computes nothing
    d = describe(s, g)
    changed = [c for c in range(n) if want[c] != {"flops_per_s": 1.0e12, "overhead_s": 1.0e-6}]
    assert sum(o["n_chips"] for o in d.get("chip_override", ())) == len(changed)
    assert d["heterogeneous"] == (len({tuple(w.values()) for w in want.values()}) > 1)
    assert d["total_flops_per_s"] == pytest.approx(sum(w["flops_per_s"] for w in want.values()))


def test_a_hand_made_override_applies_to_its_link_either_way_round_or_is_refused():
    """A :class:`SystemSpec` made by hand (``dataclasses.replace``, for ``ampsim.plan(cfg, system=...)``) whose
    override named a link (1, 0) rather than (0, 1), or no link at all, built a machine without it, in silence."""
    ring = system({"kind": "ring", "n": 4})
    g = build_topology(dataclasses.replace(ring, link_overrides=(LinkOverride((1, 0), latency_s=5e-6),)))
    assert g.edges[0, 1]["latency_s"] == 5e-6 and g.graph["links"][1][0] == 5e-6 and routes(g)[0, 1] == (0, 3, 2, 1)
    tree = system({"kind": "tree", "branching": 2, "height": 2})
    g = build_topology(dataclasses.replace(tree, link_overrides=(
        LinkOverride((("switch", 1), ("switch", 0)), latency_s=0.0), LinkOverride((("switch", 2), 3), None, 1e9))))
    assert g.edges[("switch", 0), ("switch", 1)]["latency_s"] == 0.0
    assert g.edges[3, ("switch", 2)]["bandwidth_bytes_per_s"] == 1e9
    with pytest.raises(ConfigError, match=r"^t: link_override.between: no link between 1 and 0 in this tree topology"):
        build_topology(dataclasses.replace(tree, link_overrides=(LinkOverride((1, 0), latency_s=5e-6),)))


def test_routes_is_a_mapping_whatever_the_key():
    """``in`` and ``get`` of a Mapping answer for any key: ``5 in routes`` raised a TypeError and
    ``routes.get((0, 1, 2))`` a ValueError (unpacking the key), where a chip that is none gave False and None."""
    r = routes(build_topology(system({"kind": "ring", "n": 4})))
    for key in (5, (0, 1, 2), (0,), "01", None, (0, 9), (0, ("switch", 0)), (True, 1)):
        assert key not in r and r.get(key) is None
    assert (0, 2) in r and r.get((0, 2)) == (0, 1, 2)
    with pytest.raises(KeyError, match="not a"):
        r[5]

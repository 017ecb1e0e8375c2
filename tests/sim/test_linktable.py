"""The replay's link table (``ampsim/executors/sim/linktable.py``): ids are a bijection onto the directed links;
a route's hops are the graph's own links, latencies and bandwidths, in order; machines that route alike share
their routes' ids, and a graph not built by ``build_topology`` is numbered all the same."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from ampsim.executors.sim import linktable
from ampsim.executors.sim.linktable import LinkTable
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.routing import routes
from ampsim.hardware.topology import build_topology

LINK = {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9}


def machine(topology: dict, **link):
    s = system_from_dict({"system": {"name": "t", "source": "test"}, "topology": topology, "link": {**LINK, **link},
                          "chip": {"flops_per_s": 1e12, "mem_bandwidth_bytes_per_s": 1e11, "overhead_s": 1e-6,
                                   "memory_bytes": 1000}}, "test.toml")
    return build_topology(s)


def walked(g, pairs):
    """The hops as the graph says: (u, v), latency, bandwidth of each link of each route, in order."""
    r = routes(g)
    return [[((u, v), g.edges[u, v]["latency_s"], g.edges[u, v]["bandwidth_bytes_per_s"])
             for u, v in zip(p, p[1:])] for p in r.many(pairs)]


def as_hops(table, pairs):
    lengths, lid, lat, bw = table.hops(pairs)
    flat = [(table.link_of(int(i)), a, b) for i, a, b in zip(lid, lat, bw)]
    ptr = np.concatenate([[0], np.cumsum(lengths)])
    return [flat[a:b] for a, b in zip(ptr, ptr[1:])]


@pytest.mark.parametrize("topology", [{"kind": "torus2d", "shape": [4, 4]}, {"kind": "hypercube", "dim": 4},
                                      {"kind": "tree", "branching": 2, "height": 3, "fat": True},
                                      {"kind": "switch", "n": 6}])
def test_ids_are_the_directed_links_and_routes_are_the_graphs(topology):
    g = machine(topology)
    table = LinkTable(g, routes(g))
    links = [link for u, v in g.edges for link in ((u, v), (v, u))]
    ids = [table.id_of(link) for link in links]
    assert sorted(ids) == list(range(len(table))) == list(range(2 * g.number_of_edges()))
    assert all(table.link_of(i) == link for i, link in zip(ids, links))
    chips = [v for v in g if g.nodes[v]["kind"] == "chip"]
    pairs = [(a, b) for a in chips for b in chips if a != b]
    assert as_hops(table, pairs) == walked(g, pairs)
    assert table.bandwidth_bytes_per_s == [g.edges[table.link_of(i)]["bandwidth_bytes_per_s"] for i in range(len(table))]


def test_machines_that_route_alike_share_route_ids_with_their_own_bandwidths(monkeypatch):
    fast, slow = machine({"kind": "torus2d", "shape": [4, 4]}), machine({"kind": "torus2d", "shape": [4, 4]},
                                                                          bandwidth_bytes_per_s=1e8)
    pairs = [(0, 5), (3, 12), (7, 1)]
    first = LinkTable(fast, routes(fast))
    first.hops(pairs)
    read = []
    monkeypatch.setattr(LinkTable, "id_of", lambda self, link: read.append(link))  # nothing left to read
    second = LinkTable(slow, routes(slow))
    lengths, lid, lat, bw = second.hops(pairs)
    assert not read and list(bw) == [1e8] * len(lid) and list(lat) == [1e-6] * len(lid)
    assert lid.tolist() == first.hops(pairs)[1].tolist()


def test_a_graph_of_ones_own_is_numbered_in_edge_order_and_kept_to_itself(monkeypatch):
    g = nx.Graph(switching="cut_through")
    g.add_edge(0, 1, latency_s=1e-6, bandwidth_bytes_per_s=1e9)
    g.add_edge(1, 2, latency_s=2e-6, bandwidth_bytes_per_s=5e8)
    for v in g:
        g.nodes[v]["kind"] = "chip"
    table = LinkTable(g, routes(g))
    assert [table.link_of(i) for i in range(4)] == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert [table.id_of(link) for link in ((0, 1), (1, 0), (1, 2), (2, 1))] == [0, 1, 2, 3]
    lengths, lid, lat, bw = table.hops([(0, 2), (2, 0)])
    assert lengths.tolist() == [2, 2] and lid.tolist() == [0, 2, 3, 1] and lat.tolist() == [1e-6, 2e-6, 2e-6, 1e-6]
    assert linktable._ROUTE_IDS.get(None) is None  # no routing key: nothing shared


def test_a_built_graph_changed_since_is_read_from_its_edges():
    g = machine({"kind": "ring", "n": 4})
    g.remove_edge(0, 3)
    g.add_edge(0, 2, latency_s=5e-6, bandwidth_bytes_per_s=1e7)
    del g.graph["routing_key"]  # it no longer routes as the machines it was built like (their shared tables)
    table = LinkTable(g, routes(g))
    pairs = [(a, b) for a in range(4) for b in range(4) if a != b]
    assert as_hops(table, pairs) == walked(g, pairs) and len(table) == 8


def test_the_kept_routes_are_bounded(monkeypatch):
    monkeypatch.setattr(linktable, "ROUTES_KEPT", 4)
    g = machine({"kind": "ring", "n": 5})
    table = LinkTable(g, routes(g))
    first, then = [(0, 1), (0, 2), (0, 3)], [(1, 3), (2, 4), (4, 1)]
    assert as_hops(table, first) == walked(g, first) and len(table._route_ids) == 3
    assert as_hops(table, then) == walked(g, then) and sorted(table._route_ids) == sorted(then)  # 6 > 4: forgot


def test_a_set_of_pairs_asked_again_is_looked_up_once_per_routing_key(monkeypatch):
    monkeypatch.setattr(linktable, "PAIR_SETS_KEPT", 2)
    fast, slow = machine({"kind": "torus2d", "shape": [4, 4]}), machine({"kind": "torus2d", "shape": [4, 4]},
                                                                          bandwidth_bytes_per_s=1e8)
    del fast.graph["routing_key"], slow.graph["routing_key"]  # (tables of their own; then one key for both)
    fast.graph["routing_key"] = slow.graph["routing_key"] = ("test-pair-sets",)
    pairs = np.array([(0, 5), (3, 12), (7, 1)])
    first, second = LinkTable(fast, routes(fast)), LinkTable(slow, routes(slow))
    lengths, lid, _, _ = first.hops(pairs)
    again = second.hops([tuple(p) for p in pairs.tolist()])  # the same set, as a list: the kept arrays
    assert again[0] is lengths and again[1] is lid and again[3].tolist() == [1e8] * len(lid)
    others = [[(0, 1)], [(1, 2)]]
    for p in others:
        first.hops(p)
    assert first.hops(pairs)[1] is not lid and first.hops(pairs)[1].tolist() == lid.tolist()  # 2 kept: forgot

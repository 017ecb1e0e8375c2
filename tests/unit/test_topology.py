"""Topology graphs, routes, transfer times, diameter, bisection bandwidth and the info summary."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from ampsim.hardware.info import describe, format_info
from ampsim.hardware.parse import load_system, system_from_dict
from ampsim.hardware.properties import bisection_bandwidth_bytes_per_s, bisection_is_exact, diameter_hops
from ampsim.hardware.routing import routes
from ampsim.hardware.spec import LinkSpec
from ampsim.hardware.topology import (
    build_topology,
    path_link_specs,
    transfer_time_s,
)

MODELS = Path(__file__).resolve().parents[2] / "hardware_models"
BW, LAT = 2.5e10, 1.0e-7


def system(topology: dict, **sections):
    d = {"system": {"name": "t", "source": "test"},
         "chip": {"flops_per_s": 1.0e12, "mem_bandwidth_bytes_per_s": 1.0e11, "overhead_s": 1.0e-6,
                  "memory_bytes": 1000},
         "link": {"latency_s": LAT, "bandwidth_bytes_per_s": BW},
         "topology": topology, **sections}
    return system_from_dict(d, "test.toml")


def graph(topology: dict, **sections):
    s = system(topology, **sections)
    return s, build_topology(s)


def chips_of(g):
    return [v for v in g if g.nodes[v]["kind"] == "chip"]


# --------------------------------------------------------------------------- structure per kind
@pytest.mark.parametrize("n", [3, 4, 5, 8, 9])
def test_ring(n):
    s, g = graph({"kind": "ring", "n": n})
    assert sorted(g) == list(range(n)) and g.number_of_edges() == n
    assert diameter_hops(g) == n // 2
    assert bisection_bandwidth_bytes_per_s(s, g) == 2 * BW and bisection_is_exact(s)


@pytest.mark.parametrize("r, c", [(1, 5), (2, 3), (4, 4), (3, 6)])
def test_mesh2d(r, c):
    s, g = graph({"kind": "mesh2d", "shape": [r, c]})
    assert g.number_of_nodes() == r * c and g.number_of_edges() == r * (c - 1) + c * (r - 1)
    assert diameter_hops(g) == (r - 1) + (c - 1)
    assert g.nodes[c + 2]["coord"] == (1, 2) if r > 1 else True
    for u, v in g.edges:
        (a, b), (x, y) = g.nodes[u]["coord"], g.nodes[v]["coord"]
        assert abs(a - x) + abs(b - y) == 1 and u == a * c + b


@pytest.mark.parametrize("k", [3, 4, 5, 8])
def test_square_torus2d(k):
    s, g = graph({"kind": "torus2d", "shape": [k, k]})
    assert g.number_of_nodes() == k * k and g.number_of_edges() == 2 * k * k
    assert diameter_hops(g) == 2 * (k // 2)
    assert all(d == 4 for _, d in g.degree)
    if k % 2 == 0:
        assert bisection_bandwidth_bytes_per_s(s, g) == 2 * k * BW


def test_torus3d_numbering_and_counts():
    s, g = graph({"kind": "torus3d", "shape": [3, 4, 5]})
    assert g.number_of_nodes() == 60 and g.number_of_edges() == 3 * 60
    assert diameter_hops(g) == 1 + 2 + 2
    assert g.nodes[(1 * 4 + 2) * 5 + 3]["coord"] == (1, 2, 3)
    assert g.has_edge(0, 4) and g.has_edge(0, 15) and g.has_edge(0, 40)  # wrap-around in k, j, i
    assert bisection_bandwidth_bytes_per_s(s, g) == 2 * 3 * 5 * BW  # cut across the even side (4)


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_fully_connected(n):
    s, g = graph({"kind": "fully_connected", "n": n})
    assert g.number_of_edges() == n * (n - 1) // 2 and diameter_hops(g) == min(n - 1, 1)
    assert bisection_bandwidth_bytes_per_s(s, g) == (n // 2) * ((n + 1) // 2) * BW


def test_switch_star():
    s, g = graph({"kind": "switch", "n": 6})
    hub = ("switch", 0)
    assert g.nodes[hub]["kind"] == "switch" and "flops_per_s" not in g.nodes[hub]
    assert chips_of(g) == list(range(6)) and g.number_of_edges() == 6
    assert all(g.has_edge(hub, c) for c in range(6))
    r = routes(g)
    assert r[2, 5] == (2, hub, 5) and r.hops(2, 5) == 2 and diameter_hops(g) == 2
    assert bisection_bandwidth_bytes_per_s(s, g) == 3 * BW


@pytest.mark.parametrize("d", [1, 3, 6])
def test_hypercube(d):
    s, g = graph({"kind": "hypercube", "dim": d})
    assert sorted(g) == list(range(2 ** d)) and g.number_of_edges() == d * 2 ** (d - 1)
    assert all(bin(u ^ v).count("1") == 1 for u, v in g.edges)
    assert diameter_hops(g) == d
    assert bisection_bandwidth_bytes_per_s(s, g) == 2 ** (d - 1) * BW


@pytest.mark.parametrize("b, h, fat", [(2, 1, False), (2, 3, False), (3, 2, True), (4, 2, True)])
def test_tree_chips_are_leaves(b, h, fat):
    s, g = graph({"kind": "tree", "branching": b, "height": h, "fat": fat})
    n, n_sw = b ** h, (b ** h - 1) // (b - 1)
    assert chips_of(g) == list(range(n)) and s.topology.n_switches == n_sw
    assert sorted(v[1] for v in g if g.nodes[v]["kind"] == "switch") == list(range(n_sw))
    assert g.number_of_edges() == n + n_sw - 1 and nx.is_tree(g)
    assert all(g.degree(c) == 1 for c in range(n)) and diameter_hops(g) == 2 * h
    root = ("switch", 0)
    assert g.degree(root) == b
    for _, child in g.edges(root):
        expected = b ** (h - 1) * BW if fat else BW
        assert g.edges[root, child]["bandwidth_bytes_per_s"] == expected
    if b % 2 == 0:
        assert bisection_bandwidth_bytes_per_s(s, g) == (n // 2 if fat else b // 2) * BW


def test_explicit_edges():
    s, g = graph({"kind": "explicit", "edges": [[0, 1], [1, 2], [2, 3], [1, 3]]})
    assert sorted(g.edges) == [(0, 1), (1, 2), (1, 3), (2, 3)] and diameter_hops(g) == 2
    assert not bisection_is_exact(s)


# --------------------------------------------------------------------------- attributes
def test_attributes_and_overrides_hit_exactly_the_named_chip_and_link():
    s, g = graph({"kind": "ring", "n": 5},
                 chip_override=[{"chips": [3], "flops_per_s": 2.5e11}],
                 link_override=[{"between": [4, 0], "bandwidth_bytes_per_s": 1.0e9, "latency_s": 5e-6}])
    for c in range(5):
        assert g.nodes[c]["kind"] == "chip"
        assert g.nodes[c]["flops_per_s"] == (2.5e11 if c == 3 else 1.0e12)
        assert g.nodes[c]["memory_bytes"] == 1000
    for u, v, e in g.edges(data=True):
        slow = {u, v} == {0, 4}
        assert e["bandwidth_bytes_per_s"] == (1.0e9 if slow else BW)
        assert e["latency_s"] == (5e-6 if slow else LAT)
    assert sorted(e["link_id"] for *_, e in g.edges(data=True)) == list(range(5))
    assert g.graph["switching"] == "store_and_forward" and g.graph["n_chips"] == 5


# --------------------------------------------------------------------------- routes
def test_routes_shortest_and_deterministic_on_ring():
    _, g = graph({"kind": "ring", "n": 4})
    r = routes(g)
    assert r[0, 2] == (0, 1, 2)  # two equal routes: smallest predecessor wins
    assert r[2, 0] == (2, 1, 0) and r[0, 3] == (0, 3) and r[1, 1] == (1,)
    assert r.links(0, 2) == ((0, 1), (1, 2))
    assert len(r) == 16 and set(r) == set(itertools.product(range(4), repeat=2))
    assert all(r[k] == routes(build_topology(system({"kind": "ring", "n": 4})))[k] for k in r)
    assert r[np.int64(0), np.int64(2)] == (0, 1, 2)
    with pytest.raises(KeyError):
        r[0, 4]
    assert (0, 4) not in r and ((0, ("switch", 0)) not in r) and ((0, "a") not in r)


def test_routes_many_equals_one_by_one():
    _, g = graph({"kind": "torus2d", "shape": [4, 4]})
    r = routes(g)
    pairs = [(0, 5), (5, 0), (3, 3), (15, 0), (0, 5)]
    assert r.many(pairs) == [r[p] for p in pairs]
    assert r.many([]) == []
    with pytest.raises(KeyError):
        r.many([(0, 1), (0, 16)])


def test_routes_prefer_latency_then_hops():
    slow = [{"between": [0, 1], "latency_s": 10 * LAT}]
    _, g = graph({"kind": "ring", "n": 6}, link_override=slow)
    assert routes(g)[0, 1] == (0, 5, 4, 3, 2, 1)  # 5 x LAT < 10 x LAT
    zero = [{"between": [0, 1], "latency_s": 0.0}, {"between": [1, 2], "latency_s": 0.0},
            {"between": [0, 2], "latency_s": 0.0}]
    _, g = graph({"kind": "fully_connected", "n": 3}, link_override=zero)
    assert routes(g)[0, 2] == (0, 2)  # equal latency: fewer hops


def _fresh(g):
    """Routes of ``g`` computed on their own (not shared with the graphs that route alike)."""
    alone = g.copy()
    del alone.graph["routing_key"]
    return routes(alone)


def test_machines_that_route_alike_share_their_routing_tables_and_give_the_same_routes():
    # a sweep builds its machine again for every point: the trees of a big one are computed once a process
    torus = {"kind": "torus2d", "shape": [4, 4]}
    _, g = graph(torus)
    first = routes(g)
    for sections in ({}, {"link": {"latency_s": 7 * LAT, "bandwidth_bytes_per_s": BW / 9}},
                     {"link_override": [{"between": [0, 1], "bandwidth_bytes_per_s": 1e9}]},
                     {"link_override": [{"between": [0, 1], "latency_s": LAT}]}):  # bandwidth only, or the same
        _, other = graph(torus, **sections)
        r = routes(other)
        assert r._pred is first._pred and r.graph is other  # shared trees, its own graph (link specs)
        assert dict(r.items()) == dict(_fresh(other).items())


def test_machines_whose_latencies_route_differently_do_not_share():
    ring = {"kind": "ring", "n": 6}
    _, uniform = graph(ring)
    _, slow = graph(ring, link_override=[{"between": [0, 1], "latency_s": 10 * LAT}])
    _, slower = graph(ring, link_override=[{"between": [0, 1], "latency_s": 2 * LAT}])
    r, s, t = routes(uniform), routes(slow), routes(slower)
    assert s._pred is not r._pred and t._pred is not s._pred
    assert (r[0, 1], s[0, 1], t[0, 1]) == ((0, 1), (0, 5, 4, 3, 2, 1), (0, 1))
    for g, got in ((uniform, r), (slow, s), (slower, t)):
        assert dict(got.items()) == dict(_fresh(g).items())


def test_routes_match_networkx_on_random_weighted_graph():
    rng = random.Random(7)
    base = nx.connected_watts_strogatz_graph(40, 4, 0.3, seed=7)
    overrides = [{"between": [u, v], "latency_s": rng.choice([1e-7, 2e-7, 3e-7])} for u, v in base.edges]
    s, g = graph({"kind": "explicit", "edges": [list(e) for e in base.edges]}, link_override=overrides)
    r = routes(g)
    for src in range(0, 40, 7):
        lengths = nx.single_source_dijkstra_path_length(g, src, weight="latency_s")
        for dst in range(40):
            path = r[src, dst]
            assert path[0] == src and path[-1] == dst
            assert all(g.has_edge(u, v) for u, v in zip(path, path[1:]))
            assert sum(link.latency_s for link in path_link_specs(g, path)) == pytest.approx(lengths[dst])


def test_routes_1024_chips_fast_enough():
    g = build_topology(load_system(MODELS / "torus_32x32.toml"))
    r = routes(g).precompute()
    assert r.hops(0, 16 * 32 + 16) == 32 and diameter_hops(g) == 32


# --------------------------------------------------------------------------- transfer time
def test_transfer_time_hand_computed_three_hops():
    links = [LinkSpec(1e-6, 1e9), LinkSpec(2e-6, 2e9), LinkSpec(3e-6, 5e8)]
    nbytes = 1e6
    # store-and-forward: (1us + 1ms) + (2us + 0.5ms) + (3us + 2ms)
    assert transfer_time_s(links, nbytes, "store_and_forward") == pytest.approx(3.506e-3)
    # cut-through: 6us of latency + 1 MB at the slowest link (0.5 GB/s) = 2 ms
    assert transfer_time_s(links, nbytes, "cut_through") == pytest.approx(2.006e-3)
    assert transfer_time_s([], nbytes, "cut_through") == 0.0
    assert transfer_time_s(links, 0, "store_and_forward") == pytest.approx(6e-6)
    with pytest.raises(ValueError):
        transfer_time_s(links, nbytes, "wormhole")


def test_routes_transfer_time_uses_graph_switching():
    s = load_system(MODELS / "hetero_straggler.toml")
    g = build_topology(s)
    r = routes(g)
    assert r[0, 1] == (0, 1)  # latency only: the slow link is still the route
    assert r.transfer_time_s(0, 1, 3.2e9) == pytest.approx(1e-6 + 1.0)
    # 1 -> 3 has two equal-latency routes; the tie goes to (1, 0, 3), over the slow link
    assert r[1, 3] == (1, 0, 3)
    assert r.transfer_time_s(1, 3, 3.2e10) == pytest.approx(1e-6 + 10.0 + 1e-6 + 1.0)


# --------------------------------------------------------------------------- bisection
def brute_force_bisection(g) -> float:
    chips, switches = chips_of(g), [v for v in g if g.nodes[v]["kind"] == "switch"]
    best = float("inf")
    for side in itertools.combinations(chips, len(chips) // 2):
        for mask in range(2 ** len(switches)):
            a = set(side) | {s for i, s in enumerate(switches) if mask >> i & 1}
            best = min(best, nx.cut_size(g, a, weight="bandwidth_bytes_per_s"))
    return best


@pytest.mark.parametrize("topology", [
    {"kind": "ring", "n": 7}, {"kind": "mesh2d", "shape": [2, 4]}, {"kind": "mesh2d", "shape": [3, 4]},
    {"kind": "torus2d", "shape": [3, 4]}, {"kind": "hypercube", "dim": 3},
    {"kind": "fully_connected", "n": 5}, {"kind": "switch", "n": 5},
    {"kind": "tree", "branching": 2, "height": 3}, {"kind": "tree", "branching": 2, "height": 2, "fat": True},
])
def test_bisection_formulas_match_brute_force(topology):
    s, g = graph(topology)
    assert bisection_is_exact(s)
    assert bisection_bandwidth_bytes_per_s(s, g) == pytest.approx(brute_force_bisection(g))


@pytest.mark.parametrize("topology, sections", [
    ({"kind": "ring", "n": 6}, {"link_override": [{"between": [0, 1], "bandwidth_bytes_per_s": 1e9}]}),
    ({"kind": "mesh2d", "shape": [3, 3]}, {}),
    ({"kind": "tree", "branching": 3, "height": 2}, {}),
    ({"kind": "explicit", "edges": [[0, 1], [1, 2], [2, 0], [2, 3], [3, 4], [4, 5], [5, 3]]}, {}),
])
def test_bisection_estimates_are_upper_bounds_close_to_brute_force(topology, sections):
    s, g = graph(topology, **sections)
    assert not bisection_is_exact(s)
    est, exact = bisection_bandwidth_bytes_per_s(s, g), brute_force_bisection(g)
    assert exact <= est <= 1.5 * exact


def test_published_bisection_reproduced():
    s = load_system(MODELS / "torus_32x32.toml")  # Cloud TPU v3 pod: 6.4 TB/s bisection
    assert bisection_bandwidth_bytes_per_s(s, build_topology(s)) == pytest.approx(6.4e12)


# --------------------------------------------------------------------------- info
def test_describe_and_format_info():
    s = load_system(MODELS / "switch64.toml")
    d = describe(s, build_topology(s))
    assert d["n_chips"] == 64 and d["n_switches"] == 1 and d["n_links"] == 64
    assert d["diameter_hops"] == 2 and d["topology"] == "switch" and d["bisection_exact"]
    assert d["total_flops_per_s"] == pytest.approx(64 * s.chip(0).flops_per_s)
    assert d["total_memory_bytes"] == 64 * s.chip(0).memory_bytes
    text = format_info(d)
    assert "n_chips" in text and "14.4 TB/s" in text and "no" in text
    h = load_system(MODELS / "hetero_straggler.toml")
    dh = describe(h, build_topology(h))
    assert dh["heterogeneous"] and not dh["bisection_exact"]
    assert dh["bisection_bandwidth_bytes_per_s"] == pytest.approx(3.2e10 + 3.2e9)
    assert "(estimate)" in format_info(dh)
    # per-message costs: always the chip's overhead, the optional fields only where a model sets them
    assert d["chip.overhead_s"] == s.chip_default.overhead_s and "chip.kernel_overhead_s" not in d
    assert "chip.compute_units" not in d  # (one unit: the default)
    two = load_system(MODELS / "switch64.toml", {"chip": {"compute_units": 2}})
    lines = format_info(describe(two, build_topology(two))).splitlines()
    assert ["chip.compute_units", "2"] in [line.split() for line in lines]
    local = load_system(MODELS / "local_cpu.toml")
    dl = describe(local, build_topology(local))
    assert dl["chip.frame_send_overhead_s"] == local.chip_default.frame_send_overhead_s > 0
    assert "chip.spin_s" not in dl  # 0 in the calibrated model: workers sleep at once
    expected = ["chip.kernel_overhead_s", f"{local.chip_default.kernel_overhead_s * 1e6:.3g}", "µs"]
    assert expected in [line.split() for line in format_info(dl).splitlines()]


def test_info_shows_a_host_only_where_the_model_has_one():
    s = load_system(MODELS / "switch64.toml")
    assert not any(k.startswith("host.") for k in describe(s, build_topology(s)))
    h = load_system(MODELS / "local_cpu.toml", {"host": {"cores": 2, "controller_s_per_instance": 2e-4}})
    d = describe(h, build_topology(h))
    assert d["host.cores"] == 2 and d["host.controller_s_per_instance"] == 2e-4
    assert ["host.controller_s_per_instance", "200", "µs"] in [line.split() for line in format_info(d).splitlines()]


def test_info_shows_a_controllers_round_trip_without_shared_cores_and_escapes_a_names_control_characters():
    """The round trip (host.completion_latency_s) acts with cores = 0, where the [host] table was hidden; a name's
    escape sequences reached the terminal as they were."""
    s = load_system(MODELS / "switch64.toml", {"host": {"completion_latency_s": 0.01},
                                               "system": {"name": "a\x1b[31mred"}})
    text = format_info(describe(s, build_topology(s)))
    assert ["host.completion_latency_s", "10", "ms"] in [line.split() for line in text.splitlines()]
    assert ["host.controller_s_per_sync_byte", "0", "s/B"] in [line.split() for line in text.splitlines()]
    assert "\x1b" not in text and "a\\x1b[31mred" in text


def test_info_shows_what_chip_overrides_give_their_chips():
    """Only the default chip's costs were shown: a straggler (hetero_straggler.toml's chip 3) read as a default chip,
    its slower rates hidden in the totals. One line per distinct overridden chip: its chips, the fields it changes."""
    h = load_system(MODELS / "hetero_straggler.toml")
    lines = format_info(describe(h, build_topology(h))).splitlines()
    assert [line for line in lines if line.startswith("chip_override")] == [
        "chip_override                    chip 3: flops_per_s 62.5 TFLOP/s, mem_bandwidth_bytes_per_s 11.9 TB/s"]
    # equal specs from two overrides share a line (chips 1-7); the chips listed as runs, their number beside them;
    # a chip both overrides change is a line of its own (chip 4); one set to the default's values is none (chip 9)
    plain = load_system(MODELS / "switch64.toml")
    s = load_system(MODELS / "switch64.toml", {"chip_override": [
        {"chips": list(range(0, 64, 2)), "flops_per_s": 1e12}, {"chips": [1, 3, 4, 5], "overhead_s": 2e-6},
        {"chips": [7], "overhead_s": 2e-6}, {"chips": [9], "overhead_s": plain.chip_default.overhead_s}]})
    assert plain.chip_default.overhead_s != 2e-6
    d = describe(s, build_topology(s))
    assert d["chip_override"] == [
        {"chips": "0, 2, 6, 8, 10, 12, 14, 16, ...", "n_chips": 31, "fields": {"flops_per_s": 1e12}},
        {"chips": "1, 3, 5, 7", "n_chips": 4, "fields": {"overhead_s": 2e-6}},
        {"chips": "4", "n_chips": 1, "fields": {"flops_per_s": 1e12, "overhead_s": 2e-6}}]
    lines = format_info(d).splitlines()
    assert "chip_override                    chips 1, 3, 5, 7 (4): overhead_s 2 µs" in lines
    assert "chip_override                    chip 4: flops_per_s 1 TFLOP/s, overhead_s 2 µs" in lines
    assert "chip_override" not in describe(plain, build_topology(plain))

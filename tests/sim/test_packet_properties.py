"""Packet-switched links (``link.packet_bytes`` > 0) as properties of random routes and random traffic.

What README "How it works" and :mod:`ampsim.executors.sim.packets` promise, on rings, switches, tori, a mesh,
fully connected chips, a tree and a hypercube (1-4 hops, more where an override makes the short way slow), random
packet and message sizes (none, smaller than a packet, not a multiple of one), latencies and bandwidths, equal or
unequal per hop (``link_override``, chip to chip or chip to switch): a lone message arrives at the closed form ``Σ
latency + max_i (bytes / bandwidth_i + Σ_{j≠i} packet / bandwidth_j)`` (equal links: ``Σ latency + bytes /
bandwidth + (hops − 1) × packet / bandwidth``); among concurrent messages none arrives before that, none starves
(a bound from the bytes that share its links), each link carries the bytes of the messages that cross it and is
busy for exactly as long as those take at its bandwidth (a fluid round robin idles only when empty), a message's
trace span on a link lasts at least its bytes' time and a link's lanes never overlap; equal messages sent at once
from different sources into one link finish within one packet time of each other, and a small message sent after a
large one is not stuck behind it; whole messages (``packet_bytes`` = 0) cross as before (no packet server; each
link busy for each message's bytes at its bandwidth, or the route's slowest under cut-through); and a replay
(``executor.numerics = false``: the compiled loop, the Python loop, and traced, SimPy's) equals the full run bit
for bit; on packet links ``system.switching`` is not read. Traffic is sent straight into
:class:`~ampsim.executors.sim.network.Network` (no chips), as in ``tests/sim/test_packet_links.py``; the replay
runs chains of :mod:`timeline_kit`'s nodes.
"""

from __future__ import annotations

import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_scheduling_properties import chain
from timeline_kit import TRACE_NS, check_lanes, insts

from ampsim.executors.sim import SimExecutor, recording_cache
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.executors.sim.network import Network
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.routing import routes
from ampsim.hardware.topology import build_topology
from ampsim.trace import LINK_PID, TraceRecorder, lane_tid

#: a few seconds of examples each: the whole file well under a minute on a shared 2-core host
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
REL = 1e-9  # float tolerance of sums of a few dozen terms

TOPOLOGIES = [{"kind": "ring", "n": 8}, {"kind": "ring", "n": 5}, {"kind": "switch", "n": 4},
              {"kind": "torus2d", "shape": [3, 4]}, {"kind": "torus2d", "shape": [3, 3]},
              {"kind": "torus3d", "shape": [3, 3, 3]}, {"kind": "tree", "branching": 2, "height": 2},
              {"kind": "hypercube", "dim": 3}, {"kind": "mesh2d", "shape": [4, 4]}, {"kind": "fully_connected", "n": 5}]


@st.composite
def machines(draw, packet: bool = True) -> dict:
    """A hardware model's fields: a topology of :data:`TOPOLOGIES`, its links' latency and bandwidth, a packet
    size, and up to two links (chip to chip, or chip to switch) of their own bandwidth and latency."""
    topo = draw(st.sampled_from(TOPOLOGIES))
    bandwidth = draw(st.floats(1e3, 1e9))
    hw = {"system": {"name": "p", "source": "test"},
          "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e12, "overhead_s": 0.0, "memory_bytes": 1e9},
          "link": {"latency_s": draw(st.one_of(st.just(0.0), st.floats(1e-9, 1e-3))),
                   "bandwidth_bytes_per_s": bandwidth,
                   "packet_bytes": draw(st.sampled_from([1, 7, 64, 100, 256, 4096])) if packet else 0},
          "topology": topo}
    graph = build_topology(system_from_dict(hw, "p.toml"))
    edges = sorted(graph.edges, key=str)
    overrides = []
    for u, v in draw(st.lists(st.sampled_from(edges), max_size=2, unique=True)):
        name = [x if isinstance(x, int) else f"switch{x[1]}" for x in (u, v)]
        overrides.append({"between": name, "bandwidth_bytes_per_s": bandwidth * draw(st.floats(0.1, 5.0)),
                          "latency_s": draw(st.floats(0.0, 1e-3))})
    if overrides:
        hw["link_override"] = overrides
    return hw


def network(hw: dict, trace: TraceRecorder | None = None) -> tuple[simpy.Environment, Network]:
    system = system_from_dict(hw, "p.toml")
    env, graph = simpy.Environment(), build_topology(system)
    return env, Network(env, graph, routes(graph), trace=trace, packet_bytes=system.link.packet_bytes)


def n_chips(hw: dict) -> int:
    return system_from_dict(hw, "p.toml").topology.n_chips


@st.composite
def traffic(draw, hw: dict, most: int = 8) -> list[tuple[float, int, int, int]]:
    """Messages ``(send time, src, dst, bytes)`` between distinct chips, some sent at the same instant."""
    n = n_chips(hw)
    out = []
    for _ in range(draw(st.integers(1, most))):
        src = draw(st.integers(0, n - 1))
        dst = draw(st.integers(0, n - 2))
        at = draw(st.one_of(st.sampled_from([0.0, 0.0, 1e-4, 3e-3]), st.floats(0, 1e-2)))
        out.append((at, src, dst + (dst >= src), draw(st.sampled_from([0, 1, 5, 64, 100, 1000, 1234, 65_537]))))
    return out


def run(hw: dict, sends, trace: TraceRecorder | None = None) -> tuple[Network, list[float]]:
    """Send ``sends`` into a fresh network of ``hw``; the network and each message's arrival time."""
    env, net = network(hw, trace)
    out = [None] * len(sends)

    def send(k, t, src, dst, nbytes):
        yield env.timeout(t)
        net.send(src, dst, nbytes, lambda: out.__setitem__(k, env.now))

    for k, s in enumerate(sends):
        env.process(send(k, *s))
    env.run()
    assert None not in out  # every message arrives
    return net, out


def alone_s(net: Network, src: int, dst: int, nbytes: int) -> float:
    """The documented uncontended time of a packet-switched message: the slowest hop streams the bytes, each
    other hop adds the time its one packet takes (Σ latency + max_i (bytes / bw_i + Σ_{j≠i} packet / bw_j))."""
    path = net.path(src, dst)
    packet = min(net.packet_bytes, nbytes)
    lat = sum(h[1] for h in path)
    return lat + max(nbytes / h[2] + sum(packet / g[2] for g in path if g is not h) for h in path)


@PROPERTY
@given(data=st.data())
def test_a_lone_message_arrives_at_the_closed_form(data):
    hw = data.draw(machines())
    (t, src, dst, nbytes), = data.draw(traffic(hw, most=1))
    net, (arrived,) = run(hw, [(0.0, src, dst, nbytes)])
    expect = alone_s(net, src, dst, nbytes)
    assert len(net.path(src, dst)) >= 1  # 1-4 hops, more where an override makes the short way slow
    assert arrived == pytest.approx(expect, rel=REL)
    assert arrived == pytest.approx(net.routes.transfer_time_s(src, dst, nbytes), rel=REL)
    if len({h[2] for h in net.path(src, dst)}) == 1:  # equal links: the README's form
        bw, hops = net.path(src, dst)[0][2], len(net.path(src, dst))
        lat = sum(h[1] for h in net.path(src, dst))
        assert arrived == pytest.approx(lat + nbytes / bw + (hops - 1) * min(net.packet_bytes, nbytes) / bw, rel=REL)


def check_links(net: Network, sends, arrived: list[float]) -> None:
    """Each link carried the bytes of the messages routed over it, and was busy for what those take."""
    crossing: dict[tuple, int] = {}
    for _, src, dst, nbytes in sends:
        for link, *_ in net.path(src, dst):
            crossing[link] = crossing.get(link, 0) + nbytes
    assert dict(net.bytes) == crossing
    # busy time adds up differences of the clock, each off by up to an ulp of the clock's reading: a nanosecond
    # crossing late in a run is not exact to 1e-9 (found: 1 B at 1.8 GB/s sent at 7.8 ms, 3e-9 short)
    slack = 4 * len(sends) * max(arrived) * 2.0**-52
    for link, busy in net.busy_s.items():
        bandwidth = net.graph.edges[link]["bandwidth_bytes_per_s"]
        assert busy >= crossing[link] / bandwidth * (1 - REL) - slack
        if net.packet_bytes:  # the fluid round robin idles only when no message is on the link
            assert busy == pytest.approx(crossing[link] / bandwidth, rel=1e-6, abs=slack)


@PROPERTY
@given(data=st.data())
def test_concurrent_messages_are_never_faster_than_alone_and_links_conserve_bytes(data):
    hw = data.draw(machines())
    sends = data.draw(traffic(hw))
    net, arrived = run(hw, sends)
    on_link: dict[tuple, list[int]] = {}
    for _, src, dst, nbytes in sends:
        for link, *_ in net.path(src, dst):
            on_link.setdefault(link, []).append(nbytes)
    for (t, src, dst, nbytes), at in zip(sends, arrived):
        assert at >= (t + alone_s(net, src, dst, nbytes)) * (1 - REL)
        # and none starves: a hop's head waits for at most one packet per message on the link, its tail for
        # at most every byte that ever crosses the link (a link serves only the messages on it)
        packet = min(net.packet_bytes, nbytes)
        worst = sum(lat + (sum(on_link[link]) + packet * len(on_link[link])) / bw
                    for link, lat, bw, _ in net.path(src, dst))
        assert at <= (t + worst) * (1 + REL)
    check_links(net, sends, arrived)
    # same config, same traffic: the same arrivals, bit for bit, traced too; a message's span on a link lasts at
    # least its bytes / bandwidth, and spans on one trace thread (a lane of the link) never overlap
    trace = TraceRecorder()
    traced, again = run(hw, sends, trace)
    assert again == arrived
    # system.switching is not read on packet links (README's hardware keys): cut-through crosses alike
    cut = {**hw, "system": {**hw["system"], "switching": "cut_through"}}
    assert run(cut, sends)[1] == arrived
    lanes: dict[int, list[tuple[float, float]]] = {}
    for e in trace.events:
        if e.get("ph") == "X" and e["pid"] == LINK_PID:
            lanes.setdefault(e["tid"], []).append((e["ts"], e["dur"]))
            link = traced.links.link_of((e["tid"] - lane_tid(0)) % len(traced.links))
            nbytes = int(e["name"].split()[0])
            least = nbytes / traced.graph.edges[link]["bandwidth_bytes_per_s"]
            # (a clock difference, less the trace's nanosecond: its start and end each rounded to one)
            assert e["dur"] >= (least * (1 - REL) - 4 * max(arrived) * 2.0**-52 - TRACE_NS) * 1e6
    assert sum(map(len, lanes.values())) == sum(len(net.path(s, d)) for _, s, d, _ in sends)
    check_lanes(lanes)


@PROPERTY
@given(k=st.integers(2, 4), nbytes=st.sampled_from([5, 100, 1000, 1234, 65_537]),
       packet=st.sampled_from([1, 7, 64, 100, 256, 4096]), latency=st.sampled_from([0.0, 1e-7, 5e-4]),
       bandwidth=st.sampled_from([1e3, 1e6, 3e8]))
def test_equal_messages_sent_at_once_into_one_link_finish_together(k, nbytes, packet, latency, bandwidth):
    # k chips of a switch send equal messages to chip 0 at once: they share the switch→0 link from the same
    # instant, so they finish within one packet time of each other, at about k × bytes / bandwidth
    hw = {"system": {"name": "p", "source": "test"},
          "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e12, "overhead_s": 0.0, "memory_bytes": 1e9},
          "link": {"latency_s": latency, "bandwidth_bytes_per_s": bandwidth, "packet_bytes": packet},
          "topology": {"kind": "switch", "n": k + 1}}
    sends = [(0.0, src, 0, nbytes) for src in range(1, k + 1)]
    net, arrived = run(hw, sends)
    p = min(packet, nbytes)
    assert max(arrived) - min(arrived) <= p / bandwidth * (1 + REL)
    assert max(arrived) == pytest.approx(2 * latency + p / bandwidth + k * nbytes / bandwidth, rel=REL)
    check_links(net, sends, arrived)


@PROPERTY
@given(big=st.sampled_from([10_000, 100_000, 1_000_000]), small=st.sampled_from([1, 50, 1000, 1234]),
       packet=st.sampled_from([7, 64, 256, 1000, 4096]), latency=st.sampled_from([0.0, 1e-7, 5e-4]),
       lag=st.sampled_from([0.0, 0.1, 0.5]))
def test_a_small_message_is_not_stuck_behind_a_large_one(big, small, packet, latency, lag):
    # chip 1 sends ``big`` bytes to chip 0, chip 2 a small message a moment later; both cross the switch→0
    # link: the small one arrives within (small + one packet) / bandwidth + latency of reaching it when it is
    # one packet (README's case); a small message of several packets waits for one of the big one's packets
    # per packet of its own (round robin), at most (small + its packets x packet) / bandwidth
    bandwidth = 1e6
    hw = {"system": {"name": "p", "source": "test"},
          "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e12, "overhead_s": 0.0, "memory_bytes": 1e9},
          "link": {"latency_s": latency, "bandwidth_bytes_per_s": bandwidth, "packet_bytes": packet},
          "topology": {"kind": "switch", "n": 3}}
    start = lag * big / bandwidth  # while the big one is still crossing
    net, (_, arrived) = run(hw, [(0.0, 1, 0, big), (start, 2, 0, small)])
    reaches_shared = start + min(packet, small) / bandwidth + latency
    interleaved = -(-small // packet) * packet  # the big one's packets between the small one's
    assert arrived <= (reaches_shared + (small + interleaved) / bandwidth + latency) * (1 + REL)
    if small <= packet:
        assert arrived <= (reaches_shared + (small + packet) / bandwidth + latency) * (1 + REL)


@PROPERTY
@given(data=st.data())
def test_whole_messages_cross_as_before_when_packet_bytes_is_zero(data):
    hw = data.draw(machines(packet=False))
    hw["system"]["switching"] = data.draw(st.sampled_from(["store_and_forward", "cut_through"]))
    sends = data.draw(traffic(hw))
    net, arrived = run(hw, sends)
    assert not net._shared  # no packet-switched server was made
    for (t, src, dst, nbytes), at in zip(sends, arrived):
        assert at >= (t + net.routes.transfer_time_s(src, dst, nbytes)) * (1 - REL)
    crossing: dict[tuple, int] = {}
    for _, src, dst, nbytes in sends:
        for link, *_ in net.path(src, dst):
            crossing[link] = crossing.get(link, 0) + nbytes
    assert dict(net.bytes) == crossing
    # a link is busy for each message's bytes / bandwidth (cut-through: at the route's slowest bandwidth)
    cut = hw["system"]["switching"] == "cut_through"
    for link, busy in net.busy_s.items():
        expect = sum(nbytes / (min(h[2] for h in net.path(src, dst)) if cut else net.graph.edges[link]
                               ["bandwidth_bytes_per_s"]) for _, src, dst, nbytes in sends
                     if link in [h[0] for h in net.path(src, dst)])
        assert busy == pytest.approx(expect, rel=REL)
    # a lone message: the documented form, and the same as a model that never names packet_bytes
    (t, src, dst, nbytes) = sends[0]
    hw["link"].pop("packet_bytes")
    net2, (alone,) = run(hw, [(0.0, src, dst, nbytes)])
    assert alone == pytest.approx(net2.routes.transfer_time_s(src, dst, nbytes), rel=REL)
    assert run(hw, sends)[1] == arrived


@st.composite
def replayed_runs(draw) -> dict:
    """A chain model (as tests/sim/test_scheduling_properties.py's) on a random packet-switched machine, its
    nodes placed far apart so messages cross several hops and share links."""
    hw = draw(machines())
    hw["link"]["bandwidth_bytes_per_s"] = draw(st.floats(1e4, 1e6))  # slow: messages overlap
    for ov in hw.get("link_override", []):
        ov["bandwidth_bytes_per_s"] = hw["link"]["bandwidth_bytes_per_s"] * draw(st.sampled_from([0.25, 3.0]))
    hw["link"]["packet_bytes"] = draw(st.integers(1, 5000))
    hw["chip"]["compute_units"] = draw(st.integers(1, 2))
    hw["system"]["switching"] = draw(st.sampled_from(["store_and_forward", "cut_through"]))  # (not read)
    stages = draw(st.lists(st.one_of(st.tuples(st.just("busy"), st.sampled_from([0.0, 1e4, 1e6])),
                                     st.tuples(st.just("weight"), st.sampled_from([10, 1000]))),
                           min_size=1, max_size=4))
    if not any(kind == "weight" for kind, _ in stages):
        stages.insert(0, ("weight", 100))
    names = ["x", *(f"{kind[0]}{i}" for i, (kind, _) in enumerate(stages)), "end"]
    n = n_chips(hw)
    return {"hw": hw, "stages": stages, "place": {name: draw(st.integers(0, n - 1)) for name in names},
            "mak": draw(st.integers(1, 8)), "muf": draw(st.integers(1, 3)), "n": draw(st.integers(1, 16))}


def execute(r: dict, numerics: bool, trace: bool = False) -> SimExecutor:
    ex = SimExecutor(chain(r["stages"], r["muf"]), system_from_dict(r["hw"], "p.toml"), r["place"], mak=r["mak"],
                     numerics=numerics, trace=trace)
    ex.train(insts(r["n"]))
    return ex


def measured(ex: SimExecutor) -> tuple:
    return (ex.time_s, [c.busy_s for c in ex.chips], dict(ex.network.bytes), dict(ex.network.busy_s),
            [dict(n.staleness) for n in ex.graph.param_nodes], [n.version for n in ex.graph.param_nodes])


@settings(PROPERTY, max_examples=100)
@given(r=replayed_runs())
def test_a_replay_on_packet_links_equals_the_full_run_bit_for_bit(r):
    recording_cache.clear_memory()
    full = measured(execute(r, numerics=True))
    for compiled in sorted({False, JitReplay.compiled}):  # the Python loop, the compiled one (not: AMPSIM_COMPILED=0)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AMPSIM_RECORDINGS", "off")
            mp.setattr(JitReplay, "compiled", compiled)
            recording_cache.clear_memory()  # a hand-built chain's recording is keyed by its wiring
            ex = execute(r, numerics=False)
            assert ex.fast_loop
            assert measured(ex) == full, compiled
    # traced, the replay runs on SimPy's loop (replay.py): the same trace, link lanes included
    traced = execute(r, numerics=True, trace=True)
    assert measured(traced) == full
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMPSIM_RECORDINGS", "off")
        recording_cache.clear_memory()
        replay = execute(r, numerics=False, trace=True)
    assert not replay.fast_loop and measured(replay) == full
    assert replay.trace.events == traced.trace.events

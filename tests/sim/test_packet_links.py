"""Exact timelines of packet-switched links (``link.packet_bytes`` > 0): messages share a link's bandwidth.

Links move 1 MB/s with 0.5 ms latency, so 1,000 bytes take exactly 1 ms to serialize; packets are 100
bytes (0.1 ms). Messages are sent straight into the network (no chips), and each test states when each
one arrives.
"""

import pytest
import simpy

from ampsim.executors.sim.network import Network
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.routing import routes
from ampsim.hardware.topology import build_topology

MS = 1e-3
LATENCY = 0.5 * MS
BANDWIDTH = 1e6
PACKET = 100


def network(kind="ring", n=4, packet_bytes=PACKET, switching="store_and_forward", **link):
    system = system_from_dict({
        "system": {"name": "t", "source": "test", "switching": switching},
        "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 0.0, "memory_bytes": 1e9},
        "link": {"latency_s": LATENCY, "bandwidth_bytes_per_s": BANDWIDTH, "packet_bytes": packet_bytes, **link},
        "topology": {"kind": kind, "n": n},
    }, "test.toml")
    env = simpy.Environment()
    graph = build_topology(system)
    return env, Network(env, graph, routes(graph), packet_bytes=system.link.packet_bytes)


def arrivals(env, net, sends):
    """``sends``: (time, src, dst, bytes, label); returns {label: arrival time in ms}."""
    out = {}

    def send(t, src, dst, nbytes, label):
        yield env.timeout(t)
        net.send(src, dst, nbytes, lambda: out.__setitem__(label, round(env.now / MS, 9)))

    for s in sends:
        env.process(send(*s))
    env.run()
    return out


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_an_uncontended_message_pipelines_its_packets_across_hops(hops):
    # Σ latency + bytes / bandwidth + (hops − 1) × packet / bandwidth
    env, net = network(kind="ring", n=8)
    assert arrivals(env, net, [(0, 0, hops, 1000, "m")]) == {"m": pytest.approx(hops * 0.5 + 1.0 + (hops - 1) * 0.1)}


def test_a_message_smaller_than_a_packet_is_one_packet_stored_and_forwarded():
    env, net = network(kind="ring", n=8)
    assert arrivals(env, net, [(0, 0, 2, 50, "m")]) == {"m": pytest.approx(2 * (0.5 + 0.05))}


def test_two_equal_messages_from_different_sources_share_the_link_and_finish_together():
    # chips 1 and 2 both send 1,000 B to chip 0 on a switch: the switch→0 link carries both at once
    env, net = network(kind="switch", n=3)
    out = arrivals(env, net, [(0, 1, 0, 1000, "a"), (0, 2, 0, 1000, "b")])
    # first hop (chip→switch) alone: 1 ms + latency; the shared last hop: 2 × 1,000 B at 1 MB/s
    assert out["a"] == out["b"]
    assert out["a"] == pytest.approx(0.1 + 0.5 + 2.0 + 0.5)


def test_a_small_message_is_not_stuck_behind_a_large_one():
    # 1 MB from chip 1, then 1 kB from chip 2 a moment later, both to chip 0 over one direct link each...
    env, net = network(kind="switch", n=3, packet_bytes=1000)
    start = 0.5 * MS + 1.0 * MS  # the large message's head is on the shared switch→0 link from here
    out = arrivals(env, net, [(0, 1, 0, 1_000_000, "big"), (start, 2, 0, 1000, "small")])
    # ... the small one crosses its own first hop (1 ms + latency), then shares the last link with the big
    # one: (1 kB + one packet) / bandwidth + latency after it reaches the shared link, not 1 s later
    reaches_shared = start + 1.0 * MS + LATENCY
    assert out["small"] <= round((reaches_shared + (1000 + 1000) / BANDWIDTH + LATENCY) / MS, 9) + 1e-9
    assert out["big"] == pytest.approx(0.5 + 1000 + 1.0 + 0.5 + 1.0, rel=1e-9)  # slowed by exactly 1 kB


def test_whole_message_mode_is_unchanged_when_packet_bytes_is_zero():
    env, net = network(kind="switch", n=3, packet_bytes=0)
    out = arrivals(env, net, [(0, 1, 0, 1000, "a"), (0, 2, 0, 1000, "b")])
    # store and forward, FIFO: b waits for a on the shared last link
    assert sorted(out.values()) == [pytest.approx(3.0), pytest.approx(4.0)]


def test_link_busy_time_and_bytes_are_accounted_once_per_link():
    env, net = network(kind="switch", n=3)
    arrivals(env, net, [(0, 1, 0, 1000, "a"), (0, 2, 0, 1000, "b")])
    shared = [link for link in net.bytes if net.bytes[link] == 2000]
    assert len(shared) == 1 and net.busy_s[shared[0]] == pytest.approx(2.0 * MS)
    assert sum(net.bytes.values()) == 4000


def test_packet_bytes_is_validated_and_left_out_of_models_that_do_not_set_it():
    from ampsim.errors import ConfigError

    with pytest.raises(ConfigError, match=r"link\.packet_bytes: must be >= 0"):
        network(packet_bytes=-1)
    env, net = network(packet_bytes=0)
    system = system_from_dict({
        "system": {"name": "t", "source": "test"},
        "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 0.0, "memory_bytes": 1e9},
        "link": {"latency_s": LATENCY, "bandwidth_bytes_per_s": BANDWIDTH},
        "topology": {"kind": "ring", "n": 4}}, "t.toml")
    assert "packet_bytes" not in system.to_dict()["link"] and system.link.packet_bytes == 0.0


def test_a_training_run_on_packet_switched_links_repeats_bit_for_bit():
    from pathlib import Path

    import ampsim

    root = Path(__file__).resolve().parents[2]
    over = {"executor.kind": "sim", "executor.hardware": str(root / "hardware_models" / "ring4.toml"),
            "train.mak": 4, "train.epochs": 1, "data.n_train": 320, "data.n_test": 64}
    runs = [ampsim.train(root / "experiments" / "blobs_mlp.toml", overrides={**over, **extra}).summary
            for extra in ({"hardware.link.packet_bytes": 256}, {"hardware.link.packet_bytes": 256}, {})]
    assert runs[0] == runs[1]
    assert runs[0]["simulated_time_s"] != runs[2]["simulated_time_s"]  # the links do behave differently
    assert sum(runs[0]["link_utilization"].values()) > 0


@pytest.mark.parametrize("nbytes", [50, 100, 1000, 12345])
@pytest.mark.parametrize("dst", [1, 2, 3])
def test_a_lone_message_arrives_when_the_closed_form_says_even_over_unequal_links(nbytes, dst):
    # the ring's 0→1 link is 4× slower: the slowest hop sets the pace, the others add packet times
    env, net = network(kind="ring", n=8)
    slow = {"link_override": [{"between": [0, 1], "bandwidth_bytes_per_s": BANDWIDTH / 4}]}
    system = system_from_dict({
        "system": {"name": "t", "source": "test"},
        "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 0.0, "memory_bytes": 1e9},
        "link": {"latency_s": LATENCY, "bandwidth_bytes_per_s": BANDWIDTH, "packet_bytes": PACKET},
        "topology": {"kind": "ring", "n": 8}, **slow}, "test.toml")
    graph = build_topology(system)
    r = routes(graph)
    env = simpy.Environment()
    net = Network(env, graph, r, packet_bytes=PACKET)
    assert arrivals(env, net, [(0, 0, dst, nbytes, "m")])["m"] == pytest.approx(r.transfer_time_s(0, dst, nbytes) / MS)


def test_shares_that_end_below_the_clocks_resolution_still_finish():
    """Late in a long run the clock's float resolution is coarse (at 10^6 s, 0.12 ns: 0.12 mB at 1 MB/s):
    the bytes the fluid update leaves of a message due now can take less than that to cross, and a
    completion rescheduled for them would come up at the same time forever. A completion serves the
    messages it was scheduled for, so every message arrives, and shared ones arrive together."""
    late = 1e6  # seconds
    sends = [(late + k * 1.37e-4, 1 + k % 3, 0, 300 + 7 * k, f"m{k}") for k in range(24)]
    env, net = network(kind="switch", n=4)
    out = {}

    def send(t, src, dst, nbytes, label):
        yield env.timeout(t)
        net.send(src, dst, nbytes, lambda: out.__setitem__(label, env.now))

    for s in sends:
        env.process(send(*s))
    for _ in range(100 * len(sends)):  # a bounded run: it fails instead of looping at one instant
        if env.peek() == float("inf"):
            break
        env.step()
    else:
        pytest.fail(f"the links stopped making progress at t = {env.now!r} s")
    assert sorted(out) == sorted(s[4] for s in sends)
    # all of it crosses the shared switch→0 link: it is busy at least as long as its bytes take
    assert max(out.values()) - late >= sum(s[3] for s in sends) / BANDWIDTH

"""The simulated network counts each directed link's busy seconds and bytes in arrays by the link table's
ids (``Network.link_busy_s``, ``Network.link_bytes``: the replay's compiled loop adds to them in place), and
reads them back as dicts by link for the links that carried a message, one of no bytes included."""

from __future__ import annotations

import pytest
import simpy

from ampsim.executors.sim.network import Network
from ampsim.hardware.parse import system_from_dict
from ampsim.hardware.routing import routes
from ampsim.hardware.topology import build_topology

MS = 1e-3


def ring(packet_bytes: float = 0.0) -> Network:
    s = system_from_dict({"system": {"name": "t", "source": "test"}, "topology": {"kind": "ring", "n": 4},
                          "link": {"latency_s": 0.0, "bandwidth_bytes_per_s": 1e6},
                          "chip": {"flops_per_s": 1e12, "mem_bandwidth_bytes_per_s": 1e11, "overhead_s": 1e-6,
                                   "memory_bytes": 1000}}, "test.toml")
    g = build_topology(s)
    return Network(simpy.Environment(), g, routes(g), packet_bytes=packet_bytes)


def test_counts_by_link_id_read_back_by_link():
    net = ring()
    arrived = []
    net.send(0, 1, 1000, lambda: arrived.append(net.env.now))
    net.send(0, 1, 500, lambda: arrived.append(net.env.now))
    net.send(2, 3, 0, lambda: arrived.append(net.env.now))  # no bytes: its link is listed all the same
    net.env.run()
    assert arrived == [0.0, 1 * MS, 1.5 * MS]
    assert net.bytes == {(0, 1): 1500.0, (2, 3): 0.0}
    assert net.busy_s == {(0, 1): 1.5 * MS, (2, 3): 0.0}
    i = net.links.id_of((0, 1))
    assert net.link_bytes[i] == 1500.0 and net.link_busy_s[i] == 1.5 * MS
    assert net.link_bytes.sum() == 1500.0 and net.carried().tolist() == sorted([i, net.links.id_of((2, 3))])
    assert net.utilization(3 * MS) == {"0->1": 0.5, "2->3": 0.0}
    with pytest.raises(TypeError):  # a copy by link that could be written would change nothing: refused
        net.bytes[(0, 1)] = 0.0


def test_packet_links_count_alike():
    net = ring(packet_bytes=100)
    net.send(0, 2, 1000, lambda: None)  # two hops: 0->1->2
    net.env.run()
    assert net.bytes == {(0, 1): 1000.0, (1, 2): 1000.0}
    assert net.busy_s == {(0, 1): 1 * MS, (1, 2): 1 * MS}

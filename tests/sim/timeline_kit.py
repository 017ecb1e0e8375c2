"""The exact-timeline test kit shared by tests/sim/test_timelines.py and tests/sim/test_replay.py.

Chips run at 1 GFLOP/s with 1e30 B/s memory bandwidth (byte terms vanish below float resolution) and no
per-message overhead, so a node charging 1e6 FLOPs takes exactly 1 ms. Test nodes pass their payload
through; messages are 8-byte payloads, 24 bytes on the wire (16-byte header), and links move 96 kB/s, so a
transfer takes exactly 0.25 ms.
"""

import numpy as np

from ampsim.hardware.parse import system_from_dict
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance
from ampsim.ir.node import Node, Report
from ampsim.ir.nodes.io import Input
from ampsim.ir.param import ParamNode
from ampsim.models.base import InjectFields, Metric, Model
from ampsim.optim import OptimizerSpec

MS = 1e-3
TRANSFER = 0.25 * MS
LATENCY = 0.5 * MS
N = 1200  # float64 parameters of a Weight: 9,600 bytes; its SGD update takes 2 N FLOPs = 2.4 us


class Busy(Node):
    """Charges a fixed number of FLOPs per message, forward and backward."""

    def __init__(self, name, flops):
        super().__init__(name)
        self.flops = flops

    def forward(self, msg, port):
        self.charge(flops=self.flops)
        return [self.out(msg)]

    def backward(self, msg, port):
        self.charge(flops=self.flops)
        return [self.grad(msg)]


class End(Node):
    n_out = 0

    def forward(self, msg, port):
        out = [Report(self.name, msg.key, msg.state, {"loss": 0.0, "n": 1})]
        if self.training:
            out.append(self.grad(msg.with_payload(np.zeros_like(msg.payload))))
        return out


class Weight(ParamNode):
    """Passes messages through; its gradient is the message payload broadcast over ``w`` (``n`` float64
    parameters; so copies that see different instances drift apart), an SGD step of 2 FLOPs per element."""

    def __init__(self, name, n=N):
        super().__init__(name, {"w": np.zeros(n)})
        self.n = n

    def forward(self, msg, port):
        self.save(msg, None)
        return [self.out(msg)]

    def backward(self, msg, port):
        self.pop(msg)
        self.stash(msg, np.full(1, float(msg.key + 1)))
        return [self.grad(msg)]

    def param_grads(self, entries):
        return {"w": np.full(self.n, sum(float(e[0]) for e in entries))}

    def grad_work(self, profiles, work):
        pass  # param_grads charges nothing: an update costs its optimizer step alone (a replay reads this)


def system(kind="fully_connected", n=2, switching="store_and_forward", chip_override=None, **topo):
    d = {
        "system": {"name": "t", "description": "test", "source": "test", "switching": switching},
        "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e30, "overhead_s": 0.0,
                 "compute_units": 1, "memory_bytes": 1e9},
        "link": {"latency_s": LATENCY, "bandwidth_bytes_per_s": 24 / TRANSFER},
        "topology": {"kind": kind, **({} if "dim" in topo else {"n": n}), **topo},  # a hypercube has dim
    }
    if chip_override:
        d["chip_override"] = [chip_override]
    return system_from_dict(d, "test.toml")


def chain_model(*stages):
    """x → stage nodes → end; inject field "x"."""
    g = Graph("chain")
    nodes = [g.add(Input("x", dtype=np.float64))] + [g.add(Busy(n, f)) for n, f in stages] + [g.add(End("end"))]
    g.chain(*nodes)
    return Model(g.validate(), InjectFields((("x", "x"),)), Metric("m", "end", "n"))


def weight_model(*after, n=N):
    """x → w (a :class:`Weight` of ``n`` parameters, SGD, muf 1) → stage nodes ``after`` (as :func:`chain_model`)
    → end."""
    g = Graph("w")
    w = g.add(Weight("w", n))
    g.chain(g.add(Input("x", dtype=np.float64)), w, *[g.add(Busy(n, f)) for n, f in after], g.add(End("end")))
    w.configure(OptimizerSpec(kind="sgd", lr=0.5), muf=1)
    return Model(g.validate(), InjectFields((("x", "x"),)), Metric("m", "end", "n"))


def insts(n):
    return [Instance(k, {"x": np.zeros(1)}) for k in range(n)]


#: one nanosecond in seconds: a trace's times are the simulated times each to the nearest nanosecond (ampsim.trace), so
#: a duration read from one is within this of the time it stands for
TRACE_NS = 1e-9


def trace_ns(us):
    """A trace's ``ts`` or ``dur`` (µs) in integer nanoseconds, as Perfetto reads each on its own."""
    return round(us * 1000)


def check_lanes(lanes):
    """No two spans on one trace thread overlap, in integer nanoseconds as Perfetto reads ``ts`` and ``dur``:
    exactly, with no tolerance (``lanes``: thread -> [(ts, dur) in µs]; a span may end as the next begins)."""
    for lane, spans in lanes.items():
        ns = sorted((trace_ns(t), trace_ns(d)) for t, d in spans)
        for (t0, d0), (t1, _) in zip(ns, ns[1:]):
            assert t1 >= t0 + d0, f"thread {lane} overlaps at {t1} ns"


def spans(ex, name, phase="fwd"):
    return [(round(e["ts"] / 1e3, 9), round(e["dur"] / 1e3, 9)) for e in ex.trace.events
            if e.get("ph") == "X" and e["name"] == f"{name} {phase}"]


def instants(ex, what):
    """The controller's ``"admit"`` or ``"complete"`` instants of a traced run: (instance key, ms)."""
    return [(e["args"]["key"], round(e["ts"] / 1e3, 9)) for e in ex.trace.events
            if e.get("ph") == "i" and e["name"] == what]

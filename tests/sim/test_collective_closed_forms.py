"""Replica synchronization against the textbook closed forms, on idle machines (docs/replicas.md).

Every group of a replicated x → w → end runs on a chip of its own, so training sends nothing over the links
and a round's all-reduce has the network to itself. A chunk of b bytes over h hops of latency L and bandwidth
W arrives after

    store-and-forward  h (L + b / W)
    cut-through        h L + b / W
    packets of p bytes h L + b / W + (h - 1) min(p, b) / W

A round among k copies of a node of P bytes (E elements) starts when the last copy has taken its snapshot and
takes, on a chip of F FLOP/s, M bytes/s of memory bandwidth, u compute units, overhead o per job and K per
kernel (the roofline of ``hardware/cost.py``)

    ring              2 (k - 1) chunk(P / k) + (k - 1) add(1 / k) + apply
    halving_doubling  Σ_j [chunk(P / 2^(j+1)) + add(1 / 2^(j+1))] + Σ_j chunk(P 2^j / k) + apply    (j < log2 k)

    add(f) = u max(f E / F, 3 f P / M) + o + K            apply = u max(2 E / F, 4 P / M) + o + 3 K

(with ``outer_lr`` ≠ 1 the apply also does the outer step: 3 E FLOPs and 3 P bytes more, 3 kernels). Every
copy sends 2 (k - 1) P / k bytes a round, whichever algorithm: ``sync_bytes`` is 2 (k - 1) P per round, and a
link carries the chunks whose routes cross it. With sparse rows a round moves the union U of the rows the
copies changed and their ids: P = |U| (row bytes + 8), E = |U| × row width (the apply's bytes are the values').
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_kit import measured
from timeline_kit import TRACE_NS, End, Weight, insts, spans, weight_model

from ampsim.executors.sim import SimExecutor
from ampsim.executors.sim.collective import Collectives
from ampsim.hardware.parse import system_from_dict
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Embedding
from ampsim.ir.sync import SyncSet
from ampsim.models.base import InjectFields, Metric, Model
from ampsim.optim import OptimizerSpec
from ampsim.replicas import ReplicaSpec, replicate

PROPS = settings(derandomize=True, deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
SWITCH = ("switch", 0)


@dataclass(frozen=True)
class Idle:
    """An idle machine of ``k`` chips and what the closed forms above say about it."""

    kind: str
    k: int
    latency: float = 0.5e-3
    bandwidth: float = 96e3
    flops: float = 1e9
    mem: float = 1e30
    overhead: float = 0.0
    kernel: float = 0.0
    units: int = 1
    switching: str = "store_and_forward"
    packet: int = 0

    def system(self):
        topo = {"dim": self.k.bit_length() - 1} if self.kind == "hypercube" else {"n": self.k}
        link = {"latency_s": self.latency, "bandwidth_bytes_per_s": self.bandwidth}
        return system_from_dict({
            "system": {"name": "t", "description": "test", "source": "test", "switching": self.switching},
            "chip": {"flops_per_s": self.flops, "mem_bandwidth_bytes_per_s": self.mem, "overhead_s": self.overhead,
                     "kernel_overhead_s": self.kernel, "compute_units": self.units, "memory_bytes": 1e12},
            "link": {**link, **({"packet_bytes": self.packet} if self.packet else {})},
            "topology": {"kind": self.kind, **topo}}, "test.toml")

    def route(self, i: int, j: int) -> list[tuple]:
        """The directed links from chip i to chip j: through the hub of a switch, else one link (the machines
        :func:`idle_machines` draws put every partner a collective picks one link away)."""
        return [(i, SWITCH), (SWITCH, j)] if self.kind == "switch" else [(i, j)]

    def chunk_s(self, nbytes: float, hops: int) -> float:
        wire = nbytes / self.bandwidth
        if self.packet:
            return hops * self.latency + wire + (hops - 1) * min(self.packet, nbytes) / self.bandwidth
        if self.switching == "cut_through":
            return hops * self.latency + wire
        return hops * (self.latency + wire)

    def job_s(self, flops: float, nbytes: float, kernels: int) -> float:
        return self.units * max(flops / self.flops, nbytes / self.mem) + self.overhead + kernels * self.kernel

    def steps(self, collective: str) -> list[tuple[int, float, bool]]:
        """(partner distance d: copy i sends to i + d mod k on a ring, i XOR d otherwise; fraction; adds)."""
        k = self.k
        if collective == "ring":
            return [(1, 1 / k, s < k - 1) for s in range(2 * (k - 1))]
        m = k.bit_length() - 1
        halving = [(k >> (j + 1), 1 / 2 ** (j + 1), True) for j in range(m)]
        return halving + [(1 << j, 2**j / k, False) for j in range(m)]

    def partner(self, collective: str, i: int, d: int) -> int:
        return (i + d) % self.k if collective == "ring" else i ^ d

    def round_s(self, collective: str, moved: float, elements: int, values: float, outer: bool = False) -> float:
        """A round's time from the last snapshot: ``moved`` bytes per copy, ``elements`` and ``values`` bytes
        of the average each copy applies."""
        t = 0.0
        for d, frac, add in self.steps(collective):
            t += self.chunk_s(moved * frac, len(self.route(0, self.partner(collective, 0, d))))
            if add:
                t += self.job_s(elements * frac, 3 * moved * frac, 1)
        if outer:
            return t + self.job_s(5 * elements, 7 * values, 6)
        return t + self.job_s(2 * elements, 4 * values, 3)

    def link_bytes(self, collective: str, moved: float) -> dict[tuple, float]:
        """The bytes a round puts on each directed link."""
        out: dict[tuple, float] = {}
        for d, frac, _ in self.steps(collective):
            for i in range(self.k):
                for link in self.route(i, self.partner(collective, i, d)):
                    out[link] = out.get(link, 0.0) + moved * frac
        return out


def groups_run(idle: Idle, *, n: int, collective: str = "ring", every: int = 1, rounds: int = 1,
               overlap: bool = False, outer_lr: float = 1.0, numerics: bool = True, trace: bool = True):
    """k groups of x → w (n float64) → end, group g on chip g, ``rounds`` rounds of ``every`` updates each."""
    k = idle.k
    rep = replicate(weight_model(n=n), ReplicaSpec(groups=k, sync_every=every, overlap=overlap, outer_lr=outer_lr))
    place = {f"g{g}/{node}": g for g in range(k) for node in ("x", "w", "end")}
    ex = SimExecutor(rep.model, idle.system(), place, mak=k, trace=trace, sync_sets=rep.sync_sets,
                     collective=collective, numerics=numerics)
    ex.train(insts(k * every * rounds))
    return ex


def last_update_s(ex, k: int) -> float:
    """When the last update ended, as the trace has it: to the nearest nanosecond (a time from it is within
    ``TRACE_NS`` of the simulated one)."""
    return max(s + d for g in range(k) for s, d in spans(ex, f"g{g}/w", "update")) * 1e-3


def assert_replay_equal(full, replay) -> None:
    """A replay's summary (but what it does not measure), link bytes and busy times are the full run's."""
    assert measured(replay.summary()) == measured(full.summary())
    assert dict(replay.network.bytes) == dict(full.network.bytes)
    assert dict(replay.network.busy_s) == dict(full.network.busy_s)


# -- exact timelines ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("links,step_ms", [
    (dict(switching="store_and_forward"), 2 * (0.5 + 40)),  # two hops, each latency + 3,840 B at 96 kB/s
    (dict(switching="cut_through"), 2 * 0.5 + 40),  # the body streams once
    (dict(packet=960), 2 * 0.5 + 40 + 10),  # one 960-byte packet behind the head on the second hop
])
def test_a_ring_all_reduce_through_a_switch_takes_its_closed_form(links, step_ms, monkeypatch):
    """Three copies of 1,440 float64 (11,520 B): four steps of 3,840 B through the switch, two adds of 480 FLOPs
    (0.48 us), an apply of 2,880 (2.88 us), after the updates (2 N FLOPs: 2.88 us)."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    idle = Idle("switch", 3, **links)
    ex = groups_run(idle, n=1440)
    assert [spans(ex, f"g{g}/w", "update") for g in range(3)] == [[(0.0, 0.00288)]] * 3
    assert sorted(spans(ex, "w", "add")) == [(round(0.00288 + step_ms, 9), 0.00048)] * 3 + [
        (round(0.00336 + 2 * step_ms, 9), 0.00048)] * 3
    assert spans(ex, "w", "sync") == [(round(0.00384 + 4 * step_ms, 9), 0.00288)] * 3
    summary = ex.summary()
    assert summary["sync_time_s"] == pytest.approx((4 * step_ms + 2 * 0.00048 + 0.00288) * 1e-3, rel=1e-12)
    assert summary["sync_bytes"] == 2 * 2 * 11520  # 2 (k - 1) P
    assert dict(ex.network.bytes) == {link: 4 * 3840.0 for i in range(3) for link in ((i, SWITCH), (SWITCH, i))}
    assert summary["network_messages"] == 0 and ex.collectives.messages == 3 * 4
    replayed = groups_run(idle, n=1440, numerics=False, trace=False)
    assert replayed.fast_loop
    assert_replay_equal(ex, replayed)
    on_simpy = groups_run(idle, n=1440, numerics=False)  # (traced: the SimPy replay) every span alike
    assert not on_simpy.fast_loop and on_simpy.trace.events == ex.trace.events


def test_halving_doubling_through_a_switch_takes_its_closed_form(monkeypatch):
    """Four copies of 11,520 B, cut-through: chunks of 5,760 and 2,880 B (60 and 30 ms through two hops of 0.5 ms
    latency), adds of 720 and 360 FLOPs, then 2,880 B and 5,760 B back, and the apply."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    idle = Idle("switch", 4, switching="cut_through")
    ex = groups_run(idle, n=1440, collective="halving_doubling")
    assert sorted(spans(ex, "w", "add")) == [(61.00288, 0.00072)] * 4 + [(92.0036, 0.00036)] * 4
    assert spans(ex, "w", "sync") == [(184.00396, 0.00288)] * 4
    assert ex.summary()["sync_time_s"] == pytest.approx((61 + 0.00072 + 31 + 0.00036 + 31 + 61 + 0.00288) * 1e-3,
                                                        rel=1e-12)
    assert ex.summary()["sync_bytes"] == 2 * 3 * 11520
    assert dict(ex.network.bytes) == {link: 17280.0 for i in range(4) for link in ((i, SWITCH), (SWITCH, i))}


@pytest.mark.parametrize("collective", ["ring", "halving_doubling"])
@pytest.mark.parametrize("k", [2, 4])
def test_copies_on_one_chip_add_and_apply_there_and_send_nothing(k, collective, monkeypatch):
    """k copies of w inside one group, on one chip of one unit: every step is local, and the chip does every
    copy's adds and applies, one after another: k (k - 1) adds of P / k (ring), k Σ_j adds of P / 2^(j+1)."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    idle = Idle("fully_connected", k, mem=1e11, kernel=1e-7)  # (k chips: its steps are k copies'; all on chip 0)
    n = 1000
    rep = replicate(weight_model(n=n), ReplicaSpec(nodes=(("w", k),)))
    ex = SimExecutor(rep.model, idle.system(), dict.fromkeys(rep.model.graph.nodes, 0), mak=k, trace=True,
                     sync_sets=rep.sync_sets, collective=collective)
    ex.train(insts(k))
    adds = [idle.job_s(n * frac, 3 * 8 * n * frac, 1) for _, frac, add in idle.steps(collective) if add]
    apply = idle.job_s(2 * n, 4 * 8 * n, 3)
    assert ex.summary()["sync_time_s"] == pytest.approx(k * (sum(adds) + apply), rel=1e-12)
    last_update = max(s + d for c in range(k) for s, d in spans(ex, f"w#{c}", "update")) * 1e-3
    # (the update's end from the trace is to the nearest nanosecond)
    assert ex.env.now == pytest.approx(last_update + k * (sum(adds) + apply), rel=1e-12, abs=TRACE_NS)
    assert ex.summary()["sync_bytes"] == 0 and dict(ex.network.bytes) == {} and ex.collectives.messages == 0


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="a round starts when the last copy *begins* its snapshot: the first chunk leaves before the "
                   "straggler's snapshot is taken. Known, not yet fixed: the fix (count each copy's snapshots taken, "
                   "as the host path does since 2c1e1c68, for every collective) moves every committed replicated "
                   "run that synchronizes (whatif_sst_collectives, whatif_sst_replicas, scaling_sst, replicas_sst, "
                   "replicas_mnist, the g32_* runs), which are to be re-run with it")
def test_a_round_starts_when_the_last_snapshot_is_taken(monkeypatch):
    """Two groups, chip 1 100 times slower: its update (2 N FLOPs and the snapshot) ends at 0.24 ms, chip 0's at
    0.0024 ms. The docs (and the closed form) start the all-reduce at the last snapshot, 0.24 ms; the first chunk
    (4,800 B, 50.5 ms) reaches chip 1 at 50.74 ms, where chip 1 adds it (600 FLOPs: 0.06 ms)."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    d = Idle("fully_connected", 2).system().to_dict()
    d["chip_override"] = [{"chips": [1], "flops_per_s": 1e7}]
    rep = replicate(weight_model(), ReplicaSpec(groups=2))
    place = {f"g{g}/{node}": g for g in range(2) for node in ("x", "w", "end")}
    ex = SimExecutor(rep.model, system_from_dict(d, "test.toml"), place, mak=2, trace=True, sync_sets=rep.sync_sets)
    ex.train(insts(2))
    assert spans(ex, "g1/w", "update") == [(0.0, 0.24)]
    assert sorted(spans(ex, "w", "add"))[-1] == (50.74, 0.06)  # (it was 50.5024: sent at 0.0024 ms)


def test_through_the_host_a_round_waits_for_every_copys_snapshot_not_for_as_many_snapshots():
    """``collective = "host"``: copy a's snapshots of rounds 0 and 1 reach the controller (c P each) while copy b
    is still taking its round-0 one, which arrives at t = 1 s. The round is averaged after b's is taken in, so
    the average reaches both copies at 1 + c P + 2 c P (a count of snapshots per set took a's round-1 snapshot
    for b's and sent the average out at 4 c P, before b's had arrived)."""
    a, b = Weight("w#0"), Weight("w#1")
    env, got = simpy.Environment(), []

    class Chip:
        def put(self, item, nbytes):
            got.append((env.now, item[1].name))

    c, P = 1e-6, 8 * a.n
    col = Collectives([SyncSet("w", [a, b], 1)], {"w#0": Chip(), "w#1": Chip()}, env, None, collective="host",
                      host=lambda _s: None, host_s_per_byte=c)
    col.contributed(a)
    col.snapshot_taken(a)  # round 0
    col.contributed(b)  # b's round-0 update job begins
    col.contributed(a)
    col.snapshot_taken(a)  # round 1
    env.run(until=1.0)
    assert got == []
    col.snapshot_taken(b)
    env.run()
    assert got == [(pytest.approx(1 + 3 * c * P, rel=1e-12), "w#0"), (pytest.approx(1 + 3 * c * P, rel=1e-12), "w#1")]


# -- properties ---------------------------------------------------------------------------------------------
@st.composite
def idle_machines(draw) -> tuple[Idle, str]:
    """(an idle machine, a collective whose closed form it has): the ring on a ring, a switch or fully
    connected chips; halving-doubling (k a power of two) on a hypercube, a switch or fully connected chips."""
    collective = draw(st.sampled_from(["ring", "halving_doubling"]))
    if collective == "ring":
        kind = draw(st.sampled_from(["ring", "switch", "fully_connected"]))
        k = draw(st.integers(3 if kind == "ring" else 2, 7))
    else:
        kind = draw(st.sampled_from(["hypercube", "switch", "fully_connected"]))
        k = 2 ** draw(st.integers(1, 3))
    link = draw(st.sampled_from([{}, {"switching": "cut_through"}, {"packet": 64}, {"packet": 4096}]))
    idle = Idle(kind, k, latency=draw(st.sampled_from([0.0, 1e-7, 3e-6, 5e-4])),
                bandwidth=draw(st.sampled_from([1e6, 3.2e8, 1e10])), flops=draw(st.sampled_from([1e8, 1e9, 3e11])),
                mem=draw(st.sampled_from([1e30, 2e9, 1e11])), overhead=draw(st.sampled_from([0.0, 1e-6])),
                kernel=draw(st.sampled_from([0.0, 2e-7])), units=draw(st.integers(1, 2)), **link)
    return idle, collective


@PROPS
@given(machine=idle_machines(), n=st.integers(1, 5000), every=st.integers(1, 2), rounds=st.integers(1, 3),
       overlap=st.booleans(), outer=st.booleans())
def test_every_round_takes_its_closed_form_and_moves_its_bytes(machine, n, every, rounds, overlap, outer):
    """Random idle machines, sizes and options: every round takes the closed form from the last snapshot (gated:
    the copies wait, so the rounds are alike), the summary's bytes are 2 (k - 1) P a round, each link carries its
    chunks, and a replay times it all alike. One round where training would share the chips with it: with
    overlap, or a per-message overhead (the next instance's input step then takes time on the chip)."""
    idle, collective = machine
    rounds = 1 if overlap or idle.overhead else rounds
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMPSIM_RECORDINGS", "off")
        ex = groups_run(idle, n=n, collective=collective, every=every, rounds=rounds, overlap=overlap,
                        outer_lr=2.0 if outer else 1.0)
        replayed = groups_run(idle, n=n, collective=collective, every=every, rounds=rounds, overlap=overlap,
                              outer_lr=2.0 if outer else 1.0, numerics=False, trace=False)
    P, k = 8 * n, idle.k
    T = idle.round_s(collective, P, n, P, outer)
    summary = ex.summary()
    assert summary["sync_rounds"] == rounds
    assert summary["sync_time_s"] == pytest.approx(rounds * T, rel=1e-9)
    # the last round from the last update (its end from the trace: to the nearest nanosecond)
    assert ex.env.now == pytest.approx(last_update_s(ex, k) + T, rel=1e-9, abs=TRACE_NS)
    assert summary["sync_bytes"] == pytest.approx(rounds * 2 * (k - 1) * P, rel=1e-12)
    expected = {link: rounds * b for link, b in idle.link_bytes(collective, P).items()}
    assert dict(ex.network.bytes) == pytest.approx(expected, rel=1e-12)
    busy = {link: b / idle.bandwidth for link, b in expected.items()}  # nothing shares a link: its bytes' time
    assert dict(ex.network.busy_s) == pytest.approx(busy, rel=1e-9)
    assert summary["network_messages"] == 0 and ex.collectives.messages == rounds * k * len(idle.steps(collective))
    assert_replay_equal(ex, replayed)


def table_model(rows: int, dim: int) -> Model:
    g = Graph("e")
    e = g.add(Embedding("emb", rows, dim, seed=1))
    g.chain(g.add(Input("x", dtype=np.int64)), e, g.add(End("end")))
    e.configure(OptimizerSpec(kind="sgd", lr=0.5), muf=1)
    return Model(g.validate(), InjectFields((("x", "x"),)), Metric("m", "end", "n"))


@PROPS
@given(machine=idle_machines(), dim=st.integers(1, 40), used=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_a_sparse_round_moves_the_changed_rows_and_their_ids_in_its_closed_form(machine, dim, used, seed):
    """Copies of a float32 table of 64 rows, each changing ``used`` rows (as many each: their updates take
    equally long): a round moves the union U of the rows and their ids, P = |U| (4 dim + 8), in the closed form
    of a P-byte node of |U| dim elements, and a replay (which hands the table the recorded rows) times it alike."""
    idle, collective = machine
    k = idle.k
    ids = [np.random.default_rng([seed, g]).choice(64, size=used, replace=False) for g in range(k)]
    union = np.unique(np.concatenate(ids)).size
    runs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMPSIM_RECORDINGS", "off")
        for numerics in (True, False):
            rep = replicate(table_model(64, dim), ReplicaSpec(groups=k, sparse_sync=True))
            place = {f"g{g}/{node}": g for g in range(k) for node in ("x", "emb", "end")}
            ex = SimExecutor(rep.model, idle.system(), place, mak=k, trace=numerics, sync_sets=rep.sync_sets,
                             collective=collective, numerics=numerics)
            ex.train([Instance(g, {"x": ids[g]}) for g in range(k)])
            runs.append(ex)
    ex, replayed = runs
    P = union * (4 * dim + 8)
    T = idle.round_s(collective, P, union * dim, 4 * union * dim)
    summary = ex.summary()
    assert summary["sync_time_s"] == pytest.approx(T, rel=1e-9)
    assert summary["sync_bytes"] == pytest.approx(2 * (k - 1) * P, rel=1e-12)
    assert dict(ex.network.bytes) == pytest.approx(idle.link_bytes(collective, P), rel=1e-12)
    assert_replay_equal(ex, replayed)


def test_the_closed_forms_differ_where_they_should():
    """The kit's own arithmetic: two copies are one algorithm; from four on halving-doubling takes 2 log2 k
    latencies where the ring takes 2 (k - 1), with the same bytes per copy."""
    two, eight = Idle("fully_connected", 2), Idle("fully_connected", 8, bandwidth=1e30)
    assert two.round_s("ring", 800, 100, 800) == two.round_s("halving_doubling", 800, 100, 800)
    assert eight.round_s("ring", 0, 0, 0) == pytest.approx(14 * 0.5e-3)
    assert eight.round_s("halving_doubling", 0, 0, 0) == pytest.approx(6 * 0.5e-3)
    assert math.fsum(eight.link_bytes("ring", 800).values()) == math.fsum(
        eight.link_bytes("halving_doubling", 800).values()) == 2 * 7 * 800

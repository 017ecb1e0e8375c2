"""Exact timelines of replica synchronization: a ring all-reduce over the simulated links.

Same machine as tests/sim/test_timelines.py (timeline_kit): chips at 1 GFLOP/s with free memory traffic
and no overheads, links of 0.5 ms latency moving 96 kB/s. The model is x → w → end, where w holds ``N``
float64 parameters; each group of the replicated model runs alone on its own chip of a ring.

A round among k copies of a P-byte node: 2 (k - 1) steps, each a P / k-byte chunk over one hop to the
next copy (L + P / (k B)); in the first k - 1 the receiver adds the chunk (N / k FLOPs); at the end each
copy applies p ← avg + (p − snapshot) (2 N FLOPs). From the last contribution:

    T = 2 (k - 1) (L + P / (k B)) + (k - 1) N / k / F + 2 N / F
"""

import numpy as np
import pytest
from timeline_kit import LATENCY, MS, TRANSFER, N, insts, system, weight_model

from ampsim.executors.reference import ReferenceExecutor
from ampsim.executors.sim import SimExecutor
from ampsim.placement import Profile, place
from ampsim.replicas import ReplicaSpec, replicate

B = 24 / TRANSFER  # link bandwidth, bytes/s
F = 1e9  # chip FLOP/s
# a trace's times are the simulated times each to the nearest nanosecond (ampsim.trace), so a time the formula
# adds to one read from the trace (the last update's end) is within 1 ns of the trace's own, in ms: a step of a
# three-copy ring is not a whole number of nanoseconds
NS = 1e-6

def ring_run(k, *, sync_every=1, n_inst=None, mak=None, overlap=False, collective="ring", machine=None):
    rep = replicate(weight_model(), ReplicaSpec(groups=k, sync_every=sync_every, overlap=overlap))
    machine = machine or (system("ring", n=k) if k > 2 else system())  # two chips: one link either way
    placement = place("groups", rep.model, machine.chips, groups=rep.group_members,
                      prof=Profile.uniform(rep.model.graph.nodes))
    ex = SimExecutor(rep.model, machine, placement, mak=mak or k, trace=True, sync_sets=rep.sync_sets,
                     collective=collective)
    ex.train(insts(n_inst or k))
    return rep, ex


def trace_spans(ex, label):
    return sorted((round(e["ts"] / 1e3, 9), round(e["dur"] / 1e3, 9)) for e in ex.trace.events
                  if e.get("ph") == "X" and e["name"] == label)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_a_ring_all_reduce_on_an_idle_ring_takes_its_formula(k):
    rep, ex = ring_run(k)
    assert ex.placement == {f"g{g}/{n}": g for g in range(k) for n in ("x", "w", "end")}
    last_update = max(s + d for g in range(k) for s, d in trace_spans(ex, f"g{g}/w update"))
    step_ms = (LATENCY + 8 * N / k / B) / MS
    add_ms, apply_ms = N / k / F / MS, 2 * N / F / MS
    # every copy adds k - 1 chunks, each when it arrives: step s ends at last_update + (s+1) step + s add
    adds = trace_spans(ex, "w add")
    assert len(adds) == k * (k - 1)
    assert sorted({s for s, _ in adds}) == pytest.approx([last_update + (s + 1) * step_ms + s * add_ms
                                                          for s in range(k - 1)], abs=NS)
    applies = trace_spans(ex, "w sync")
    start = last_update + 2 * (k - 1) * step_ms + (k - 1) * add_ms
    assert [x for span in applies for x in span] == pytest.approx([start, apply_ms] * k, abs=NS)
    assert ex.env.now == pytest.approx((start + apply_ms) * MS, rel=1e-12)
    summary = ex.summary()
    assert summary["sync_rounds"] == 1
    assert summary["sync_bytes"] == pytest.approx(2 * (k - 1) * 8 * N)  # 2 (k-1) chunks of P/k from each copy
    assert summary["sync_time_s"] == pytest.approx(2 * (k - 1) * step_ms * MS + (k - 1) * add_ms * MS + apply_ms * MS)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_a_halving_doubling_all_reduce_on_an_idle_hypercube_takes_its_formula(k):
    """Copy i on chip i of a hypercube: every partner (i XOR 2^j) is one hop away. Step j of the
    halving sends P / 2^(j+1) and adds N / 2^(j+1) at the receiver; step j of the doubling sends
    P 2^j / k; so from the last update T = 2 m L + 2 P (k - 1) / (k B) + N (k - 1) / (k F) + 2 N / F."""
    m = k.bit_length() - 1
    rep, ex = ring_run(k, collective="halving_doubling", machine=system("hypercube", dim=m))
    assert ex.placement["g3/w" if k > 2 else "g1/w"] == (3 if k > 2 else 1)
    last_update = max(s + d for g in range(k) for s, d in trace_spans(ex, f"g{g}/w update"))
    P = 8 * N
    halving = [(LATENCY + P / 2 ** (j + 1) / B) / MS for j in range(m)]
    adds_ms = [N / 2 ** (j + 1) / F / MS for j in range(m)]
    doubling = [(LATENCY + P * 2**j / k / B) / MS for j in range(m)]
    # every copy adds m chunks, the j-th when it arrives: after j + 1 halving steps and j adds
    adds = trace_spans(ex, "w add")
    assert len(adds) == k * m
    expected = [last_update + sum(halving[: j + 1]) + sum(adds_ms[:j]) for j in range(m)]
    assert sorted({round(s, 6) for s, _ in adds}) == pytest.approx(expected, abs=1e-9)
    assert sorted({round(d, 9) for _, d in adds}) == pytest.approx(sorted(set(adds_ms)), abs=1e-9)
    start = last_update + sum(halving) + sum(adds_ms) + sum(doubling)
    apply_ms = 2 * N / F / MS
    assert [x for span in trace_spans(ex, "w sync") for x in span] == pytest.approx([start, apply_ms] * k, abs=1e-9)
    T = 2 * m * LATENCY + 2 * P * (k - 1) / (k * B) + N * (k - 1) / (k * F) + 2 * N / F
    assert ex.summary()["sync_time_s"] == pytest.approx(T, rel=1e-12)
    assert ex.summary()["sync_bytes"] == pytest.approx(k * 2 * P * (k - 1) / k)  # the ring's bytes, 2m messages
    assert ex.collectives.messages == 2 * m * k


def test_halving_doubling_ends_with_the_rings_parameters_bit_for_bit():
    """The algorithm decides only when the average arrives; what the copies hold is ir.sync's average."""
    ring = ring_run(4, n_inst=12, mak=4, machine=system("hypercube", dim=2))[1]
    hd = ring_run(4, n_inst=12, mak=4, collective="halving_doubling", machine=system("hypercube", dim=2))[1]
    for g in range(4):
        assert np.array_equal(ring.graph.nodes[f"g{g}/w"].params["w"], hd.graph.nodes[f"g{g}/w"].params["w"])
    assert hd.summary()["sync_rounds"] == ring.summary()["sync_rounds"] == 3
    assert hd.env.now < ring.env.now  # the same bytes in 4 one-hop steps, the ring's 6 include two 2-hop ones


def test_after_a_round_every_copy_holds_the_average_and_the_reference_agrees():
    k = 3
    rep, ex = ring_run(k)
    # instance key g trained copy g: w = -0.5 (g + 1); the average is -0.5 * mean(1, 2, 3) = -1
    for g in range(k):
        assert np.array_equal(ex.graph.nodes[f"g{g}/w"].params["w"], np.full(N, -1.0))
    drift = np.mean([abs(-0.5 * (g + 1) + 1.0) * np.sqrt(N) for g in range(k)])
    assert ex.summary()["replica_drift"] == pytest.approx(drift)
    ref = replicate(weight_model(), ReplicaSpec(groups=k))
    ReferenceExecutor(ref.model, ref.sync_sets).train(insts(k))
    for g in range(k):
        assert np.array_equal(ref.model.graph.nodes[f"g{g}/w"].params["w"], np.full(N, -1.0))


def test_snapshots_count_against_chip_memory_until_applied():
    rep, ex = ring_run(2)
    params = 8 * N
    # each chip held its copy's parameters, then a snapshot of them while the round ran
    assert [c.param_bytes for c in ex.chips] == [params, params]
    assert all(c.peak_bytes >= 2 * params for c in ex.chips)
    assert all(c.held_bytes == 0 for c in ex.chips)  # snapshots freed once applied


def test_with_sync_every_two_a_copy_synchronizes_every_second_update():
    rep, ex = ring_run(2, sync_every=2, n_inst=8)  # 4 updates per copy
    assert ex.summary()["sync_rounds"] == 2
    assert len(trace_spans(ex, "w sync")) == 4


def test_sync_none_never_synchronizes():
    rep = replicate(weight_model(), ReplicaSpec(groups=2, sync="none"))
    assert rep.sync_sets == []


@pytest.mark.parametrize("overlap", [False, True])
def test_a_gated_copy_holds_its_messages_until_the_round_applies_unless_overlap(overlap):
    """Two groups, mak 2: instances 0 and 1 complete, their updates close and start round 0; instances 2
    and 3 are admitted at once. Gated, their forwards at w wait for the round's apply; with overlap they
    run during the all-reduce, and the copies apply the average when it arrives, keeping those steps."""
    rep, ex = ring_run(2, n_inst=4, mak=2, overlap=overlap)
    first_round = sorted(trace_spans(ex, "w sync"))[:2]  # one apply per copy
    apply_start = min(start for start, _ in first_round)
    apply_end = max(start + dur for start, dur in first_round)
    second = sorted(trace_spans(ex, "g0/w fwd"))[1]  # instance 2's forward at group 0's copy
    if overlap:
        assert second[0] < apply_start
    else:
        assert second[0] >= apply_end
    assert ex.summary()["sync_rounds"] == 2


def host_machine(k, *, c, r, cores=8):
    """The ring of ``ring_run`` as a measured machine: a [host] whose controller takes ``c`` s per synchronized
    byte, chips that pay ``r`` s per byte they send, ``cores`` enough that nothing time-shares."""
    from ampsim.hardware.parse import system_from_dict

    d = system("ring", n=k).to_dict() if k > 2 else system().to_dict()
    d["chip"]["remote_send_s_per_byte"] = r
    d["host"] = {"cores": cores, "controller_s_per_sync_byte": c}
    return system_from_dict(d, "test.toml")


@pytest.mark.parametrize("k", [2, 3, 4])
def test_through_the_host_the_controller_takes_every_snapshot_in_then_sends_every_average(k):
    """``collective = "host"`` (the multicore executor's way): each contribution's snapshot costs the
    controller c P as its update job ends, FIFO; once the round is ready it sends the average to the k copies
    (c k P); then every copy applies it (2 N FLOPs) and pays its transport, r P. Nothing crosses a link:
    from the last contribution T = 2 k c P + 2 N / F + r P."""
    P, c, r = 8 * N, 1e-7, 1e-8
    rep, ex = ring_run(k, collective="host", machine=host_machine(k, c=c, r=r))
    updates = [s + d for g in range(k) for s, d in trace_spans(ex, f"g{g}/w update")]
    assert len(set(updates)) == 1  # every copy contributes at the same time, u
    u = updates[0]
    apply_ms = (2 * N / F + r * P) / MS
    applies = trace_spans(ex, "w sync")
    assert [x for span in applies for x in span] == pytest.approx([u + 2 * k * c * P / MS, apply_ms] * k, abs=1e-9)
    assert trace_spans(ex, "w add") == []
    summary = ex.summary()
    assert summary["sync_bytes"] == pytest.approx(2 * k * P)  # snapshots in, averages out, as the workers count
    assert summary["sync_time_s"] == pytest.approx(2 * k * c * P + 2 * N / F + r * P, rel=1e-12)
    assert summary["controller_cpu_s"] == pytest.approx(2 * k * c * P, rel=1e-12)
    assert ex.collectives.messages == 0 and summary["network_messages"] == 0  # a group keeps to its chip


def test_through_the_host_ends_with_the_rings_parameters_bit_for_bit():
    ring = ring_run(4, n_inst=12, mak=4)[1]
    host = ring_run(4, n_inst=12, mak=4, collective="host", machine=host_machine(4, c=1e-7, r=1e-8))[1]
    for g in range(4):
        assert np.array_equal(ring.graph.nodes[f"g{g}/w"].params["w"], host.graph.nodes[f"g{g}/w"].params["w"])
    assert host.summary()["sync_rounds"] == ring.summary()["sync_rounds"] == 3


def test_the_host_collective_needs_a_host():
    with pytest.raises(ValueError, match="needs a host"):
        ring_run(2, collective="host")

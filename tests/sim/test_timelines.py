"""Exact analytic timelines of the simulated hardware: compute, pipelines, link contention, hops.

Chips run at 1 GFLOP/s with 1e30 B/s memory bandwidth (byte terms vanish below float resolution) and no per-message overhead, so a node charging
1e6 FLOPs takes exactly 1 ms. Test nodes pass their payload through; messages are 8-byte payloads, 24
bytes on the wire (16-byte header), and links move 96 kB/s, so a transfer takes exactly 0.25 ms.
"""

import numpy as np
import pytest
from timeline_kit import MS, TRANSFER, Busy, End, chain_model, insts, spans, system

from ampsim.executors.sim import SimExecutor
from ampsim.ir.graph import Graph
from ampsim.ir.nodes.io import Input
from ampsim.models.base import InjectFields, Metric, Model


def test_two_chip_pipeline_reaches_the_bottleneck_throughput():
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, system(), {"x": 0, "a": 0, "b": 1, "end": 1}, mak=5, trace=True,
                     eval_advances_time=True)
    ex.evaluate(insts(5))
    assert spans(ex, "a") == [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0), (4.0, 1.0)]
    # a's first output arrives at 1 + 0.25 + 0.5 = 1.75 ms; b is the bottleneck at 2 ms per instance
    assert spans(ex, "b") == [(1.75, 2.0), (3.75, 2.0), (5.75, 2.0), (7.75, 2.0), (9.75, 2.0)]
    assert ex.env.now == pytest.approx(11.75 * MS, rel=1e-12)
    done = [(start + dur) * MS for start, dur in spans(ex, "b")]  # instances leave the pipeline here
    throughput = (len(done) - 1) / (done[-1] - done[0])
    assert throughput == pytest.approx(1 / max(1 * MS, 2 * MS, TRANSFER), rel=1e-12)


def test_mak_bounds_the_instances_in_flight():
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, system(), {"x": 0, "a": 0, "b": 1, "end": 1}, mak=1, trace=True,
                     eval_advances_time=True)
    ex.evaluate(insts(3))
    # one at a time: each instance takes 1 + 0.75 + 2 = 3.75 ms end to end
    assert spans(ex, "a") == [(0.0, 1.0), (3.75, 1.0), (7.5, 1.0)]


def test_two_messages_contending_for_one_link_finish_one_transfer_apart():
    g = Graph("fan")
    for i in (1, 2):
        g.add(Input(f"x{i}", dtype=np.float64))
        g.add(Busy(f"c{i}", 0.0))
        g.add(End(f"end{i}"))
        g.chain(f"x{i}", f"c{i}", f"end{i}")
    model = Model(g.validate(), InjectFields((("x1", "x"), ("x2", "x"))), Metric("m", "end1", "n"))
    place = {"x1": 0, "x2": 0, "c1": 1, "c2": 1, "end1": 1, "end2": 1}
    ex = SimExecutor(model, system(), place, mak=1, trace=True, eval_advances_time=True)
    ex.evaluate(insts(1))
    assert spans(ex, "c1") == [(0.75, 0.0)]
    assert spans(ex, "c2") == [(1.0, 0.0)]  # queued behind c1's message for exactly one transfer time


@pytest.mark.parametrize("switching,expected_ms", [
    ("store_and_forward", 4 * (0.5 + 0.25)),  # each hop: latency + size / bandwidth
    ("cut_through", 4 * 0.5 + 0.25),           # latencies add, the body streams once
])
def test_k_hop_latency_matches_the_switching_formula(switching, expected_ms):
    model = chain_model(("a", 0.0))
    ex = SimExecutor(model, system(kind="ring", n=8, switching=switching), {"x": 0, "a": 4, "end": 4}, trace=True,
                     eval_advances_time=True)
    ex.evaluate(insts(1))
    assert spans(ex, "a") == [(pytest.approx(expected_ms, rel=1e-12), 0.0)]


def test_a_straggler_chip_slows_exactly_the_nodes_placed_on_it():
    model = chain_model(("a", 1e6), ("b", 2e6), ("c", 1e6))
    place = {"x": 0, "a": 0, "b": 1, "c": 0, "end": 0}
    durations = {}
    for label, sys_ in [("uniform", system()),
                        ("straggler", system(chip_override={"chips": [1], "flops_per_s": 2.5e8}))]:
        ex = SimExecutor(model, sys_, place, trace=True, eval_advances_time=True)
        ex.evaluate(insts(2))
        durations[label] = {n: [d for _, d in spans(ex, n)] for n in "abc"}
    assert durations["uniform"] == {"a": [1.0, 1.0], "b": [2.0, 2.0], "c": [1.0, 1.0]}
    assert durations["straggler"] == {"a": [1.0, 1.0], "b": [8.0, 8.0], "c": [1.0, 1.0]}


def test_training_timeline_forward_then_backward_with_update_jobs():
    """mak = 1: forward a → b, the loss answers at once, backward b → a; the next instance starts
    only when the first has completed."""
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, system(), {"x": 0, "a": 0, "b": 1, "end": 1}, mak=1, trace=True)
    ex.train(insts(2))
    # fwd a 0-1, link 1-1.75, fwd b 1.75-3.75, end, bwd b 3.75-5.75, link back 5.75-6.5, bwd a 6.5-7.5
    assert spans(ex, "a") == [(0.0, 1.0), (7.5, 1.0)]
    assert spans(ex, "b", "bwd") == [(3.75, 2.0), (11.25, 2.0)]
    assert spans(ex, "a", "bwd") == [(6.5, 1.0), (14.0, 1.0)]
    assert ex.time_s == pytest.approx(15.0 * MS, rel=1e-12)


def test_messages_on_one_chip_pay_no_link_cost():
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, system(), {n: 1 for n in ("x", "a", "b", "end")}, trace=True, eval_advances_time=True)
    ex.evaluate(insts(1))
    assert spans(ex, "b") == [(1.0, 2.0)] and ex.network.messages == 0


def a_to_b_across_chips(chip_fields: dict, *, mak: int, n: int):
    """x, a on chip 0 → b, end on chip 1 (a 1 ms, b 2 ms), both chips with ``chip_fields``; evaluated on
    ``n`` instances with a trace."""
    model = chain_model(("a", 1e6), ("b", 2e6))
    ex = SimExecutor(model, system(chip_override={"chips": [0, 1], **chip_fields}), {"x": 0, "a": 0, "b": 1, "end": 1},
                     mak=mak, trace=True, eval_advances_time=True)
    ex.evaluate(insts(n))
    return ex


def test_remote_send_cpu_is_charged_to_the_sending_chip_only_for_cross_chip_sends():
    # 0.5 ms per message sent to another chip + 0.25 ms for its 24 wire bytes: a (chip 0 → b on chip 1)
    # grows from 1 to exactly 1.75 ms; b (→ end on its own chip) and x (→ a on its own chip) pay nothing
    ex = a_to_b_across_chips({"remote_send_overhead_s": 0.5 * MS, "remote_send_s_per_byte": 0.25 * MS / 24},
                             mak=1, n=2)
    assert spans(ex, "x") == [(0.0, 0.0), (4.5, 0.0)]
    assert spans(ex, "a") == [(0.0, 1.75), (4.5, 1.75)]
    # a's output leaves after its send CPU: 1.75 + 0.25 + 0.5 = 2.5 ms; then b takes its plain 2 ms
    assert spans(ex, "b") == [(2.5, 2.0), (7.0, 2.0)]
    assert ex.env.now == pytest.approx(9.0 * MS, rel=1e-12)


FRAMES = {"frame_send_overhead_s": 0.5 * MS, "frame_receive_overhead_s": 0.25 * MS}


def test_a_lone_frame_costs_the_sender_and_the_receiver_once():
    ex = a_to_b_across_chips(FRAMES, mak=1, n=2)
    # a 0-1, its queue is empty: the frame costs chip 0 0.5 ms, crosses in 0.25 + 0.5 ms (arrives at 2.25),
    # and b pays 0.25 ms to receive it on top of its 2 ms; the next instance starts when end is done
    assert spans(ex, "a") == [(0.0, 1.0), (4.5, 1.0)]
    assert spans(ex, "b") == [(2.25, 2.25), (6.75, 2.25)]
    assert ex.summary()["network_frames"] == 2 and ex.summary()["network_messages"] == 2


@pytest.mark.parametrize("window_ms, a_spans, b_spans, frames", [
    # a window longer than a's work: both outputs wait until a's queue is empty and share one 48-byte
    # frame (sent 2-2.5, transfer 0.5 + latency 0.5: arrives at 3.5); only the first b pays the receive
    (5.0, [(0.0, 1.0), (1.0, 1.0)], [(3.5, 2.25), (5.75, 2.0)], 1),
    # a window shorter than a's work: a frame after every step, each costing chip 0 its 0.5 ms
    (0.5, [(0.0, 1.0), (1.5, 1.0)], [(2.25, 2.25), (4.5, 2.25)], 2),
])
def test_sends_wait_for_the_queue_to_empty_or_the_coalescing_window(window_ms, a_spans, b_spans, frames):
    ex = a_to_b_across_chips({**FRAMES, "coalesce_window_s": window_ms * MS}, mak=2, n=2)
    assert spans(ex, "a") == a_spans
    assert spans(ex, "b") == b_spans
    assert ex.summary()["network_frames"] == frames


def test_an_idle_chip_takes_in_a_whole_frame_at_once_and_answers_it_in_one_frame():
    # x, a, c on chip 0; b on chip 1; both chips poll every 10 ms while busy and coalesce for 5 ms. a's two
    # outputs share one frame (sent 2-2.5, 48 bytes: arrives at 3.5); chip 1 is idle and queues both, so
    # b runs them back to back (the first pays the frame's 0.25 ms) and sends both outputs in one frame
    # once its queue is empty (7.75-8.25). Had the second waited in the inbox, chip 1 would have run dry
    # after the first b, flushed its output alone (5.75-6.25) and started the second b at 6.25.
    model = chain_model(("a", 1e6), ("b", 2e6), ("c", 1e6))
    chips = {"chips": [0, 1], **FRAMES, "coalesce_window_s": 5 * MS, "poll_interval_s": 10 * MS}
    ex = SimExecutor(model, system(chip_override=chips), {"x": 0, "a": 0, "b": 1, "c": 0, "end": 0}, mak=2,
                     trace=True, eval_advances_time=True)
    ex.evaluate(insts(2))
    assert spans(ex, "b") == [(3.5, 2.25), (5.75, 2.0)]
    assert ex.summary()["network_frames"] == 2  # one each way


def test_the_receive_cost_per_message_is_charged_to_the_receiving_chip():
    # unframed: a's output crosses alone (arrives at 1.75 ms) and b pays 0.25 ms to take it in; a pays nothing
    ex = a_to_b_across_chips({"remote_receive_overhead_s": 0.25 * MS}, mak=1, n=1)
    assert spans(ex, "a") == [(0.0, 1.0)] and spans(ex, "b") == [(1.75, 2.25)]
    assert "network_frames" not in ex.summary()


@pytest.mark.parametrize("spin_ms, b_ms", [(0.0, 2.25), (1.0, 2.25), (5.0, 2.0)])
def test_waking_after_sleeping_costs_the_wake_overhead_unless_the_chip_was_still_spinning(spin_ms, b_ms):
    # chip 1 is idle from 0 until a's output arrives at 1.75 ms: asleep unless it spins for longer than that
    ex = a_to_b_across_chips({"wake_overhead_s": 0.25 * MS, "spin_s": spin_ms * MS}, mak=1, n=1)
    assert spans(ex, "b") == [(1.75, b_ms)]


def test_a_busy_chip_takes_in_arrivals_only_when_it_polls():
    # chip 1 runs c (4 ms) from 0; a's output reaches it from chip 0 at 1.75 ms, c's output d is local
    g = Graph("poll")
    for name in ("x", "y"):
        g.add(Input(name, dtype=np.float64))
    g.add(Busy("a", 1e6))
    g.add(Busy("b", 2e6))
    g.add(Busy("c", 4e6))
    g.add(Busy("d", 1e6))
    for name in ("endb", "endd"):
        g.add(End(name))
    g.chain("x", "a", "b", "endb")
    g.chain("y", "c", "d", "endd")
    model = Model(g.validate(), InjectFields((("x", "x"), ("y", "x"))), Metric("m", "endb", "n"))
    place = {"x": 0, "a": 0, "y": 1, "c": 1, "d": 1, "b": 1, "endb": 1, "endd": 1}
    starts = {}
    for poll_ms in (0.0, 10.0):
        chips = {"chips": [0, 1], "poll_interval_s": poll_ms * MS}
        ex = SimExecutor(model, system(chip_override=chips), place, mak=1, trace=True, eval_advances_time=True)
        ex.evaluate(insts(1))
        starts[poll_ms] = (spans(ex, "b")[0][0], spans(ex, "d")[0][0])
    # at once: b (arrived 1.75) is queued before d (made by c at 4): b 4-6, d 6-7
    # polled: at 4 c hands d to the queue while b waits in the inbox until the queue runs empty: d 4-5, b 5-7
    assert starts == {0.0: (4.0, 6.0), 10.0: (5.0, 4.0)}

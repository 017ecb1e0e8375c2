"""The compiled replay loop with every rule it hosts at once, on machines whose chips idle between messages (the
kernel's pending slot then carries a step's first send, :func:`~ampsim.executors.sim.jitstate.pend`): stragglers,
send and receive costs, wake-ups and spin, two units a chip, muf > 1 (the kernel stops at the update jobs and
carries on), a staleness bound (it stops for the window), a progress callback (it stops to report), event stores
that must grow, several train calls with the compiled and the Python loop taking turns, and a chip that runs out
of memory mid-run. Each run is the full run's: its times, counters, staleness and updates, or its out-of-memory
error and record; the Python loop's and the alternating one's are the compiled loop's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from replay_kit import HW, measured
from test_replay_fastloop import _mlp_chain

from ampsim.errors import RunError
from ampsim.executors.sim import SimExecutor, jitkernel
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.placement import place

COSTS = {"remote_send_overhead_s": 3e-7, "remote_send_s_per_byte": 1e-11, "remote_receive_overhead_s": 2e-7,
         "wake_overhead_s": 1e-6, "spin_s": 5e-7, "compute_units": 2}
#: (machine, its overrides, layers, mak, max_staleness, instances per train call)
CASES = {
    "idle-switch": ("switch64.toml", {"topology": {"n": 32}, "link": {"packet_bytes": 0}, "chip": COSTS}, 24, 8,
                    2.0, (9, 16, 5)),
    "straggler-ring": ("hetero_straggler.toml", {"chip": COSTS, "host": {"completion_latency_s": 1e-6}}, 8, 3, 0.0,
                       (16, 9)),
    "idle-switch-packets": ("switch64.toml", {"topology": {"n": 32}, "link": {"packet_bytes": 64},
                                              "chip": {**COSTS, "compute_units": 1}}, 12, 16, 3.0, (30, 5)),
}


def _batch(n: int, first: int) -> list[Instance]:
    r = np.random.default_rng(first)
    return [Instance(first + k, {"x": r.random((1, 4), dtype=np.float32), "y": r.integers(0, 2, 1)})
            for k in range(n)]


def _run(case: tuple, mode: str, memory: dict[int, float] | None = None) -> tuple[dict, SimExecutor]:
    """The case trained call after call: in full, or replayed on the compiled loop ("compiled"), the Python loop
    ("python"), or the two in turn ("alternating"); what it measured, or its out-of-memory error and record."""
    hw, overrides, layers, mak, bound, calls = case
    system = load_system(HW / hw, overrides)
    if memory:
        system = dataclasses.replace(system, chips=type(system.chips)(
            dataclasses.replace(c, memory_bytes=memory.get(i, c.memory_bytes)) for i, c in enumerate(system.chips)))
    m = _mlp_chain(layers)
    for i, node in enumerate(m.graph.param_nodes):
        node.muf = (1, 3, 2)[i % 3]
    ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=mak, numerics=mode == "full",
                     max_staleness=bound)
    heard: list[int] = []
    first, error = 0, None
    try:
        for k, n in enumerate(calls):
            JitReplay.compiled = mode == "compiled" or (mode == "alternating" and k % 2 == 0)
            ex.train(_batch(n, first), on_done=heard.append)
            first += n
    except RunError as e:
        error = (str(e), getattr(e, "where", None))
    out = {"error": error, "time_s": ex.time_s, "heard": sum(heard),
           "chips": [(c.busy_s, c.peak_bytes, c.param_bytes) for c in ex.chips],
           "updates": [n.version for n in m.graph.param_nodes]}
    if error is None:  # (what a run that stopped says is its error; the rest is the state it stopped in)
        out["summary"] = measured(ex.summary())
        out["staleness"] = [list(n.staleness.items()) for n in m.graph.param_nodes]
        out["links"] = (dict(ex.network.bytes), dict(ex.network.busy_s))
        out["counts"] = (ex.messages, [c.items for c in ex.chips])
    return out, ex


@pytest.mark.parametrize("name", list(CASES))
def test_every_rule_at_once_call_after_call_is_the_full_run_and_so_is_running_out_of_memory(name, statuses,
                                                                                           monkeypatch):
    monkeypatch.setattr(JitReplay, "first_capacity", 0)  # (the stores grow: a stop the others are taken with)
    monkeypatch.setattr(JitReplay, "set_aside_room", False)
    case = CASES[name]
    full, fx = _run(case, "full")
    assert full["error"] is None and full["time_s"] > 0 and full["heard"] == sum(case[-1])
    for mode in ("compiled", "python", "alternating"):
        assert _run(case, mode)[0] == full, mode
    seen = set(statuses)
    assert {jitkernel.UPDATE_JOB, jitkernel.REPORT, jitkernel.GROW} <= seen
    assert (jitkernel.WINDOW in seen) == (case[4] > 0)
    # the busiest chip given a memory between its parameters and the peak it reached: it runs out mid-run
    c = max(range(len(fx.chips)), key=lambda i: fx.chips[i].peak_bytes - fx.chips[i].param_bytes)
    memory = {c: float(fx.chips[c].param_bytes + (fx.chips[c].peak_bytes - fx.chips[c].param_bytes) * 2 // 3)}
    stopped = _run(case, "full", memory)[0]
    assert stopped["error"] is not None and "out of memory at t=" in stopped["error"][0]
    statuses.clear()
    for mode in ("compiled", "python"):
        assert _run(case, mode, memory)[0]["error"] == stopped["error"], mode
    assert jitkernel.OOM in statuses

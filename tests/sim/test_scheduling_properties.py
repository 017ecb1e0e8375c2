"""The AMP scheduling rules, as properties of traced runs on random machines and models.

What README "How it works" and docs/replay.md promise, checked from each run's own trace (its controller's
``admit``/``complete`` instants and the chips' spans) and its nodes: at most ``mak`` instances in flight at
any simulated time (and no more than the window's largest size under ``train.max_staleness``); every instance
admitted once and completed once, after its admission; a parameterized node updates once per ``muf`` completed
instances (``version == floor(stashed instances / muf)``), each update a span on the node's own chip; its
staleness histogram counts every backward visit, and on a chain (where no instance overtakes another, so at
most ``mak - 1`` others complete between an instance's forward and backward) each value lies in
``[0, ceil((mak - 1) / muf)]`` (the docs give no bound: this one needs the order kept, and chips whose
durations differ between two visits of a node, a frame's receive cost charged to whichever item comes next
on a chip of several units, or contention, let instances overtake; they are not drawn here); spans on one
compute unit never overlap; each chip serves its queue first in,
first out; ``eval.advances_time = false`` costs no simulated time; and a replay (``executor.numerics =
false``) gives the same trace and staleness. Machines: rings, switches and fully connected chips with random
latencies, bandwidths, FLOP rates and compute units; models: chains of :mod:`timeline_kit`'s nodes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from timeline_kit import TRACE_NS, Busy, End, Weight, check_lanes, insts

from ampsim.config import load_config, parse_override
from ampsim.executors import make_executor
from ampsim.executors.sim import SimExecutor, recording_cache
from ampsim.executors.sim.chips import Chip
from ampsim.hardware.parse import system_from_dict
from ampsim.ir.graph import Graph
from ampsim.ir.nodes.io import Input
from ampsim.models.base import InjectFields, Metric, Model
from ampsim.optim import OptimizerSpec
from ampsim.planning import plan
from ampsim.trace import chip_pid, lane_tid

#: a few seconds of examples each: the whole file well under a minute on a shared 2-core host
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def machines(draw) -> dict:
    """A hardware model's fields: a ring, a switch or fully connected chips, random rates, chips that may poll
    and a controller that may be a round trip away."""
    kind = draw(st.sampled_from(["ring", "switch", "fully_connected"]))
    return {
        "system": {"name": "p", "description": "property", "source": "test",
                   "switching": draw(st.sampled_from(["store_and_forward", "cut_through"]))},
        "chip": {"flops_per_s": draw(st.sampled_from([1e8, 1e9, 3e9])), "mem_bandwidth_bytes_per_s": 1e12,
                 "overhead_s": draw(st.sampled_from([0.0, 1e-6])), "memory_bytes": 1e9,
                 "compute_units": draw(st.integers(1, 3)), "poll_interval_s": draw(st.sampled_from([0.0, 0.0, 1e-5]))},
        "link": {"latency_s": draw(st.sampled_from([0.0, 1e-6, 5e-4])),
                 "bandwidth_bytes_per_s": draw(st.sampled_from([1e4, 1e6, 1e9]))},
        "topology": {"kind": kind, "n": draw(st.integers(3 if kind == "ring" else 2, 4))},
        "host": {"completion_latency_s": draw(st.sampled_from([0.0, 0.0, 1e-6, 3e-4]))},
    }


@st.composite
def runs(draw) -> dict:
    """A chain model (stages: ``("busy", flops)`` or ``("weight", parameters)``, one weight at least), its
    placement on the machine's chips, mak, muf, the instances and a staleness bound (0 = off)."""
    hw = draw(machines())
    stages = draw(st.lists(st.one_of(st.tuples(st.just("busy"), st.sampled_from([0.0, 1e5, 1e6, 3e6])),
                                     st.tuples(st.just("weight"), st.sampled_from([10, 1000]))),
                           min_size=1, max_size=4))
    if not any(kind == "weight" for kind, _ in stages):
        stages.insert(draw(st.integers(0, len(stages))), ("weight", 100))
    names = ["x", *(f"{kind[0]}{i}" for i, (kind, _) in enumerate(stages)), "end"]
    n_chips = hw["topology"]["n"]
    return {"hw": hw, "stages": stages, "place": {n: draw(st.integers(0, n_chips - 1)) for n in names},
            "mak": draw(st.integers(1, 10)), "muf": draw(st.integers(1, 4)), "n": draw(st.integers(1, 30)),
            "bound": draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]))}


def chain(stages: list[tuple[str, float]], muf: int) -> Model:
    """x → the stages (:class:`Busy` or :class:`Weight` nodes, SGD with ``muf``) → end; inject field "x"."""
    g = Graph("chain")
    nodes = [g.add(Input("x", dtype=np.float64))]
    for i, (kind, size) in enumerate(stages):
        if kind == "busy":
            nodes.append(g.add(Busy(f"b{i}", size)))
        else:
            w = g.add(Weight(f"w{i}", size))
            w.configure(OptimizerSpec(kind="sgd", lr=0.5), muf=muf)
            nodes.append(w)
    nodes.append(g.add(End("end")))
    g.chain(*nodes)
    return Model(g.validate(), InjectFields((("x", "x"),)), Metric("m", "end", "n"))


def execute(r: dict, *, numerics: bool = True, evaluate: int = 0, advances_time: bool = False) -> SimExecutor:
    """Train ``r``'s run traced (then evaluate ``evaluate`` instances); the executor."""
    ex = SimExecutor(chain(r["stages"], r["muf"]), system_from_dict(r["hw"], "p.toml"), r["place"], mak=r["mak"],
                     trace=True, numerics=numerics, max_staleness=r["bound"], eval_advances_time=advances_time)
    ex.train(insts(r["n"]))
    if evaluate:
        ex.evaluate(insts(evaluate))
    return ex


def controller_events(ex: SimExecutor) -> list[tuple[str, int, float]]:
    return [(e["name"], e["args"]["key"], e["ts"]) for e in ex.trace.events
            if e.get("ph") == "i" and e["name"] in ("admit", "complete")]


def work_spans(ex: SimExecutor) -> list[dict]:
    """The chips' spans (the links' are on a track of their own)."""
    return [e for e in ex.trace.events if e.get("ph") == "X" and chip_pid(0) <= e["pid"] < chip_pid(len(ex.chips))]


def most_in_flight(events) -> int:
    """The most instances admitted and not completed at once, the instants taken in the order they happened."""
    live, most = set(), 0
    for what, key, _ in events:
        if what == "admit":
            live.add(key)
            most = max(most, len(live))
        else:
            live.discard(key)
    return most


def check_controller(ex: SimExecutor, keys: list[int], mak: int) -> None:
    events = controller_events(ex)
    admitted = [k for what, k, _ in events if what == "admit"]
    completed = [k for what, k, _ in events if what == "complete"]
    assert sorted(admitted) == sorted(completed) == sorted(keys)  # each once
    admit_at = {k: t for what, k, t in events if what == "admit"}
    assert all(t >= admit_at[k] for what, k, t in events if what == "complete")
    assert most_in_flight(events) <= mak
    if ex.admission_window is not None:
        assert most_in_flight(events) <= max(ex.admission_window.history) <= mak


def check_units(ex: SimExecutor) -> None:
    """No two spans on one compute unit overlap (exactly, in the trace's nanoseconds)."""
    by_unit: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in work_spans(ex):
        assert lane_tid(0) <= e["tid"] < lane_tid(ex.chips[e["pid"] - chip_pid(0)].spec.compute_units)
        by_unit.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["dur"]))
    check_lanes(by_unit)


def check_updates(ex: SimExecutor, r: dict, trained: int) -> None:
    """Every parameterized node: floor(instances / muf) updates, each a span on its chip; a staleness per
    backward visit, none above what mak and muf allow on a chain."""
    spans = work_spans(ex)
    bound = math.ceil((r["mak"] - 1) / r["muf"])
    for node in ex.graph.param_nodes:
        assert node.version == trained // r["muf"]
        updates = [e for e in spans if e["name"] == f"{node.name} update"]
        assert len(updates) == node.version
        assert {e["pid"] for e in updates} <= {chip_pid(r["place"][node.name])}
        backwards = [e for e in spans if e["name"] == f"{node.name} bwd"]
        assert sum(node.staleness.values()) == len(backwards) == trained
        assert all(0 <= s <= bound for s in node.staleness), (dict(node.staleness), bound)


#: found by this property (fixed since): two weights on a chip of two units that polls, with the controller's
#: round trip; the second update job waited in the inbox beside an idle unit and the next instance passed it
POLLED_UPDATES = {
    "hw": {"system": {"name": "p", "description": "property", "source": "test", "switching": "store_and_forward"},
           "chip": {"flops_per_s": 1e8, "mem_bandwidth_bytes_per_s": 1e12, "overhead_s": 0.0, "memory_bytes": 1e9,
                    "compute_units": 2, "poll_interval_s": 1e-5},
           "link": {"latency_s": 0.0, "bandwidth_bytes_per_s": 1e4}, "topology": {"kind": "ring", "n": 3},
           "host": {"completion_latency_s": 1e-6}},
    "stages": [("weight", 10), ("weight", 10)], "place": {"x": 0, "w0": 0, "w1": 0, "end": 1},
    "mak": 1, "muf": 1, "n": 3, "bound": 0.0}


@PROPERTY
@given(r=runs())
@example(r=POLLED_UPDATES)
def test_a_traced_run_keeps_every_scheduling_rule(r):
    ex = execute(r)
    check_controller(ex, list(range(r["n"])), r["mak"])
    check_units(ex)
    check_updates(ex, r, r["n"])
    assert ex.time_s == ex.now > 0
    # a chip's k units each run at 1/k of its FLOP rate, and none is busy longer than the run
    spec = ex.chips[0].spec
    for i, (kind, flops) in enumerate(r["stages"]):
        durations = [e["dur"] / 1e6 for e in work_spans(ex) if e["name"] == f"b{i} fwd"] if kind == "busy" else []
        # (less the trace's nanosecond: its start and end each rounded to one, a span may be up to 1 ns short)
        least = flops * spec.compute_units / spec.flops_per_s * (1 - 1e-9) - TRACE_NS
        assert all(d >= least for d in durations)
    assert all(0 <= u <= 1 + 1e-12 for u in ex.summary()["chip_utilization"])


@PROPERTY
@given(r=runs())
def test_a_replay_gives_the_full_runs_trace_and_staleness(r):
    full = execute(r)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMPSIM_RECORDINGS", "off")
        # a hand-made model's recording is keyed by its nodes' names, kinds and shapes, not by a Busy node's
        # FLOPs: the previous example's, kept in this process's memory, would be replayed
        recording_cache.clear_memory()
        replay = execute(r, numerics=False)
    assert replay.trace.events == full.trace.events
    assert replay.time_s == full.time_s
    assert [dict(n.staleness) for n in replay.graph.param_nodes] == [dict(n.staleness) for n in full.graph.param_nodes]
    assert [n.version for n in replay.graph.param_nodes] == [n.version for n in full.graph.param_nodes]
    again = execute(r)  # same seed, same config: the same run
    assert again.trace.events == full.trace.events


@PROPERTY
@given(r=runs(), advances=st.booleans(), n_eval=st.integers(1, 6))
def test_evaluation_costs_time_only_when_it_advances_time(r, advances, n_eval):
    ex = SimExecutor(chain(r["stages"], r["muf"]), system_from_dict(r["hw"], "p.toml"), r["place"], mak=r["mak"],
                     trace=True, max_staleness=r["bound"], eval_advances_time=advances)
    ex.train(insts(r["n"]))
    trained_s, before = ex.time_s, len(ex.trace.events)
    versions = [n.version for n in ex.graph.param_nodes]
    ex.evaluate([type(i)(i.key + 100, i.data) for i in insts(n_eval)])
    assert [n.version for n in ex.graph.param_nodes] == versions  # evaluation updates nothing
    if not advances:
        assert ex.time_s == trained_s and len(ex.trace.events) == before
        return
    assert ex.time_s > trained_s
    later = ex.trace.events[before:]
    events = [(e["name"], e["args"]["key"], e["ts"]) for e in later if e.get("ph") == "i"]
    assert sorted(k for w, k, _ in events if w == "admit") == [100 + k for k in range(n_eval)]
    assert most_in_flight(events) <= r["mak"]  # the window is training's: evaluation runs under mak alone
    assert not any(e["name"].endswith((" bwd", " update")) for e in later if e.get("ph") == "X")
    check_units(ex)


@PROPERTY
@given(r=runs())
def test_each_chip_serves_its_queue_first_in_first_out(r):
    """The items a chip takes, in the order its units take them, are those put on its queue in that order (no
    polling here: every arrival goes straight onto the queue)."""
    r["hw"]["chip"]["poll_interval_s"] = 0.0
    put_order: dict[int, list] = {}
    taken: dict[int, list] = {}
    real_put = Chip.put

    def put(chip, item, nbytes):
        put_order.setdefault(chip.index, []).append(item)
        real_put(chip, item, nbytes)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Chip, "put", put)
        ex = SimExecutor(chain(r["stages"], r["muf"]), system_from_dict(r["hw"], "p.toml"), r["place"],
                         mak=r["mak"], trace=False, max_staleness=r["bound"])
        for chip in ex.chips:
            def handle(c, unit, item, inner=chip._handle):
                taken.setdefault(c.index, []).append(item)
                return inner(c, unit, item)
            chip._handle = handle
        ex.train(insts(r["n"]))
    for index, items in taken.items():
        assert len(items) == len(put_order[index])
        assert all(a is b for a, b in zip(items, put_order[index]))


# -- a task's model, with a loop (the list reduction's LSTM cell: several visits an instance, which overtake
# one another as lists differ in length) and the MLP's chain of layers, planned from its experiment file
ROOT = Path(__file__).resolve().parents[2]


@st.composite
def planned(draw) -> tuple[str, ...]:
    """Overrides of ``experiments/list_reduction.toml`` or ``blobs_mlp.toml``: a few instances, random mak, muf,
    bound, placement and machine (ring4 with random link and chip rates and compute units)."""
    task = draw(st.sampled_from(["list_reduction", "blobs_mlp"]))
    return (task, "data.n_train=96", "data.n_test=8", "train.epochs=1", 'executor.kind="sim"',
            f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"',
            f"train.mak={draw(st.integers(1, 8))}", f"train.muf={draw(st.integers(1, 3))}",
            f"train.max_staleness={draw(st.sampled_from([0.0, 0.0, 0.5, 1.0]))}",
            f'placement.strategy="{draw(st.sampled_from(["round_robin", "greedy", "min_cut", "single"]))}"',
            f"hardware.link.latency_s={draw(st.sampled_from([1e-7, 1e-5, 1e-3]))}",
            f"hardware.link.bandwidth_bytes_per_s={draw(st.sampled_from([1e6, 1e9]))}",
            f"hardware.chip.flops_per_s={draw(st.sampled_from([1e8, 1e10]))}",
            f"hardware.chip.compute_units={draw(st.integers(1, 3))}")


def execute_planned(task: str, *overrides: str) -> tuple[SimExecutor, list]:
    """``experiments/<task>.toml`` with ``overrides``, planned and trained one epoch traced: (executor, instances)."""
    cfg = load_config(ROOT / "experiments" / f"{task}.toml",
                      [parse_override(o) for o in (*overrides, "executor.trace=true")])
    p = plan(cfg)
    ex = make_executor(p)
    instances = list(p.task.train_instances(1))
    ex.train(instances)
    return ex, instances


@settings(PROPERTY, max_examples=25)
@given(o=planned())
def test_a_planned_tasks_run_keeps_the_rules_a_loop_allows(o, tmp_path_factory):
    """A model whose instances may overtake one another: no staleness bound but the count; the rest as above,
    and its replay gives the same trace."""
    task, *overrides = o
    ex, instances = execute_planned(task, *overrides)
    mak, muf = ex.mak, ex.graph.param_nodes[0].muf
    check_controller(ex, [i.key for i in instances], mak)
    check_units(ex)
    spans = work_spans(ex)
    chip_of = {chip_pid(i): c for i, c in enumerate(ex.chips)}
    for node in ex.graph.param_nodes:
        assert node.version == len(instances) // muf
        updates = [e for e in spans if e["name"] == f"{node.name} update"]
        assert len(updates) == node.version and all(chip_of[e["pid"]] is ex.where[node.name] for e in updates)
        assert sum(node.staleness.values()) == sum(e["name"] == f"{node.name} bwd" for e in spans)
        assert min(node.staleness, default=0) >= 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMPSIM_RECORDINGS", str(tmp_path_factory.getbasetemp() / "recordings"))
        replay, _ = execute_planned(task, *overrides, "executor.numerics=false")
    assert replay.trace.events == ex.trace.events

"""Cost of a replayed simulation (``executor.numerics = false``) against the full one, side by side in one
run. Writes results/bench/replay.csv.

* ``sst``: the SST Tree-LSTM (300 trees, the experiment's model), an 8×8 torus, mak = 16: wall time of the
  full simulated run, of recording the trees once, and of the replay; ``replay_over_full`` (goal ≤ 0.1).
  ``same_time`` says the replay's simulated time equals the full run's (it must). The note times the Python
  loop the compiled one copies (``JitReplay.compiled = False``) on the same trees, side by side.
* ``sst_300_torus8x8_4groups_sync_replay``: the same 300 trees in 4 replica groups that average by rows
  after every update (mak 64, muf 5, the shipped 256-byte packets): the full run, the replay on the loop's
  Python version (which hosts the collectives, :mod:`ampsim.executors.sim.fastsync`) and the same replay on
  SimPy (``simpy_replay_wall_s``, the path such replays took before 2026-12-05), interleaved; ``same_time``:
  the two replays' summaries are equal and their simulated time the full run's.
* ``chain`` rows: chains of tiny Linear+ReLU nodes (width 16, one row per message, two nodes per layer),
  mak = 8 (unless said), placed round robin (or, for the replica groups, one run of chips per group):
  simulated messages per wall second in the replay (goal ≥ 100,000) and wall µs per message, which should
  stay flat from 4 to 1,024 busy chips. Five series, each with its own ``relative_to_fastest`` (a row's
  µs per message ÷ the fastest row's *of its series*):

  - ``torus`` (the issue's cases): one 512-layer chain (1,027 nodes, 38 instances) on a ring of 4, an 8×8
    torus and a 32×32 torus, which it keeps all busy: the same model and messages on every machine. Round
    robin puts consecutive nodes on neighbouring chips, so most messages cross one link even on the 32×32
    torus.
  - ``torus64``: a 64-layer chain (300 instances) on the same three machines (~130 chips busy on the
    biggest), and in 8 replica groups (copies not synchronized) with all 1,024 busy: a smaller model, whose
    per-call setup (per node) is smaller too; until 2026-12-05 the ``torus`` series began with its ring row.
  - ``switch``: the same 512-layer chain and instances on one switch of 4, 16, 64, 256 and 1,024 chips
    (``switch64.toml`` resized): every message between chips crosses exactly two links whatever the
    machine's size, so any growth is the simulator's, not the route's.
  - ``load``: the same load on every chip however many there are: the 64-layer chain on a switch of 4 and
    of 128 chips and in 8 groups on 1,024, with two instances in flight per chip (mak 8, 256, 2,048).
    The other series keep 8 instances in flight, so on a big machine most chips idle between messages
    and each message wakes one (an event of its own); here every chip has work queued, as on a small
    machine, but as many events wait in the event queue as instances are in flight, and a heap's cost
    grows with its size (``bench_event_queue``).
  - ``size``: what the machine's size costs by itself: the 512-layer chain on the first 4 chips of a
    1,024-chip switch against a 4-chip switch (the same messages, the same 4 busy chips, the same
    simulated times), its ``loop_relative_to_fastest`` 1.0 where the size alone costs nothing. What grows
    in the other series is then what the simulated machine does differently when its work is spread
    (chips that idle between messages, each arrival waking one), not the number of chips it has.
    ``same_time`` on these rows: both ran to the same simulated time (they must).

  ``loop_us_per_message`` is the compiled loop's own time per message (the call less its setup: recording
  lookup, per-placement arrays, update costs, the state handed over and back), ``events_per_message`` the
  events it processed per message and ``loop_ns_per_event`` what each cost; ``loop_relative_to_fastest``
  compares the loop alone within a series.
  Columns ``busy_chips``, ``hops_per_message`` (links crossed, summed over messages ÷ messages) and
  ``wall_us_per_hop`` (wall µs per message-hop) say what each case asked of the simulator;
  ``relative_to_fastest`` compares µs per message within a ``series``. The per-hop figure separates a
  longer route's inherent cost (each hop is a link reservation) from the simulator's overhead. Each
  case is timed five times, the cases of a series interleaved so they share the machine's noise; the
  fastest of each counts (wall time, whole ``train`` call: recording lookup, per-placement setup and the loop).
  Its routes come from the process's shared routing tables (:mod:`ampsim.hardware.routing`), filled by the
  setup's run as by a sweep worker's earlier points; ``routes_cold_s`` is what finding them costs without
  (the trees from every busy chip, computed anew): a worker's first point on a machine pays it once.

* ``sst_epoch2_composed``: the SST trees of one epoch recorded (``record_wall_s``), then the next epoch's
  shuffle of the same trees obtained from the recording cache (``replay_wall_s`` here: made of the first
  epoch's instances, :mod:`ampsim.executors.sim.segments`, instead of recorded again).

``python -m benchmarks.bench_replay [--quick --out DIR]``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from ampsim.config import load_config, parse_override
from ampsim.errors import DataError
from ampsim.executors import make_executor
from ampsim.executors.sim import SimExecutor, linktable, recording_cache
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.executors.sim.recording_cache import clear_memory, obtain
from ampsim.hardware import routing
from ampsim.hardware.parse import load_system
from ampsim.hardware.routing import routes
from ampsim.hardware.topology import build_topology
from ampsim.placement import Profile, place
from ampsim.planning import plan
from ampsim.replicas import ReplicaSpec, replicate
from benchmarks.bench_sim import _batches, _model
from benchmarks.common import OUT, ROOT, data_missing, load, machine, run_one, write_csv

HW = ROOT / "hardware_models"


@dataclass(frozen=True)
class Chain:
    """One chain case: ``layers`` layers (two nodes each), ``instances`` instances, in ``groups`` replica
    groups, on ``hardware`` (a switch resized to ``switch_chips`` chips where that is set)."""

    series: str  # the rows ``relative_to_fastest`` compares
    hardware: str
    layers: int
    instances: int
    groups: int = 1
    switch_chips: int = 0
    mak: int = 8
    busy: int = 0  # round robin over the machine's first ``busy`` chips only (0: over all of them)

    @property
    def name(self) -> str:
        machine = f"switch{self.switch_chips}" if self.switch_chips else self.hardware.removesuffix(".toml")
        mak = f"_mak{self.mak}" if self.series == "load" else ""
        busy = f"_{self.busy}busy" if self.busy else ""
        return f"chain{self.layers}{f'x{self.groups}groups' if self.groups > 1 else ''}_{machine}{busy}{mak}_replay"


#: 64 layers keep ~130 chips busy; 512 layers (1,024 nodes) keep every chip of a 1,024-chip machine busy,
#: with about as many messages in all
CHAIN_CASES = (*(Chain("torus", hw, 512, 38) for hw in ("ring4.toml", "torus8x8.toml", "torus_32x32.toml")),
               Chain("torus64", "ring4.toml", 64, 300), Chain("torus64", "torus8x8.toml", 64, 300),
               Chain("torus64", "torus_32x32.toml", 64, 300), Chain("torus64", "torus_32x32.toml", 64, 304, groups=8),
               *(Chain("switch", "switch64.toml", 512, 38, switch_chips=n) for n in (4, 16, 64, 256, 1024)),
               Chain("load", "switch64.toml", 64, 300, switch_chips=4, mak=8),
               Chain("load", "switch64.toml", 64, 1024, switch_chips=128, mak=256),
               Chain("load", "switch64.toml", 64, 4096, groups=8, switch_chips=1024, mak=2048),
               Chain("size", "switch64.toml", 512, 38, switch_chips=4, busy=4),
               Chain("size", "switch64.toml", 512, 38, switch_chips=1024, busy=4))
REPEATS = 5
COLUMNS = ("case", "chips", "instances", "messages", "full_wall_s", "record_wall_s", "replay_wall_s",
           "simpy_replay_wall_s", "replay_over_full", "goal", "same_time", "messages_per_wall_s", "wall_us_per_message",
           "relative_to_fastest", "series", "busy_chips", "hops_per_message", "wall_us_per_hop",
           "loop_us_per_message", "loop_relative_to_fastest", "events_per_message", "loop_ns_per_event",
           "routes_cold_s", "note", "machine", "load")


def _sst_config(trees: int, *extra: str):
    return load_config(ROOT / "experiments" / "sst_treelstm.toml", [parse_override(s) for s in (
        'executor.kind="sim"', f'executor.hardware="{HW / "torus8x8.toml"}"', "train.mak=16",
        f"data.limit_train={trees}", "data.limit_test=4", *extra)])


def _sst_recorded(trees: int, *extra: str) -> tuple[list, float]:
    """The SST case's first ``trees`` training trees, recorded afresh (the process's recordings dropped
    first): the trees and the seconds recording took. Raises DataError without the dataset."""
    p = plan(_sst_config(trees, *extra))
    batch = list(p.task.train_instances(1))[:trees]
    clear_memory()
    t0 = time.perf_counter()
    obtain(p.task.model, batch, context=p.recording_context, use_folder=False)
    return batch, time.perf_counter() - t0


def _sst_train(trees: int, batch: list, *extra: str, loop: str = "own") -> tuple[float, Any]:
    """Wall seconds of one ``train`` call over ``batch`` by a new executor of the SST case with ``extra`` (the
    call alone: the plan and the executor are made before the clock starts), and the executor. ``loop``
    picks a replay's loop: ``"own"`` as the executor chooses, ``"python"`` the Python loop the compiled one
    copies, ``"simpy"`` SimPy's."""
    with (mock.patch.object(JitReplay, "compiled", False) if loop == "python" else contextlib.nullcontext()), \
            (mock.patch("ampsim.executors.sim.executor.supports", lambda *_: False) if loop == "simpy"
             else contextlib.nullcontext()):
        ex = make_executor(plan(_sst_config(trees, *extra)))
        t0 = time.perf_counter()
        ex.train(batch)
        return time.perf_counter() - t0, ex


def sst(trees: int, repeats: int, quick: bool, packet_bytes: int = 0) -> dict:
    """The SST case; with ``packet_bytes``, on packet-switched links, and one SimPy replay timed besides (the
    path replays on packets took before the fast loop modelled them)."""
    # always set: torus8x8 ships with 256-byte packets, and the case without them is the whole-message one
    link = (f"hardware.link.packet_bytes={packet_bytes}",)
    row = {"case": f"sst_{trees}_torus8x8_mak16{f'_packets{packet_bytes}' if packet_bytes else ''}",
           "instances": trees, "goal": "replay_over_full <= 0.1"}
    try:
        batch, record_s = _sst_recorded(trees, *link)
    except DataError as e:
        return {**row, "note": data_missing(e, "SST", quick)}
    full = replayed = first = python_loop = float("inf")
    loop: dict = {}
    for _ in range(repeats):  # alternate, keep the best of each: both see the same machine noise
        t, ex = _sst_train(trees, batch, *link)
        full, t_full, msgs = min(full, t), ex.time_s, ex.messages
        # the recording is in memory: what every sweep point after the first pays
        t, rx = _sst_train(trees, batch, "executor.numerics=false", *link)
        if first == float("inf"):
            first = t
        if t < replayed:
            replayed, loop = t, _loop_columns(rx)
        t, px = _sst_train(trees, batch, "executor.numerics=false", *link, loop="python")
        python_loop = min(python_loop, t)
    note = (f"first replay {first:.3f} s (builds the recording's lists once per process); the Python loop "
            f"{python_loop:.3f} s, same simulated time: {px.time_s == t_full}")
    if packet_bytes:
        t, sx = _sst_train(trees, batch, "executor.numerics=false", *link, loop="simpy")
        note += f"; SimPy replay {t:.3f} s, same simulated time: {sx.time_s == t_full}"
    return {**row, "chips": len(ex.chips), "messages": msgs, "full_wall_s": round(full, 3),
            "record_wall_s": round(record_s, 3), "replay_wall_s": round(replayed, 3),
            "replay_over_full": round(replayed / full, 4), "same_time": rx.time_s == t_full,
            "messages_per_wall_s": round(msgs / replayed), "wall_us_per_message": round(replayed / msgs * 1e6, 2),
            **loop, "note": note,
            "machine": machine(), "load": load()}


#: the replicated SST case: 4 whole-model groups, copies averaged after every update by rows (as
#: whatif_sst_replicas), on the shipped torus (256-byte packets)
REPLICAS = ('placement.strategy="groups"', "replicas.groups=4", "replicas.sync_every=1", "replicas.sparse_sync=true",
            "train.mak=64", "train.muf=5")


def sst_replicas(trees: int, repeats: int, quick: bool) -> dict:
    """The SST case in replica groups that synchronize: the full run, the replay on the fast loop and the
    replay on SimPy's (the path such replays took before 2026-12-05), interleaved, the best of each."""
    row = {"case": f"sst_{trees}_torus8x8_4groups_sync_replay", "instances": trees,
           "goal": "replay on the fast loop vs on SimPy, the same run"}
    try:
        batch, _ = _sst_recorded(trees, *REPLICAS)
    except DataError as e:
        return {**row, "note": data_missing(e, "SST", quick)}
    full = fast = slow = float("inf")
    for _ in range(repeats):
        t, ex = _sst_train(trees, batch, *REPLICAS)
        full = min(full, t)
        t, rx = _sst_train(trees, batch, "executor.numerics=false", *REPLICAS)
        fast = min(fast, t)
        t, sx = _sst_train(trees, batch, "executor.numerics=false", *REPLICAS, loop="simpy")
        slow = min(slow, t)
    same = rx.summary() == sx.summary() and rx.time_s == ex.time_s
    sync = ex.summary()
    return {**row, "chips": len(ex.chips), "messages": ex.messages, "full_wall_s": round(full, 3),
            "replay_wall_s": round(fast, 3), "simpy_replay_wall_s": round(slow, 3),
            "replay_over_full": round(fast / full, 4), "same_time": same,
            "messages_per_wall_s": round(ex.messages / fast), "wall_us_per_message": round(fast / ex.messages * 1e6, 2),
            "note": (f"fast loop / SimPy replay {fast / slow:.3f}; {sync['sync_rounds']} rounds moving "
                     f"{sync['sync_bytes']:.3g} bytes; summaries equal (fast, SimPy) and simulated time the full "
                     f"run's: {same}"),
            "machine": machine(), "load": load()}


def composed(trees: int, quick: bool) -> dict:
    """The second epoch's recording, composed from the first's instances, against recording the first."""
    row = {"case": "sst_epoch2_composed", "instances": trees,
           "goal": "composing an epoch costs a small part of recording it"}
    try:
        p = plan(_sst_config(trees, "executor.numerics=false", f"data.limit_train={trees}",
                             f"train.max_instances={trees}"))
    except DataError as e:
        return {**row, "note": data_missing(e, "SST", quick)}
    first, second = list(p.task.train_instances(1)), list(p.task.train_instances(2))
    clear_memory()
    t0 = time.perf_counter()
    rec = obtain(p.task.model, first, context=p.recording_context, use_folder=False)
    t1 = time.perf_counter()
    again = obtain(p.task.model, second, context=p.recording_context, use_folder=False)
    t2 = time.perf_counter()
    clear_memory()
    return {**row, "messages": again.n_messages, "record_wall_s": round(t1 - t0, 3),
            "replay_wall_s": round(t2 - t1, 3), "replay_over_full": round((t2 - t1) / (t1 - t0), 4),
            "note": f"{rec.n_messages} messages recorded, then the same trees shuffled composed",
            "machine": machine(), "load": load()}


def _chain_setup(case: Chain, instances: int) -> tuple:
    """The case's model, machine, placement and instances, recorded and replayed once (outside the timing:
    the recording and its lists are what every sweep point after the first finds built)."""
    # whole-message links on every machine (switch64 ships with NVLink's 256-byte packets): the series
    # measure how the loop's cost per message grows with the machine; the packet path's cost is the SST row's
    system = load_system(HW / case.hardware, {"link": {"packet_bytes": 0},
                                              **({"topology": {"n": case.switch_chips}} if case.switch_chips else {})})
    m = _model(16, [16] * (case.layers - 1), 4)
    data = _batches(instances, 16, 4, 1)
    if case.groups > 1:  # whole-model copies, not synchronized: every chip works, on the fast loop
        rep = replicate(m, ReplicaSpec(groups=case.groups, sync="none"))
        m = rep.model
        mapping = place("groups", m, system.chips, groups=rep.group_members, prof=Profile.uniform(m.graph.nodes))
    else:
        mapping = place("round_robin", m, system.chips[:case.busy or None])
    obtain(m, data, use_folder=False)
    SimExecutor(m, system, mapping, mak=case.mak, numerics=False).train(data)
    return m, system, mapping, data, case.mak


def _loop_columns(ex: SimExecutor) -> dict:
    """The compiled loop's own time and events per message in ``ex``'s last call, apart from the call's setup
    (nothing where the compiled loop did not run)."""
    replay = ex.replay
    if not replay.kernel_events:
        return {}
    return {"loop_us_per_message": round(replay.kernel_wall_s / ex.messages * 1e6, 3),
            "events_per_message": round(replay.kernel_events / ex.messages, 3),
            "loop_ns_per_event": round(replay.kernel_wall_s / replay.kernel_events * 1e9, 1)}


def _chain_time(m, system, mapping, data, mak: int) -> tuple[float, SimExecutor]:
    """Wall seconds of one replayed ``train`` call on a new executor, and the executor. Its routes come from
    the process's routing tables, which the setup's run filled (:mod:`ampsim.hardware.routing`: as for a
    sweep worker's points after its first on the machine)."""
    ex = SimExecutor(m, system, mapping, mak=mak, numerics=False)
    t0 = time.perf_counter()
    ex.train(data)
    return time.perf_counter() - t0, ex


def _routes_cold_s(system, mapping: dict) -> float:
    """Seconds to find the routes from every busy chip with no routing tables shared yet: what a sweep
    worker's first point on the machine pays on top of its call."""
    graph = build_topology(system)
    del graph.graph["routing_key"]  # tables of its own
    busy = sorted(set(mapping.values()))
    t0 = time.perf_counter()
    routes(graph).many([(c, c) for c in busy])  # one tree per source
    return time.perf_counter() - t0


def chains(cases: tuple[Chain, ...], quick: bool) -> list[dict]:
    """Time every case ``REPEATS`` times, interleaved (once in quick mode, on a few instances). Every case's
    recording and routes stay in the process's memory meanwhile, as a sweep worker's points on one model and
    machine find theirs: the cases hold five recordings and nine machines, more than the slots the process
    keeps (``recording_cache.MEMORY_SLOTS``, eight machines' routing tables), and interleaved they evicted each
    other: some calls composed their recording anew (half a second) and the 32×32 torus's found its routes
    anew (0.16 s), ten times its call (a re-run at 20:33 on 2026-12-06, before this)."""
    slots = max(8, len(cases))
    with mock.patch.object(recording_cache._MEMORY, "slots", slots), \
            mock.patch.object(routing._SHARED, "slots", slots), mock.patch.object(linktable._ROUTE_IDS, "slots", slots):
        setups = [_chain_setup(c, (2 * c.groups) if quick else c.instances) for c in cases]
        best: list[tuple[float, SimExecutor | None]] = [(float("inf"), None)] * len(cases)
        for _ in range(1 if quick else REPEATS):
            for i, s in enumerate(setups):
                wall, ex = _chain_time(*s)
                if wall < best[i][0]:
                    best[i] = (wall, ex)
    rows = []
    for case, (_, _, mapping, data, _), (wall, ex) in zip(cases, setups, best):
        hops = ex.replay.hops  # links crossed, summed over the messages
        rows.append({**_loop_columns(ex),
            "case": case.name, "chips": ex.system.n_chips, "instances": len(data),
            "messages": ex.messages, "replay_wall_s": round(wall, 4), "goal": "messages_per_wall_s >= 100000",
            "messages_per_wall_s": round(ex.messages / wall), "wall_us_per_message": round(wall / ex.messages * 1e6, 3),
            "series": case.series, "busy_chips": len(set(mapping.values())),
            "hops_per_message": round(hops / ex.messages, 3), "wall_us_per_hop": round(wall / hops * 1e6, 3),
            "routes_cold_s": round(_routes_cold_s(ex.system, mapping), 4), "machine": machine(), "load": load()})
    size_times = {ex.time_s for c, (_, ex) in zip(cases, best) if c.series == "size"}
    for c, r in zip(cases, rows):
        if c.series == "size":  # the same run on either machine: the same simulated time
            r["same_time"] = len(size_times) == 1
    for series in {c.series for c in cases}:
        mine = [r for c, r in zip(cases, rows) if c.series == series]
        for col, rel in (("wall_us_per_message", "relative_to_fastest"),
                         ("loop_us_per_message", "loop_relative_to_fastest")):
            if all(col in r for r in mine):
                lo = min(r[col] for r in mine)
                for r in mine:
                    r[rel] = round(r[col] / lo, 3)
    return rows


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Run the measurements, write ``out/replay.csv`` and return its rows."""
    head = sst(8 if quick else 300, 1 if quick else 3, quick)
    packets = sst(8 if quick else 300, 1 if quick else 3, quick, packet_bytes=256)
    replicas = sst_replicas(16 if quick else 300, 1 if quick else 3, quick)
    epoch2 = composed(8 if quick else 2000, quick)
    # one series at a time: a series' recordings and lists are freed before the next is built, so the big
    # ``load`` cases do not scatter the others' objects through memory
    series = list(dict.fromkeys(c.series for c in CHAIN_CASES))
    scale = [r for s in series for r in chains(tuple(c for c in CHAIN_CASES if c.series == s), quick)]
    rows = [head, packets, replicas, epoch2, *scale]
    path = write_csv(out, "replay.csv", COLUMNS, rows)
    for r in (head, packets):
        if "replay_over_full" in r:
            print(f"{r['case']}: replay {r['replay_wall_s']} s / full {r['full_wall_s']} s = {r['replay_over_full']} "
                  f"(goal ≤ 0.1); recording {r['record_wall_s']} s; same simulated time: {r['same_time']}; {r['note']}")
    if "simpy_replay_wall_s" in replicas:
        print(f"{replicas['case']}: replay {replicas['replay_wall_s']} s on the fast loop, "
              f"{replicas['simpy_replay_wall_s']} s on SimPy, full run {replicas['full_wall_s']} s; {replicas['note']}")
    if "record_wall_s" in epoch2:
        print(f"{epoch2['case']}: {epoch2['instances']} trees recorded in {epoch2['record_wall_s']} s, the next epoch "
              f"composed in {epoch2['replay_wall_s']} s")
    for r in scale:
        print(f"{r['case']}: {r['messages_per_wall_s']} simulated messages per wall second, "
              f"{r['wall_us_per_message']} µs each ({r['relative_to_fastest']}× the fastest of its {r['series']} "
              f"series); {r['busy_chips']} chips busy, {r['hops_per_message']} hops per message, "
              f"{r['wall_us_per_hop']} µs per message-hop; the loop alone {r.get('loop_us_per_message')} µs per "
              f"message ({r.get('loop_relative_to_fastest')}×), {r.get('events_per_message')} events per message at "
              f"{r.get('loop_ns_per_event')} ns each")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

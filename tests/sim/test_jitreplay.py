"""The compiled replay loop (:mod:`ampsim.executors.sim.jitkernel`) is the Python loop's copy: on random
machines and experiments its runs equal the full run's bit for bit, and so do the Python loop's; it
stops where the caller must act (event stores full, progress, update jobs of nodes with muf > 1, out of
memory) and carries on exactly; a call leaves the machine state the next call, compiled or not, starts
from."""

from __future__ import annotations

import dataclasses
import heapq
import subprocess
import sys

import numpy as np
import pytest
from replay_kit import HW, measured
from test_replay import PLACE, assert_same_timing, random_machine
from test_replay_fastloop import _mlp_chain
from timeline_kit import insts, system, weight_model

from ampsim.errors import RunError
from ampsim.executors.sim import SimExecutor, fastpackets, jitkernel, jitreplay
from ampsim.executors.sim.fastpackets import FastPackets
from ampsim.executors.sim.jitreplay import JitReplay
from ampsim.hardware.parse import load_system
from ampsim.ir.message import Instance
from ampsim.placement import place


def _batch(n: int, seed: int) -> list[Instance]:
    """``n`` instances for :func:`_mlp_chain`: one row of 4 features and a label each."""
    r = np.random.default_rng(seed)
    return [Instance(k, {"x": r.random((1, 4), dtype=np.float32), "y": r.integers(0, 2, 1)}) for k in range(n)]


def _trained(system, layers: int, mak: int, data: list[Instance], numerics: bool) -> SimExecutor:
    """A :func:`_mlp_chain` of ``layers`` placed round robin on ``system``, trained once on ``data``."""
    m = _mlp_chain(layers)
    ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=mak, numerics=numerics)
    ex.train(data)
    return ex


@pytest.mark.parametrize("seed", [2, 3, 5, 7, 10, 17])  # whole-message links, and packets (2: 64 B, 5: 4 kB)
def test_the_compiled_loop_equals_the_full_run_with_event_stores_that_must_grow(seed, statuses, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setattr(JitReplay, "first_capacity", 0)
    monkeypatch.setattr(JitReplay, "set_aside_room", False)
    monkeypatch.setattr(JitReplay, "first_room", 0)
    experiment, overrides = random_machine(seed)
    assert_same_timing(experiment, overrides, tmp_path)
    assert statuses.count(jitkernel.FINISHED) >= 1 and jitkernel.GROW in statuses


def test_set_aside_completions_on_every_chip_need_no_stop(statuses, monkeypatch):
    """A 280-layer chain round robin on a 561-chip switch, a node a chip: each completed instance queues an
    update job on each of 280 chips, whose completion is set aside while the chip would idle; the next
    instance's messages bring them into the timed events, more than the stores' first capacity (256) at
    once. The stores' room for them spares the call a stop to grow; the same run without that room stops and
    grows, to the same simulated time, busy time and peaks."""
    system = load_system(HW / "switch64.toml", {"topology": {"n": 561}, "link": {"packet_bytes": 0}})
    data = _batch(6, 0)
    roomy = _trained(system, 280, 4, data, numerics=False)
    assert statuses == [jitkernel.FINISHED]
    monkeypatch.setattr(JitReplay, "set_aside_room", False)
    tight = _trained(system, 280, 4, data, numerics=False)
    assert statuses[1:] == [jitkernel.GROW, jitkernel.FINISHED]
    assert roomy.time_s == tight.time_s > 0
    assert [c.busy_s for c in roomy.chips] == [c.busy_s for c in tight.chips]
    assert [c.peak_bytes for c in roomy.chips] == [c.peak_bytes for c in tight.chips]


@pytest.mark.parametrize("seed", [11, 29])
def test_the_python_loop_still_equals_the_full_run(seed, statuses, tmp_path, monkeypatch):
    monkeypatch.setattr(JitReplay, "compiled", False)
    experiment, overrides = random_machine(seed)
    assert_same_timing(experiment, overrides, tmp_path)
    assert statuses == []


@pytest.mark.parametrize("muf", [1, 3])
def test_compiled_calls_carry_on_from_each_other_and_from_the_python_loop(muf, statuses, monkeypatch):
    """Three calls, the middle one on the Python loop; with muf 3 the kernel hands the update jobs that
    complete muf stashes to the caller (the node's ready stashes are Python's) and carries on; the stashes
    still short of muf at the end of a call are the next call's, compiled or not."""
    runs = {}
    for numerics in (True, False):
        model = weight_model(("a", 1e6), ("b", 2e6))
        model.graph.nodes["w"].muf = muf
        ex = SimExecutor(model, system(), {**PLACE, "w": 0}, mak=3, numerics=numerics)
        for k, (first, n) in enumerate(((0, 7), (7, 4), (11, 5))):
            monkeypatch.setattr(JitReplay, "compiled", k != 1)
            ex.train([Instance(i, {"x": np.zeros(1)}) for i in range(first, first + n)])
        runs[numerics] = ex
    full, replay = runs[True], runs[False]
    assert replay.fast_loop
    assert measured(replay.summary()) == measured(full.summary())
    assert replay.time_s == full.time_s > 0 and replay.messages == full.messages == 16 * 9
    assert [c.busy_s for c in replay.chips] == [c.busy_s for c in full.chips]
    w = replay.graph.nodes["w"]
    assert list(w.staleness.items()) == list(full.graph.nodes["w"].staleness.items())  # and in the same order
    assert w.version == full.graph.nodes["w"].version > 0
    assert statuses.count(jitkernel.FINISHED) == 2
    assert (jitkernel.UPDATE_JOB in statuses) == (muf > 1)


def test_a_machine_mostly_idle_has_every_chips_counters_the_full_runs(statuses):
    """A chain on the first 4 chips of a 64-chip switch, two calls: the compiled loop writes back only the
    chips a call changed (:func:`~ampsim.executors.sim.jitarrays.touched_chips`), and every chip's counters,
    busy or idle, are the full run's after each call."""
    sw = load_system(HW / "switch64.toml", {"link": {"packet_bytes": 0}})
    m = {numerics: _mlp_chain(6) for numerics in (True, False)}
    ex = {numerics: SimExecutor(m[numerics], sw, place("round_robin", m[numerics], sw.chips[:4]), mak=3,
                                numerics=numerics) for numerics in (True, False)}

    def counters(e: SimExecutor) -> list[tuple]:
        return [(c.busy_s, c.peak_bytes, c.held_bytes, c.queued_bytes, c.items) for c in e.chips]
    for first in (0, 9):
        for e in ex.values():
            e.train([Instance(first + i.key, i.data) for i in _batch(9, first)])
        assert counters(ex[False]) == counters(ex[True])
        assert sum(c.items > 0 for c in ex[False].chips) == 4
    assert statuses == [jitkernel.FINISHED] * 2


@pytest.mark.parametrize("muf", [2, 3, 5])
def test_the_kernel_stops_only_at_the_update_jobs_that_complete_muf_stashes(muf, statuses):
    """The others join the node's ready stashes inside the loop: a stop per update, not per stash (a call
    costs more than its events: SST's muf 25 made the kernel stop 1,200 times for 300 trees)."""
    runs = {}
    for numerics in (True, False):
        model = weight_model(("a", 1e6), ("b", 2e6))
        model.graph.nodes["w"].muf = muf
        ex = SimExecutor(model, system(), {**PLACE, "w": 0}, mak=3, numerics=numerics)
        ex.train(insts(11))
        runs[numerics] = ex
    w, full = runs[False].graph.nodes["w"], runs[True].graph.nodes["w"]
    assert w.version == full.version == 11 // muf
    assert statuses.count(jitkernel.UPDATE_JOB) == 11 // muf
    assert runs[False].time_s == runs[True].time_s
    assert list(w.staleness.items()) == list(full.staleness.items())


def test_a_progress_callback_hears_of_every_completion(statuses):
    ex = SimExecutor(weight_model(("a", 1e6), ("b", 2e6)), load_system(HW / "ring4.toml"), {**PLACE, "w": 0},
                     mak=4, numerics=False)
    heard: list[int] = []
    ex.train(insts(250), on_done=heard.append)
    assert sum(heard) == 250 and len(heard) > 1 and jitkernel.REPORT in statuses


def test_importing_the_simulator_does_not_import_numba():
    """numba costs about a second to import: only a replay that runs the kernel pays it."""
    code = "import sys, ampsim.cli, ampsim.executors.sim; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("muf", [1, 3])
def test_the_kernel_stops_where_a_chip_runs_out_of_memory_and_the_error_is_the_full_runs(muf, statuses):
    def model():
        m = weight_model(("a", 1e6), ("b", 2e6))
        m.graph.nodes["w"].muf = muf
        return m

    free = SimExecutor(model(), system(), {**PLACE, "w": 0}, mak=8)
    free.train(insts(40))
    c0 = free.chips[0]  # a memory between its parameters and the peak the run reaches
    limit = float(c0.param_bytes + (c0.peak_bytes - c0.param_bytes) // 2)
    machine = system()
    machine = dataclasses.replace(machine, chips=type(machine.chips)(
        dataclasses.replace(c, memory_bytes=limit) for c in machine.chips))
    errors = []
    for numerics in (True, False):
        ex = SimExecutor(model(), machine, {**PLACE, "w": 0}, mak=8, numerics=numerics)
        with pytest.raises(RunError, match="out of memory at t=") as e:
            ex.train(insts(40))
        errors.append(str(e.value))
    assert errors[0] == errors[1] and jitkernel.OOM in statuses


def test_a_link_completion_that_delivers_many_messages_fits_the_event_stores(statuses, monkeypatch):
    """Slow packet links shared by many messages, the event stores starting at one event: equal to the full
    run (a push past the stores' end raises in the kernel; the SST point of
    ``tests/experiments/test_committed_points.py`` on 100 MB/s hypercube links is where one completion
    delivers more than a step's margin). The links' pool starts with no room to spare and must grow too."""
    monkeypatch.setattr(JitReplay, "first_capacity", 0)
    monkeypatch.setattr(JitReplay, "set_aside_room", False)
    monkeypatch.setattr(JitReplay, "first_room", 0)
    pools = []  # the links' pool's length after each stop
    grow = jitreplay._pool_grown

    def spy(pk, K, margin):
        pk = grow(pk, K, margin)
        pools.append(len(pk[2]))
        return pk
    monkeypatch.setattr(jitreplay, "_pool_grown", spy)
    system = load_system(HW / "switch64.toml", {"topology": {"n": 32},
                                                 "link": {"packet_bytes": 8, "bandwidth_bytes_per_s": 1e6}})
    data = _batch(24, 0)
    full, replay = (_trained(system, 12, 24, data, numerics) for numerics in (True, False))
    assert replay.time_s == full.time_s > 0 and replay.messages == full.messages
    assert dict(replay.network.bytes) == dict(full.network.bytes)
    assert jitkernel.GROW in statuses and jitkernel.FINISHED in statuses
    assert len(set(pools)) > 1  # the links moved up the pool past its end


def test_the_links_pool_holds_regions_only_for_the_links_used(statuses, monkeypatch):
    """A link gets its region in the pool when its first message joins, and the pool is kept as long as
    what one event may add needs (``jitpackets.pool_need``): on a 1,024-chip hypercube (10,240 link
    directions) a model on a few chips has a pool of a few regions, not one per link; the run is the full
    run's."""
    pools = []  # the pool as the call starts, then as it grows
    links, grow = jitreplay._packet_links, jitreplay._pool_grown

    def made(*args):
        pools.append(links(*args))
        return pools[-1]

    def grown(*args):
        pools.append(grow(*args))
        return pools[-1]
    monkeypatch.setattr(jitreplay, "_packet_links", made)
    monkeypatch.setattr(jitreplay, "_pool_grown", grown)
    system = load_system(HW / "hypercube_1024.toml", {"link": {"packet_bytes": 64}})
    data = _batch(12, 3)
    full, replay = (_trained(system, 4, 8, data, numerics) for numerics in (True, False))
    assert replay.time_s == full.time_s > 0 and dict(replay.network.bytes) == dict(full.network.bytes)
    LI, LS = pools[-1][0], pools[-1][2]
    given = LI[:, jitreplay.jk.jitpackets.CAP]  # each link's region length (0: never given one)
    assert len(LI) == 10240 and 0 < np.count_nonzero(given) == len(replay.network.bytes) < 40
    assert given.sum() <= len(LS) < 1000  # (16 slots for each of the 10,240 links: 163,840)


def test_a_rescheduled_link_completion_waits_on_the_heap_for_its_links_earlier_event(monkeypatch):
    """A completion rescheduled while an earlier event of its link is on the heap is put there only when that
    one comes up (:mod:`ampsim.executors.sim.fastpackets`): the same run as pushing every reschedule (SimPy's
    way, its old timeouts firing for nothing), with fewer link events; and the kernel's run is the same."""
    system = load_system(HW / "switch64.toml", {"topology": {"n": 2},
                                                 "link": {"packet_bytes": 16, "bandwidth_bytes_per_s": 1e6}})
    data = _batch(40, 1)
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    calls = []
    event = FastPackets.event

    def counted(self, *args):
        calls[-1] += 1
        return event(self, *args)

    def every_time(self, lid, key):  # the rule before: every reschedule onto the heap
        self.live[lid], self.live_in[lid], self.bound[lid] = key, True, key
        heapq.heappush(self.heap, (*key, fastpackets.PDONE, lid, self.gen[lid]))

    monkeypatch.setattr(FastPackets, "event", counted)
    runs = []
    for compiled, schedule in ((False, FastPackets._schedule), (False, every_time), (True, FastPackets._schedule)):
        monkeypatch.setattr(JitReplay, "compiled", compiled)
        monkeypatch.setattr(FastPackets, "_schedule", schedule)
        calls.append(0)
        ex = _trained(system, 6, 20, data, numerics=False)
        runs.append((ex.time_s, dict(ex.network.bytes), [c.busy_s for c in ex.chips], ex.messages))
    assert runs[0] == runs[1] == runs[2] and runs[0][0] > 0
    lazy, eager, _ = calls
    assert lazy <= 0.95 * eager  # the stale completions that no longer come up (4,143 of 4,512 here)


def test_chips_served_by_the_replays_own_loop_start_no_simpy_processes(monkeypatch):
    """On the replay's own loop the chips keep only their accounting: no unit process is scheduled, and the
    run equals the full one, whose chips' units are SimPy processes from time 0."""
    monkeypatch.setenv("AMPSIM_RECORDINGS", "off")
    system = load_system(HW / "switch64.toml", {"topology": {"n": 4}})
    data = _batch(8, 2)
    runs = []
    for numerics in (True, False):
        m = _mlp_chain(4)
        ex = SimExecutor(m, system, place("round_robin", m, system.chips), mak=4, numerics=numerics)
        assert ex.env.peek() == (float("inf") if not numerics else 0.0)  # before training: what was scheduled
        ex.train(data)
        runs.append((ex.time_s, [c.busy_s for c in ex.chips], [c.peak_bytes for c in ex.chips]))
    assert runs[0] == runs[1] and runs[0][0] > 0


def test_the_compiled_kernels_event_codes_are_the_python_loops():
    """The kernel holds them as constants of its own modules (their source stamps its on-disk cache): a value
    changed in fastprep alone would be read by the kernel as the old one."""
    from ampsim.executors.sim import fastprep, jitstate

    assert (jitstate.HOP, jitstate.ARRIVE, jitstate.JOIN_UPDATE_JOB) == (fastprep.HOP, fastprep.ARRIVE,
                                                                        fastprep.JOIN_UPDATE_JOB)

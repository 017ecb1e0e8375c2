"""The multicore executor's promises by property and scenario, on the blobs MLP (no data needed), 2 workers.

Properties (hypothesis, derandomized), over placements of the nodes on the workers drawn at random:

* at mak 1 the workers train exactly as the reference executor does, whatever the placement, ``muf``, the
  replicas (groups, node copies, ``outer_lr``, sparse synchronization) and however the instances are split
  into ``train`` calls (a key again included): parameters bit for bit, versions, staleness, loss reports,
  synchronization rounds and drift (README, "The muf rule" and "Replicas"), and ``sync_bytes`` as moved;
* at mak > 1, under each staleness option: never more than mak instances live, as the controller's own
  admissions and completions say; every node updates once per ``muf`` completed instances (remainders carried
  across calls), each update applying ``muf`` of them; every node step and update runs on the worker its node
  was placed on; the trace's spans are the node code only (one per step and update job, inside each worker's
  busy time); one loss report per instance.

Scenarios, each ending with no process of the run left: a worker SIGKILLed while idle between calls fails the
next call in one line (reported idle, also the instant after the call returned); a divergence
(``train.max_loss``) stops the run as the reference's does; a start-up interrupted part way stops the workers it
had started; an executor built in a thread that has ended trains on, and its workers (a stopped one too) still die
with the process; and from the command line a SIGTERM, a SIGKILL of the command and a SIGKILL of a worker.
(tests/multicore/test_faults.py has a node's exception, a worker killed mid-run and Ctrl-C; test_watchdog.py a
stopped worker; test_parity.py and test_replicas_multicore.py mak 1 on the real datasets.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mc_helpers import (
    ROOT,
    alive,
    batches,
    child_pids,
    gone,
    max_param_diff,
    mlp,
    none_with_env,
    pids_with_env,
    started_workers,
)

from ampsim.config import load_config, parse_override
from ampsim.errors import Diverged, RunError
from ampsim.executors import make_executor
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.param import STALENESS_MODES
from ampsim.planning import plan
from ampsim.trace import chip_pid
from ampsim.training import train_experiment

PROPS = settings(max_examples=8, derandomize=True, deadline=None)
BLOBS = ("data.n_train=160", "data.n_test=16", 'experiment.dtype="float64"')  # 10 batches of 16
LISTS = ("data.n_train=160", "data.n_test=16", "model.hidden=16", "model.embed=8", 'experiment.dtype="float64"')
#: experiment, its small data, and what the run adds: replicas (groups, node copies, outer_lr, rows synchronized
#: sparsely: list_reduction's embedding), staleness options (at mak 1 a predicted forward still extrapolates)
CASES = [("blobs_mlp.toml", BLOBS, ()), ("blobs_mlp.toml", BLOBS, ("replicas.groups=2",)),
         ("blobs_mlp.toml", BLOBS, ('replicas.nodes={"fc1"=2}', "replicas.sync_every=2")),
         ("blobs_mlp.toml", BLOBS, ("replicas.groups=2", "replicas.sync_every=2", "replicas.outer_lr=1.5")),
         ("blobs_mlp.toml", BLOBS, ('train.staleness="predict"', "train.predict_delay=2",
                                    'train.optimizer="momentum"')),
         ("list_reduction.toml", LISTS, ("replicas.groups=2", "replicas.sparse_sync=true", "replicas.sync_every=3")),
         ("list_reduction.toml", LISTS, ('replicas.nodes={"emb*"=2}', "replicas.sparse_sync=true"))]
MLP_NODES = list(mlp().graph.nodes)


def _plan(*overrides: str, experiment: str = "blobs_mlp.toml"):
    return plan(load_config(ROOT / "experiments" / experiment, [parse_override(o) for o in overrides]))


#: this process's children before the running test (a multiprocessing forkserver an earlier test of the session
#: started lives as long as the session: not this test's to end)
_BEFORE: set[int] = set()


@pytest.fixture(autouse=True)
def _children_before():
    _BEFORE.clear()
    _BEFORE.update(child_pids())


def _new_children() -> list[int]:
    return [p for p in child_pids() if p not in _BEFORE]


def _no_children() -> bool:
    """No child process this test started is left (within 3 s)."""
    deadline = time.monotonic() + 3.0
    while _new_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    return _new_children() == []


def _chunks(items: list, cuts: list[int]) -> list[list]:
    """``items`` cut before each index of ``cuts`` (one ``train`` call per chunk, none empty)."""
    edges = [0, *sorted(c for c in set(cuts) if 0 < c < len(items)), len(items)]
    return [items[a:b] for a, b in zip(edges, edges[1:])]


def _trained(ex, chunks: list[list]) -> tuple[list, dict]:
    with ex:
        reports = [r for chunk in chunks for r in ex.train(chunk)]
        return reports, ex.summary()


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join((c[0].split("_")[0], *c[2])) or c[0])
@settings(PROPS, max_examples=3)
@given(muf=st.integers(1, 3), cuts=st.lists(st.integers(1, 9), max_size=2), again=st.booleans(), data=st.data())
def test_mak1_equals_the_reference_bit_for_bit_under_any_placement(case, muf, cuts, again, data):
    experiment, small, extra = case
    sets = (*small, "train.mak=1", f"train.muf={muf}", *extra)
    ref, mine = _plan(*sets, experiment=experiment), _plan(*sets, experiment=experiment)
    names = list(mine.task.model.graph.nodes)
    placement = dict(zip(names, data.draw(st.lists(st.integers(0, 1), min_size=len(names), max_size=len(names)))))
    chunks = _chunks(ref.task.train_instances(1), cuts)
    chunks += chunks[:1] if again else []  # the same keys again, a call later
    want, want_summary = _trained(make_executor(ref), chunks)
    ex = MulticoreExecutor(mine.task.model, placement, 2, mak=1, sync_sets=mine.sync_sets)
    got, got_summary = _trained(ex, chunks)
    assert _no_children()
    for a, b in zip(ref.task.model.graph.param_nodes, mine.task.model.graph.param_nodes):
        assert (a.name, a.version, a.staleness, a.update_staleness) == (b.name, b.version, b.staleness,
                                                                         b.update_staleness)
        for k in a.params:
            assert np.array_equal(a.params[k], b.params[k]), (a.name, k)
    def by_key(reports):  # (a stable sort: a key trained again keeps its calls' order)
        return sorted(((r.key, r.node, r.values) for r in reports), key=lambda r: r[:2])

    assert by_key(got) == by_key(want)
    for key in ("sync_rounds", "replica_drift"):
        assert got_summary.get(key) == want_summary.get(key)
    if mine.sync_sets and not any("sparse" in x for x in extra):
        # what moved: per round each copy's snapshot to the controller, the average back once per owner
        moved = sum(r * (len(s.copies) + len({placement[c.name] for c in s.copies})) * s.copies[0].param_bytes
                    for s, r in zip(mine.sync_sets, ex.replicas.reduced))
        assert got_summary["sync_bytes"] == moved


@settings(PROPS, max_examples=12)
@given(mak=st.integers(2, 6), muf=st.integers(1, 4), n=st.integers(4, 16),
       cuts=st.lists(st.integers(1, 15), max_size=2),
       workers=st.lists(st.integers(0, 1), min_size=len(MLP_NODES), max_size=len(MLP_NODES)),
       mode=st.sampled_from(STALENESS_MODES))
def test_admission_muf_placement_and_trace_at_mak_above_1(mak, muf, n, cuts, workers, mode):
    model = mlp(muf=muf)
    for node in model.graph.param_nodes:
        node.configure_staleness(mode)
    placement = dict(zip(MLP_NODES, workers))
    data = batches(n)
    ex = MulticoreExecutor(model, placement, 2, mak=mak, trace=True)
    reports, summary = _trained(ex, _chunks(data, cuts))
    assert _no_children()
    events = ex.trace.to_json()["traceEvents"]
    # admission: in the order the controller noted them, at most mak instances live, each admitted and
    # completed once
    live, most = 0, 0
    marks = [e for e in events if e["ph"] == "i"]
    for e in marks:
        live += 1 if e["name"] == "admit" else -1
        most = max(most, live)
        assert live >= 0
    assert 1 <= most <= mak and live == 0
    for what in ("admit", "complete"):
        assert sorted(e["args"]["key"] for e in marks if e["name"] == what) == list(range(n))
    # the muf rule, across calls: an update per muf completed instances, each applying muf of them
    spans = [e for e in events if e["ph"] == "X"]
    for node in model.graph.param_nodes:
        assert node.version == n // muf
        assert sum(node.update_staleness.values()) == muf * node.version
        assert sum(e["name"] == f"{node.name} update" for e in spans) == node.version
    # placement: every step and update on its node's worker; spans: the node code alone
    assert all(e["pid"] == chip_pid(placement[e["name"].rsplit(" ", 1)[0]]) for e in spans)
    steps = [e for e in spans if not e["name"].endswith(" update")]
    assert len(steps) == summary["messages_processed"] == 16 * n
    for w in (0, 1):
        assert sum(e["dur"] for e in spans if e["pid"] == chip_pid(w)) / 1e6 <= summary["worker_busy_s"][w]
    assert sorted(r.key for r in reports) == list(range(n))


@pytest.mark.parametrize("victims", [(0,), (1,), (0, 1)])
def test_a_worker_killed_while_idle_fails_the_next_call_in_one_line(victims):
    model = mlp()
    ex = MulticoreExecutor(model, {n: i % 2 for i, n in enumerate(MLP_NODES)}, 2, mak=2)
    assert len(ex.train(batches(4))) == 4
    pids = ex.pids
    for w in victims:
        os.kill(pids[w], signal.SIGKILL)
    assert gone([pids[w] for w in victims], 3.0)
    t0 = time.monotonic()
    with pytest.raises(RunError, match=r"^worker [01] \(pid \d+, nodes [^)]*\) was killed by signal SIGKILL") as err:
        ex.train(batches(4, seed=1))
    assert time.monotonic() - t0 < 5.0 and "\n" not in str(err.value)
    assert f"pid {pids[victims[0]]}" in str(err.value) or len(victims) > 1
    assert _no_children() and not any(alive(p) for p in pids)
    with pytest.raises(RunError, match="after"):  # refused, in one line: its state is the failed call's
        ex.train(batches(1, seed=2))


@pytest.mark.parametrize("mak", [1, 4])
def test_a_divergence_stops_as_the_reference_does_and_leaves_no_worker(tmp_path, mak):
    sets = [parse_override(s) for s in (*BLOBS, "train.max_loss=0.5", f"train.mak={mak}")]
    with pytest.raises(Diverged) as want:
        train_experiment(load_config(ROOT / "experiments" / "blobs_mlp.toml", sets), tmp_path / "ref")
    mc = sets + [("executor.kind", "multicore"), ("executor.workers", 2)]
    with pytest.raises(Diverged) as got:
        train_experiment(load_config(ROOT / "experiments" / "blobs_mlp.toml", mc), tmp_path / "mc")
    assert _no_children()
    # the first loss is over the bound: the same node, instance and value (the parameters stay in the workers)
    core = str(want.value).split("; parameters when it stopped")[0]
    assert "\n" not in str(got.value) and str(got.value).endswith(core) and "loss became" in core


def _cli_run(tmp_path, marker: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ampsim", "train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--executor",
           "multicore", "--workers", "2", "--no-progress", "--out", str(tmp_path / "run"), "--set", "train.epochs=500"]
    return subprocess.Popen(cmd, env=dict(os.environ, AMPSIM_TEST_MARKER=marker), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("what", ["sigterm", "kill_command", "kill_worker"])
def test_a_signal_from_the_command_line_leaves_no_process_and_one_line(tmp_path, what):
    marker = uuid.uuid4().hex
    p = _cli_run(tmp_path, marker)
    try:
        workers = started_workers(p)
        time.sleep(0.5)  # into training
        victim = max(workers) if what == "kill_worker" else p.pid
        os.kill(victim, signal.SIGTERM if what == "sigterm" else signal.SIGKILL)
        _, err = p.communicate(timeout=30)
        lines = err.strip().splitlines()
        if what == "sigterm":
            assert p.returncode == 143 and len(lines) == 1 and lines[0].startswith("ampsim: interrupted"), err
        elif what == "kill_command":
            assert p.returncode == -signal.SIGKILL
        else:
            assert p.returncode == 2 and len(lines) == 1, err
            assert lines[0].startswith("ampsim: error: worker ") and f" (pid {victim}, nodes " in lines[0], err
            assert "was killed by signal SIGKILL" in lines[0]
        assert gone(workers, 3.0)
        assert none_with_env(marker)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for pid in pids_with_env(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("where", ["as worker 1 starts", "after every worker started"])
def test_a_start_up_interrupted_part_way_stops_the_workers_it_had_started(monkeypatch, where):
    """A Ctrl-C (KeyboardInterrupt) as the workers start, before they answer: the workers started so far are
    stopped before it propagates. They lived on while anything held the traceback (an interactive session keeps
    the last one), and a worker started the instant before the signal was not even in the executor's list."""
    from ampsim.executors.multicore import executor as mc_executor
    from ampsim.executors.multicore import procs as mc_procs

    started = []
    if where == "as worker 1 starts":
        def start(p):  # the signal arrives as the start's block on it lifts: the worker runs, the start raises
            original(p)
            started.append(p.pid)
            if len(started) == 2:
                raise KeyboardInterrupt

        original = mc_procs.start_process
        monkeypatch.setattr(mc_procs, "start_process", start)
    else:
        def controller(*args, **kw):
            started.extend(p.pid for p in args[1])
            raise KeyboardInterrupt

        monkeypatch.setattr(mc_executor, "Controller", controller)
    with pytest.raises(KeyboardInterrupt) as held:  # (``held`` keeps the traceback, as a REPL would)
        MulticoreExecutor(mlp(), {n: i % 2 for i, n in enumerate(MLP_NODES)}, 2)
    assert len(started) == 2 and held.value is not None
    assert gone(started, 3.0) and _no_children()


def _built_in_a_thread_and_trained() -> tuple[bool, float, bool]:
    """(in a process of its own) Build an executor in a thread that then ends, train it: whether its workers were
    alive, how far its parameters are from the reference's, and whether no child process is left."""
    from multiprocessing import resource_tracker

    built = []
    model, ref = mlp(), mlp()
    thread = threading.Thread(target=lambda: built.append(
        MulticoreExecutor(model, {n: i % 2 for i, n in enumerate(MLP_NODES)}, 2, mak=1)))
    thread.start()
    thread.join()
    ex = built[0]
    time.sleep(0.2)  # (the kill was at once; a moment to be sure)
    with ex:
        all_alive = all(alive(p) for p in ex.pids)
        ex.train(batches(6))
    ReferenceExecutor(ref).train(batches(6))
    # (built beside the main thread, its workers were spawned, which starts multiprocessing's resource tracker for the
    # life of the process: not a worker left, stopped here as CPython's own tests stop it)
    assert ex.start_method == "spawn"
    resource_tracker._resource_tracker._stop()
    return all_alive, max_param_diff(ref, model), _no_children()


def test_an_executor_built_in_a_thread_that_ended_trains_on():
    """The kernel's parent-death signal follows the thread that started a process: the workers of an executor
    built in a thread (a thread pool's task, a web app's request) were SIGKILLed the moment that thread
    ended, and the next call failed with 'worker 0 ... was killed by signal SIGKILL while idle'. In a process of
    its own: the thread that starts such workers lasts as long as its process, and the local sweeps of later
    tests would then spawn their workers instead of forking them (``ampsim.sweeps.pool.start_method``)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
        all_alive, diff, no_children = pool.submit(_built_in_a_thread_and_trained).result(timeout=240)
    assert all_alive and diff == 0.0 and no_children and _no_children()


_SPINNING_IN_A_THREAD = """
import sys, threading, time
sys.path[:0] = [{tests!r}, {tests_root!r}]  # (mc_helpers, and the procs_kit it imports)
from mc_helpers import batches, mlp
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.ir.nodes.pointwise import ReLU

class Spin(ReLU):
    def forward(self, msg, port):
        end = time.perf_counter() + 60
        while time.perf_counter() < end:  # Python code: a minute of it
            pass
        return super().forward(msg, port)

if __name__ == "__main__":  # (a forkserver's child imports this file for Spin)
    model = mlp()
    model.graph.nodes["relu0"] = Spin("relu0")
    model.graph.validate()
    built = []
    names = list(model.graph.nodes)
    placement = {{n: i % 2 for i, n in enumerate(names)}}
    t = threading.Thread(target=lambda: built.append(MulticoreExecutor(model, placement, 2)))
    t.start()
    t.join()
    print(*built[0].pids, flush=True)
    built[0].train(batches(1))
"""


@pytest.mark.parametrize("method", ["fork", "forkserver"])
@pytest.mark.parametrize("worker_1", ["waiting", "stopped"])
def test_the_workers_of_an_executor_built_in_a_thread_die_with_the_process(tmp_path, worker_1, method):
    """Killed, the process takes them along, a worker in a long step of Python included (its socket's end of
    stream would reach it only after the step), and a worker SIGSTOPped: they asked for a catchable signal
    (SIGUSR1, the kernel's parent-death signal following the thread that started them), which a stopped process
    only holds pending; re-parented to init, it stayed stopped until someone continued it. Under forkserver (from
    any thread) their parent is the server, which ran on while any of them did (each held its copy of the pipe end
    whose closing ends the server): the worker in its step and the one stopped outlived the process."""
    script = tmp_path / "spinning.py"
    script.write_text(_SPINNING_IN_A_THREAD.format(tests=str(ROOT / "tests" / "multicore"), tests_root=str(ROOT / "tests")))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                         env=dict(os.environ, AMPSIM_MP_START=method))
    try:
        pids = [int(x) for x in p.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(x) for x in pids)
        time.sleep(0.5)  # worker 0 is in its minute of Python
        if worker_1 == "stopped":
            os.kill(pids[1], signal.SIGSTOP)
        p.kill()
        p.wait(10)
        assert gone(pids, 3.0)
    finally:
        p.kill()
        for x in pids if "pids" in locals() else []:
            if alive(x):
                os.kill(x, signal.SIGKILL)


def test_a_worker_killed_after_a_call_returned_is_reported_idle_not_in_its_last_update(monkeypatch):
    """A worker answers the call's closing state request, then goes idle; killed in between (the OOM killer
    while the main process evaluates, the worker not yet scheduled again), it was reported 'while running node
    fc3 (update)', an update that had ended before the call returned. The workers are forked with the state
    request made slow after its answer, which widens that moment to a second."""
    from ampsim.executors.multicore import worker as mc_worker

    answer = mc_worker.Worker._sync

    def slow(self, tag, with_params):
        answer(self, tag, with_params)
        if with_params:  # (the calls' requests, not the start-up's)
            time.sleep(1.0)

    monkeypatch.setattr(mc_worker.Worker, "_sync", slow)
    model = mlp()
    ex = MulticoreExecutor(model, {n: int(n.startswith("fc")) for n in MLP_NODES}, 2, mak=1)
    ex.train(batches(2))  # worker 1's last job: an update of fc3 (or another fc's)
    os.kill(ex.pids[1], signal.SIGKILL)
    with pytest.raises(RunError, match=r"^worker 1 \(pid \d+, nodes fc0, fc1, fc2, fc3\) was killed by signal "
                                       r"SIGKILL while idle$"):
        ex.train(batches(1, seed=1))
    assert _no_children()

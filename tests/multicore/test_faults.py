"""Failures of the multicore executor: one-line RunError naming the worker and node, no hang, no orphans."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from mc_helpers import ROOT, alive, batches, child_pids, gone, mlp, none_with_env

from ampsim.errors import RunError
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.ir.nodes.pointwise import ReLU
from ampsim.placement import place


class BoomReLU(ReLU):
    """A ReLU that raises on its ``at``-th forward."""

    def __init__(self, name: str, at: int) -> None:
        super().__init__(name)
        self.at, self.calls = at, 0

    def forward(self, msg, port):
        self.calls += 1
        if self.calls == self.at:
            raise ValueError("boom")
        return super().forward(msg, port)


class SlowReLU(ReLU):
    def forward(self, msg, port):
        time.sleep(0.005)
        return super().forward(msg, port)


def _swap(model, node):
    model.graph.nodes[node.name] = node
    model.graph.validate()
    return model


def _assert_no_children():
    deadline = time.monotonic() + 3.0
    while (multiprocessing.active_children() or child_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == [] and child_pids() == []


def test_node_exception_becomes_one_line_run_error_naming_worker_and_node():
    model = _swap(mlp(), BoomReLU("relu1", at=5))
    mapping = place("round_robin", model, [None] * 2)
    ex = MulticoreExecutor(model, mapping, 2, mak=2)
    pids = ex.pids
    t0 = time.monotonic()
    with pytest.raises(RunError) as err:
        ex.train(batches(40))
    text = str(err.value)
    assert time.monotonic() - t0 < 5.0
    assert "\n" not in text and f"worker {mapping['relu1']}" in text and "relu1" in text and "boom" in text
    assert not any(alive(p) for p in pids)
    ex.close()  # idempotent after the automatic shutdown
    _assert_no_children()


def test_sigkilled_worker_becomes_run_error_within_seconds():
    model = _swap(mlp(), SlowReLU("relu0"))
    ex = MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=2)
    victim = ex.pids[1]
    threading.Timer(0.3, os.kill, (victim, signal.SIGKILL)).start()
    t0 = time.monotonic()
    with pytest.raises(RunError, match=r"worker 1 \(pid \d+, nodes .*\) was killed by signal SIGKILL"):
        ex.train(batches(2000))
    assert time.monotonic() - t0 < 5.0
    _assert_no_children()


def test_close_without_training_and_context_manager_leave_no_processes():
    model = mlp()
    with MulticoreExecutor(model, place("round_robin", model, [None] * 3), 3) as ex:
        assert len(ex.pids) == 3 and all(alive(p) for p in ex.pids)
    ex.close()
    _assert_no_children()


def _cli(marker: str, *args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, AMPSIM_TEST_MARKER=marker)
    return subprocess.Popen([sys.executable, "-m", "ampsim.cli", "train", str(ROOT / "experiments" / "blobs_mlp.toml"),
                             "--executor", "multicore", "--workers", "2", "--no-progress", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _default_sigint() -> None:
    """Run in the child before exec: a terminal's process has SIGINT at its default disposition, but a
    test runner started from a background job (``cmd &`` in a script) passes on SIGINT *ignored*, and
    Python then never installs its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_worker_failure_exits_nonzero_with_one_line(tmp_path):
    marker = uuid.uuid4().hex
    p = _cli(marker, "--out", str(tmp_path / "run"), "--set", "train.optimizer=\"sgd\"", "--set", "train.lr=1e30")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    lines = [ln for ln in err.strip().splitlines() if "Warning" not in ln and not ln.startswith("  ")]
    assert len(lines) == 1, err  # numpy's overflow warnings aside, one line
    assert lines[0].startswith("ampsim: error: worker ") and "node loss" in lines[0] and "loss became" in lines[0]
    assert "(pid " not in lines[0]  # a divergence repeats: its line too (a sweep's table records it)
    assert none_with_env(marker)


def test_cli_ctrl_c_stops_cleanly_and_keeps_rows(tmp_path):
    marker = uuid.uuid4().hex
    out = tmp_path / "run"
    p = _cli(marker, "--out", str(out), "--set", "train.epochs=500", start_new_session=True,
             preexec_fn=_default_sigint)
    metrics = out.with_name("run.partial") / "metrics.csv"  # a run is written beside its folder until it completes
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.05)
    assert metrics.exists(), p.stderr.read() if p.poll() is not None else "no metrics written"
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = p.communicate(timeout=10)
    assert p.returncode == 130, err
    assert "interrupted" in err and f"kept in {metrics.parent}" in err
    assert not out.exists()  # nothing finished there before: nothing there now
    rows = metrics.read_text().splitlines()
    assert len(rows) >= 3 and rows[0].startswith("epoch,")
    assert none_with_env(marker)


def test_a_forkserver_run_whose_server_is_killed_says_its_workers_were_killed_not_status_255():
    """``ps`` shows a forkserver run's server as one more worker (the same command line), and the server is the
    parent of the workers, whose status multiprocessing reads from it: killed, it took the workers along (their
    parent-death signal) and the line said 'exited with status 255', multiprocessing's placeholder for a status
    it could no longer read."""
    from multiprocessing import forkserver, resource_tracker

    model = mlp()
    ex = MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, start_method="forkserver")
    try:
        server = forkserver._forkserver._forkserver_pid
        os.kill(server, signal.SIGKILL)
        assert gone(ex.pids, 5.0)  # (idle as they died: not woken by the call's first messages)
        with pytest.raises(RunError, match=rf"^worker [01] \(pid \d+, nodes [^)]*\) was killed by signal SIGKILL "
                                           rf"\(its fork server, pid {server}, was killed by signal SIGKILL\) "
                                           r"while idle$"):
            ex.train(batches(4))
    finally:
        ex.close()
        forkserver._forkserver._stop()  # (reaps the killed server: multiprocessing would start another next time)
        resource_tracker._resource_tracker._stop()
    _assert_no_children()


@pytest.mark.parametrize("where", ["handing its output on, going idle", "between queued steps"])
def test_a_worker_killed_after_a_node_step_is_not_reported_in_the_step_it_finished(monkeypatch, where):
    """The 'what each worker runs' slot was set as a node step began and left so until the next began, or the
    worker went idle: a worker killed after a step, as it handed the step's output on or read its channels with
    more work queued, was reported 'while running node fc0 (forward)', a step that had ended. Worker 1 is forked
    to SIGKILL itself just after its first step (fc0's forward): as it flushes that step's output with nothing
    left to do, or, with relu0 beside fc0 (the step's output queued for it) and a read due after every step, as
    it reads before the next."""
    from ampsim.executors.multicore import worker as mc_worker

    flush, read = mc_worker.Worker._flush, mc_worker.Worker._read

    def after_the_first_step(self):
        if self.me == 1 and self.processed == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    def flushing(self, idle=False):
        after_the_first_step(self)
        flush(self, idle)

    def reading(self, block):
        if not block:  # (a read with work queued)
            after_the_first_step(self)
        read(self, block)

    idle = where.startswith("handing")
    if idle:
        monkeypatch.setattr(mc_worker.Worker, "_flush", flushing)
    else:
        monkeypatch.setattr(mc_worker.Worker, "_read", reading)
    model = mlp()
    mine = ("fc0", "fc1", "fc2", "fc3") if idle else ("fc0", "relu0")
    # (forked workers: the patched methods are this process's, which a spawned worker would not see)
    ex = MulticoreExecutor(model, {n: int(n in mine) for n in model.graph.nodes}, 2, mak=1, tuning={"read_s": 0.0},
                           start_method="fork")
    doing = "while idle" if idle else "between node steps"
    with pytest.raises(RunError, match=rf"^worker 1 \(pid \d+, nodes {', '.join(mine)}\) was killed by signal "
                                       rf"SIGKILL {doing}$"):
        ex.train(batches(1))
    _assert_no_children()


@pytest.mark.parametrize("after", ["a first ctrl-c", "nothing"])
def test_ctrl_c_while_close_stops_the_workers_leaves_none_running(monkeypatch, after):
    """A Ctrl-C as close() stops the workers (a second one, as it cleans up after the first) was raised inside
    it: the stop was cut short, close() was done for good, and workers deaf to STOP (a long node step; here
    SIGSTOPped) ran on for as long as anything held the executor. The stop now goes on to the end; the signals
    it held off are the first's own request (dropped: the first goes on) or, after nothing, one
    KeyboardInterrupt once the workers are gone. Two come: as the stop begins and as it ends."""
    from ampsim.executors.multicore import procs as mc_procs

    stop, calls = mc_procs.stop_processes, []

    def interrupted(procs, grace_s=2.0):
        calls.append(grace_s)
        if len(calls) > 1:  # (the executor's finalizer, on the code before)
            return stop(procs, grace_s)
        os.kill(os.getpid(), signal.SIGINT)
        stop(procs, grace_s)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(mc_procs, "stop_processes", interrupted)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # (a runner started with it ignored: &)
    model = mlp()
    ex = MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2)
    pids = ex.pids
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        with pytest.raises(KeyboardInterrupt) as err:
            if after == "nothing":
                ex.close()
            else:
                with ex:
                    raise KeyboardInterrupt("first")
        assert str(err.value) == ("" if after == "nothing" else "first") and err.value.__context__ is None
        assert gone(pids, 5.0)
    finally:
        signal.signal(signal.SIGINT, previous)
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    _assert_no_children()


@pytest.mark.parametrize("after", ["nothing", "a first ctrl-c"])
def test_every_signal_a_stop_held_off_reaches_its_handler(after):
    """StopsHeld handed the first signal it noted to its handler and dropped the rest: a Ctrl-C after a SIGTERM whose
    handler only notes a request to stop (a service's) was lost, and after a first Ctrl-C every one was, that SIGTERM
    too (only a Ctrl-C is the first one's request). Each now reaches its handler once, in the order they came."""
    from ampsim.executors.multicore.procs import StopsHeld

    seen: list[int] = []
    previous = {s: signal.signal(s, h) for s, h in ((signal.SIGINT, signal.default_int_handler),
                                                     (signal.SIGTERM, lambda n, _frame: seen.append(n)))}
    try:
        with pytest.raises(KeyboardInterrupt) as err:
            try:
                if after != "nothing":
                    raise KeyboardInterrupt("first")
            finally:
                with StopsHeld():
                    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
                        signal.raise_signal(s)  # (to this thread: its handler runs before the call returns)
        assert seen == [signal.SIGTERM] and str(err.value) == ("" if after == "nothing" else "first")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def test_a_signal_raised_as_a_stop_begins_leaves_every_handler_as_it_was(monkeypatch):
    """A Python handler may run, and raise, between any two bytecodes: one of a signal StopsHeld had not swapped yet
    (the CLI's SIGTERM as it swapped SIGINT's) raised out of ``__enter__``, so no ``__exit__`` put back those it had
    swapped already, and from then on they noted their signals for good (a Ctrl-C did nothing)."""
    from ampsim.executors.multicore import procs as mc_procs

    signums = list(mc_procs._STARTUP_SIGNALS)  # (the order it swaps them in)
    previous = {s: signal.signal(s, lambda *_: None) for s in signums}  # (each a Python handler: each is swapped)
    try:
        before = {s: signal.getsignal(s) for s in signums}
        real = signal.getsignal

        def getsignal(signum):
            if signum == signums[-1]:  # (as if its handler ran here, after the others were swapped, and raised)
                raise KeyboardInterrupt
            return real(signum)

        monkeypatch.setattr(signal, "getsignal", getsignal)
        with pytest.raises(KeyboardInterrupt):
            with mc_procs.StopsHeld():
                pass
        monkeypatch.undo()
        assert {s: signal.getsignal(s) for s in signums} == before
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def test_a_signal_a_stop_held_off_reaches_its_handler_though_the_stop_failed():
    """A block that raised (a stop that failed) dropped what it had held off: a SIGTERM whose handler only notes a
    request to stop (a service's) never reached it; the block's error goes on, and the handler has run."""
    from ampsim.executors.multicore.procs import StopsHeld

    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda n, _frame: seen.append(n))
    try:
        with pytest.raises(OSError, match="the stop failed"):
            with StopsHeld():
                signal.raise_signal(signal.SIGTERM)
                raise OSError("the stop failed")
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)

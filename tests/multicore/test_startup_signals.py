"""Processes the executors start (workers, the sweep pool's, calibrate's) take signals only once they have set
their own handlers: until then a forked child would run its parent's (the CLI's SIGTERM handler raises), and a
Ctrl-C or SIGTERM as they started printed tracebacks or ended a worker with a status blamed as the failure. A
child of calibrate dies with it (a killed calibration left its contention process spinning, holding its lock)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest
from mc_helpers import ROOT, child_pids, gone

from ampsim.errors import RunError
from ampsim.executors.multicore.controller import Controller
from ampsim.executors.multicore.procs import parent_pid_of_children, setup_worker_process, start_process
from ampsim.executors.multicore.transport import ChannelClosed


@pytest.fixture(scope="module", autouse=True)
def _no_server_left():
    """The forkserver cases start a fork server and a resource tracker, children of this process for the rest
    of it: tests that assert this process has no children (tests/multicore/test_faults.py) failed after them."""
    yield
    from multiprocessing import forkserver, resource_tracker

    forkserver._forkserver._stop()  # (CPython's own tests stop them so)
    resource_tracker._resource_tracker._stop()


def _late_setup(parent_pid: int) -> None:
    time.sleep(0.3)  # a slow start (the worker module's imports): the signals arrive before the setup
    setup_worker_process(parent_pid)
    time.sleep(0.2)


class _Raising(Exception):
    pass


def _raise(signum, frame):
    raise _Raising(f"the parent's handler ran for signal {signum}")


@pytest.mark.parametrize("method", ["fork", "forkserver"])
@pytest.mark.parametrize("sig,exitcode", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 0)])
def test_a_signal_before_the_child_set_its_handlers_waits_for_them(sig, exitcode, method, capfd):
    """SIGTERM then ends the child quietly; SIGINT, which children ignore (their parent stops them), is
    dropped. A forkserver child is the server's: it restores the server's first handlers (SIGINT raising
    KeyboardInterrupt) and gets the signals blocked only from a server started blocked."""
    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        p = mp.get_context(method).Process(target=_late_setup, args=(parent_pid_of_children(method),),
                                           daemon=True)
        start_process(p)
        os.kill(p.pid, sig)
        p.join(10)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    assert p.exitcode == exitcode
    assert "Traceback" not in capfd.readouterr().err


class _Proc:
    def __init__(self, pid: int, exitcode: int | None) -> None:
        self.pid, self.exitcode = pid, exitcode

    def join(self, timeout: float | None = None) -> None:
        pass


class _Closed:
    def recv(self):
        raise ChannelClosed("closed")


def test_a_worker_that_exited_quietly_gives_way_to_the_one_that_was_killed():
    """Worker 1 was SIGKILLed as the workers started; worker 0 saw its channel close and exited with status
    0, and the controller noticed worker 0 first."""
    c = Controller.__new__(Controller)
    c.procs = [_Proc(101, 0), _Proc(102, -signal.SIGKILL)]
    c.channels = [_Closed(), _Closed()]
    c.current, c.names, c.owner = None, ["x", "a"], [0, 1]
    with pytest.raises(RunError, match=r"^worker 1 \(pid 102, nodes a\) was killed by signal SIGKILL"):
        c._fail(0)


def test_calibrates_child_processes_die_with_it():
    """A calibration killed while its contention processes spin leaves none of them running."""
    code = ("from ampsim.calibration.microbench import _spin_all\n"
            "_spin_all(1, 60.0)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        children: list[int] = []
        while not children and time.monotonic() < deadline:
            children = child_pids(parent.pid)
            time.sleep(0.05)
        assert children, "the spinning child never started"
        time.sleep(0.5)  # through its setup
        parent.kill()
        parent.wait(10)
        assert gone(children, 5.0)
    finally:
        parent.kill()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_calibrates_children_run_under_every_start_method(method, monkeypatch):
    """Under forkserver their parent is the server, not the calibration: told to watch the calibration's pid,
    they found it gone and exited at once (no spin counted, the transport's echo closed)."""
    from ampsim.calibration.microbench import _spin_all, transport

    monkeypatch.setenv("AMPSIM_MP_START", method)
    assert _spin_all(1, 0.2)[0] > 0
    assert transport(0.1)["round_trips"] >= 50

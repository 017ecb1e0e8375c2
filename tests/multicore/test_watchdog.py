"""The multicore watchdog: a worker that makes no progress (SIGSTOP) is reported in one line naming it, and
every process is stopped; a worker busy in one long node step is not reported; the setting reaches the
executor from an experiment file (``executor.watchdog_s``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from mc_helpers import ROOT, alive, batches, gone, mlp, none_with_env, pids_with_env, started_workers

from ampsim.errors import RunError
from ampsim.executors.multicore import MulticoreExecutor
from ampsim.ir.nodes.pointwise import ReLU
from ampsim.placement import place

STOPPED = r"worker 1 \(pid (\d+)\) made no progress for 1 s \(stopped\? SIGSTOP'd\?\)"


class SlowReLU(ReLU):
    def forward(self, msg, port):
        time.sleep(0.002)
        return super().forward(msg, port)


class SpinReLU(ReLU):
    """Computes (burns CPU, sends nothing) for ``spin_s`` on its first forward."""

    def __init__(self, name: str, spin_s: float) -> None:
        super().__init__(name)
        self.spin_s, self.calls = spin_s, 0

    def forward(self, msg, port):
        self.calls += 1
        if self.calls == 1:
            end = time.perf_counter() + self.spin_s
            while time.perf_counter() < end:
                pass
        return super().forward(msg, port)


def _swap(model, node):
    model.graph.nodes[node.name] = node
    model.graph.validate()
    return model


def _kill_all(pids):
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_stopped_worker_is_reported_by_name_and_everything_is_stopped():
    model = _swap(mlp(), SlowReLU("relu0"))
    ex = MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=2, watchdog_s=1.0)
    pids = ex.pids
    victim = pids[1]
    work = batches(20_000)  # 40 s of SlowReLU: it never ends before the stop
    timer = threading.Timer(0.3, os.kill, (victim, signal.SIGSTOP))
    timer.start()
    try:
        with pytest.raises(RunError, match=STOPPED) as err:  # no hang: pytest's timeout would fail it
            ex.train(work)
        assert "\n" not in str(err.value) and f"(pid {victim})" in str(err.value)
        assert gone(pids, 3.0)
    finally:
        timer.cancel()
        _kill_all(pids)
        ex.close()


def test_a_worker_computing_one_long_step_is_not_reported():
    model = _swap(mlp(), SpinReLU("relu0", spin_s=1.5))
    ex = MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=1, watchdog_s=0.5)
    try:
        reports = ex.train(batches(4))  # 3 periods without a frame, but the worker uses CPU: progress
        assert reports
    finally:
        ex.close()


def test_watchdog_s_from_the_experiment_file_reaches_the_cli_run(tmp_path):
    marker = uuid.uuid4().hex
    env = dict(os.environ, AMPSIM_TEST_MARKER=marker)
    p = subprocess.Popen([sys.executable, "-m", "ampsim.cli", "train", str(ROOT / "experiments" / "blobs_mlp.toml"),
                          "--executor", "multicore", "--workers", "2", "--no-progress", "--out", str(tmp_path / "run"),
                          "--set", "train.epochs=500", "--set", "executor.watchdog_s=1"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers = started_workers(p, timeout_s=30)
        time.sleep(0.3)  # well into training
        os.kill(max(workers), signal.SIGSTOP)  # the later pid is worker 1
        _, err = p.communicate(timeout=20)
        assert p.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ampsim: error: ") and "made no progress for 1 s" in lines[0]
        assert f"(pid {max(workers)})" in lines[0], lines[0]
        assert none_with_env(marker)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        _kill_all(pids_with_env(marker))


def test_a_watchdog_longer_than_poll_waits_is_its_longest_wait():
    """``poll()`` takes at most 2**31 - 1 ms: a longer watchdog (through the executor, which no config bound
    guards) raised OverflowError; it now waits that long (a config says at most 1e6 s)."""
    model = mlp()
    ex = MulticoreExecutor(model, place("round_robin", model, [None] * 2), 2, mak=1, watchdog_s=1e10)
    try:
        assert ex.train(batches(2))
    finally:
        ex.close()


@pytest.mark.parametrize("watchdog_s,ok", [(0.001, False), (0.099, False), (0.1, True), (0.0, True)])
def test_a_watchdog_shorter_than_it_can_judge_is_refused_before_any_worker_starts(watchdog_s, ok):
    """It reads a worker's progress in CPU ticks of 10 ms: at 0.001 s it stopped healthy runs as stuck."""
    from ampsim.config import load_config
    from ampsim.errors import ConfigError
    from ampsim.planning import plan

    cfg = load_config(ROOT / "experiments" / "blobs_mlp.toml", [("executor.kind", "multicore"),
                                                                 ("executor.workers", 2),
                                                                 ("executor.watchdog_s", watchdog_s)])
    if ok:
        assert plan(cfg).watchdog_s == watchdog_s
    else:
        with pytest.raises(ConfigError, match="executor.watchdog_s: .* give at least 0.1 s, or 0 \\(off\\)"):
            plan(cfg)

"""One rule for how ampsim starts child processes, the sweep pool's workers and the multicore executor's (and
calibration's) alike: ``AMPSIM_MP_START`` if set, else fork on Linux while this process runs a single thread, else
spawn. The sweep pool once ignored the variable, and the executor forked beside other threads (a copy of the locks
they held, without the threads that would release them)."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Iterator

import pytest

from ampsim.errors import ConfigError
from ampsim.executors.multicore import procs
from ampsim.sweeps import pool

LINUX_FORK = sys.platform.startswith("linux")


@contextlib.contextmanager
def another_thread() -> Iterator[None]:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="test-other-thread")
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


@pytest.fixture(autouse=True)
def _no_choice(monkeypatch):
    monkeypatch.delenv("AMPSIM_MP_START", raising=False)


def test_the_sweep_pool_and_the_executor_follow_one_rule():
    assert pool.start_method is procs.start_method and pool.threads_running is procs.threads_running


@pytest.mark.skipif(not LINUX_FORK, reason="fork is the default on Linux only")
def test_the_executor_forks_from_a_single_thread_and_spawns_beside_others(caplog):
    assert procs.threads_running() == 1 and procs.start_method() == "fork"
    with another_thread(), caplog.at_level(logging.DEBUG, logger=procs.__name__):
        assert procs.threads_running() == 2
        assert procs.start_method() == "spawn"
    assert "2 threads run in this process" in caplog.text and "spawned, not forked" in caplog.text
    assert procs.start_method() == "fork"


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_ampsim_mp_start_chooses_for_the_sweep_pool_too(method, monkeypatch):
    monkeypatch.setenv("AMPSIM_MP_START", method)
    assert pool.start_method() == method
    with another_thread():  # the user's choice, even beside other threads
        assert pool.start_method() == method


def test_a_bad_ampsim_mp_start_is_one_line_for_the_sweep_pool_too(monkeypatch):
    monkeypatch.setenv("AMPSIM_MP_START", "thread")
    with pytest.raises(ConfigError, match=r"^AMPSIM_MP_START: must be one of fork, forkserver, spawn, got 'thread'$"):
        pool.start_method()

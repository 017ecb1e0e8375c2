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


TRAIN = """
import sys
import threading

import ampsim

stop = threading.Event()
if {thread!r}:  # (a notebook's kernel, Ray's gRPC core)
    threading.Thread(target=stop.wait, daemon=True).start()
try:
    r = ampsim.train({experiment!r}, {out!r}, overrides={{"executor.kind": "multicore", "executor.workers": 2,
                     "train.epochs": 1, "data.n_train": 64, "data.n_test": 16}})
except ampsim.AmpsimError as e:
    print(f"error: {{e}}", file=sys.stderr)
    sys.exit(2)
finally:
    stop.set()
print(r.summary["final_metric"])
"""


@pytest.mark.parametrize("why", ["AMPSIM_MP_START=spawn", "a thread runs"])
def test_an_unguarded_scripts_multicore_run_is_one_error_saying_to_guard_it(tmp_path, why):
    """Its workers spawned (a thread running in the script's process: they were forked beside it before), each ran
    the script again, and its training, whose start of workers multiprocessing refused with a traceback (a child
    still importing its parent's script); the run failed with 'worker 1 ... exited with status 1'."""
    from mc_helpers import ROOT
    from procs_kit import assert_unguarded_script_fails_in_one_line

    script = tmp_path / "unguarded.py"
    script.write_text(TRAIN.format(thread=why == "a thread runs", experiment=str(ROOT / "experiments" / "blobs_mlp.toml"),
                                   out=None))
    assert_unguarded_script_fails_in_one_line(script, why)


def test_an_unguarded_scripts_run_into_a_folder_is_one_error_saying_to_guard_it(tmp_path):
    """With ``out``, each spawned worker's run of the script trained again into the same folder, before it started
    any process: it found the folder locked by the script's own run and printed that, each worker, and the run
    failed with 'worker 0 ... exited with status 2': three lines, none saying what to fix. Nothing is left in the
    folder."""
    from mc_helpers import ROOT
    from procs_kit import assert_unguarded_script_fails_in_one_line

    script, out = tmp_path / "unguarded.py", tmp_path / "run"
    script.write_text(TRAIN.format(thread=False, experiment=str(ROOT / "experiments" / "blobs_mlp.toml"), out=str(out)))
    assert_unguarded_script_fails_in_one_line(script, "AMPSIM_MP_START=spawn")
    assert not out.exists() and list(tmp_path.iterdir()) == [script]

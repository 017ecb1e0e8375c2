"""The local pool's workers between tasks: their long-lived heap frozen after the first task and thawed
every ``THAW_EVERY`` tasks, and no task's garbage kept (:func:`ampsim.sweeps.pool.settle_heap`)."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import pytest

from ampsim.sweeps import pool
from ampsim.sweeps.pool import THAW_EVERY, run_pool

#: in the worker: a weak reference to the cycle the previous task dropped
_dropped: list = []


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _task(task: tuple[str, int]) -> None:
    """Report what the worker's heap looks like before this task runs, then drop a reference cycle."""
    out, k = task
    previous_cycle_alive = bool(_dropped) and _dropped[-1]() is not None
    Path(out, f"{k}.json").write_text(json.dumps({"frozen": gc.get_freeze_count(),
                                                  "previous_cycle_alive": previous_cycle_alive}))
    _dropped.append(weakref.ref(_Cycle()))  # garbage now, and only the cycle collector can free it


def _reports(tmp_path: Path, n: int) -> list[dict]:
    """Run ``n`` tasks on one worker with automatic collection off (the worker inherits that through fork),
    so that only the worker's own collections between tasks free a dropped cycle."""
    gc.disable()
    try:
        finished = list(run_pool([(str(tmp_path), k) for k in range(n)], 1, _task))
    finally:
        gc.enable()
    assert [err for _, err in finished] == [None] * n
    return [json.loads((tmp_path / f"{k}.json").read_text()) for k in range(n)]


def test_a_worker_freezes_what_outlives_its_first_task_and_never_a_tasks_garbage(tmp_path):
    r = _reports(tmp_path, 3)
    assert r[0]["frozen"] == 0  # a fresh worker has frozen nothing
    assert r[1]["frozen"] > 1000  # its modules and whatever else outlived the first task
    assert not r[1]["previous_cycle_alive"]  # collected before the freeze, not frozen with the rest
    assert r[2]["previous_cycle_alive"]  # between freezes the worker adds no collection of its own


def test_a_worker_thaws_collects_and_freezes_again_every_thaw_every_tasks(tmp_path, monkeypatch):
    monkeypatch.setattr(pool, "THAW_EVERY", 3)  # the forked worker inherits the patched module
    r = _reports(tmp_path, 7)
    alive = [x["previous_cycle_alive"] for x in r[1:]]
    # settled after tasks 1, 3 and 6 (the 1st, 3rd, 6th): the cycles tasks 0, 2 and 5 dropped went then
    assert alive == [False, True, False, True, True, False]
    assert all(x["frozen"] > 1000 for x in r[1:])  # frozen again after each thaw
    assert THAW_EVERY == 16  # the value workers use outside this test


def test_a_ray_worker_settles_after_each_point_as_a_pool_worker_does(monkeypatch):
    # Ray reuses a worker process for many points: it settles its heap alike, after failed points too
    from ampsim.sweeps import run

    settled, ran = [], []
    monkeypatch.setattr(pool, "settle_heap", settled.append)
    monkeypatch.setattr(run, "_ray_points", 0)

    def point(task):
        ran.append(task)
        if task == "bad":
            raise RuntimeError("a point failed")
        return task
    monkeypatch.setattr(run, "run_point", point)
    assert run._ray_point("a") == "a"
    try:
        run._ray_point("bad")
    except RuntimeError:
        pass
    assert run._ray_point("c") == "c" and ran == ["a", "bad", "c"] and settled == [1, 2, 3]


#: what a worker sees of this module: a forked one the caller's patched value, a spawned one this
_WHO = "imported"


def _who(task: str) -> None:
    Path(task).write_text(_WHO)


def test_a_process_that_runs_other_threads_spawns_its_workers(tmp_path):
    """Forking beside another thread copies the locks it holds into the child without the thread (Ray's gRPC
    after a Ray sweep in the same process): with another thread running, workers are spawned."""
    import threading

    globals()["_WHO"] = "patched"  # (here, not in a spawned worker, which imports this module afresh)
    try:
        assert pool.threads_running() == 1 and pool.start_method() == "fork"
        list(run_pool([str(tmp_path / "forked")], 1, _who))
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        try:
            assert pool.threads_running() == 2 and pool.start_method() == "spawn"
            assert [err for _, err in run_pool([str(tmp_path / "spawned")], 1, _who)] == [None]
        finally:
            stop.set()
            t.join()
    finally:
        globals()["_WHO"] = "imported"
    assert (tmp_path / "forked").read_text() == "patched"  # a copy of this process
    assert (tmp_path / "spawned").read_text() == "imported"  # a fresh interpreter that imported this module


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_the_pool_starts_its_workers_as_ampsim_mp_start_says(tmp_path, monkeypatch, method):
    """The sweep's pool once forked (from a single thread) whatever ``AMPSIM_MP_START`` said; under forkserver its
    workers' parent is the server, which they watch (``die_with_parent``), not this process."""
    from multiprocessing import forkserver, resource_tracker

    monkeypatch.setenv("AMPSIM_MP_START", method)
    globals()["_WHO"] = "patched"
    try:
        assert pool.threads_running() == 1
        assert [err for _, err in run_pool([str(tmp_path / method)], 1, _who)] == [None]
    finally:
        globals()["_WHO"] = "imported"
        # (the fork server and the resource tracker stay children of this process, which later tests assert has
        # none: CPython's own tests stop them so)
        forkserver._forkserver._stop()
        resource_tracker._resource_tracker._stop()
    assert (tmp_path / method).read_text() == "imported"  # a fresh interpreter that imported this module

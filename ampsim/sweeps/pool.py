"""The local process pool of ``ampsim sweep``: workers that never outlive the sweep, prompt interruption.

:func:`run_pool` runs ``fn(task)`` for every task on ``jobs`` long-lived worker processes and yields
``(task, error or None)`` as tasks finish. It replaced ``concurrent.futures.ProcessPoolExecutor`` on the
forkserver, which left its worker, the forkserver and the resource tracker alive for good when the sweep
was SIGKILLed (the worker blocked on a queue whose write end it held itself) and which, on Ctrl-C, waited
for every point already handed to it. Contract:

* Workers are forked (on Linux) straight from the calling process while it runs a single thread: no fork
  server and no resource tracker exist, and a worker starts in milliseconds with every module the caller
  imported. A process that runs other threads, and every other platform, spawns its workers, and
  ``AMPSIM_MP_START`` chooses for them all (:func:`start_method`, re-exported here: the multicore executor's
  rule, the same). Spawned workers start multiprocessing's resource tracker, and ``forkserver`` its fork server
  too; multiprocessing keeps them for the life of the process, and they end with it.
* A worker asks the kernel to SIGKILL it the moment the calling process dies (``PR_SET_PDEATHSIG``, see
  :func:`ampsim.executors.multicore.procs.die_with_parent`), and the multicore workers of a point do the
  same with it: a SIGKILL of the sweep takes every process it started with it.
* Each worker talks over its own pipe and closes every other pipe end it inherited, so an idle worker also
  sees end of file when the caller is gone.
* Workers ignore SIGINT (Ctrl-C reaches the whole process group; the caller decides). When the caller
  stops early (an exception such as Ctrl-C's KeyboardInterrupt, or closing the generator), queued tasks
  are never started and running ones get SIGTERM, which ends a worker at once (SIGKILL if it has not
  exited a second later); the generator returns when every worker is gone. Finished tasks are untouched;
  what a stopped task leaves half-written (a point's temporary folder) is the caller's to delete. A
  worker does not try to clean up on SIGTERM itself: a Python exception raised at an arbitrary point
  (inside a fork, a logging lock) can be swallowed or print a traceback, and the caller is faster.
* A spawned worker runs the calling script again as it starts (Python's ``multiprocessing``): one whose sweep
  is not under ``if __name__ == "__main__":`` would run it again there. The worker exits at once instead
  (:func:`ampsim.executors.multicore.procs.check_not_rerun`) and the caller raises one
  :class:`~ampsim.errors.ConfigError` saying so.
* A worker that dies while running a task (killed, out of memory) fails that task with a one-line
  :class:`~ampsim.errors.RunError`; a fresh worker takes the remaining tasks.
* After its first task (and every so many after) a worker collects its garbage and freezes what survives
  (:func:`settle_heap`): what outlives a task is the worker's long-lived state (parsed data, recordings,
  routing tables, modules), which the cycle collector would otherwise scan again in every full collection.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import pickle
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator

from ampsim.errors import RunError
from ampsim.executors.multicore.procs import (
    RERAN_SCRIPT_STATUS,
    WORKER_NAME_PREFIX,
    exit_description,
    parent_pid_of_children,
    rerun_error,
    setup_worker_process,
    start_method,
    start_process,
    stop_processes,
    threads_running,
)

__all__ = ["run_pool", "settle_heap", "start_method", "threads_running"]

log = logging.getLogger(__name__)

#: the name of every worker process of the pool, then its number (:data:`WORKER_NAME_PREFIX`: see
#: :func:`~ampsim.executors.multicore.procs.check_not_rerun`)
WORKER_NAME = f"{WORKER_NAME_PREFIX}sweep-worker-"


@dataclass
class _Worker:
    proc: Any  # a multiprocessing Process
    conn: Connection
    task: Any = None  # the task it is running, None while idle


def run_pool(tasks: Iterable[Any], jobs: int, fn: Callable[[Any], Any],
             grace_s: float = 1.0) -> Iterator[tuple[Any, BaseException | None]]:
    """Run ``fn(task)`` for every task on ``jobs`` worker processes; yield ``(task, error or None)`` as
    each finishes (``fn``'s return value is dropped: results travel as files). See the module docstring
    for what happens when the caller stops early or dies."""
    ctx = mp.get_context(start_method())
    queue = deque(tasks)
    workers: list[_Worker] = []
    finished = False
    try:
        for _ in range(min(max(1, jobs), len(queue))):
            w = _start(ctx, workers, fn)
            workers.append(w)
            _give(w, queue.popleft())
        while any(w.task is not None for w in workers):
            busy = [w for w in workers if w.task is not None]
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for w in busy:
                if w.conn not in ready and w.proc.sentinel not in ready:
                    continue
                task, err = w.task, _result(w)
                if w.proc.exitcode == RERAN_SCRIPT_STATUS:  # (every worker would: the rest are stopped)
                    raise rerun_error()
                w.task = None
                if not w.proc.is_alive():  # died: replace it if there is work left
                    w.conn.close()
                    workers.remove(w)
                    if queue:
                        w = _start(ctx, workers, fn)
                        workers.append(w)
                if queue:
                    _give(w, queue.popleft())
                yield task, err
        finished = True
    finally:
        _stop(workers, finished, grace_s)


def _start(ctx: Any, others: list[_Worker], fn: Callable[[Any], Any]) -> _Worker:
    here, there = ctx.Pipe(duplex=True)
    # a forked child inherits every pipe end open here: it closes all but its own (see _worker_main)
    inherited = [here] + [w.conn for w in others] if ctx.get_start_method() == "fork" else []
    # not a daemon: a point may start processes of its own (the multicore executor's workers)
    # (under forkserver their parent is the server: they watch it, not this process)
    proc = ctx.Process(target=_worker_main, args=(there, parent_pid_of_children(ctx.get_start_method()), inherited, fn),
                       name=f"{WORKER_NAME}{len(others)}", daemon=False)
    start_process(proc)
    there.close()
    return _Worker(proc, here)


def _give(w: _Worker, task: Any) -> None:
    w.task = task
    w.conn.send(task)


def _result(w: _Worker) -> BaseException | None:
    """The error (or None) ``w`` sent for its task, or a RunError describing how it died without answering."""
    try:
        if w.conn.poll():
            return w.conn.recv()
    except (EOFError, OSError):
        pass
    w.proc.join(1.0)
    return RunError(f"its worker process (pid {w.proc.pid}) {exit_description(w.proc)}")


def _stop(workers: list[_Worker], finished: bool, grace_s: float) -> None:
    """Idle workers are told to exit; after an early stop, running ones are terminated (then killed)."""
    for w in workers:
        if finished or w.task is None:
            try:
                w.conn.send(None)
            except OSError:  # it is gone already
                pass
    # SIGTERM at once for running tasks; idle workers exit by themselves within milliseconds
    stop_processes([w.proc for w in workers], grace_s=0.0 if not finished else grace_s)
    for w in workers:
        w.conn.close()


# -- in the worker process -------------------------------------------------------------------------------
def _worker_main(conn: Connection, parent_pid: int, inherited: list[Connection], fn: Callable[[Any], Any]) -> None:
    """A worker's loop: receive a task, run it, send back None or the error; exit on None or end of file."""
    setup_worker_process(parent_pid)  # (the caller's signal handlers were inherited through fork)
    for c in inherited:
        c.close()
    done = 0
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the caller is gone
            return
        if task is None:
            return
        try:
            fn(task)
            err: BaseException | None = None
        except Exception as e:  # noqa: BLE001 - every failure goes back to the caller, which reports it
            log.debug("task failed", exc_info=True)
            err = e
        conn.send(_portable(err))
        done += 1
        settle_heap(done)


#: a worker freezes its heap after its first task and thaws, collects and freezes it again every this many
#: tasks after (see :func:`settle_heap`)
THAW_EVERY = 16


def settle_heap(done: int) -> None:
    """After the ``done``-th task: on the first and every :data:`THAW_EVERY`-th, collect the garbage and
    freeze every object left (``gc.freeze``), so that the collector's full collections during the next
    tasks scan only what those allocate.

    What outlives a task is mostly the worker's long-lived state (parsed data, recordings, routing tables,
    modules): ~170,000 tracked objects after a replayed SST point on the 1,024-chip hypercube, and every
    full collection the points' own allocations set off scanned all of them again, 70-100 ms each, about
    one every other point (``bench_sweep``, 2026-12-05: 234 -> 210 ms a point on that machine; on 16 chips,
    where points allocate less, 146 ms either way; since points plan without rebuilding their data and read
    big machines lazily they allocate less, and the difference is within noise, 0.95-1.04x). Frozen objects
    are never collected, so the thaw bounds what a cache evicting an entry whose objects form a cycle (a
    networkx graph and its views) can keep to what it evicts in so many tasks; freezing only right after a
    collection never keeps a task's garbage, and between, a task's garbage goes as usual."""
    if done == 1 or done % THAW_EVERY == 0:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def _portable(err: BaseException | None) -> BaseException | None:
    """``err`` if it survives pickling, else a RunError carrying its type and message."""
    if err is None:
        return None
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - any exception can fail to pickle, in any way
        return RunError(f"{type(err).__name__}: {err}")

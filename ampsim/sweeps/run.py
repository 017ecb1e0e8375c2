"""Running a sweep: a local process pool or Ray tasks, resumable, then one aggregated table.

Layout of a sweep folder (default ``results/sweeps/<sweep name>/``)::

    <point id>/         one ordinary run folder per point (config.toml, metrics.csv, summary.json, ...)
                        plus point.json (its overrides and swept values, its sweep's name, file, variant)
    table.csv           every point's swept values joined with its summary metrics
    sweep.json          the sweep's name, source file (also from this folder: ``sweep_file``) and swept keys
    .sweep.lock         while a sweep runs in the folder: its lock (:mod:`ampsim.sweeps.folder`)

(the table's columns and files are :mod:`ampsim.tables`' schema; this module only runs the points and
hands the finished ones over).

Contracts:

* A point is trained into ``.tmp-<id>-<pid>-<random>/`` and renamed to ``<id>/`` only once complete, so a
  folder named by a point id is always a finished run. A re-run skips finished points and deletes
  leftover temporary folders; an interrupted sweep loses only the points that were running. A point whose
  config traces (``executor.trace``) is finished only with its trace.json: committed results leave traces
  out (tracked files stay under 1 MB), so a checkout's traced points run again when their sweep resumes.
* Two processes finishing the same point (an orphaned worker of a killed sweep and its re-run) both
  succeed: the first rename wins, the second discards its copy (runs are deterministic).
* A point that diverges or runs out of chip memory (an :class:`~ampsim.errors.Outcome`: its config would again)
  is finished, its summary saying why (``diverged``, ``out_of_memory``) and its row with no metric; a point that
  fails otherwise leaves nothing, fails the sweep, and the next run tries it again.
* ``table.csv`` is written (atomically) only when every point has finished; its rows are sorted by the
  swept values (then seed, then point id), so the same sweep gives the same table whichever executor
  (pool or Ray), job count or interruption produced it.
* Progress: one update per finished point (a bar on a terminal, one plain line per point elsewhere, see
  :mod:`ampsim.progress`), nothing with ``progress=False``.

A folder of its own: a sweep writes only into a new or empty folder, or one that holds nothing but its own
points and table (:func:`~ampsim.sweeps.folder.check_sweep_folder`: another sweep's results, a run folder or
a folder of anything else is refused in one line, ``--fresh`` or not). Every refusal, a folder in a point's way
too (:func:`check_start`), comes before it deletes anything there: a refused sweep leaves its folder as it was.

One sweep per folder: :func:`run_sweep` takes an exclusive ``flock`` on ``.sweep.lock`` before it deletes
anything (``fresh``, leftover temporaries), and a second sweep on the same folder raises at once, in one
line, ``<folder>: another sweep (pid N) is running in this folder``, touching nothing. The kernel drops
the lock when its holder dies, so a killed sweep never leaves a stale lock.

What survives an interruption (every finished point, always; the table is rebuilt by running the same
sweep again, which runs only the missing points):

* Ctrl-C (KeyboardInterrupt) or SIGTERM (turned into one by ``ampsim sweep``): queued points are never
  started; running points are stopped at once (SIGTERM, SIGKILL after a second; their temporary folders
  go); with Ray, pending tasks are cancelled and a Ray instance this sweep started is shut down (workers
  and agents killed first). The local pool returns within a second (0.2-0.3 s from the signal to the exit
  of ``ampsim sweep``), a local Ray instance in 0.7-0.9 s, or about 6 s where a SIGTERM to the whole
  process group reached Ray's head too (while Ray starts, its start is abandoned at once: 0.4-1.3 s,
  :func:`ampsim.sweeps.ray_cluster.start_local_ray`).
* SIGKILL of the sweep's process: nothing can run in it, so its helpers end themselves: every pool worker
  and each point's multicore workers are SIGKILLed by the kernel when their parent dies (see
  :mod:`ampsim.sweeps.pool`); no forkserver or resource tracker exists to outlive it. The lock goes with
  the last of them; the temporaries they leave are deleted by the next run. With a local Ray instance, a
  reaper process kills every Ray process the sweep started once the sweep's process is gone (see
  :mod:`.reaper`).
* A Ray address that does not answer fails in one line: at once when nothing listens there, within 5 s
  when what listens is not a gRPC server, else after ``RAY_CONNECT_TIMEOUT_S``; Ctrl-C and SIGTERM are
  honoured while connecting (see :mod:`.ray_cluster`).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from ampsim import runfiles
from ampsim.errors import OUTCOME_FIELDS, ConfigError, RunError, first_line
from ampsim.executors.multicore.procs import check_not_rerun
from ampsim.files import machine_error
from ampsim.folders import missing_folders, remove_empty
from ampsim.progress import progress as progress_reporter
from ampsim.results import write_json
from ampsim.sweeps.folder import (
    SWEEP_FILE,
    check_clearable,
    check_point_folder,
    check_sweep_folder,
    clear_sweep_folder,
    fresh_deletes,
    point_finished,
    point_lacks,
    remove_temporaries,
    sweep_file_record,
    sweep_lock,
    temporary_path,
)
from ampsim.sweeps.ids import in_order, ordered_keys
from ampsim.sweeps.numerics import check_recordings_setting, compile_replay_loop
from ampsim.sweeps.order import by_machine
from ampsim.sweeps.spec import SEED_KEY, Sweep
from ampsim.tables import table_row, write_table
from ampsim.wording import SWEEP_HARDWARE, reworded, wording

__all__ = ["run_sweep", "run_point", "point_tasks", "finished", "unfinished", "check_start", "write_sweep_table",
           "default_jobs", "check_jobs", "PointTask"]

log = logging.getLogger(__name__)

#: how long ``ray.init`` may take to connect to a given address before the sweep gives up
RAY_CONNECT_TIMEOUT_S = 25.0


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to run one point (picklable, paths absolute)."""

    experiment: str
    overrides: tuple
    out: str
    point_id: str
    record: dict
    compiled: bool = False  #: it runs the compiled replay loop (:func:`.numerics.compile_replay_loop`)
    machine: Any = None  #: its machine's routing key (:func:`.order.by_machine`)


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_point(task: PointTask) -> str:
    """Train one point into a temporary folder, then rename it into place. Returns the point id."""
    from ampsim.config import load_config
    from ampsim.training import train_experiment

    final = Path(task.out)
    if finished(task):
        return task.point_id
    damaged = check_point_folder(final, task.point_id)
    tmp = temporary_path(final, task.point_id)
    aside = tmp.with_name(tmp.name + "-unfinished")  # where an unfinished folder of the point goes meanwhile
    try:
        cfg = load_config(task.experiment, list(task.overrides), "")  # (a point's keys: its sweep file's, no --set)
        # a failed point leaves nothing (a re-run retries it); one that diverged or ran out of chip memory is done,
        # saying so (it would again)
        with reworded(**SWEEP_HARDWARE):  # (its hardware file is the sweep file's, whoever started the sweep)
            summary = train_experiment(cfg, tmp, keep_partial=False, record_outcome=True)
        for field in OUTCOME_FIELDS:
            if field in summary:
                log.warning("point %s stopped (%s); its row says so, with no metric", task.point_id,
                            field.replace("_", " "))
        write_json(tmp / runfiles.POINT, task.record)
        if damaged:
            log.warning("point %s: %s %s; replaced by the point run again", task.point_id, final, point_lacks(final))
            os.rename(final, aside)  # (deleted below, with tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / runfiles.SUMMARY).is_file():
                raise
            log.info("point %s was finished by another process; keeping that copy", task.point_id)
    finally:
        for left in (tmp, aside):
            if left.exists():
                shutil.rmtree(left, ignore_errors=True)
    return task.point_id


def finished(task: PointTask) -> bool:
    """Whether ``task``'s point is done (:func:`~ampsim.sweeps.folder.point_finished`)."""
    return point_finished(Path(task.out), task.point_id)


def unfinished(tasks: list[PointTask]) -> list[PointTask]:
    """The points of ``tasks`` still to run, a folder in the way of any refused first, in one line
    (:func:`~ampsim.sweeps.folder.check_point_folder`: before any runs, not after hours of the others)."""
    todo = [t for t in tasks if not finished(t)]
    for task in todo:
        check_point_folder(Path(task.out), task.point_id)
    return todo


def check_start(tasks: list[PointTask], out: Path, fresh: bool = False) -> list[PointTask]:
    """Refuse, in one line and changing nothing, what a sweep of ``tasks`` refuses in its folder ``out`` as it starts
    (``fresh``: its results deleted first): with ``fresh`` a point that ``--fresh`` would delete with files no run
    writes (:func:`~ampsim.sweeps.folder.check_clearable`), and a folder in an unfinished point's way (with
    ``fresh``: one it leaves); returns the unfinished points (with ``fresh``, before any is deleted)."""
    if fresh:
        check_clearable(out)
    return unfinished([t for t in tasks if not (fresh and fresh_deletes(Path(t.out)))])


def point_tasks(sweep: Sweep, out: Path) -> list[PointTask]:
    out = out.resolve()
    file = sweep_file_record(sweep.path, out)  # (a point of a sweep killed before its table is the sweep's too)
    return [PointTask(str(sweep.experiment), tuple(p.overrides), str(out / p.point_id), p.point_id,
                      {"point_id": p.point_id, "label": p.label, "quick": sweep.quick, "sweep": sweep.name,
                       "values": {k: in_order(k, v) for k, v in p.values.items()},
                       "overrides": [[k, in_order(k, v)] for k, v in p.overrides], SWEEP_FILE: file},
                      p.compiled, p.machine)
            for p in sweep.points]


#: parallel points at most per core of this machine (a local pool's or a local Ray instance's processes)
JOBS_PER_CORE = 4


def check_jobs(jobs: int | None, ray_address: str | None = None) -> None:
    """Refuse, in one line, more parallel points than this machine can hold as processes (``jobs`` on a Ray
    cluster's ``ray_address`` are that cluster's to bound)."""
    cap = JOBS_PER_CORE * default_jobs()
    if jobs is not None and ray_address is None and jobs > cap:
        raise ConfigError(f"{wording().jobs}: {jobs} parallel points, each a process of its own, on {default_jobs()} "
                          f"core(s): at most {cap} ({JOBS_PER_CORE} a core)")


def run_sweep(sweep: Sweep, out: str | Path, *, jobs: int | None = None, ray: bool = False,
              ray_address: str | None = None, fresh: bool = False, progress: bool = False) -> Path:
    """Run every unfinished point of ``sweep`` into ``out`` and write ``out/table.csv``; returns its path.

    ``ray`` runs the points as Ray tasks (on ``ray_address``, or a local instance with ``jobs`` CPUs);
    otherwise a local process pool of ``jobs`` workers (default: the cores available). ``fresh`` deletes
    the sweep's earlier results first. Raises :class:`RunError` if any point failed (the others are kept)
    or another sweep holds the folder (see the module docstring for the lock and for interruptions).
    """
    check_not_rerun()  # (first: a spawned worker running its caller's script again found the folder locked)
    check_jobs(jobs, ray_address)
    check_recordings_setting([p.replays for p in sweep.points])
    # a bad folder, or another's, fails in one line before any point runs (and before the folder is made)
    out = check_sweep_folder(out, sweep.name, sweep.path, quick=sweep.quick, fresh=fresh)
    made = missing_folders(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sweep_lock(out):  # before anything is deleted: another sweep's work is never touched
            check_sweep_folder(out, sweep.name, sweep.path, quick=sweep.quick, fresh=fresh)  # again: written meanwhile?
            return _run_locked(sweep, out, jobs, ray, ray_address, fresh, progress)
    except BaseException:
        # failed before a point wrote anything (a Ray cluster that does not answer): the folders it made go, empty
        # ones only, so no empty sweep folder is left to puzzle over; a point's results keep them
        remove_empty(made)
        raise


def _run_locked(sweep: Sweep, out: Path, jobs: int | None, ray: bool, ray_address: str | None, fresh: bool,
                progress: bool) -> Path:
    """:func:`run_sweep` once the folder's lock is held."""
    tasks = point_tasks(sweep, out)
    todo = check_start(tasks, out, fresh)  # before anything is deleted: a refused sweep leaves its folder as it was
    if fresh:
        clear_sweep_folder(out)
        todo = unfinished(tasks)  # (every point: their folders are gone)
    remove_temporaries(out)
    ids = {t.point_id for t in tasks}
    orphans = [p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ids]
    if orphans:
        log.info("sweep %s: %d folder(s) in %s belong to no current point (earlier settings); not in the table",
                 sweep.name, len(orphans), out)
    log.info("sweep %s: %d points, %d already finished, %d to run", sweep.name, len(tasks),
             len(tasks) - len(todo), len(todo))
    jobs = max(1, jobs or default_jobs())
    # One BLAS thread per worker (inherited by pool and local Ray workers): the points are the parallelism;
    # threaded BLAS on a shared machine is many times slower, and its summation order varies with threads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    failures: list[tuple[str, BaseException]] = []
    table = None
    if todo:
        if not ray_address:  # (a cluster's workers compile on machines of their own)
            compile_replay_loop([t.compiled for t in todo], min(jobs, len(todo)))
        bar = progress_reporter(sweep.name, total=len(todo), unit="point", enabled=progress)
        # a machine's points together: each worker finds the machine's routes once (results and table alike)
        runner = (_run_ray if ray else _run_pool)(by_machine(todo), min(jobs, len(todo)) if not ray else jobs,
                                                  ray_address)
        stopped_early = True
        try:
            # as many as there are points, the runner then left waiting at its last: it shuts down (Ray's
            # instance) when closed, after the table is written, not when asked for a point after the last
            for pid, err in islice(runner, len(todo)):
                if err is not None:
                    failures.append((pid, err))
                    # info, not error: the RunError below is the one error line (with -v, every cause)
                    log.info("sweep %s: point %s failed: %s", sweep.name, pid, err)
                bar.update(1)
                # the milestone is what a log file gets: one line per point, never a redrawn bar
                bar.milestone(f"point {pid} {'failed' if err is not None else 'done'}")
            stopped_early = False
            bar.close()
            # the table before the runner closes: Ray's shutdown resets SIGTERM to the default for about a
            # second (ray_cluster.shutdown_ray), and a SIGTERM then ended a finished sweep with no table
            if not failures:
                table = write_sweep_table(sweep, out)
        finally:
            runner.close()  # now, not when the exception's traceback lets go of it: stops running points
            bar.close()
            if stopped_early:  # the stopped points' temporaries (we hold the lock: no one else's)
                remove_temporaries(out)
    if failures:
        pid, err = failures[0]
        raise RunError(f"sweep {sweep.name}: {len(failures)} of {len(todo)} point(s) failed (first: {pid}: "
                       f"{machine_error(err, 'writing its results') or first_line(err)}); finished points are kept, "
                       "re-run to retry the rest")  # (a full disk: said as a run says it)
    return table or write_sweep_table(sweep, out)


def _run_pool(todo: list[PointTask], jobs: int, _address: str | None) -> Iterator[tuple[str, BaseException | None]]:
    """Yield (point id, error or None) as points finish on a local process pool (:mod:`.pool`)."""
    from ampsim.sweeps.pool import run_pool

    for task, err in run_pool(todo, jobs, run_point):
        yield task.point_id, err


#: the points this process has run as Ray tasks (a Ray worker is reused for many, as a pool worker is)
_ray_points = 0


def _ray_point(task: PointTask) -> str:
    """:func:`run_point` in a Ray worker, whose heap is then settled as a pool worker's is after each point
    (:func:`~ampsim.sweeps.pool.settle_heap`: 0.90× the time of a replayed point on a 1,024-chip machine)."""
    from ampsim.sweeps.pool import settle_heap

    global _ray_points
    try:
        return run_point(task)
    finally:
        _ray_points += 1
        settle_heap(_ray_points)


def _run_ray(todo: list[PointTask], jobs: int, address: str | None) -> Iterator[tuple[str, BaseException | None]]:
    """Yield (point id, error or None) as points finish as Ray tasks; on an early stop cancel what is left
    and shut down what this sweep started (a local instance also when this process is SIGKILLed: see
    :mod:`.reaper`)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"{wording().ray}: the 'ray' package is not installed (pip install 'ampsim[ray]')") from None
    from ampsim.sweeps.ray_cluster import RAY_HEAD, connect_ray, shutdown_ray, start_local_ray, task_modules_env

    started = not ray.is_initialized()
    reaper = None
    if started:
        if address:
            connect_ray(ray, address, RAY_CONNECT_TIMEOUT_S)
        else:
            from ampsim.sweeps.reaper import Reaper

            reaper = Reaper()  # before ray.init: every Ray process inherits its marker
            try:
                start_local_ray(ray, jobs, reaper)
            except BaseException:
                reaper.close()
                raise
    pending: dict[Any, str] = {}
    try:
        remote = ray.remote(num_cpus=1, max_retries=0, **task_modules_env(address))(_ray_point)
        pending = {remote.remote(t): t.point_id for t in todo}
        while pending:
            # a timeout keeps the main thread returning to Python, where Ctrl-C and SIGTERM are handled
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            if not done:
                continue
            ref = done[0]
            pid = pending.pop(ref)
            try:
                ray.get(ref)
                yield pid, None
            except Exception as e:  # a RayTaskError wraps the worker's exception
                cause = getattr(e, "cause", None)
                yield pid, cause if isinstance(cause, BaseException) else e
    finally:
        if reaper is not None and pending:  # stopped early: Ray's workers and agents need no orderly end
            reaper.kill_now(spare=RAY_HEAD)
        if started:  # a local instance goes, and a cluster ends the tasks of a driver that disconnects
            shutdown_ray(ray)
        else:  # the caller's Ray session lives on: our tasks must not (no force: Ray 2.x may abort the
            for ref in pending:  # driver when a forced cancel races with the task's completion)
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - finished or gone meanwhile
                    pass
        if reaper is not None:
            reaper.close()


# -- the aggregated table ---------------------------------------------------------------------------------
def write_sweep_table(sweep: Sweep, out: str | Path) -> Path:
    """Write ``out/table.csv`` and ``out/sweep.json`` from the finished points (one row each, through
    :func:`ampsim.tables.write_table`); returns the table's path."""
    out = Path(out)
    # (a pattern table's cell in its own order: two orders are two runs, and sorted they read as one)
    rows = [table_row(p.values, out / p.point_id, p.label, p.point_id, ordered_keys(p.values)) for p in sweep.points]
    # swept values in file order, the seed last: rows of one setting sit together, seeds side by side
    order = [k for k in sweep.keys if k != SEED_KEY] + ([SEED_KEY] if SEED_KEY in sweep.keys else [])
    info = {"name": sweep.name, "description": sweep.description, "source": str(sweep.path),
            SWEEP_FILE: sweep_file_record(sweep.path, out), "keys": sweep.keys, "quick": sweep.quick}
    path = write_table(out, rows, order, info)
    log.info("sweep %s: table of %d points written to %s", sweep.name, len(rows), path)
    return path

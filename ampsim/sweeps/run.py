"""Running a sweep: a local process pool or Ray tasks, resumable, then one aggregated table.

Layout of a sweep folder (default ``results/sweeps/<sweep name>/``)::

    <point id>/         one ordinary run folder per point (config.toml, metrics.csv, summary.json, ...)
                        plus point.json (its overrides and swept values)
    table.csv           every point's swept values joined with its summary metrics
    sweep.json          the sweep's name, source file and swept keys

(the table's columns and files are :mod:`ampsim.results`' schema; this module only runs the points and
hands the finished ones over).

Contracts:

* A point is trained into ``.tmp-<id>-<pid>-<random>/`` and renamed to ``<id>/`` only once complete, so a
  folder named by a point id is always a finished run. A re-run skips finished points and deletes
  leftover temporary folders; an interrupted sweep loses only the points that were running.
* Two processes finishing the same point (an orphaned worker of a killed sweep and its re-run) both
  succeed: the first rename wins, the second discards its copy (runs are deterministic).
* ``table.csv`` is written (atomically) only when every point has finished; its rows are sorted by the
  swept values (then seed, then point id), so the same sweep gives the same table whichever executor
  (pool or Ray), job count or interruption produced it.
* Progress: one update per finished point (a bar on a terminal, one plain line per point elsewhere, see
  :mod:`ampsim.progress`), nothing with ``progress=False``.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ampsim.errors import AmpsimError, ConfigError, RunError
from ampsim.progress import progress as progress_reporter
from ampsim.results import table_row, write_json, write_table
from ampsim.sweeps.spec import SEED_KEY, Sweep

__all__ = ["run_sweep", "run_point", "point_tasks", "write_sweep_table", "default_jobs", "PointTask"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to run one point (picklable, paths absolute)."""

    experiment: str
    overrides: tuple
    out: str
    point_id: str
    record: dict


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
    if (final / "summary.json").is_file():
        return task.point_id
    tmp = final.with_name(f".tmp-{task.point_id}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        cfg = load_config(task.experiment, list(task.overrides))
        train_experiment(cfg, tmp)
        write_json(tmp / "point.json", task.record)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "summary.json").is_file():
                raise
            log.info("point %s was finished by another process; keeping that copy", task.point_id)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return task.point_id


def point_tasks(sweep: Sweep, out: Path) -> list[PointTask]:
    out = out.resolve()
    return [PointTask(str(sweep.experiment), tuple(p.overrides), str(out / p.point_id), p.point_id,
                      {"point_id": p.point_id, "label": p.label, "values": p.values,
                       "overrides": [[k, v] for k, v in p.overrides], "sweep": sweep.name})
            for p in sweep.points]


def run_sweep(sweep: Sweep, out: str | Path, *, jobs: int | None = None, ray: bool = False,
              ray_address: str | None = None, fresh: bool = False, progress: bool = False) -> Path:
    """Run every unfinished point of ``sweep`` into ``out`` and write ``out/table.csv``; returns its path.

    ``ray`` runs the points as Ray tasks (on ``ray_address``, or a local instance with ``jobs`` CPUs);
    otherwise a local process pool of ``jobs`` workers (default: the cores available). ``fresh`` deletes
    the sweep's earlier results first. Raises :class:`RunError` if any point failed (the others are kept).
    """
    out = Path(out)
    if fresh and out.is_dir():
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tasks = point_tasks(sweep, out)
    todo = [t for t in tasks if not (Path(t.out) / "summary.json").is_file()]
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
    if todo:
        bar = progress_reporter(sweep.name, total=len(todo), unit="point", enabled=progress)
        runner = _run_ray if ray else _run_pool
        try:
            for pid, err in runner(todo, min(jobs, len(todo)) if not ray else jobs, ray_address):
                if err is not None:
                    failures.append((pid, err))
                    log.error("sweep %s: point %s failed: %s", sweep.name, pid, err)
                bar.update(1)
                # the milestone is what a log file gets: one line per point, never a redrawn bar
                bar.milestone(f"point {pid} {'failed' if err is not None else 'done'}")
        finally:
            bar.close()
    if failures:
        pid, err = failures[0]
        raise RunError(f"sweep {sweep.name}: {len(failures)} of {len(todo)} point(s) failed (first: {pid}: "
                       f"{_one_line(err)}); finished points are kept, re-run to retry the rest")
    return write_sweep_table(sweep, out)


def _clear(out: Path) -> None:
    """Delete a sweep folder's results (point folders, temporaries, table) and nothing else."""
    for p in out.iterdir():
        if p.is_dir() and ((p / "point.json").is_file() or p.name.startswith(".tmp-")):
            shutil.rmtree(p)
        elif p.name in ("table.csv", "sweep.json"):
            p.unlink()


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(err, AmpsimError) and first else f"{type(err).__name__}: {first}"


def _run_pool(todo: list[PointTask], jobs: int, _address: str | None) -> Iterable[tuple[str, BaseException | None]]:
    """Yield (point id, error or None) as points finish on a local process pool."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["ampsim.sweeps.run", "ampsim.training"])
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        futures = {pool.submit(run_point, t): t.point_id for t in todo}
        for fut in as_completed(futures):
            err = fut.exception()
            yield futures[fut], err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(todo: list[PointTask], jobs: int, address: str | None) -> Iterable[tuple[str, BaseException | None]]:
    """Yield (point id, error or None) as points finish as Ray tasks."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray: the 'ray' package is not installed (pip install 'ampsim[ray]')") from None
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # results travel as files, so the local object store can stay small on a shared machine
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False,
                     object_store_memory=256 * 1024**2)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
        pending = {remote.remote(t): t.point_id for t in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            pid = pending.pop(ref)
            try:
                ray.get(ref)
                yield pid, None
            except Exception as e:  # a RayTaskError wraps the worker's exception
                cause = getattr(e, "cause", None)
                yield pid, cause if isinstance(cause, BaseException) else e
    finally:
        if started:
            ray.shutdown()


# -- the aggregated table ---------------------------------------------------------------------------------
def write_sweep_table(sweep: Sweep, out: str | Path) -> Path:
    """Write ``out/table.csv`` and ``out/sweep.json`` from the finished points (one row each, through
    :func:`ampsim.results.write_table`); returns the table's path."""
    out = Path(out)
    rows = [table_row(p.values, out / p.point_id, p.label, p.point_id) for p in sweep.points]
    # swept values in file order, the seed last: rows of one setting sit together, seeds side by side
    order = [k for k in sweep.keys if k != SEED_KEY] + ([SEED_KEY] if SEED_KEY in sweep.keys else [])
    info = {"name": sweep.name, "description": sweep.description, "source": str(sweep.path), "keys": sweep.keys,
            "quick": sweep.quick}
    path = write_table(out, rows, order, info)
    log.info("sweep %s: table of %d points written to %s", sweep.name, len(rows), path)
    return path

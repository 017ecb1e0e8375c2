"""Running a sweep: a local process pool or Ray tasks, resumable, then one aggregated table.

Layout of a sweep folder (default ``results/sweeps/<sweep name>/``)::

    <point id>/         one ordinary run folder per point (config.toml, metrics.csv, summary.json, ...)
                        plus point.json (its overrides and swept values)
    table.csv           every point's swept values joined with its summary metrics

Contracts:

* A point is trained into ``.tmp-<id>-<pid>-<random>/`` and renamed to ``<id>/`` only once complete, so a
  folder named by a point id is always a finished run. A re-run skips finished points and deletes
  leftover temporary folders; an interrupted sweep loses only the points that were running.
* Two processes finishing the same point (an orphaned worker of a killed sweep and its re-run) both
  succeed: the first rename wins, the second discards its copy (runs are deterministic).
* ``table.csv`` is written (atomically) only when every point has finished; its rows are sorted by the
  swept values (then seed, then point id), so the same sweep gives the same table whichever executor
  (pool or Ray), job count or interruption produced it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ampsim.errors import AmpsimError, ConfigError, RunError
from ampsim.results import atomic_write, read_summary, write_json
from ampsim.sweeps.spec import SEED_KEY, Sweep

log = logging.getLogger(__name__)

#: Summary columns of ``table.csv`` after the swept keys (see :func:`summary_columns`).
METRIC_COLUMNS = (
    "label", "metric", "final_metric", "best_metric", "target", "time_to_target_s", "epochs_to_target",
    "epochs", "instances", "time_s", "time_unit", "throughput", "staleness_mean", "staleness_max",
    "chip_util_mean", "chip_util_max", "chip_util_min", "link_util_mean", "link_util_max", "n_chips",
    "hardware", "executor", "point_id",
)


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
    from ampsim.runner import train_experiment

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
        bar = _bar(len(todo), sweep.name, progress)
        runner = _run_ray if ray else _run_pool
        try:
            for pid, err in runner(todo, min(jobs, len(todo)) if not ray else jobs, ray_address):
                if err is not None:
                    failures.append((pid, err))
                    log.error("sweep %s: point %s failed: %s", sweep.name, pid, err)
                bar.update(1)
        finally:
            bar.close()
    if failures:
        pid, err = failures[0]
        raise RunError(f"sweep {sweep.name}: {len(failures)} of {len(todo)} point(s) failed (first: {pid}: "
                       f"{_one_line(err)}); finished points are kept, re-run to retry the rest")
    return write_table(sweep, out)


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


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, name: str, progress: bool):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="point")


def _run_pool(todo: list[PointTask], jobs: int, _address: str | None) -> Iterable[tuple[str, BaseException | None]]:
    """Yield (point id, error or None) as points finish on a local process pool."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["ampsim.sweeps.run", "ampsim.runner"])
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
def summary_columns(summary: dict) -> dict[str, Any]:
    """The table's metric columns from one run's summary.json (see :data:`METRIC_COLUMNS`)."""
    ttt = summary.get("time_to_target") or {}
    stale = [s for s in (summary.get("staleness") or {}).values() if s.get("count")]
    count = sum(s["count"] for s in stale)
    chips = summary.get("chip_utilization") or []
    links = list((summary.get("link_utilization") or {}).values())
    return {
        "metric": summary.get("metric"),
        "final_metric": summary.get("final_metric"),
        "best_metric": summary.get("best_metric"),
        "target": summary.get("target"),
        "time_to_target_s": ttt.get("time_s"),
        "epochs_to_target": ttt.get("epoch"),
        "epochs": summary.get("epochs"),
        "instances": summary.get("instances"),
        "time_s": summary.get("time_s"),
        "time_unit": summary.get("time_unit"),
        "throughput": summary.get("throughput_instances_per_s"),
        "staleness_mean": sum(s["mean"] * s["count"] for s in stale) / count if count else 0.0,
        "staleness_max": max((s["max"] for s in stale), default=0),
        "chip_util_mean": sum(chips) / len(chips) if chips else None,
        "chip_util_max": max(chips) if chips else None,
        "chip_util_min": min(chips) if chips else None,
        "link_util_mean": sum(links) / len(links) if links else None,
        "link_util_max": max(links) if links else None,
        "n_chips": summary.get("n_chips"),
        "hardware": summary.get("hardware"),
        "executor": summary.get("executor"),
    }


def cell(value: Any) -> Any:
    """A table cell: tables and arrays as compact JSON, paths of hardware files as their stem."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return value


def _sort_key(value: Any) -> tuple:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (0, 0, "")
    if isinstance(value, bool):
        return (1, int(value), "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))


def table_rows(sweep: Sweep, out: Path) -> list[dict]:
    """One row per point (swept values, then metric columns), sorted deterministically."""
    rows = []
    for p in sweep.points:
        summary = read_summary(out / p.point_id)
        row: dict[str, Any] = {k: cell(v) for k, v in p.values.items()}
        for k, v in p.values.items():  # a whole-table value also gets one column per entry
            if isinstance(v, dict):
                row.update({f"{k}.{sub}": cell(x) for sub, x in v.items()})
        row.update(summary_columns(summary))
        row["label"] = p.label
        row["point_id"] = p.point_id
        rows.append(row)
    order = [k for k in sweep.keys if k != SEED_KEY] + ([SEED_KEY] if SEED_KEY in sweep.keys else [])
    rows.sort(key=lambda r: tuple(_sort_key(r.get(k)) for k in order) + (r["point_id"],))
    return rows


def write_table(sweep: Sweep, out: str | Path) -> Path:
    """Write ``out/table.csv`` (atomically) from the finished points; returns its path."""
    import pandas as pd

    out = Path(out)
    rows = table_rows(sweep, out)
    front = list(dict.fromkeys(k for r in rows for k in r if k not in METRIC_COLUMNS))
    df = pd.DataFrame(rows, columns=front + list(METRIC_COLUMNS))
    atomic_write(out / "sweep.json", json.dumps({"name": sweep.name, "description": sweep.description,
                                                 "source": str(sweep.path), "keys": sweep.keys,
                                                 "quick": sweep.quick, "points": len(rows)}, indent=2) + "\n")
    path = out / "table.csv"
    atomic_write(path, df.to_csv(index=False))  # last: its presence means the sweep is complete
    log.info("sweep %s: table of %d points written to %s", sweep.name, len(rows), path)
    return path


def read_table(path: str | Path):
    """A sweep's table.csv (give the file or its folder) as a pandas DataFrame."""
    import pandas as pd

    path = Path(path)
    return pd.read_csv(path / "table.csv" if path.is_dir() else path)


__all__ = ["run_sweep", "run_point", "write_table", "read_table", "summary_columns", "default_jobs",
           "PointTask", "METRIC_COLUMNS"]

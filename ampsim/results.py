"""Run folders and tables of runs, written so that an interrupted run loses nothing finished.

Layout of ``results/<run>/``:

* ``config.toml`` — the resolved experiment (every default filled in); ``ampsim train`` accepts it back.
* ``metrics.csv`` — one row per epoch: ``epoch, instances, time_s, wall_s, train_loss, <metric>``.
  ``time_s`` is the executor's clock (wall seconds, or simulated seconds for the simulator). Rows are
  appended and flushed as each epoch ends.
* ``summary.json`` — final and best metric, time to target, throughput, executor extras (utilization,
  staleness, memory).
* executor artifacts: ``placement.json``, ``trace.json``, ``timing.json`` (see the executors).

A run never destroys or mixes with a finished one (:class:`RunDir`): it is written into the sibling
``<run>.partial/`` and swapped in whole when it completes (atomically on Linux: ``renameat2`` exchange),
so ``results/<run>/`` holds either the earlier run or the new one, never parts of both. If the run
fails or is interrupted, ``results/<run>/`` is untouched and ``<run>.partial/`` keeps the rows written
so far (metrics rows are flushed as each epoch ends); the next run into ``<run>`` deletes it. An existing
folder that is not a run folder (it holds sub-folders or none of config.toml, metrics.csv, summary.json)
is never replaced: the run is refused before any work.

A table of runs (a sweep folder, ``results/sweeps/<sweep>/``) adds:

* ``table.csv`` — one row per run: the swept values (tables and arrays as compact JSON, a whole-table
  value also one column per entry), then :data:`METRIC_COLUMNS` from each run's summary.json
  (:func:`summary_columns`). Rows are sorted by the given keys, then point id, so the same runs give the
  same bytes whichever order they finished in. Written last and atomically: its presence means complete.
* ``sweep.json`` — what the table is of: name, description, source file, swept keys, point count.

:func:`write_table` is the one writer of both files, :func:`read_table` and :func:`read_table_info`
their readers; the sweeps write tables through them and the figures read them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ampsim import jsontext
from ampsim.errors import ConfigError, DataError, RunError
from ampsim.files import check_output_dir, os_error_cause, read_json, read_text, replace_folder, replacing
from ampsim.locks import LockHeld, lock_file, unlock_file

__all__ = ["RunDir", "check_run_folder", "partial_path", "atomic_write", "write_json", "read_metrics",
           "read_summary", "METRIC_COLUMNS", "TEXT_COLUMNS", "summary_columns", "cell", "table_row", "write_table",
           "read_table", "read_table_info", "mean_staleness"]

log = logging.getLogger(__name__)

#: the files every run writes: an existing folder holding one of them (and no sub-folder) is a run folder
RUN_FILES = ("config.toml", "metrics.csv", "summary.json")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and a rename: whole or absent."""
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, jsontext.dumps(obj) + "\n")  # json.dumps(plain(obj), indent=2, sort_keys=True)


def partial_path(out: str | Path) -> Path:
    """Where a run into ``out`` is written until it is complete: the sibling folder ``<out>.partial``."""
    out = Path(out)
    p = Path(os.path.abspath(out))
    partial = p.with_name(p.name + ".partial")
    return partial if out.is_absolute() else Path(os.path.relpath(partial))


def _is_run_folder(folder: Path) -> bool:
    entries = list(folder.iterdir())
    return not entries or (not any(e.is_dir() for e in entries) and any(e.name in RUN_FILES for e in entries))


def check_run_folder(out: str | Path) -> Path:
    """Check, changing nothing, that a run can be written to ``out`` and swapped in there; returns ``Path(out)``.

    Raises :class:`~ampsim.errors.ConfigError` in one line if ``out`` (or its ``.partial`` sibling) cannot
    be created or written, is the file system root or holds the working folder, or is an existing folder
    that is not a run folder (which a run would replace whole).
    """
    out = Path(out)
    check_output_dir(out)
    real = Path(os.path.realpath(out))
    if real.parent == real:
        raise ConfigError(f"{out}: cannot be a run folder (the file system root); give a folder below it")
    cwd = Path.cwd()
    if real == cwd or real in cwd.parents:
        raise ConfigError(f"{out}: holds the working folder, so it cannot be replaced by a run; give a folder below it")
    if real.is_dir() and not _is_run_folder(real):
        held = sorted(e.name + ("/" if e.is_dir() else "") for e in real.iterdir())
        raise ConfigError(f"{out}: exists and is not a run folder (it holds {', '.join(held[:4])}"
                          f"{', …' if len(held) > 4 else ''}); a run replaces its folder whole, so give a new "
                          "or empty folder, or an earlier run's")
    partial = _partial_of(out)
    if os.path.lexists(partial) and not partial.is_dir():
        raise ConfigError(f"{out}: {partial} is in the way (a run is written there first); remove it")
    return out


def _partial_of(out: Path) -> Path:
    # a symlinked run folder is replaced where it points, so its partial sibling lives there (same file system)
    return partial_path(os.path.realpath(out)) if out.is_symlink() else partial_path(out)


class RunDir:
    """A run folder being written: into ``<path>.partial/`` until :meth:`commit` swaps it in at ``path``.

    Create it (checks ``path`` first, see :func:`check_run_folder`; deletes a stale ``.partial`` left by
    an earlier failed run), write the config, append metric rows (each flushed as its epoch ends), the
    summary and artifacts, then :meth:`commit` (``run_training`` commits when the run is complete). Used as
    a context manager, a run that raises is abandoned: ``path`` is untouched and, if rows were written and
    ``keep_partial``, ``<path>.partial/`` is kept and the exception gets a note saying so (the CLI adds it
    to its one line); else it is removed. Two runs into one folder at once: the second is refused.
    """

    def __init__(self, path: str | Path, *, keep_partial: bool = True) -> None:
        self.final = check_run_folder(path)
        self.target = Path(os.path.realpath(self.final)) if self.final.is_symlink() else self.final
        self.partial = _partial_of(self.final)
        self.lock_path = self.partial.with_name(self.partial.name + ".lock")
        self.keep_partial = keep_partial
        self.path = self.partial  # where files go now; the final folder once committed
        self.metrics_path = self.path / "metrics.csv"
        self.epochs = 0
        self.committed = False
        self._columns: list[str] | None = None
        self._lock: int | None = self._claim()

    def _claim(self) -> int:
        """Hold the run's lock (``<out>.partial.lock``, :func:`~ampsim.locks.lock_file`) for its life, then make
        a fresh partial folder (one left by a run that is gone is deleted first). The lock comes first: a
        partial folder made before it is locked could be taken for a stale one and deleted by another run, or
        written by two."""
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            fd = lock_file(self.lock_path)
        except LockHeld:
            raise RunError(f"{self.final}: another run is writing it now (it holds {self.partial}); "
                           "wait for it or give another --out") from None
        except OSError as e:
            raise ConfigError(f"{self.partial}: cannot create the run folder: {os_error_cause(e)}") from None
        try:
            if os.path.lexists(self.partial):
                log.info("removing %s, left by an earlier run that did not finish", self.partial)
                shutil.rmtree(self.partial)
            self.partial.mkdir(parents=True)
        except OSError as e:
            unlock_file(fd, self.lock_path)
            raise ConfigError(f"{self.partial}: cannot create the run folder: {os_error_cause(e)}") from None
        return fd

    def _release(self) -> None:
        if self._lock is not None:
            unlock_file(self._lock, self.lock_path)
            self._lock = None

    def write_config(self, toml_text: str) -> None:
        atomic_write(self.path / "config.toml", toml_text)

    def append_metrics(self, row: dict) -> None:
        """Append one epoch's row; the file is closed (flushed) before this returns."""
        new = self._columns is None
        if new:
            self._columns = list(row)
        with open(self.metrics_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._columns)
            if new:
                w.writeheader()
            w.writerow({k: _fmt(row.get(k)) for k in self._columns})
        self.epochs += 1

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / "summary.json", summary)

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.path / name, obj)

    def commit(self) -> Path:
        """The run is complete: swap it in at ``path`` (the earlier content is replaced whole). Idempotent."""
        if not self.committed:
            try:
                replace_folder(self.partial, self.target)
            except OSError as e:
                raise RunError(f"{self.final}: cannot put the finished run in place ({e.strerror or e}); it is kept "
                               f"in {self.partial}") from None
            finally:
                self._release()
            self.committed = True
            self.path, self.metrics_path = self.final, self.final / "metrics.csv"
        return self.final

    def abandon(self) -> str | None:
        """The run failed: leave ``path`` untouched; keep or remove the partial folder. Returns what
        became of it, as a note for the error line (None if nothing was kept). The lock goes last: the next
        run into ``path`` must not find its own partial folder being removed."""
        try:
            if self.committed:
                return None
            if self.keep_partial and self.epochs:
                earlier = "the earlier run there is untouched" if os.path.isdir(self.target) else "nothing is there"
                return (f"the partial run ({self.epochs} epoch{'s' if self.epochs != 1 else ''}) is kept in "
                        f"{self.partial}; {earlier}")
            shutil.rmtree(self.partial, ignore_errors=True)
            return None
        finally:
            self._release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.commit()
        else:
            note = self.abandon()
            if note is None and isinstance(exc, KeyboardInterrupt):
                note = f"no epoch had finished, so nothing was kept; {self.final} is as it was"
            if note:
                exc.add_note(note)
        return False


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else v


def _read_csv(path: Path):
    """A CSV table as a DataFrame; a file that is missing, unreadable or not a table is one DataError line."""
    import pandas as pd

    text = read_text(path, error=DataError)
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        cause = (str(e).strip().splitlines() or ["empty"])[0]
        raise DataError(f"{path}: not a CSV table ({cause})") from None


def read_metrics(path: str | Path):
    """A run's metrics table as a pandas DataFrame."""
    return _read_csv(Path(path) / "metrics.csv")


def read_summary(path: str | Path) -> dict:
    """A run's summary.json as a dict (anything else in it is a DataError naming the file)."""
    summary = read_json(Path(path) / "summary.json", error=DataError)
    if not isinstance(summary, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(summary), "a number")
        raise DataError(f"{Path(path) / 'summary.json'}: expected a JSON object, got {kind}")
    return summary


# -- tables of runs ----------------------------------------------------------------------------------
#: Summary columns of ``table.csv`` after the swept keys (see :func:`summary_columns`).
METRIC_COLUMNS = (
    "label", "metric", "final_metric", "best_metric", "target", "time_to_target_s", "epochs_to_target",
    "epochs", "instances", "time_s", "time_unit", "throughput", "staleness_mean", "staleness_max",
    "chip_util_mean", "chip_util_max", "chip_util_min", "link_util_mean", "link_util_max", "n_chips",
    "chips_busy", "sync_rounds", "sync_time_s", "replica_drift", "hardware", "executor", "point_id",
)
#: the columns of those that hold text (the rest are numbers, or empty where not measured)
TEXT_COLUMNS = ("label", "metric", "time_unit", "hardware", "executor", "point_id")


def summary_columns(summary: dict) -> dict[str, Any]:
    """The table's metric columns from one run's summary.json (see :data:`METRIC_COLUMNS`)."""
    ttt = summary.get("time_to_target") or {}
    stale = [s for s in (summary.get("staleness") or {}).values() if s.get("count")]
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
        "staleness_mean": mean_staleness([summary]) or 0.0,
        "staleness_max": max((s["max"] for s in stale), default=0),
        "chip_util_mean": sum(chips) / len(chips) if chips else None,
        "chip_util_max": max(chips) if chips else None,
        "chip_util_min": min(chips) if chips else None,
        "link_util_mean": sum(links) / len(links) if links else None,
        "link_util_max": max(links) if links else None,
        "n_chips": summary.get("n_chips"),
        "chips_busy": sum(1 for u in chips if u > 0) if chips else None,
        # replicas (None without them)
        "sync_rounds": summary.get("sync_rounds"),
        "sync_time_s": summary.get("sync_time_s"),
        "replica_drift": summary.get("replica_drift"),
        "hardware": summary.get("hardware"),
        "executor": summary.get("executor"),
    }


def mean_staleness(summaries: list[dict]) -> float | None:
    """The mean staleness of the backward steps of every parameterized node in ``summaries`` (run
    summaries' ``staleness``: per node a mean and a count), or None where none was measured.

    >>> mean_staleness([{"staleness": {"fc0": {"mean": 3.0, "count": 10}, "fc1": {"mean": 1.0, "count": 30}}},
    ...                 {"staleness": {"fc0": {"mean": 1.0, "count": 10}}}])
    1.4
    """
    steps = [(v["mean"], v["count"]) for s in summaries for v in (s.get("staleness") or {}).values() if v.get("count")]
    total = sum(n for _, n in steps)
    return sum(mean * n for mean, n in steps) / total if total else None


def cell(value: Any) -> Any:
    """A table cell: tables and arrays as compact JSON; anything else as it is."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return value


def table_row(values: dict[str, Any], run: str | Path, label: str | None, point_id: str) -> dict[str, Any]:
    """The row of one finished run (folder ``run``): its swept ``values``, then its metric columns."""
    row: dict[str, Any] = {k: cell(v) for k, v in values.items()}
    for k, v in values.items():  # a whole-table value also gets one column per entry
        if isinstance(v, dict):
            row.update({f"{k}.{sub}": cell(x) for sub, x in v.items()})
    row.update(summary_columns(read_summary(run)))
    row["label"] = label
    row["point_id"] = point_id
    return row


def _sort_key(value: Any) -> tuple:
    # missing values first, then numbers (booleans as 0/1) in order, then text: mixed columns still sort
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (0, 0, "")
    if isinstance(value, bool):
        return (1, int(value), "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))


def write_table(folder: str | Path, rows: list[dict[str, Any]], order: list[str], info: dict[str, Any]) -> Path:
    """Write ``folder/sweep.json`` (``info`` plus the point count) and then ``folder/table.csv``, atomically;
    rows are sorted by the columns ``order``, then point id. Returns the table's path."""
    import pandas as pd

    folder = Path(folder)
    rows = sorted(rows, key=lambda r: tuple(_sort_key(r.get(k)) for k in order) + (r["point_id"],))
    front = list(dict.fromkeys(k for r in rows for k in r if k not in METRIC_COLUMNS))
    df = pd.DataFrame(rows, columns=front + list(METRIC_COLUMNS))
    atomic_write(folder / "sweep.json", json.dumps({**info, "points": len(rows)}, indent=2) + "\n")
    path = folder / "table.csv"
    atomic_write(path, df.to_csv(index=False))  # last: its presence means the table is complete
    return path


def read_table(path: str | Path):
    """A table.csv (give the file or its folder; any CSV table works) as a pandas DataFrame."""
    path = Path(path)
    return _read_csv(path / "table.csv" if path.is_dir() else path)


def read_table_info(folder: str | Path) -> dict[str, Any] | None:
    """A table folder's sweep.json (name, description, source, keys, quick, points), or None if it has none."""
    path = Path(folder) / "sweep.json"
    return read_json(path, error=DataError) if path.is_file() else None

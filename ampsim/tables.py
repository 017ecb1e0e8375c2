"""Tables of runs: a sweep folder's ``table.csv`` and ``sweep.json`` (``results/sweeps/<sweep>/``).

* ``table.csv`` — one row per run: the swept values (tables and arrays as compact JSON, a whole-table
  value also one column per entry), then :data:`METRIC_COLUMNS` from each run's summary.json
  (:func:`summary_columns`). Rows are sorted by the given keys, then point id, so the same runs give the
  same bytes whichever order they finished in. Written last and atomically: its presence means complete.
* ``sweep.json`` — what the table is of: name, description, source file, swept keys, point count.

:func:`write_table` is the one writer of both files, :func:`read_table` and :func:`read_table_info`
their readers; the sweeps write tables through them and the figures read them. The runs themselves are
:mod:`ampsim.results`'.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Collection

from ampsim.errors import OUTCOME_FIELDS, DataError
from ampsim.files import read_json
from ampsim.outputs import check_replacing
from ampsim.results import atomic_write
from ampsim.runfiles import SWEEP_INFO
from ampsim.runread import read_csv_table, read_summary

__all__ = ["TABLE", "SWEEP_INFO", "TABLE_FILES", "METRIC_COLUMNS", "TEXT_COLUMNS", "summary_columns", "mean_staleness",
           "cell", "table_row", "stopped", "write_table", "read_table", "read_table_info"]

log = logging.getLogger(__name__)

#: a table folder's (a sweep's) table, one row per run, written last (:func:`write_table`)
TABLE = "table.csv"
#: (SWEEP_INFO, from runfiles: the record of the sweep a table is of, written just before it (:func:`write_table`,
#: :func:`read_table_info`))
#: the files that are the table's own in a sweep's folder (beside its points)
TABLE_FILES = (TABLE, SWEEP_INFO)

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
        # (None where the summary has none: a point that diverged or ran out of chip memory)
        "staleness_mean": (mean_staleness([summary]) or 0.0) if "staleness" in summary else None,
        "staleness_max": max((s["max"] for s in stale), default=0) if "staleness" in summary else None,
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


def cell(value: Any, *, ordered: bool = False) -> Any:
    """A table cell: tables and arrays as compact JSON, a table's keys sorted unless ``ordered`` (its order is part
    of the run: a pattern table's, first match wins); anything else as it is.

    >>> cell({"b": 1, "a": [2]}), cell({"b": 1, "a": [2]}, ordered=True), cell(0.5)
    ('{"a":[2],"b":1}', '{"b":1,"a":[2]}', 0.5)
    """
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=not ordered)
    return value


def table_row(values: dict[str, Any], run: str | Path, label: str | None, point_id: str,
              ordered: Collection[str] = ()) -> dict[str, Any]:
    """The row of one finished run (folder ``run``): its swept ``values``, then its metric columns. ``ordered``: the
    keys of ``values`` whose table is written in its own order (:func:`cell`)."""
    row: dict[str, Any] = {k: cell(v, ordered=k in ordered) for k, v in values.items()}
    for k, v in values.items():  # a whole-table value also gets one column per entry
        if isinstance(v, dict):
            row.update({f"{k}.{sub}": cell(x) for sub, x in v.items()})
    summary = read_summary(run)
    row.update(summary_columns(summary))
    for field in OUTCOME_FIELDS:  # a point that diverged or ran out of chip memory: its line, in a column of its
        if field in summary:  # own only in tables that have one (the committed tables' bytes stay as they were)
            record = summary[field]
            row[field] = record["error"] if isinstance(record, dict) else record
    row["label"] = label
    row["point_id"] = point_id
    return row


def stopped(df):
    """Which rows of a table (a DataFrame) are of points that stopped, diverged or out of chip memory: their
    :data:`~ampsim.errors.OUTCOME_FIELDS` cells say why, their metric cells are blank (a pandas Series of bools)."""
    import pandas as pd

    cols = [c for c in OUTCOME_FIELDS if c in df.columns]
    return df[cols].notna().any(axis=1) if cols else pd.Series(False, index=df.index)


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
    for name in TABLE_FILES:  # both or neither: a table refused after its sweep.json was rewritten left a mismatch
        check_replacing(folder / name)
    atomic_write(folder / SWEEP_INFO, json.dumps({**info, "points": len(rows)}, indent=2) + "\n")
    path = folder / TABLE
    atomic_write(path, df.to_csv(index=False))  # last: its presence means the table is complete
    return path


def read_table(path: str | Path):
    """A table.csv (give the file or its folder; any CSV table works) as a pandas DataFrame."""
    path = Path(path)
    return read_csv_table(path / TABLE if path.is_dir() else path, text=("point_id",))


def read_table_info(folder: str | Path) -> dict[str, Any] | None:
    """A table folder's sweep.json (name, description, source, keys, quick, points), or None if it has none;
    one that is not what :func:`write_table` writes (an object naming the sweep and listing its swept keys)
    is one :class:`DataError` line."""
    path = Path(folder) / SWEEP_INFO
    if not path.is_file():
        return None
    info = read_json(path, error=DataError)
    keys = info.get("keys") if isinstance(info, dict) else None
    if not (isinstance(info, dict) and isinstance(info.get("name"), str) and isinstance(keys, list)
            and all(isinstance(k, str) for k in keys)):
        raise DataError(f"{path}: not a sweep's record (expected an object with the sweep's name and a list of its "
                        "swept keys, as `ampsim sweep` writes it); move it away (the sweep writes it again)")
    return info

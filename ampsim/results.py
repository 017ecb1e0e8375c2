"""Run folders and tables of runs, written so that an interrupted run loses nothing finished.

Layout of ``results/<run>/``:

* ``config.toml`` — the resolved experiment (every default filled in); ``ampsim train`` accepts it back.
* ``metrics.csv`` — one row per epoch: ``epoch, instances, time_s, wall_s, train_loss, <metric>``.
  ``time_s`` is the executor's clock (wall seconds, or simulated seconds for the simulator). Rows are
  appended and flushed as each epoch ends.
* ``summary.json`` — final and best metric, time to target, throughput, executor extras (utilization,
  staleness, memory). Written atomically (temporary file + rename), so it is either whole or absent.

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
import json
import math
import os
from pathlib import Path
from typing import Any

from ampsim.errors import AmpsimError

__all__ = ["RunDir", "atomic_write", "write_json", "read_metrics", "read_summary", "METRIC_COLUMNS",
           "summary_columns", "cell", "table_row", "write_table", "read_table", "read_table_info"]


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


class RunDir:
    """A results folder being written. Create it, write the config, append metric rows, then the summary."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AmpsimError(f"cannot create the run folder {self.path}: {e.strerror or e}") from None
        self.metrics_path = self.path / "metrics.csv"
        self.metrics_path.unlink(missing_ok=True)
        (self.path / "summary.json").unlink(missing_ok=True)
        self._columns: list[str] | None = None

    def write_config(self, toml_text: str) -> None:
        atomic_write(self.path / "config.toml", toml_text)

    def append_metrics(self, row: dict) -> None:
        new = self._columns is None
        if new:
            self._columns = list(row)
        with open(self.metrics_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._columns)
            if new:
                w.writeheader()
            w.writerow({k: _fmt(row.get(k)) for k in self._columns})

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / "summary.json", summary)

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.path / name, obj)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else v


def read_metrics(path: str | Path):
    """A run's metrics table as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(path) / "metrics.csv")


def read_summary(path: str | Path) -> dict:
    return json.loads((Path(path) / "summary.json").read_text())


# -- tables of runs ----------------------------------------------------------------------------------
#: Summary columns of ``table.csv`` after the swept keys (see :func:`summary_columns`).
METRIC_COLUMNS = (
    "label", "metric", "final_metric", "best_metric", "target", "time_to_target_s", "epochs_to_target",
    "epochs", "instances", "time_s", "time_unit", "throughput", "staleness_mean", "staleness_max",
    "chip_util_mean", "chip_util_max", "chip_util_min", "link_util_mean", "link_util_max", "n_chips",
    "hardware", "executor", "point_id",
)


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
    import pandas as pd

    path = Path(path)
    return pd.read_csv(path / "table.csv" if path.is_dir() else path)


def read_table_info(folder: str | Path) -> dict[str, Any] | None:
    """A table folder's sweep.json (name, description, source, keys, quick, points), or None if it has none."""
    path = Path(folder) / "sweep.json"
    return json.loads(path.read_text()) if path.is_file() else None

"""The run folder: one directory per run, written so that an interrupted run loses nothing finished.

Layout of ``results/<run>/``:

* ``config.toml`` — the resolved experiment (every default filled in); ``ampsim train`` accepts it back.
* ``metrics.csv`` — one row per epoch: ``epoch, instances, time_s, wall_s, train_loss, <metric>``.
  ``time_s`` is the executor's clock (wall seconds, or simulated seconds for the simulator). Rows are
  appended and flushed as each epoch ends.
* ``summary.json`` — final and best metric, time to target, throughput, executor extras (utilization,
  staleness, memory). Written atomically (temporary file + rename), so it is either whole or absent.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from ampsim.errors import AmpsimError


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

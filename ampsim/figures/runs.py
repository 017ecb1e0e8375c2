"""Curves of run folders (``ampsim plot RUN_DIR...``): a metrics.csv column against another, a line per run.

Its axis labels are the sweep figures' (:mod:`ampsim.figures.labels`), the time axis named after the runs' clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ampsim import runfiles
from ampsim.errors import ConfigError
from ampsim.figures.canvas import pyplot, save_image
from ampsim.figures.labels import axis_label, mixed_clocks
from ampsim.figures.lines import check_log_values, check_numeric
from ampsim.runread import read_metrics, read_summary

__all__ = ["plot_runs", "run_summary"]

def run_summary(run: str | Path, missing_ok: bool = True) -> dict:
    """A run folder's summary.json as a dict, ``{}`` if it has none (a run that did not finish) and
    ``missing_ok``; a DataError naming the file if it is unreadable or not a JSON object."""
    if missing_ok and not (Path(run) / runfiles.SUMMARY).exists():
        return {}
    return read_summary(run)


def plot_runs(runs: Sequence[str | Path], x: str, y: str, out: str | Path, *,
              labels: Sequence[str] | None = None, title: str = "", logx: bool = False) -> Path:
    """One line per run: ``y`` against ``x`` from each run's metrics.csv, written as
    :func:`~ampsim.figures.canvas.save_image` does.

    Raises ConfigError naming the file and its columns if a run's metrics.csv has no column ``x`` or ``y``, or
    ``y`` holds no value (a replay measures no metric; a run cut short before its first row), if the runs' times
    are of different clocks (simulated and wall seconds on one axis), and DataError if a cell of them is not a
    number or a summary.json is not a JSON object."""
    tables = [read_metrics(run) for run in runs]  # every table read and checked before anything is drawn
    summaries = [run_summary(run) for run in runs]
    for run, df, summary in zip(runs, tables, summaries):
        where = Path(run) / runfiles.METRICS
        for col in (x, y):
            if col not in df.columns:
                raise ConfigError(f"{where}: no column {col!r} (columns: {', '.join(df.columns)})")
            check_numeric(df, col, where)
        if logx:
            check_log_values(df, x, "x", f"{where}: ")
        if not (df[y].astype(float).abs() < float("inf")).any():  # (an empty figure was saved, exit 0: inf too)
            why = ("a replay measures no metric" if summary.get("numerics") is False else "no rows" if df.empty
                   else "its cells are empty or infinite")
            raise ConfigError(f"{where}: column {y!r} holds no value ({why}); plot another --y")
    units = {s.get("time_unit") for s in summaries} - {None}
    if why := mixed_clocks((x, y), units, "these runs"):  # (the axis was named after the last run's clock)
        raise ConfigError(why)
    fig, ax = pyplot().subplots(figsize=(5.5, 3.8), dpi=110)
    time_unit = next(iter(units), None)
    for i, run in enumerate(runs):
        df = tables[i].dropna(subset=[y])
        label = labels[i] if labels else Path(run).name
        ax.plot(df[x], df[y], marker="o", markersize=3, label=label)
    ax.set_xlabel(axis_label(x, time_unit))
    ax.set_ylabel(axis_label(y))
    if logx:
        ax.set_xscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_image(fig, out)


"""Reading run folders back: a run's ``metrics.csv`` and ``summary.json``, and any CSV table, each checked to be
as its writer (:class:`ampsim.results.RunDir`, :func:`ampsim.tables.write_table`) wrote it; what is not is one
:class:`~ampsim.errors.DataError` line naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

from ampsim.errors import DataError, shown
from ampsim.files import read_json, read_text
from ampsim.runfiles import CONFIG, METRICS, SUMMARY, metrics_columns

__all__ = ["read_csv_table", "read_metrics", "check_epoch_rows", "read_summary", "check_config_of_run", "config_unsaid",
           "CONFIG_IN_SUMMARY", "NUMBERS", "TEXTS"]

log = logging.getLogger(__name__)


def read_csv_table(path: Path, text: tuple[str, ...] = (), *, line_ends: bool = False):
    """A CSV table as a DataFrame, the columns ``text`` as text whatever they look like (a point id of digits
    read as a number lost its leading zero); a file that is missing, unreadable or not a table is one
    DataError line. ``line_ends``: its writer ends every row with a line end (a run's metrics.csv), so a file
    that does not end with one was cut inside its last row, whose last cell read as another value (0.98 as 0.9)."""
    import pandas as pd

    content = read_text(path, error=DataError)
    if line_ends and content and not content.endswith("\n"):
        raise DataError(f"{path}: its last line has no line end, so it was cut off inside a row (as written, every "
                        "row ends with one); copy the run again, or run it again")
    _check_row_widths(path, content)
    try:  # index_col=False: rows one field wider than the header made the first column an index (all shifted)
        df = pd.read_csv(io.StringIO(content), dtype=dict.fromkeys(text, str), index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        cause = (str(e).strip().splitlines() or ["empty"])[0]
        raise DataError(f"{path}: not a CSV table ({cause})") from None
    for col in df.columns.difference(list(text)):  # (a number cell beyond 64 bits, 10**30, made its column text:
        cells = df[col].dropna()  # a figure's mean of it was a TypeError traceback; booleans stay as they are)
        if (not pd.api.types.is_numeric_dtype(cells) and len(cells) and not any(isinstance(v, bool) for v in cells)
                and pd.to_numeric(cells, errors="coerce").notna().all()):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def _check_row_widths(path: Path, content: str) -> None:
    """One DataError line naming a column named twice, or the first row with more or fewer fields than the header
    (pandas drops a trailing field without a word, fills a short row with empty cells: the columns were misread)."""
    try:
        reader = csv.reader(io.StringIO(content))
        header = next((row for row in reader if row), [])  # (blank lines are skipped, as pandas does)
        seen: set[str] = set()  # (a column twice: pandas read the second as "c.1", and plot drew the first alone)
        if (dup := next((c for c in header if c and (c in seen or seen.add(c))), None)) is not None:
            raise DataError(f"{path}: column {dup!r} is in the header twice; not a table as written (which one?)")
        for row in reader:
            if row and len(row) != len(header):
                raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields, the header "
                                f"{len(header)}; not a table as written (a field added or lost?)")
    except csv.Error as e:  # (pandas says what it makes of such a file)
        log.debug("%s: %s", path, e)


def read_metrics(path: str | Path, *, none_ran: bool = False):
    """A run's (folder ``path``'s) metrics table as a pandas DataFrame: a row per epoch, as many as its
    summary.json counts where it has one (:func:`check_epoch_rows`). ``none_ran``: a finished run that stopped
    before its first epoch ended (a sweep's point that diverged or ran out of chip memory: no metrics.csv, and
    0 epochs in its summary) is a table of no rows, with the columns a run writes; else that is a DataError."""
    if none_ran and not os.path.lexists(Path(path) / METRICS) and os.path.isfile(Path(path) / SUMMARY):
        summary = read_summary(path)
        if summary.get("epochs") == 0 and isinstance(metric := summary.get("metric"), str):
            import pandas as pd

            return pd.DataFrame(columns=metrics_columns(metric, simulated=summary.get("time_unit") == "simulated"))
    df = read_csv_table(Path(path) / METRICS, line_ends=True)  # (RunDir.append_metrics: csv's \r\n after each)
    check_epoch_rows(path, len(df))
    return df


def check_epoch_rows(path: str | Path, rows: int) -> None:
    """One DataError line where the finished run in folder ``path`` has other than ``rows`` rows of metrics, as its
    summary.json counts them (``epochs``): cut at the end of a row, metrics.csv read as a shorter run, as valid.

    The run appends a row as each epoch ends and its summary counts those rows, a run that stopped early (diverged,
    out of chip memory) too (:func:`ampsim.training.run_training`); an unfinished run (its partial folder) has no
    summary, and a summary without a whole number of epochs (edited: its own readers say so) nothing to count."""
    if not os.path.isfile(Path(path) / SUMMARY):
        return
    epochs = read_summary(path).get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs != rows:
        raise DataError(f"{Path(path) / METRICS}: {rows} row{'s' if rows != 1 else ''} of metrics, but the run had "
                        f"{epochs} epoch{'s' if epochs != 1 else ''} (its {SUMMARY}), a row each: cut short or edited "
                        "since it was written; copy the run again, or run it again")


def read_summary(path: str | Path) -> dict:
    """A run's summary.json as a dict (anything else in it is a DataError naming the file)."""
    summary = read_json(Path(path) / SUMMARY, error=DataError)
    if not isinstance(summary, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(summary), "a number")
        raise DataError(f"{Path(path) / SUMMARY}: expected a JSON object, got {kind}")
    _check_computed(summary, Path(path) / SUMMARY)
    return summary


def _check_computed(summary: dict, path: Path) -> None:
    """One line naming the key where a value the tables and figures compute with is not as a run writes it
    (a hand-edited file): ``time_to_target`` and each ``staleness`` entry objects of numbers (an entry that counts
    backward steps: with its mean and max), ``chip_utilization`` a list of numbers, ``link_utilization`` an object of
    numbers (never null: a run writes every one of them)."""
    def number(v: Any) -> bool:
        return v is None or measured(v)

    def measured(v: Any) -> bool:  # (a run writes these always: a table sums them, and a null was a TypeError)
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def node_staleness(e: Any) -> bool:  # (an entry with backward steps has their mean and max: the table's)
        return isinstance(e, dict) and number(e.get("count")) and (
            all(measured(e.get(k)) for k in ("mean", "max")) if e.get("count") else
            all(number(e.get(k)) for k in ("mean", "max")))

    ttt, stale = summary.get("time_to_target"), summary.get("staleness") or {}
    chips, links = summary.get("chip_utilization") or [], summary.get("link_utilization") or {}
    for key, ok in (("time_to_target", ttt is None or isinstance(ttt, dict) and number(ttt.get("time_s"))
                     and number(ttt.get("epoch"))),
                    ("staleness", isinstance(stale, dict) and all(node_staleness(e) for e in stale.values())),
                    ("chip_utilization", isinstance(chips, list) and all(measured(u) for u in chips)),
                    ("link_utilization", isinstance(links, dict) and all(measured(u) for u in links.values()))):
        if not ok:
            raise DataError(f"{path}: {key}: not as a run writes it ({json.dumps(summary.get(key))[:60]}); "
                            "the run's folder was edited: run it again")
    # (a table took "fast" as a throughput; a list as time_unit or metric was a TypeError traceback in plot)
    for key, ok, kind in [*((k, number, "a number") for k in NUMBERS),
                          *((k, lambda v: isinstance(v, (str, type(None))), "a string") for k in TEXTS)]:
        if not ok(summary.get(key)):
            raise DataError(f"{path}: {key}: not as a run writes it ({json.dumps(summary.get(key))[:60]}: {kind} "
                            "or null); the run's folder was edited: run it again")


def check_config_of_run(path: str | Path, cfg: Any, summary: dict) -> None:
    """One DataError line, naming the run's ``config.toml`` (read as ``cfg``), where it does not say what the run's
    ``summary`` records of it (:func:`config_unsaid`): its experiment, task, executor and target, and at least the
    epochs it ran. Cut at the end of a line (a copy or a disk that filled), the file is TOML still, every key after
    the cut at its default: read back, it was another run's configuration, which trained again to another run."""
    if (unsaid := config_unsaid(cfg, summary)) is None:  # (no per_epoch: reading a run back builds no task)
        return
    key, value, recorded = unsaid
    if key == "train.epochs":
        _not_the_runs(path, f"{key}: {value}, but its {SUMMARY} records {recorded} epochs run")
    else:
        _not_the_runs(path, f"{key}: {shown(value)}, but its {SUMMARY} records {shown(recorded)}")


#: what a run's summary records of the configuration it ran: (its config.toml's key, the summary's), in the file's
#: order, so that the first key a cut at a line's end lost is the one named
CONFIG_IN_SUMMARY = (("experiment.name", "experiment"), ("experiment.task", "task"), ("train.epochs", "epochs"),
                     ("train.target", "target"), ("executor.kind", "executor"))


def config_unsaid(cfg: Any, summary: dict, per_epoch: int | None = None,
                  skip: tuple[str, ...] = ()) -> tuple[str, Any, Any] | None:
    """The first thing (in the file's order) that a run's ``summary`` records of its configuration and ``cfg`` (its
    ``config.toml``, read) does not say, as (the key, what ``cfg`` says, what ``summary`` records); None where it
    says all of it. Checked: each of :data:`CONFIG_IN_SUMMARY` the summary records, but ``skip``'s, the same (a summary
    records a target of 0 as null), except ``train.epochs``, of which a run may run fewer (it stopped early: it
    diverged, or ran out of memory), not more; with ``per_epoch`` (``cfg``'s instances an epoch,
    :func:`ampsim.muf.instances_per_epoch`, which takes the task), ``"instances"``, before the target as
    ``train.max_instances`` is, where the summary's instances are not ``per_epoch`` for each epoch it ran:
    (``per_epoch``, (its instances, its epochs)).

    >>> from types import SimpleNamespace as S
    >>> cfg = S(experiment=S(name="a", task="t"), train=S(epochs=2, target=0), executor=S(kind="sim"))
    >>> config_unsaid(cfg, {"experiment": "a", "epochs": 1, "target": None, "executor": "sim"}) is None
    True
    >>> config_unsaid(cfg, {"epochs": 3}), config_unsaid(cfg, {"epochs": 2, "instances": 90}, per_epoch=50)
    (('train.epochs', 2, 3), ('instances', 50, (90, 2)))
    """
    said = {key: getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1]) for key, _ in CONFIG_IN_SUMMARY}
    said["train.target"] = said["train.target"] or None  # (as a summary records it)
    epochs, instances = summary.get("epochs"), summary.get("instances")
    for key, name in CONFIG_IN_SUMMARY:
        # (the instances an epoch: data.n_train's and train.max_instances', both above train.target in the file)
        if key == "train.target" and per_epoch and isinstance(epochs, int) and instances != per_epoch * epochs:
            return "instances", per_epoch, (instances, epochs)
        if key in skip or name not in summary:
            continue
        if key == "train.epochs":  # (the epochs it ran: fewer where it stopped early, diverged or out of memory)
            if isinstance(epochs, int) and epochs > said[key]:
                return key, said[key], epochs
        elif summary[name] != said[key]:
            return key, said[key], summary[name]
    return None


def _not_the_runs(path: str | Path, why: str) -> None:
    raise DataError(f"{Path(path) / CONFIG}: {why}: cut short or edited since the run wrote it; copy the run again, "
                    "or run it again")


#: the summary's values that go into a table's columns as they are: numbers, and text (a metrics.csv column,
#: a clock: TEXTS), or null where not measured
NUMBERS = ("final_metric", "best_metric", "target", "epochs", "instances", "time_s", "throughput_instances_per_s",
           "n_chips", "sync_rounds", "sync_time_s", "replica_drift")
TEXTS = ("metric", "time_unit", "executor", "hardware")

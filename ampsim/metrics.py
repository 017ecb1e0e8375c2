"""Turning node reports into numbers: training loss, the validation metric, time to target."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from ampsim.ir.node import Report
from ampsim.models.base import Metric

__all__ = ["mean_loss", "metric_value", "staleness_report", "staleness_stats", "time_to_target"]


def mean_loss(reports: Iterable[Report]) -> float:
    """Loss per labelled row, over every loss node (NaN if nothing was reported)."""
    loss = n = 0.0
    for r in reports:
        loss += r.values["loss"]
        n += r.values["n"]
    return loss / n if n else float("nan")


def metric_value(reports: Iterable[Report], metric: Metric) -> float:
    """The validation metric over ``reports``: ``metric.scale * sum(num) / sum(den)`` of the values that
    ``metric.node`` reported (other nodes' reports are ignored); NaN if that node reported nothing.

    Examples
    --------
    >>> from ampsim.ir.node import Report
    >>> from ampsim.models.base import Metric
    >>> accuracy = Metric("test_accuracy", node="loss", num="correct")  # den: "n", the rows
    >>> reports = [Report("loss", 0, (), {"loss": 20.0, "n": 32, "correct": 24}),
    ...            Report("loss", 1, (), {"loss": 15.0, "n": 32, "correct": 28})]
    >>> metric_value(reports, accuracy)  # 52 of 64 rows right
    0.8125
    >>> metric_value([], accuracy)
    nan
    """
    num = den = 0.0
    for r in reports:
        if r.node == metric.node:
            num += r.values[metric.num]
            den += r.values[metric.den]
    return metric.scale * num / den if den else float("nan")


def reached(value: float, target: float, higher_is_better: bool) -> bool:
    """Whether a metric ``value`` meets ``target``: at least it where higher is better, at most it otherwise
    (NaN never does).

    Examples
    --------
    >>> reached(0.9, 0.9, higher_is_better=True)  # an accuracy of 90 % reaches 90 %
    True
    >>> reached(0.12, 0.1, higher_is_better=False)  # an error of 0.12 does not reach 0.1
    False
    """
    return value >= target if higher_is_better else value <= target


def time_to_target(rows: Sequence[dict], column: str, target: float, higher_is_better: bool,
                   time_column: str = "time_s") -> dict | None:
    """The first of the metrics ``rows`` (one per evaluation, in order) whose ``column`` reaches ``target``
    (:func:`reached`; rows without the value, or with NaN, are skipped): its epoch, instances and time in
    seconds (its ``time_column``), or None if no row reaches it.

    Examples
    --------
    >>> rows = [{"epoch": 1, "instances": 600, "time_s": 0.5, "test_accuracy": 0.81},
    ...         {"epoch": 2, "instances": 1200, "time_s": 1.0, "test_accuracy": float("nan")},
    ...         {"epoch": 3, "instances": 1800, "time_s": 1.5, "test_accuracy": 0.93}]
    >>> time_to_target(rows, "test_accuracy", 0.9, higher_is_better=True)
    {'epoch': 3, 'instances': 1800, 'time_s': 1.5}
    >>> time_to_target(rows, "test_accuracy", 0.95, higher_is_better=True) is None
    True
    """
    for row in rows:
        v = row.get(column)
        if v is not None and v == v and reached(v, target, higher_is_better):
            return {"epoch": row["epoch"], "instances": row["instances"], "time_s": row[time_column]}
    return None


def staleness_report(nodes, measured: bool = True) -> dict:
    """Per parameterized node: the staleness its backwards saw, the staleness each instance's gradient
    had when an update applied it (None when the run did not measure it: a replay), and the most bytes
    of parameter versions weight stashing kept at once. Written with a run as ``staleness.json``."""
    return {n.name: {"backward": staleness_stats(n.staleness),
                     "per_update": staleness_stats(n.update_staleness) if measured else None,
                     "stash_peak_bytes": n.stash_peak_bytes} for n in nodes}


def staleness_stats(hist: Counter) -> dict:
    """Mean, max and histogram of a staleness counter (updates between forward and backward)."""
    n = sum(hist.values())
    if not n:
        return {"mean": 0.0, "max": 0, "count": 0, "histogram": {}}
    return {"mean": sum(k * v for k, v in hist.items()) / n, "max": max(hist), "count": n,
            "histogram": {str(k): hist[k] for k in sorted(hist)}}

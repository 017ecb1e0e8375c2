"""Turning node reports into numbers: training loss, the validation metric, time to target."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from ampsim.ir.node import Report
from ampsim.models.base import Metric


def mean_loss(reports: Iterable[Report]) -> float:
    """Loss per labelled row, over every loss node (NaN if nothing was reported)."""
    loss = n = 0.0
    for r in reports:
        loss += r.values["loss"]
        n += r.values["n"]
    return loss / n if n else float("nan")


def metric_value(reports: Iterable[Report], metric: Metric) -> float:
    num = den = 0.0
    for r in reports:
        if r.node == metric.node:
            num += r.values[metric.num]
            den += r.values[metric.den]
    return metric.scale * num / den if den else float("nan")


def reached(value: float, target: float, higher_is_better: bool) -> bool:
    return value >= target if higher_is_better else value <= target


def time_to_target(rows: Sequence[dict], column: str, target: float, higher_is_better: bool,
                   time_column: str = "time_s") -> dict | None:
    """The first metrics row whose ``column`` reaches ``target``: its epoch, instances and time."""
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

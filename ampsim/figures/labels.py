"""Words on figures: axis labels with units, legend entries and compact values.

Every axis of a figure gets a label with its unit (:func:`axis_label`), every line or bar a legend entry
(:func:`legend_label`); these are the only places that turn keys and values into text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LABELS", "LEGEND_NAMES", "CLOCKED", "axis_label", "mixed_clocks", "short_value", "legend_label"]

#: Axis labels (with units) of well-known keys and table columns; others are derived by :func:`axis_label`.
LABELS = {
    "train.mak": "mak (max. instances in flight)",
    "train.muf": "muf (instances per update)",
    "train.lr": "learning rate",
    "experiment.seed": "seed",
    "hardware.link.bandwidth_bytes_per_s": "link bandwidth (bytes/s)",
    "hardware.link.latency_s": "link latency (s)",
    "hardware.chip.flops_per_s": "chip compute rate (FLOP/s)",
    "hardware.chip.mem_bandwidth_bytes_per_s": "chip memory bandwidth (bytes/s)",
    "hardware.chip.overhead_s": "per-message overhead (s)",
    "hardware.host.completion_latency_s": "controller round trip (s)",
    "hardware.topology.kind": "topology",
    "placement.strategy": "placement strategy",
    "executor.hardware": "hardware model",
    "executor.kind": "executor",
    "n_chips": "number of chips",
    "epoch": "epoch",
    "instances": "instances trained",
    "wall_s": "wall-clock time (s)",
    "epochs_to_target": "epochs to target",
    "staleness_mean": "mean staleness (updates between fwd and bwd)",
    "staleness_max": "max. staleness (updates)",
    "chip_util_mean": "mean chip utilization (fraction busy)",
    "chip_util_max": "max. chip utilization (fraction busy)",
    "link_util_mean": "mean link utilization (fraction busy)",
    "link_util_max": "max. link utilization (fraction busy)",
    "train_loss": "training loss (per example)",
}

#: Short legend names of well-known keys ("" = the value alone).
LEGEND_NAMES = {
    "hardware.link.bandwidth_bytes_per_s": "link B/s", "hardware.link.latency_s": "link latency s",
    "hardware.chip.flops_per_s": "chip FLOP/s", "placement.strategy": "", "executor.hardware": "",
    "hardware.topology.kind": "", "executor.kind": "", "hardware.topology": "topology",
}


def axis_label(key: str, time_unit: str | None = None, metric: str | None = None) -> str:
    """A readable axis label with its unit for a swept key, table column or metrics column."""
    clock = "simulated " if time_unit == "simulated" else ("wall-clock " if time_unit == "wall" else "")
    if key in ("time_s",):
        return f"{clock}time (s)"
    if key == "time_to_target_s":
        return f"time to target ({clock}s)"
    if key == "throughput":
        return f"throughput (instances per {clock}s)"
    if key in ("metric", "final_metric", "best_metric"):
        name = (metric or "validation metric").replace("_", " ")
        prefix = {"final_metric": "final ", "best_metric": "best "}.get(key, "")
        return f"{prefix}{name}{' (fraction)' if 'accuracy' in name else ''}"
    if key in LABELS:
        return LABELS[key]
    last = key.split(".")[-1]
    for suffix, unit in (("_bytes_per_s", "bytes/s"), ("flops_per_s", "FLOP/s"), ("_bytes", "bytes"),
                         ("_s", "s")):
        if last.endswith(suffix):
            return f"{last[: -len(suffix)].replace('_', ' ') or last} ({unit})"
    return last.replace("_", " ")


#: Axes measured in the run's clock (``time_unit``: simulated or wall-clock seconds), labelled by it.
CLOCKED = ("time_s", "time_to_target_s", "throughput")


def mixed_clocks(axes: tuple[str | None, ...], units: Any, of: str) -> str | None:
    """Why a drawing of ``axes`` over runs of the clocks ``units`` would mislead (its axis is labelled with one
    clock, and draws both), or None: one clock, or no axis of :data:`CLOCKED`. ``of``: the runs, in words.

    >>> mixed_clocks(("time_s", "metric"), ["simulated", "wall", None], "these runs")  # doctest: +ELLIPSIS
    'time_s is simulated seconds in some of these runs and wall-clock seconds in others; plot them apart, ...'
    >>> mixed_clocks(("epoch", "metric"), ["simulated", "wall"], "these runs") is None
    True
    """
    clocked = [a for a in axes if a in CLOCKED]
    found = sorted({u for u in units if isinstance(u, str)})
    if not clocked or len(found) < 2:
        return None
    words = {"simulated": "simulated seconds", "wall": "wall-clock seconds"}
    first, other = (words.get(u, u) for u in found[:2])
    return (f"{clocked[0]} is {first} in some of {of} and {other} in others; plot them apart, or against epoch or "
            "instances")


def short_value(v: Any) -> str:
    """A legend-friendly value: hardware files by stem, floats compactly, JSON tables as written."""
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:g}"
    s = str(v)
    if s.endswith(".toml"):
        return Path(s).stem
    return s


def legend_label(keys: tuple[str, ...], values: tuple, label: Any = None) -> str:
    """A point's ``label`` if it has one, else ``mak=8, link B/s=1e+09``-style text."""
    if isinstance(label, str) and label:
        return label
    if not keys:
        return "all points"
    parts = []
    for k, v in zip(keys, values):
        name = LEGEND_NAMES.get(k, k.split(".")[-1])
        parts.append(f"{name}={short_value(v)}" if name else short_value(v))
    return ", ".join(parts)

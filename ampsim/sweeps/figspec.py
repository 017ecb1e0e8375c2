"""The ``[[figure]]`` tables of a sweep file: which figures a sweep declares, validated with the sweep.

A figure table::

    [[figure]]
    name = "ttt_vs_bandwidth"        # file name: <figures dir>/<name>.png and .pdf
    kind = "xy"                      # curves | xy | bar | heatmap | timeline
    x = "hardware.link.bandwidth_bytes_per_s"
    y = "time_to_target_s"
    hue = ["train.mak"]              # one line (or bar colour) per value; a string is one key
    where = { "train.muf" = 1 }      # keep only these rows of the table
    logx = true                      # a log axis: every value drawn on it must be > 0 (else one error line)
    title = "..."
    legend = "outside"               # where the legend goes: "best" (default: inside, where it covers least)
                                     # or "outside" (right of the axes, covering nothing)

Kinds:

* ``curves`` — each point's metrics.csv: ``y`` (``metric`` = the run's validation metric, or
  ``train_loss``) against ``x`` (``epoch``, ``instances`` or ``time_s``), averaged over seeds per epoch.
  Lines are grouped by ``hue`` (default: every swept key but the seed); a line whose points share one
  ``label`` is named by it, else by its hue values (one point's label would misname the mean of several).
* ``xy`` — a table column against another, one line per ``hue`` value, mean over seeds with min-max bars;
  both hold numbers, and a row with a ``y`` value has an ``x`` (else one error line naming the row).
* ``bar`` — a table column per category of ``x``, grouped by ``hue``; empty ``x`` cells are one category
  (``n/a``), as empty ``hue`` cells are one group.
* ``heatmap`` / ``timeline`` — utilization per chip and link, and the trace of one run (with
  ``window``, the fraction of the run shown, and ``links``, whether link rows are drawn).

A key the kind does not read (``window`` or ``links`` but on a timeline; ``x``, ``hue``, ``xlabel``, ``ylabel``
or ``legend`` on a heatmap; ``x``, ``y``, ``hue`` or ``legend`` on a timeline) is one error line, as a log axis
the kind has not.

This module is the format only: :func:`parse_figures` turns the tables into :class:`FigureSpec` (one
:class:`~ampsim.errors.ConfigError` line per mistake, naming the file and the field), so that
:func:`ampsim.sweeps.spec.load_sweep` rejects a bad figure before any point runs. Drawing them is
:mod:`ampsim.figures`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ampsim.errors import ConfigError
from ampsim.fieldspec import unknown_key
from ampsim.outputs import check_folder_name
from ampsim.tables import METRIC_COLUMNS, TEXT_COLUMNS

__all__ = ["FigureSpec", "parse_figures", "KINDS", "CURVE_X", "LEGEND_PLACES"]

KINDS = ("curves", "xy", "bar", "heatmap", "timeline")
CURVE_X = ("epoch", "instances", "time_s")
#: where a curves, xy or bar figure's legend goes: matplotlib's "best" place inside the axes (which may still
#: cover a point where the lines fill the plot), or outside them on the right
LEGEND_PLACES = ("best", "outside")
_FIG_KEYS = ("name", "kind", "x", "y", "hue", "where", "logx", "logy", "title", "xlabel", "ylabel", "window",
             "links", "legend")
#: Sections whose keys a figure's ``hue`` or ``where`` may name only if the sweep varies them (the table
#: has a column for swept keys only; a typo here would otherwise surface after the whole sweep ran).
_SWEPT_SECTIONS = ("train", "model", "data", "eval", "executor", "placement", "replicas", "experiment")
#: the log axes a kind of figure cannot draw, and why
_NO_LOG = {"bar": ("logx",), "heatmap": ("logx", "logy"), "timeline": ("logx", "logy")}
_NO_LOG_WHY = {"bar": "its x is categories", "heatmap": "chips, links and a key's values",
               "timeline": "a time axis and a row per chip or link"}
#: the keys a kind of figure does not read (its drawing ignored them without a word: window = 0.1 on an xy figure)
_UNREAD = {"curves": ("window", "links"), "xy": ("window", "links"), "bar": ("window", "links"),
           "heatmap": ("x", "hue", "xlabel", "ylabel", "window", "links", "legend"),
           "timeline": ("x", "y", "hue", "legend")}


@dataclass(frozen=True)
class FigureSpec:
    """One declared figure (validated by :func:`parse_figures`)."""

    name: str
    kind: str
    x: str = ""
    y: str = ""
    hue: tuple[str, ...] | None = None
    where: dict = field(default_factory=dict)
    logx: bool = False
    logy: bool = False
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    #: the fraction of the run a timeline shows, in (0, 1] (the TOML key ``window``)
    window_fraction: float = 1.0
    links: bool | None = None
    legend: str = "best"  # one of LEGEND_PLACES


def parse_figures(raw: Any, source: str, keys: list[str]) -> list[FigureSpec]:
    """Validate the ``[[figure]]`` tables of a sweep file (``keys``: its swept keys)."""
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise ConfigError(f"{source}: figure: must be an array of tables ([[figure]])")
    out: list[FigureSpec] = []
    for i, f in enumerate(raw):
        where = f"{source}: figure[{i}]"
        for k in f:
            if k not in _FIG_KEYS:
                raise ConfigError(f"{where}.{k}: {unknown_key(k, _FIG_KEYS)}")
        name, kind = f.get("name"), f.get("kind")
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError(f"{where}.name: required, a file name without folders")
        check_folder_name(name, f"{where}.name", under="the figures folder")  # (no NUL, newline, '..')
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
        for k in ("x", "y"):
            if not isinstance(f.get(k, ""), str):
                raise ConfigError(f"{where}.{k}: expected a column's name, got {f[k]!r}")
        hue = f.get("hue")
        if isinstance(hue, str):
            hue = [hue]
        if hue is not None and not (isinstance(hue, list) and all(isinstance(h, str) for h in hue)):
            raise ConfigError(f"{where}.hue: expected a key or an array of keys")
        if not isinstance(f.get("where", {}), dict):
            raise ConfigError(f"{where}.where: expected a table of key = value")
        if kind == "curves" and f.get("x", "epoch") not in CURVE_X:
            raise ConfigError(f"{where}.x: curves are drawn against one of {', '.join(CURVE_X)}")
        if kind in ("xy", "bar") and not (f.get("x") and f.get("y")):
            raise ConfigError(f"{where}: kind {kind!r} needs x and y")
        if kind in ("xy", "bar") and f["y"] in TEXT_COLUMNS:  # averaged over seeds: a number
            raise ConfigError(f"{where}.y: {f['y']!r} is a text column of the table; y must be a number "
                              "(e.g. throughput, final_metric)")
        for k in ("x", "y") if kind in ("xy", "bar") else ():  # a typo would surface after the whole sweep ran
            if not (f[k] in METRIC_COLUMNS or _swept(f[k], keys)):
                raise ConfigError(f"{where}.{k}: {f[k]!r} is no column of the sweep's table (its swept keys: "
                                  f"{', '.join(keys)}; or one of {', '.join(METRIC_COLUMNS)})")
        for k in (hue or []) + list(f.get("where", {})):
            if "." in k and k.split(".")[0] in _SWEPT_SECTIONS and not _swept(k, keys):
                raise ConfigError(f"{where}: {k!r} is not a swept key of this sweep ({', '.join(keys)})")
        for k in ("logx", "logy", "links"):  # (bool("false") is True: the axis was drawn log)
            if k in f and not isinstance(f[k], bool):
                raise ConfigError(f"{where}.{k}: expected true or false, got {f[k]!r}")
        for k in _NO_LOG.get(kind, ()):  # (read by no drawing: the figure came out linear without a word)
            if f.get(k):
                raise ConfigError(f"{where}.{k}: a {kind} figure has no log {k[-1]} axis ({_NO_LOG_WHY[kind]})")
        for k in ("title", "xlabel", "ylabel"):
            if not isinstance(f.get(k, ""), str):
                raise ConfigError(f"{where}.{k}: expected text, got {f[k]!r}")
        if f.get("legend", "best") not in LEGEND_PLACES:
            raise ConfigError(f"{where}.legend: must be one of {', '.join(map(repr, LEGEND_PLACES))}, "
                              f"got {f['legend']!r}")
        window = f.get("window", 1.0)
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= 1:
            raise ConfigError(f"{where}.window: a fraction of the run in (0, 1], got {window!r}")
        for k in _UNREAD[kind]:  # (after the checks of its value: a value of the wrong type is said so first)
            if k in f:
                raise ConfigError(f"{where}.{k}: a figure of kind {kind!r} does not read it; remove it")
        if name in {o.name for o in out}:
            raise ConfigError(f"{where}.name: figure {name!r} is declared twice")
        out.append(FigureSpec(name=name, kind=kind, x=f.get("x", "epoch" if kind == "curves" else ""),
                              y=f.get("y", "metric" if kind == "curves" else ""),
                              hue=tuple(hue) if hue is not None else None, where=dict(f.get("where", {})),
                              logx=f.get("logx", False), logy=f.get("logy", False),
                              title=f.get("title", ""), xlabel=f.get("xlabel", ""), ylabel=f.get("ylabel", ""),
                              window_fraction=float(window), links=f.get("links"),
                              legend=f.get("legend", "best")))
    return out


def _swept(column: str, keys: list[str]) -> bool:
    """Whether ``column`` is a column the table has for the swept ``keys`` (a key, or an entry of a whole-table
    key's value, ``hardware.topology.kind``)."""
    return any(column == k or column.startswith(k + ".") for k in keys)

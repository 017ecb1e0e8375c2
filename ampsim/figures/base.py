"""Figures declared in sweep files (``[[figure]]``), drawn from a finished sweep's folder.

A figure table::

    [[figure]]
    name = "ttt_vs_bandwidth"        # file name: <figures dir>/<name>.png and .pdf
    kind = "xy"                      # curves | xy | bar | heatmap | timeline
    x = "hardware.link.bandwidth_bytes_per_s"
    y = "time_to_target_s"
    hue = ["train.mak"]              # one line (or bar colour) per value; a string is one key
    where = { "train.muf" = 1 }      # keep only these rows of the table
    logx = true
    title = "..."

Kinds:

* ``curves`` — each point's metrics.csv: ``y`` (``metric`` = the run's validation metric, or
  ``train_loss``) against ``x`` (``epoch``, ``instances`` or ``time_s``), averaged over seeds per epoch.
  Lines are grouped by ``hue`` (default: every swept key but the seed); a point's ``label`` names its line.
* ``xy`` — a table column against another, one line per ``hue`` value, mean over seeds with min-max bars.
* ``bar`` — a table column per category of ``x``, grouped by ``hue``.
* ``heatmap`` / ``timeline`` — utilization per chip and link, and the trace of one run: see
  :mod:`ampsim.figures.trace`.

Every figure gets axis labels with units, a legend (or colour bar) and a title; an empty selection is a
:class:`~ampsim.errors.RunError`, never an empty figure. Drawing functions return the matplotlib
``Figure`` (tests inspect it); :func:`save_figure` writes PNG (≤ 300 KB at the default size) and PDF.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ampsim.errors import ConfigError, RunError

log = logging.getLogger(__name__)

KINDS = ("curves", "xy", "bar", "heatmap", "timeline")
CURVE_X = ("epoch", "instances", "time_s")
_FIG_KEYS = ("name", "kind", "x", "y", "hue", "where", "logx", "logy", "title", "xlabel", "ylabel", "window",
             "links")

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
    "hardware.topology.kind": "topology",
    "placement.strategy": "placement strategy",
    "executor.hardware": "hardware model",
    "executor.kind": "executor",
    "n_chips": "number of chips",
    "epoch": "epoch",
    "instances": "instances trained",
    "epochs_to_target": "epochs to target",
    "staleness_mean": "mean staleness (updates between fwd and bwd)",
    "staleness_max": "max. staleness (updates)",
    "chip_util_mean": "mean chip utilization (fraction busy)",
    "chip_util_max": "max. chip utilization (fraction busy)",
    "link_util_mean": "mean link utilization (fraction busy)",
    "link_util_max": "max. link utilization (fraction busy)",
    "train_loss": "training loss (per example)",
}


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
    window: float = 1.0
    links: bool | None = None


def parse_figures(raw: Any, source: str, keys: list[str]) -> list[FigureSpec]:
    """Validate the ``[[figure]]`` tables of a sweep file (``keys``: its swept keys)."""
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise ConfigError(f"{source}: figure: must be an array of tables ([[figure]])")
    out: list[FigureSpec] = []
    for i, f in enumerate(raw):
        where = f"{source}: figure[{i}]"
        for k in f:
            if k not in _FIG_KEYS:
                raise ConfigError(f"{where}.{k}: unknown key (known: {', '.join(_FIG_KEYS)})")
        name, kind = f.get("name"), f.get("kind")
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError(f"{where}.name: required, a file name without folders")
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
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
        for k in (hue or []) + list(f.get("where", {})):
            if "." in k and k.split(".")[0] in ("train", "model", "data", "eval", "executor", "placement",
                                                "experiment") and not any(k == s or k.startswith(s + ".")
                                                                          for s in keys):
                raise ConfigError(f"{where}: {k!r} is not a swept key of this sweep ({', '.join(keys)})")
        window = f.get("window", 1.0)
        if not isinstance(window, (int, float)) or not 0 < window <= 1:
            raise ConfigError(f"{where}.window: a fraction of the run in (0, 1], got {window!r}")
        if name in {o.name for o in out}:
            raise ConfigError(f"{where}.name: figure {name!r} is declared twice")
        out.append(FigureSpec(name=name, kind=kind, x=f.get("x", "epoch" if kind == "curves" else ""),
                              y=f.get("y", "metric" if kind == "curves" else ""),
                              hue=tuple(hue) if hue is not None else None, where=dict(f.get("where", {})),
                              logx=bool(f.get("logx", False)), logy=bool(f.get("logy", False)),
                              title=f.get("title", ""), xlabel=f.get("xlabel", ""), ylabel=f.get("ylabel", ""),
                              window=float(window), links=f.get("links")))
    return out


# -- labels --------------------------------------------------------------------------------------------
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


#: Short legend names of well-known keys ("" = the value alone).
LEGEND_NAMES = {
    "hardware.link.bandwidth_bytes_per_s": "link B/s", "hardware.link.latency_s": "link latency s",
    "hardware.chip.flops_per_s": "chip FLOP/s", "placement.strategy": "", "executor.hardware": "",
    "hardware.topology.kind": "", "executor.kind": "", "hardware.topology": "topology",
}


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


# -- selection -----------------------------------------------------------------------------------------
def _matches(cell: Any, want: Any) -> bool:
    wants = want if isinstance(want, list) else [want]
    for w in wants:
        try:
            if math.isclose(float(cell), float(w), rel_tol=1e-9):
                return True
        except (TypeError, ValueError):
            pass
        if str(cell) == str(w) or short_value(cell) == str(w):
            return True
    return False


def select(df, spec: FigureSpec, source: str = ""):
    """The rows of a sweep table that the figure's ``where`` keeps (a RunError if none or a column is missing)."""
    for k, want in spec.where.items():
        if k not in df.columns:
            raise RunError(f"figure {spec.name}{source}: where: no column {k!r} in the sweep table")
        df = df[[_matches(c, want) for c in df[k]]]
    if df.empty:
        raise RunError(f"figure {spec.name}{source}: no rows of the sweep table match where = {spec.where}")
    return df


def hue_keys(df, spec: FigureSpec, swept: list[str]) -> tuple[str, ...]:
    if spec.hue is not None:
        missing = [h for h in spec.hue if h not in df.columns]
        if missing:
            raise RunError(f"figure {spec.name}: hue: no column(s) {', '.join(missing)} in the sweep table")
        return spec.hue
    skip = {"experiment.seed", spec.x}
    return tuple(k for k in swept if k in df.columns and k not in skip and df[k].nunique(dropna=False) > 1)


def groups(df, keys: tuple[str, ...]) -> list[tuple[tuple, Any]]:
    """(values, sub-frame) per distinct combination of ``keys``, in the table's (sorted) order."""
    if not keys:
        return [((), df)]
    out: dict[tuple, list] = {}
    for idx, row in df.iterrows():
        out.setdefault(tuple(row[k] for k in keys), []).append(idx)
    return [(vals, df.loc[ix]) for vals, ix in out.items()]


# -- drawing -------------------------------------------------------------------------------------------
def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(size: tuple[float, float] = (6.0, 4.0)):
    """A figure with one axes at the figures' common size and resolution (PNG well under 300 KB)."""
    return pyplot().subplots(figsize=size, dpi=120)


def draw_figure(spec: FigureSpec, sweep_dir: str | Path, swept: list[str]):
    """The matplotlib Figure of ``spec`` from the sweep folder ``sweep_dir`` (its table.csv and runs)."""
    from ampsim.sweeps.run import read_table

    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "table.csv").is_file():
        raise RunError(f"figure {spec.name}: {sweep_dir}/table.csv not found (run the sweep first)")
    df = select(read_table(sweep_dir), spec)
    from ampsim.figures.lines import draw_bar, draw_curves, draw_xy

    if spec.kind == "curves":
        return draw_curves(df, sweep_dir, spec, swept)
    if spec.kind == "xy":
        return draw_xy(df, spec, swept)
    if spec.kind == "bar":
        return draw_bar(df, spec, swept)
    from ampsim.figures.trace import draw_heatmap, draw_timeline

    if spec.kind == "heatmap":
        return draw_heatmap(df, sweep_dir, spec, swept)
    return draw_timeline(df, sweep_dir, spec)


def save_figure(fig, out_stem: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``<out_stem>.png`` and ``.pdf`` (atomically) and close the figure; returns the paths."""
    import os

    plt = pyplot()
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_stem.with_name(f"{out_stem.name}.{fmt}")
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.{fmt}")
        meta = {"Title": out_stem.name} if fmt in ("png", "pdf") else None
        fig.savefig(tmp, format=fmt, metadata=meta)
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths


def draw_sweep_figures(sweep, sweep_dir: str | Path, fig_dir: str | Path) -> list[Path]:
    """Draw and save every figure a sweep declares; returns the written files."""
    written: list[Path] = []
    for spec in sweep.figures:
        fig = draw_figure(spec, sweep_dir, sweep.keys)
        written += save_figure(fig, Path(fig_dir) / spec.name)
        log.info("figure %s written", spec.name)
    return written


__all__ = ["FigureSpec", "parse_figures", "draw_figure", "draw_sweep_figures", "save_figure", "axis_label"]

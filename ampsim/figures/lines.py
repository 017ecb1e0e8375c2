"""Line and bar figures from a sweep table: ``curves`` (metrics.csv of each point), ``xy`` and ``bar``.

See :mod:`ampsim.sweeps.figspec` for the figure tables and :mod:`ampsim.figures.draw` for their contracts
(labelled axes with units, a legend, seeds averaged, an empty selection is an error). Each function is a
:class:`~ampsim.figures.draw.Drawer`: ``(rows, table folder, spec, swept keys) -> Figure``.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from ampsim import runfiles
from ampsim.errors import DataError, RunError
from ampsim.figures.canvas import new_figure
from ampsim.figures.labels import axis_label, legend_label, short_value
from ampsim.figures.selection import cell_key, groups, hue_keys
from ampsim.runread import read_metrics
from ampsim.sweeps.figspec import FigureSpec
from ampsim.tables import TABLE, stopped

log = logging.getLogger(__name__)

__all__ = ["draw_curves", "draw_xy", "draw_bar", "check_numeric", "check_log_values", "line_of", "styles"]


def styles(keys: tuple[str, ...], combos: list[tuple]) -> dict[tuple, dict]:
    """Line styles per hue combination: colour by the first key, dash pattern by the second (if any)."""
    import matplotlib as mpl

    palette = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    dashes = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P"]
    if len(keys) < 2:
        return {c: {"color": palette[i % len(palette)], "marker": markers[0]} for i, c in enumerate(combos)}
    first = list(dict.fromkeys(c[0] for c in combos))
    second = list(dict.fromkeys(c[1] for c in combos))
    return {c: {"color": palette[first.index(c[0]) % len(palette)],
                "linestyle": dashes[second.index(c[1]) % len(dashes)],
                "marker": markers[second.index(c[1]) % len(markers)]} for c in combos}


def _short_log_labels(axis, lo: float, hi: float) -> None:
    """A log axis spanning under two decades of plain-sized values labels its ticks as plain numbers (0.3, 0.4,
    1, 2): there matplotlib labels some minor ticks too, in scientific notation, and 3×10⁻¹ ran into 4×10⁻¹
    (convergence_sst_time). The same ticks are labelled; only their text is shorter. Wider axes keep powers of
    ten."""
    if not (1e-3 <= lo and hi < 100 * lo and hi <= 1e4):
        return
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # the ticks matplotlib's log formatter labels, as %g
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain(labelOnlyBase=False))
    axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _finish(fig, ax, spec: FigureSpec, xlabel: str, ylabel: str, legend_title: str = "") -> None:
    ax.set_xlabel(spec.xlabel or xlabel)
    ax.set_ylabel(spec.ylabel or ylabel)
    for axis, on, col in (("x", spec.logx, spec.x), ("y", spec.logy, spec.y)):  # (matplotlib would warn, twice)
        if on and getattr(ax.dataLim, f"interval{axis}")[1] <= 0:
            raise RunError(f"figure {spec.name}: no positive {col} values for a log axis (log{axis})")
    if spec.logx:
        ax.set_xscale("log")
        lo, hi = ax.dataLim.intervalx
        if 1 <= lo and hi <= 4096:  # counts such as mak or chips: ticks at powers of two, plain numbers
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.xaxis.set_major_locator(LogLocator(base=2))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            _short_log_labels(ax.xaxis, lo, hi)
    if spec.logy:
        ax.set_yscale("log")
        lo, hi = ax.dataLim.intervaly
        _short_log_labels(ax.yaxis, *((lo, hi) if lo > 0 else ax.get_ylim()))  # (a bar's data reach down to 0)
    title = ax.set_title(spec.title or spec.name.replace("_", " "), fontsize=10)
    ax.grid(alpha=0.3)
    if spec.legend == "outside":  # right of the axes: the figure widens by the legend's width, the axes keep theirs
        legend = ax.legend(fontsize=7, title=legend_title or None, title_fontsize=7, loc="upper left",
                           bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        fig.canvas.draw()  # (the legend's width is known once drawn)
        w, h = fig.get_size_inches()
        fig.set_size_inches(w + legend.get_window_extent().width / fig.dpi + 0.1, h)
    else:
        ax.legend(fontsize=7, title=legend_title or None, title_fontsize=7)
    fig.tight_layout()
    _fit_title(fig, title)


def _fit_title(fig, title) -> None:
    """A title wider than the room its centre leaves (twice the way to the nearer edge of the figure, less a
    1 % margin: centred over the axes, it sits right of the figure's centre by the y label) is wrapped onto lines
    of even length, one for each room's width it takes; it was cut at an edge ("... AMP vs synchronous (mean of
    see")."""
    fig.canvas.draw()
    box, edge = title.get_window_extent(), fig.bbox.width * 0.01
    centre = (box.x0 + box.x1) / 2  # (over the axes, right of the figure's centre by the y label)
    width, room = box.width, 2 * min(centre - edge, fig.bbox.width - edge - centre)
    if width <= room:
        return
    import math
    import textwrap

    text = title.get_text()
    lines = math.ceil(width / room)
    wrap = math.ceil(len(text) / lines)  # lines of even length, not a full line and a word
    while len(textwrap.wrap(text, wrap)) > lines:
        wrap += 1
    title.set_text(textwrap.fill(text, wrap))
    fig.tight_layout()


def draw_curves(df, sweep_dir: Path, spec: FigureSpec, swept: list[str]):
    """Metric (or loss) against epoch / instances / time, one line per hue group, seeds averaged."""
    import pandas as pd

    keys = hue_keys(df, spec, swept)
    fig, ax = new_figure()
    time_unit = metric = None
    drawn = 0
    gs = groups(df, keys)
    style = styles(keys, [v for v, _ in gs])
    for values, sub in gs:
        frames = []
        halted = stopped(sub)
        for i, row in sub.iterrows():
            point = sweep_dir / str(row["point_id"])
            if halted[i] and not (point / runfiles.METRICS).exists():
                continue  # it stopped (diverged, out of memory) in its first epoch: no row to draw (later: up to it)
            m = read_metrics(point)
            metric, time_unit = row["metric"], row["time_unit"]  # (the columns: draw.check_table_of checks them)
            if spec.y == "metric" and not isinstance(metric, str):  # ("metrics.csv of <point> has no column nan")
                raise DataError(f"figure {spec.name}: {sweep_dir / TABLE}: {line_of(i)} has no metric (its metric cell "
                                "is empty), which names the metrics.csv column the figure draws (y = metric)")
            y = metric if spec.y == "metric" else spec.y
            for col in dict.fromkeys(("epoch", spec.x, y)):  # (epoch: the seeds' rows are averaged by it)
                if col not in m.columns:
                    raise RunError(f"figure {spec.name}: metrics.csv of {row['point_id']} has no column {col!r}")
                check_numeric(m, col, point / runfiles.METRICS, f"figure {spec.name}: ")
            _check_log_axes(m, spec, spec.x, y, f"figure {spec.name}: {point / runfiles.METRICS}: ")
            frames.append(pd.DataFrame({"epoch": m["epoch"], "_x": m[spec.x], "_y": m[y]}).dropna())
        mean = pd.concat(frames).groupby("epoch", sort=True)[["_x", "_y"]].mean() if frames else pd.DataFrame()
        if mean.empty:
            continue
        label = legend_label(keys, values, _shared_label(sub))
        ax.plot(mean["_x"], mean["_y"], markersize=3, linewidth=1.4, label=label, **style[values])
        drawn += 1
    if not drawn:
        raise RunError(f"figure {spec.name}: no metric values to draw")
    ylab = axis_label("metric", metric=metric) if spec.y == "metric" else axis_label(spec.y)
    if spec.x == "epoch":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _finish(fig, ax, spec, axis_label(spec.x, time_unit), ylab)
    return fig


def _shared_label(sub) -> str | None:
    """The ``label`` of every row of a line's rows if they have one and the same, else None (the line is then
    named by its hue values): a line is the mean of its rows, so one row's label would misname it."""
    labels = set(sub["label"]) if "label" in sub else set()
    one = labels.pop() if len(labels) == 1 else None
    return one if isinstance(one, str) else None


def _check_cols(df, spec: FigureSpec, *cols: str) -> None:
    for c in cols:
        if c not in df.columns:
            raise RunError(f"figure {spec.name}: no column {c!r} in the sweep table")


def check_numeric(df, col: str, source: str | Path, what: str = "") -> None:
    """A DataError naming ``source`` (the table file), the column and its first cell that is not a number
    (with its line in the file: the header is line 1), if column ``col`` of ``df`` is not all numbers (or empty).
    ``what`` goes before the file name (e.g. ``figure NAME: ``)."""
    import pandas as pd

    values = df[col]
    numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    bad, why = values[values.notna() & numbers.isna()], "must hold numbers"
    if bad.empty:  # an axis spanning ±1e308 overflows matplotlib's tick arithmetic (inf is left out of a line)
        huge = numbers.abs().between(AXIS_LIMIT, float("inf"), inclusive="neither")
        bad, why = values[huge], f"must hold numbers a figure's axis can span (|v| < {AXIS_LIMIT:g})"
    if bad.empty:
        return
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    raise DataError(f"{what}{source}: column {col!r} {why}, but {line_of(bad.index[0])} has {short_cell(bad.iloc[0])}"
                    f"{more}")


def line_of(idx) -> str:
    """Where a row of a table read from CSV is in its file (the header is line 1), as an error says it."""
    import pandas as pd

    return f"line {int(idx) + 2}" if pd.api.types.is_integer(idx) else f"row {idx!r}"


def _lines_of(cells) -> str:
    """Where the first of ``cells`` (a column's offending cells, a Series) is, and how many more there are.

    >>> import pandas as pd
    >>> _lines_of(pd.Series([0.0, -1.0], index=[1, 4])), _lines_of(pd.Series([0.0], index=[1]))
    ('line 3 and 1 more', 'line 3')
    """
    return line_of(cells.index[0]) + (f" and {len(cells) - 1} more" if len(cells) > 1 else "")


def check_log_values(df, col: str, axis: str, what: str = "", source: str | Path | None = None) -> None:
    """One line if column ``col`` of ``df``, drawn on a log axis (``axis``: x or y), holds a value <= 0:
    matplotlib leaves such values out of the figure without a word. A column with no positive value is a
    RunError (no axis at all); one with some, a DataError naming ``source`` (the file), the first such
    value and its line. ``what`` goes first (e.g. ``figure NAME: ``)."""
    import pandas as pd

    values = pd.to_numeric(df[col], errors="coerce").dropna()
    bad = values[values <= 0]
    if bad.empty:
        return
    if not (values > 0).any():  # (matplotlib would warn, twice, and draw an empty axis)
        raise RunError(f"{what}no positive {col} values for a log axis (log{axis})")
    raise DataError(f"{what}{f'{source}: ' if source else ''}column {col!r} has {short_cell(bad.iloc[0])} on "
                    f"{_lines_of(bad)}: a log axis (log{axis}) shows only values > 0")


def _check_log_axes(df, spec: FigureSpec, x: str, y: str, what: str, source: Path | None = None) -> None:
    for axis, on, col in (("x", spec.logx, x), ("y", spec.logy, y)):
        if on:
            check_log_values(df, col, axis, what, source)


def _check_placed(df, spec: FigureSpec, source: Path) -> None:
    """A DataError line naming the first row with a ``y`` value but an empty or infinite ``x`` cell: an xy
    figure has no place for it (matplotlib left it out without a word). A row with no ``y`` has nothing to draw
    (a point that diverged); an ``x`` column with no value at all is said by draw_xy (no x values to draw)."""
    import numpy as np
    import pandas as pd

    x = pd.to_numeric(df[spec.x], errors="coerce")  # (check_numeric passed: numbers, perhaps read as text)
    unplaced = x[(x.isna() | np.isinf(x)) & df[spec.y].notna()]
    if unplaced.empty or x.isna().all():
        return
    first = unplaced.iloc[0]
    what, fix = ("empty", "fill it in") if np.isnan(first) else (short_cell(first), "give it a finite value")
    raise DataError(f"figure {spec.name}: {source}: column {spec.x!r} is {what} on {_lines_of(unplaced)}, "
                    f"which has a {spec.y} value: an xy figure has no place for it ({fix}, or leave it out "
                    "with where)")


def _warn_infinite_y(df, spec: FigureSpec, source: Path) -> None:
    """A warning naming the first ``y`` cell of an xy figure that is inf or -inf: matplotlib leaves its point (its
    x's mean over seeds) out of the line, which was silent. A warning, not a refusal as an infinite x is: a loss
    that diverged reaches inf, and the rest of its curve is what the figure is for."""
    import numpy as np
    import pandas as pd

    y = pd.to_numeric(df[spec.y], errors="coerce")  # (check_numeric passed)
    infinite = y[np.isinf(y)]
    if not infinite.empty:
        log.warning("figure %s: %s: column %r is %s on %s: left out of the figure (an infinite value has no place "
                    "on its axis)", spec.name, source, spec.y, short_cell(infinite.iloc[0]), _lines_of(infinite))


def _check_finite_bars(df, spec: FigureSpec, source: Path) -> None:
    """A DataError line naming the first ``y`` cell of a bar figure that is inf or -inf: matplotlib gives its bar
    (the mean of its category: infinite, or NaN beside the other sign) no height, and the figure was saved with
    the category empty. A ``y`` column with no finite value at all is said by draw_bar (no y values to draw)."""
    import numpy as np
    import pandas as pd

    y = pd.to_numeric(df[spec.y], errors="coerce")  # (check_numeric passed: numbers, perhaps read as text)
    infinite = y[np.isinf(y)]
    if infinite.empty or not np.isfinite(y).any():
        return
    raise DataError(f"figure {spec.name}: {source}: column {spec.y!r} is {short_cell(infinite.iloc[0])} on "
                    f"{_lines_of(infinite)}: a bar figure has no height for it (give it a finite value, "
                    "or leave it out with where)")


#: the largest magnitude a figure draws (matplotlib's ticks overflow on an axis from -1e308 to 1e308)
AXIS_LIMIT = 1e300


def short_cell(cell) -> str:
    """A table cell as an error message shows it: repr, at most 40 characters, on one line."""
    text = repr(cell.item() if hasattr(cell, "item") else cell)  # numpy's scalars as the numbers they are
    return text if len(text) <= 40 else text[:37] + "..."


def _table_label(df, col: str) -> str:
    # the first row that names them (a point the placement refused for memory names no metric: nan crashed)
    time_unit, metric = (next(iter(df[c].dropna()), None) if c in df.columns else None for c in ("time_unit", "metric"))
    targets = df["target"].dropna().unique() if "target" in df.columns else []
    if col == "time_to_target_s" and len(targets) == 1 and isinstance(metric, str):
        clock = "simulated " if time_unit == "simulated" else ""
        return f"time to reach {metric.replace('_', ' ')} {targets[0]:g} ({clock}s)"
    return axis_label(col, time_unit, metric)


def _table_file(table: Path) -> Path:
    """The table file of a table's folder (its table.csv), or ``table`` itself when it is a CSV file: xy and
    bar figures of a CSV plotted alone (``ampsim plot T.csv``) are given the file, whose name their errors say."""
    return table if table.suffix == ".csv" else table / TABLE


def draw_xy(df, table: Path, spec: FigureSpec, swept: list[str]):
    """``y`` against ``x`` from the table, a line per hue group, mean over seeds with min-max bars."""
    _check_cols(df, spec, spec.x, spec.y)
    source = _table_file(Path(table))
    for col in (spec.x, spec.y):  # a text cell in x made the axis categorical: every point at another place
        check_numeric(df, col, source, f"figure {spec.name}: ")
    _check_placed(df, spec, source)
    _check_log_axes(df, spec, spec.x, spec.y, f"figure {spec.name}: ", source)
    _warn_infinite_y(df, spec, source)
    keys = hue_keys(df, spec, swept)
    fig, ax = new_figure()
    drawn = 0
    gs = groups(df, keys)
    style = styles(keys, [v for v, _ in gs])
    for values, sub in gs:
        agg = sub.dropna(subset=[spec.y]).groupby(spec.x, sort=True)[spec.y].agg(["mean", "min", "max"])
        if not (agg["mean"].abs() < float("inf")).any():  # (infinities draw nothing: an empty figure, exit 0)
            continue
        err = [agg["mean"] - agg["min"], agg["max"] - agg["mean"]]
        label = legend_label(keys, values, _shared_label(sub) if keys == () else None)
        ax.errorbar(agg.index, agg["mean"], yerr=err, markersize=4, capsize=3, linewidth=1.4, label=label,
                    **style[values])
        drawn += 1
    if not drawn:  # the empty column named: x's as well as y's (time to target: a target never reached)
        empty = spec.x if df[spec.x].dropna().empty else spec.y
        never = " (is the target never reached?)" if empty in ("time_to_target_s", "epochs_to_target") else ""
        raise RunError(f"figure {spec.name}: no {empty} values to draw{never}")
    _finish(fig, ax, spec, _table_label(df, spec.x), _table_label(df, spec.y))
    return fig


def draw_bar(df, table: Path, spec: FigureSpec, swept: list[str]):
    """Grouped bars: ``y`` (mean over seeds, min-max bars) per category of ``x``, a colour per hue group."""
    import numpy as np

    _check_cols(df, spec, spec.x, spec.y)
    source = _table_file(Path(table))
    check_numeric(df, spec.y, source, f"figure {spec.name}: ")
    _check_finite_bars(df, spec, source)
    _check_log_axes(df, spec, spec.x, spec.y, f"figure {spec.name}: ", source)
    keys = tuple(k for k in hue_keys(df, spec, swept) if k != spec.x)
    cats = list(dict.fromkeys(map(cell_key, df[spec.x])))  # the empty cells are one category, as in groups()
    fig, ax = new_figure()
    gs = groups(df, keys)
    # a hue that each category has at most one of (a label per point, coloured by its setting) needs no
    # dodging: each bar stands full width on its own category
    hues_per_cat = Counter(c for _, sub in gs for c in set(map(cell_key, sub[spec.x])))
    nested = max(hues_per_cat.values(), default=0) <= 1
    width = 0.8 if nested else 0.8 / len(gs)
    for j, (values, sub) in enumerate(gs):
        agg = sub.groupby(spec.x, dropna=False)[spec.y].agg(["mean", "min", "max"]).reindex(cats)
        pos = np.arange(len(cats)) + (0.0 if nested else (j - (len(gs) - 1) / 2) * width)
        spread = bool((agg["max"] - agg["min"]).fillna(0).abs().sum() > 0)
        ax.bar(pos, agg["mean"], width, label=legend_label(keys, values),
               yerr=[agg["mean"] - agg["min"], agg["max"] - agg["mean"]] if spread else None, capsize=2)
    labels = [short_value(c) for c in cats]
    crowded = sum(len(str(t)) for t in labels) > 60  # labels that would run into each other when level
    ax.set_xticks(np.arange(len(cats)), labels, fontsize=8, rotation=30 if crowded else 0,
                  ha="right" if crowded else "center")
    # room above the bars for the legend (bars keep their floor at 0); a legend of many settings is tall
    ax.margins(y=0.25 if len(gs) <= 3 else 0.45)
    if not (df[spec.y].astype(float).abs() < float("inf")).any():  # (empty or infinite: no bar, exit 0)
        raise RunError(f"figure {spec.name}: no {spec.y} values to draw")
    _finish(fig, ax, spec, _table_label(df, spec.x), _table_label(df, spec.y))
    return fig

"""The ``ampsim plot`` subcommand (registered by :mod:`ampsim.cli`).

    ampsim plot FILE.toml [--quick] [--sweep-dir DIR] [--out DIR]        # every figure the sweep declares
    ampsim plot SWEEP_DIR --x train.mak --y throughput [--hue train.muf]   # one figure from a table.csv
    ampsim plot TABLE.csv --x COLUMN --y COLUMN [--hue COLUMN]          # ... or from any CSV table
    ampsim plot RUN_DIR... [--x time_s] [--y test_accuracy] --out FIG.png  # curves of run folders
    ampsim plot RUN_DIR... --timeline [--start-s 0.2 --window-s 0.02] --out FIG.png  # traces, one axis

Default folders: a sweep's table is read from ``results/sweeps/<name>/`` (``results/quick/sweeps/<name>``
with ``--quick``, see :attr:`ampsim.sweeps.spec.Sweep.default_dir`); its figures go to ``results/figures/``
(``results/quick/figures/``). A table's figure goes there too (or into the folder ``--out`` names), a .png and
a .pdf named ``<folder>_<y>_vs_<x>`` (a sweep folder's table.csv) or ``<folder>_<stem>_<y>_vs_<x>`` (another
CSV), a path separator, ``..`` or control character of a column's name written ``_``; an ``--out`` naming a
figure file (``f.png`` or ``f.pdf``) is written alone, as run folders' figure is.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

from ampsim import runfiles
from ampsim.errors import OUTCOME_FIELDS, AmpsimError, ConfigError, DataError
from ampsim.files import path_option, read_text
from ampsim.folders import check_not_in_staging
from ampsim.outputs import check_output_dir, check_output_file

__all__ = ["add_parsers", "default_figure_dir"]


def default_figure_dir(quick: bool) -> Path:
    return Path("results") / ("quick/figures" if quick else "figures")


#: image files --out may look like but plot does not write
_OTHER_IMAGES = (".svg", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".eps", ".ps", ".webp", ".bmp", ".png", ".pdf")

#: the options each kind of source reads (the others were ignored without a word: refused instead)
_READS = {"sweep": {"quick", "sweep_dir", "out"}, "table": {"out", "x", "y", "hue", "logx"},
          "runs": {"out", "x", "y", "logx"}, "timeline": {"out", "window_s", "start_s"}}
_GIVEN = {"quick": lambda a: a.quick, "sweep_dir": lambda a: a.sweep_dir is not None, "out": lambda a: True,
          "x": lambda a: a.x is not None, "y": lambda a: a.y is not None, "hue": lambda a: bool(a.hue),
          "logx": lambda a: a.logx, "timeline": lambda a: a.timeline, "window_s": lambda a: a.window_s is not None,
          "start_s": lambda a: a.start_s != 0.0}
_WHAT = {"sweep": "a sweep file", "table": "a table", "runs": "run folders", "timeline": "a timeline (--timeline)"}


def _check_image_kind(out: Path) -> None:
    """One line for an ``--out`` named as an image plot does not write (``fig.svg/runs.png`` was made)."""
    if out.suffix.lower() in _OTHER_IMAGES and out.suffix not in (".png", ".pdf"):
        raise ConfigError(f"--out {out}: figures are written as .png (and .pdf), in lower case; give such a file "
                          "or a folder")


def _check_options(args: argparse.Namespace, kind: str) -> None:
    """One line for an option the ``kind`` of source does not read."""
    reads = _READS[kind] | ({"timeline"} if kind in ("runs", "timeline") else set())
    for name, given in _GIVEN.items():
        if name not in reads and given(args):
            raise ConfigError(f"--{name.replace('_', '-')}: not read when plotting {_WHAT[kind]}")


def cmd_plot(args: argparse.Namespace) -> int:
    from ampsim.tables import TABLE

    sources = [Path(s) for s in args.sources]
    if args.out:
        check_not_in_staging(args.out)  # (the next run into the staged folder deletes what is drawn there)
        _check_image_kind(Path(args.out))
    is_table = len(sources) == 1 and ((sources[0] / TABLE).is_file() or sources[0].suffix == ".csv")
    _check_options(args, "sweep" if len(sources) == 1 and sources[0].suffix == ".toml" else "table" if is_table
                   else "timeline" if args.timeline else "runs")
    if len(sources) == 1 and sources[0].suffix == ".toml":
        from ampsim.figures.draw import draw_sweep_figures
        from ampsim.sweeps.spec import load_sweep

        sweep = load_sweep(sources[0], quick=args.quick, sized=False)  # (its table is made: no data needed)
        if not sweep.figures:
            raise ConfigError(f"{sources[0]}: declares no [[figure]]")
        sweep_dir = Path(args.sweep_dir) if args.sweep_dir else sweep.default_dir
        fig_dir = Path(args.out) if args.out else default_figure_dir(args.quick)
        # (a folder of that name was made; what is there already, check_output_dir says: a file, a pipe)
        if fig_dir.suffix in (".png", ".pdf") and not os.path.lexists(fig_dir):
            raise ConfigError(f"--out {fig_dir}: a sweep's figures ({len(sweep.figures)}, a .png and a .pdf each) go "
                              "into a folder; give a folder, not a figure file")
        fig_dir = check_output_dir(fig_dir)
        _check_not_inside_run(fig_dir)
        written = draw_sweep_figures(sweep, sweep_dir, fig_dir)
        for path in written:
            print(path)
        return 0
    if is_table:
        return _plot_table(sources[0], args)
    from ampsim.figures.runs import plot_runs

    for s in sources:
        if s.suffix in (".toml", ".csv") or (s / TABLE).is_file():  # one of those alone, not among others
            raise ConfigError(f"{s}: a sweep file or table is plotted alone (one per command), not beside "
                              f"{len(sources) - 1} other source(s)")
        if not (s / runfiles.METRICS).is_file():
            if os.path.lexists(s / runfiles.METRICS):  # a folder, pipe or device: the reader words it
                read_text(s / runfiles.METRICS)
            raise ConfigError(f"{s}: {_no_metrics(s)}")
    name = "timeline.png" if args.timeline else "runs.png"
    out = Path(args.out) if args.out else default_figure_dir(False) / name
    if out.suffix not in (".png", ".pdf"):
        out = out / name
    check_output_file(out)  # before reading and drawing anything
    _check_not_inside_run(out.parent)
    if args.timeline:
        from ampsim.figures.trace import plot_run_timelines

        # finite, and in microseconds too (the axis is in µs): nan, inf or 1e308 would give no axis limits
        if args.window_s is not None and not (args.window_s > 0 and math.isfinite(args.window_s * 1e6)):
            raise ConfigError(f"--window-s must be a finite number > 0 seconds, got {args.window_s}")
        if not (args.start_s >= 0 and math.isfinite(args.start_s * 1e6)):
            raise ConfigError(f"--start-s must be a finite number >= 0 seconds, got {args.start_s}")
        if not math.isfinite((args.start_s + (args.window_s or 0.0)) * 1e6):
            raise ConfigError(f"--start-s {args.start_s} + --window-s {args.window_s}: too large a time")
        print(plot_run_timelines(sources, out, args.window_s, args.start_s))
        return 0
    y = args.y or _metric_of(sources[0])
    print(plot_runs(sources, "epoch" if args.x is None else args.x, y, out, logx=args.logx))
    return 0


def _plot_table(source: Path, args: argparse.Namespace) -> int:
    """One figure from a table: a sweep folder's table.csv or any CSV (e.g. results/compare/<exp>/compare.csv).
    ``--x`` and ``--y`` name columns; a numeric x gives lines (``xy``), a text x grouped bars."""
    import pandas as pd

    from ampsim.calibration.report import COMPARE_TABLE
    from ampsim.figures.canvas import check_figure_files, closing_on_error, save_figure
    from ampsim.figures.draw import check_rows_are_points
    from ampsim.figures.lines import check_numeric, draw_bar, draw_xy
    from ampsim.sweeps.figspec import FigureSpec
    from ampsim.tables import TABLE, read_table, read_table_info

    if not args.y or args.x is None:
        raise ConfigError(f"{source}: a table needs --x COLUMN and --y COLUMN (e.g. --x train.mak --y throughput)")
    csv = source / TABLE if (source / TABLE).is_file() else source  # (a folder named x.csv holding none: itself)
    folder = csv.parent
    if not csv.is_file():  # the reader's one line: a folder, a pipe or device (it said "no such file"), or none
        read_text(csv)
    df = read_table(csv)
    for col in [args.x, args.y, *(args.hue or [])]:
        if col not in df.columns:
            raise ConfigError(f"{csv}: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
    if df.empty:  # (it said "no <y> values to draw", as of a column of empty cells)
        raise DataError(f"{csv}: holds no rows (its header alone): nothing to draw")
    check_numeric(df, args.y, csv)  # --y is averaged: text (a label column, a corrupt cell) is one line
    if csv.name == COMPARE_TABLE and "config" in df.columns:  # a compare's: a row per configuration of its runs/
        from ampsim.calibration.rescore import check_rows_of_runs

        check_rows_of_runs(csv, df["config"].dropna().astype(str).tolist())
    info = read_table_info(folder)
    keys = info["keys"] if info else []  # any CSV has no sweep.json: no swept keys to group lines by
    if info and "point_id" in df.columns:  # a sweep's table: a row per point (a repeated one was averaged in)
        check_rows_are_points(df, csv, f"run the sweep again ({info.get('source') or info['name']})")
    numeric = pd.api.types.is_numeric_dtype(df[args.x])
    if numeric:  # an axis of numbers: within what a figure spans
        check_numeric(df, args.x, csv)
    elif args.logx:  # (bars of a text x: drawn on a linear axis without a word, as a sweep file's bar refuses it)
        raise ConfigError(f"--logx: {csv}: column {args.x!r} holds text, drawn as bars by category, which have no "
                          "log x axis")
    spec = FigureSpec(name=_figure_name(csv, args.x, args.y), kind="xy" if numeric else "bar", x=args.x,
                      y=args.y, hue=tuple(args.hue) if args.hue else None, logx=args.logx)
    # (the name is not parsed for a suffix: a dotted column, train.mak, made a folder named after the figure)
    out = Path(args.out) if args.out else default_figure_dir(False)
    # a figure file named is that file alone (f.pdf wrote an f.png beside it); a folder takes the .png and .pdf
    named = out.suffix in (".png", ".pdf")
    stem, formats = (out.with_suffix(""), (out.suffix[1:],)) if named else (out / spec.name, ("png", "pdf"))
    check_figure_files(stem, formats)  # (before drawing)
    _check_not_inside_run(stem.parent)
    fig = closing_on_error(draw_xy if numeric else draw_bar)(df, csv, spec, keys)  # (the file: its errors name it)
    for path in save_figure(fig, stem, formats):
        print(path)
    return 0


def _check_not_inside_run(folder: Path) -> None:
    """One line where the folder figures are written into is inside a finished run (``--out RUN/figs``): made
    there, it left the run no run folder (a run into it was refused as "not a run folder"), as no command's
    output may be made inside a run. The run's own folder may take a figure (a run into it refuses it, saying so)."""
    from ampsim.results import check_not_inside_run

    check_not_inside_run(folder, "give a folder outside it, or the run's folder itself")


def _no_metrics(run: Path) -> str:
    """Why ``run`` is no run folder to draw, for its error line: a sweep's point that stopped (diverged, out of
    chip memory) before its first epoch ended is a finished run without metrics.csv, which said it was none."""
    from ampsim.runread import read_summary

    if (run / runfiles.SUMMARY).is_file():
        summary = read_summary(run)
        why = next((f for f in OUTCOME_FIELDS if f in summary), None)
        if why:
            return f"a run that stopped ({why.replace('_', ' ')}) before its first epoch ended: no metrics to draw"
    return "not a run folder (no metrics.csv) and not a sweep file (.toml)"


def _figure_name(csv: Path, x: str, y: str) -> str:
    """A table's figure's name: ``<folder>_<y>_vs_<x>`` for a sweep's table.csv, ``<folder>_<stem>_<y>_vs_<x>``
    for another CSV (two in one folder drew one figure file, the second over the first), as one file name:
    a column's ``/``, ``\\``, ``..`` or control character (``loss/val``, ``../../x``) made a folder, or a figure
    outside --out."""
    from ampsim.tables import TABLE

    folder = Path(os.path.abspath(csv)).parent.name  # (of t.csv or ./table.csv too: "" began the name with _)
    name = "_".join([folder, *([] if csv.name == TABLE else [csv.stem]), y, "vs", x])
    return re.sub(r"\.\.+", "_", re.sub(r"[/\\\x00-\x1f]", "_", name))


def _metric_of(run: Path) -> str:
    from ampsim.runread import read_summary

    try:
        return read_summary(run)["metric"]
    except (AmpsimError, KeyError, TypeError):  # no (usable) summary: a run that did not finish
        return "train_loss"


def add_parsers(sub) -> None:
    """Register ``plot`` on the CLI's subparsers object."""
    p = sub.add_parser("plot", help="draw a sweep's figures, or curves of run folders")
    p.add_argument("sources", nargs="+",
                   help="a sweep TOML file, a sweep folder (table.csv), a CSV table, or run folders")
    p.add_argument("--quick", action="store_true", help="the sweep's [quick] variant (its folders)")
    p.add_argument("--sweep-dir", help="the sweep's folder (default: results/sweeps/<name>)")
    p.add_argument("--out", type=path_option,
                   help="figures folder (a sweep, a table) or figure file (run folders, a table); default "
                        "results/figures/ (--quick: results/quick/figures/), runs.png or timeline.png there")
    p.add_argument("--x",  # (None when not given: --x epoch is given, a table's x or refused with a sweep)
                   help="x column: of metrics.csv for run folders (default epoch); a table's (required)")
    p.add_argument("--y", help="y column: for run folders default the runs' metric; a table's (required)")
    p.add_argument("--hue", action="append", help="sweep folder: a line per value of this column (repeatable)")
    p.add_argument("--logx", action="store_true", help="a log x axis")
    p.add_argument("--timeline", action="store_true",
                   help="run folders: their trace.json (train with --trace), a panel each on one time axis")
    p.add_argument("--window-s", type=float, help="with --timeline: this many seconds (default: all)")
    p.add_argument("--start-s", type=float, default=0.0, help="with --timeline: from this time (default 0)")
    p.set_defaults(func=cmd_plot)

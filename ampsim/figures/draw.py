"""Drawing a sweep's declared figures: one drawing function per figure kind, chosen from :data:`DRAWERS`.

Contracts of every figure (whatever its kind): axis labels with units, a legend (or colour bar) and a
title; seeds averaged where a figure shows a mean; an empty selection is a
:class:`~ampsim.errors.RunError`, never an empty figure. Drawing functions return the matplotlib
``Figure`` (tests inspect it); :func:`~ampsim.figures.canvas.save_figure` writes PNG (≤ 300 KB at the
default size) and PDF.

A new kind is a :data:`Drawer` in its own module plus one entry in :data:`DRAWERS` (and its name in
:data:`ampsim.sweeps.figspec.KINDS`, so that sweep files may declare it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from ampsim.errors import RunError
from ampsim.figures.canvas import check_figure_files, closing_on_error, save_figure
from ampsim.figures.labels import mixed_clocks
from ampsim.figures.lines import draw_bar, draw_curves, draw_xy, line_of
from ampsim.figures.selection import select
from ampsim.figures.trace import draw_heatmap, draw_timeline
from ampsim.files import os_error_cause, path_kind
from ampsim.sweeps.figspec import FigureSpec
from ampsim.sweeps.spec import Sweep
from ampsim.tables import SWEEP_INFO, TABLE, read_table, read_table_info

__all__ = ["Drawer", "DRAWERS", "COLUMNS", "draw_figure", "draw_sweep_figures", "check_table_of",
           "check_rows_are_points"]

log = logging.getLogger(__name__)

#: ``(rows of the table the figure keeps, the table's folder (the runs are its sub-folders), the figure,
#: the sweep's swept keys) -> matplotlib Figure``.
Drawer = Callable[[Any, Path, FigureSpec, list[str]], Any]

#: The drawing function of each figure kind.
DRAWERS: dict[str, Drawer] = {
    "curves": draw_curves,
    "xy": draw_xy,
    "bar": draw_bar,
    "heatmap": draw_heatmap,
    "timeline": draw_timeline,
}

#: The table columns a figure of each kind reads of every row it draws, beyond its own x, y, hue and where (its
#: drawing names those) and point_id (every kind's: :func:`check_table_of` checks it for all): a table edited
#: without one of them was a KeyError traceback as the figure was drawn.
COLUMNS: dict[str, tuple[str, ...]] = {"curves": ("metric", "time_unit")}


@closing_on_error
def draw_figure(spec: FigureSpec, sweep_dir: str | Path, swept: list[str]):
    """The matplotlib Figure of ``spec`` from the sweep folder ``sweep_dir`` (its table.csv and runs)."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / TABLE).is_file():
        raise RunError(f"figure {spec.name}: {sweep_dir}/{TABLE} not found (run the sweep first)")
    drawer = DRAWERS.get(spec.kind)
    if drawer is None:  # a kind declared in figspec.KINDS but given no drawing here
        raise RunError(f"figure {spec.name}: no drawing for kind {spec.kind!r} (drawn: {', '.join(DRAWERS)})")
    rows = select(read_table(sweep_dir), spec)
    # (a sweep over executor.kind: its axis was labelled with one clock, the last row's or the first's, and drew both)
    if "time_unit" in rows.columns and (why := mixed_clocks((spec.x, spec.y), rows["time_unit"], "its points")):
        raise RunError(f"figure {spec.name}: {why} (the table's time_unit)")
    return drawer(rows, sweep_dir, spec, swept)


def draw_sweep_figures(sweep: Sweep, sweep_dir: str | Path, fig_dir: str | Path) -> list[Path]:
    """Draw and save every figure a sweep declares; returns the written files. The table must be this sweep's
    (:func:`check_table_of`). A figure that cannot be drawn (a timeline whose trace.json is not there) keeps
    none of the others from being drawn: one RunError line after them, naming it."""
    check_table_of(sweep, Path(sweep_dir))
    for spec in sweep.figures:  # every file first: a folder in the way of the last was found after the others
        check_figure_files(Path(fig_dir) / spec.name)
    written: list[Path] = []
    failed: list[str] = []
    for spec in sweep.figures:
        try:
            fig = draw_figure(spec, sweep_dir, sweep.keys)
        except RunError as e:
            failed.append(str(e))
            continue
        written += save_figure(fig, Path(fig_dir) / spec.name)
        log.info("figure %s written", spec.name)
    if failed:
        drawn = len(sweep.figures) - len(failed)
        raise RunError(failed[0] + (f"; {len(failed) - 1} other figure(s) not drawn either" if len(failed) > 1 else "")
                       + (f"; the other {drawn} written into {fig_dir}" if drawn else ""))
    return written


def check_table_of(sweep: Sweep, sweep_dir: Path) -> None:
    """Refuse, in one :class:`RunError` line, to draw ``sweep``'s figures from a table that is not its own as
    its file is now: another sweep's, the other variant's (quick or full), or one holding points the sweep no
    longer has (its file edited since it ran: each point's id hashes its resolved config), or a row twice or
    without a point id (:func:`check_rows_are_points`). A figure drawn from it was titled and labelled as this
    sweep's and showed other numbers. Points of the sweep missing
    from the table (failed, or not run yet) are drawn without, with a warning. A ``sweep_dir`` that is no folder
    (a file given as ``--sweep-dir``) is one line saying so, and one without a table (not run yet) one line naming
    the command that runs the sweep there."""
    _check_is_folder(sweep_dir)
    command = f"ampsim sweep {sweep.path}{' --quick' if sweep.quick else ''}"
    if not (sweep_dir / TABLE).is_file():  # (once, with the command: each figure said "run the sweep first")
        raise RunError(f"{sweep_dir}/{TABLE} not found; run the sweep first ({command} --out {sweep_dir})")
    info = read_table_info(sweep_dir)
    again = f"run the sweep ({command} --out {sweep_dir})"
    # (not `again` where the folder is no folder of this variant: the sweep refuses it, so that advice failed)
    elsewhere = f"({command} writes it into {sweep.default_dir}, or into another folder with --out)"
    if info is None:
        raise RunError(f"{sweep_dir}: its {TABLE} has no {SWEEP_INFO} beside it, so it is no table of sweep "
                       f"{sweep.name!r}; give --sweep-dir the sweep's own folder {elsewhere}")
    if info.get("name") != sweep.name:
        raise RunError(f"{sweep_dir}: holds the table of sweep {info.get('name')!r}, not of {sweep.name!r}")
    if bool(info.get("quick")) != sweep.quick:
        which = "the quick variant's (--quick)" if info.get("quick") else "the full sweep's (without --quick)"
        mine = "the quick variant" if sweep.quick else "the full sweep"
        raise RunError(f"{sweep_dir}: holds {which} table of sweep {sweep.name!r}; plot it as such, or give "
                       f"--sweep-dir {mine}'s own folder {elsewhere}")
    table = read_table(sweep_dir)
    if "point_id" not in table.columns:  # (edited: a KeyError traceback)
        raise RunError(f"{sweep_dir}/{TABLE}: has no point_id column, so it is no table `ampsim sweep` wrote; "
                       f"{again}")
    for spec in sweep.figures:
        if missing := [c for c in COLUMNS.get(spec.kind, ()) if c not in table.columns]:
            raise RunError(f"{sweep_dir}/{TABLE}: has no {missing[0]} column, which figure {spec.name} ({spec.kind}) "
                           f"reads, so it is no table `ampsim sweep` wrote; {again}")
    if table.empty:  # (a warning that every point is missing, then the first figure's "no rows": two lines)
        raise RunError(f"{sweep_dir}/{TABLE}: holds no point (its header alone); {again}")
    check_rows_are_points(table, sweep_dir / TABLE, again)
    ids = table["point_id"].astype(str)
    own = {p.point_id for p in sweep.points}
    if foreign := sorted(set(ids) - own):
        raise RunError(f"{sweep_dir}/{TABLE}: {len(foreign)} of its {ids.nunique()} points (e.g. {foreign[0]}) are "
                       f"not points of {sweep.path} as it is now (changed since the sweep ran?); {again}")
    if missing := own - set(ids):
        log.warning("%s/%s: %d of the sweep's %d points are not in it (failed or not run yet); the figures "
                    "leave them out", sweep_dir, TABLE, len(missing), len(own))


def _check_is_folder(sweep_dir: Path) -> None:
    """One RunError line where ``sweep_dir`` exists and is no folder: its table was "not found (run the sweep
    first)", and the sweep, run again, refuses to write into a file."""
    try:
        if (kind := path_kind(sweep_dir)) == "a folder":
            return
        why = f"is {kind}, not a folder"
    except FileNotFoundError:
        return  # (not run yet: check_table_of says to run the sweep first)
    except OSError as e:  # (f/x where f is a file: a part of the path is a file)
        why = os_error_cause(e)
    raise RunError(f"{sweep_dir}: {why}; give --sweep-dir the sweep's folder (its {TABLE} and points)")


def check_rows_are_points(table, path: Path, again: str) -> None:
    """One RunError line for a row with no point id, or a point's row repeated (an edited or merged table): a
    figure took the repeated row for another seed of the point and averaged it in twice."""
    empty = table.index[table["point_id"].isna() | (table["point_id"].astype(str).str.strip() == "")]
    if len(empty):
        raise RunError(f"{path}: {line_of(empty[0])} has no point_id, so it is no row `ampsim sweep` wrote; {again}")
    repeated = table[table["point_id"].duplicated(keep=False)]
    if len(repeated):
        first = repeated[repeated["point_id"] == repeated["point_id"].iloc[0]]
        lines = ", ".join(map(line_of, first.index))
        raise RunError(f"{path}: point {first['point_id'].iloc[0]} has {len(first)} rows ({lines}); a sweep writes one "
                       f"per point; {again}")

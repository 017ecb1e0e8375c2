"""Where ``ampsim compare`` and ``compare --resimulate`` write: a folder of their own, never mixed.

:func:`check_compare_folder` refuses, before anything is measured or simulated, an output folder that holds
anything but an earlier compare of the same experiment (which the new one replaces whole);
:func:`into_folder` writes the new compare beside an earlier one and swaps it in whole when it is done, so a
compare cut short leaves the earlier one as it was.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from pathlib import Path
from typing import Callable, TypeVar

from ampsim import runfiles
from ampsim.calibration.report import COMPARE_PLOT, COMPARE_TABLE
from ampsim.errors import ConfigError
from ampsim.files import os_error_cause, read_toml
from ampsim.folders import (
    STAGING_MARK,
    check_not_in_staging,
    make_staging,
    remove_staging,
    replace_folder,
    restore_aside,
    unmark_staging,
)
from ampsim.locks import holding
from ampsim.results import partial_path

__all__ = ["check_compare_folder", "check_not_rescored", "into_folder"]

T = TypeVar("T")

#: what a compare folder's ``runs/<configuration>/`` holds: measured and simulated run folders (and, cut short,
#: their partial folders and locks)
_COMPARE_RUN = re.compile(r"(multicore(-\d+)?|sim)(\.partial(\.lock)?)?")


def check_compare_folder(out: Path, experiment: str) -> None:
    """Refuse, in one line, an ``out`` that a compare of ``experiment`` would write into but that holds anything
    other than an earlier compare of the same experiment, which it replaces whole: a ``runs/`` holding
    anything but configurations' run folders (``runs/<config>/multicore*``, ``sim``), a ``compare.csv`` or
    ``compare.png`` without a ``runs/`` beside it, or the compare of another experiment (the ``[experiment]
    name`` of its runs' ``config.toml``). An earlier compare that a replacement stopped between its two renames set
    aside, leaving no ``out``, is first put back (:func:`~ampsim.folders.restore_aside`), and checked."""
    restore_aside(out)
    _check_not_in_runs(out)
    check_not_in_staging(out)
    runs = out / "runs"
    if not os.path.lexists(runs):
        _check_no_table(out)
        return
    foreign = [d.name for d in sorted(runs.iterdir())] if runs.is_dir() and not runs.is_symlink() else ["runs"]
    names = set()
    for d in (runs / name for name in list(foreign)):
        folder = d.is_dir() and not d.is_symlink()
        kids = sorted(d.iterdir()) if folder else []
        # (an empty one is a configuration a compare was cut short in before its first epoch: its run folder's
        # parent; deleting it deletes nothing)
        if folder and all(_COMPARE_RUN.fullmatch(k.name) for k in kids):
            foreign.remove(d.name)
            for k in kids:
                if k.is_dir() and not k.name.endswith(".partial") and (k / runfiles.CONFIG).is_file():
                    names.add(_experiment_name(k / runfiles.CONFIG, out))
    if foreign:
        raise ConfigError(f"{out}: holds runs/{foreign[0]}, which is not a compare's configuration (runs/<config>/"
                          "multicore*, sim) and which a compare there would delete; give --out a folder of its own")
    other = sorted(map(str, names - {experiment}))
    if other:
        raise ConfigError(f"{out}: holds the compare of another experiment ({other[0]!r}), which a compare of "
                          f"{experiment!r} would delete; give --out a folder of its own")


def _experiment_name(config: Path, out: Path) -> str | None:
    """The ``[experiment] name`` of a compare's run ``config`` (None if it has none), or one line refusing the folder
    ``out`` where it is not a name (``experiment = 5``, ``name = [1]``): it failed with a traceback."""
    table = read_toml(config).get("experiment", {})
    name = table.get("name") if isinstance(table, dict) else table
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{config}: experiment{'.name' if isinstance(table, dict) else ''}: expected the name of "
                          f"the run's experiment, got {type(name).__name__} {name!r:.40}; a compare into {out} would "
                          "delete this run, whose experiment cannot be told: give --out a folder of its own")
    return name


def _check_not_in_runs(out: Path) -> None:
    """Refuse an ``out`` in a compare's ``runs/`` (the folder itself or one below it): the table, the figure and the
    runs written there were mixed into that compare's runs (``--resimulate --out DIR/runs``), and the next compare
    into it refused it as holding runs/compare.csv, not a compare's configuration."""
    real = Path(os.path.realpath(out))
    for folder in (real, *real.parents):
        # (a compare's: its table beside it, or measured runs in it; a user's runs/x/sim alone is no compare's)
        if folder.name == "runs" and ((folder.parent / COMPARE_TABLE).is_file() and next(folder.glob("*/sim"), None)
                                      or next(folder.glob("*/multicore*"), None)):
            raise ConfigError(f"{out}: inside the runs of the compare in {folder.parent}, which it would mix its "
                              "own into; give --out a folder of its own")


def check_not_rescored(out: Path) -> None:
    """Refuse, in one line, a measured compare into ``out`` that holds a re-scoring (``compare --resimulate``'s table
    beside simulated runs only, as ``DIR/resimulated``): it replaced it, and ``--resimulate --from DIR`` then refused
    its own default output as holding measurements, until cleared by hand."""
    if (out / COMPARE_TABLE).is_file() and next(out.glob("runs/*/sim"), None) is not None \
            and next(out.glob("runs/*/multicore*"), None) is None:
        raise ConfigError(f"{out}: holds a re-scoring (compare --resimulate: simulated runs only), which a measured "
                          "compare would replace; give --out a folder of its own")


def _check_no_table(out: Path) -> None:
    """Refuse an ``out`` without ``runs/`` that holds a compare's table or figure by name: a compare writes its
    runs before them, so these are someone else's files (``echo hi > out/compare.csv``), which it would replace."""
    for name in (COMPARE_TABLE, COMPARE_PLOT):
        if os.path.lexists(out / name):
            raise ConfigError(f"{out}: holds a {name} but no runs/ beside it, so not an earlier compare's; a "
                              "compare there would overwrite it; give --out a folder of its own")


def into_folder(final: Path, make: Callable[[Path], T]) -> T:
    """``make(folder)``, which writes a compare's outputs (``runs/``, ``compare.csv``, ``compare.png``) into
    ``folder``: ``final`` itself if it holds no earlier compare, else ``<final>.partial/``, swapped in whole
    when ``make`` returns (``final``'s other entries, such as ``resimulated/``, move along). Cut short, the
    earlier compare is untouched and the exception's note says where the new outputs so far wait. One compare
    at a time: it holds ``<final>.partial.lock`` throughout (a second one would delete the first's staging)."""
    lock = partial_path(os.path.realpath(final))
    with holding(lock.with_name(lock.name + ".lock"), what="compare's",
                 busy=lambda pid: f"{final}: another compare (pid {pid}) is writing it now; wait for it or give "
                                  "another --out"):
        return _staged(final, make)


def _staged(final: Path, make: Callable[[Path], T]) -> T:
    """:func:`into_folder` once its lock is held."""
    out = _staging(final)
    try:
        made = make(out)
    except BaseException as e:
        _prune_empty(out / "runs")  # (the configurations cut short before their first epoch: nothing in them)
        # (the run cut short says "nothing was kept" of itself alone: the configurations measured before it stay)
        if out == final and next(out.glob("runs/*/multicore*"), None) is not None:
            e.add_note(f"the runs measured so far are kept in {out / 'runs'}")
        elif out != final and out.is_dir() and any(p.name != STAGING_MARK for p in out.iterdir()):
            e.add_note(f"{final} is as it was; this compare's outputs so far are in {out}")
        elif out != final and out.is_dir():  # (nothing written: no empty <out>.partial/ left to puzzle over)
            unmark_staging(out)
            out.rmdir()
        raise
    if out != final:  # the earlier compare, whole, replaced by this one, whole
        _swap_in(out, final)
    return made


def _swap_in(out: Path, final: Path) -> None:
    """Put the finished compare in the staging folder ``out`` at ``final``, ``final``'s other entries (such as
    ``resimulated/``) moved along. Stopped before the swap (an entry that cannot be moved, such as a mount point
    or, for a user, a folder without write permission: one line naming it; Ctrl-C), the entries moved so far go
    back: left in the staging folder, they were deleted with it by the next compare into ``final``."""
    moved: list[str] = []
    swapped: list[bool] = []
    try:
        for entry in final.iterdir():
            if entry.name not in ("runs", COMPARE_TABLE, COMPARE_PLOT) and not os.path.lexists(out / entry.name):
                try:
                    os.rename(entry, out / entry.name)
                except OSError as e:
                    raise ConfigError(f"{entry}: cannot be moved along into the new compare ({os_error_cause(e)}), "
                                      f"so it cannot replace {final}, which is as it was; this compare's outputs "
                                      f"are in {out}") from None
                moved.append(entry.name)
        unmark_staging(out)
        replace_folder(out, final, swapped=lambda: swapped.append(True))
    except BaseException as e:
        if swapped:  # (the new compare is in place: stopped while the old one was deleted)
            raise
        stuck = []
        for name in reversed(moved):
            try:
                os.rename(out / name, final / name)
            except OSError:  # (``final`` gone, say: a replace_folder stopped between its two renames)
                stuck.append(name)
        if stuck:  # unmarked: the next compare refuses the folder rather than delete what is the user's in it
            unmark_staging(out)
            e.add_note(f"{', '.join(stuck)} could not be moved back into {final} from {out}: move them by hand")
        else:  # (still this compare's staging folder, which the next compare deletes)
            (out / STAGING_MARK).touch()
            if not isinstance(e, ConfigError):
                e.add_note(f"{final} is as it was; this compare's outputs are in {out}")
        raise


def _prune_empty(runs: Path) -> None:
    """Remove the empty folders of ``runs`` (a configuration whose run was cut short before its first epoch
    leaves its folder, made for the run's, and nothing in it), and ``runs`` itself if that leaves it empty."""
    if runs.is_symlink() or not runs.is_dir():
        return
    for d in runs.iterdir():
        if d.is_dir() and not d.is_symlink() and not any(d.iterdir()):
            with suppress(OSError):
                d.rmdir()
    if not any(runs.iterdir()):
        with suppress(OSError):
            runs.rmdir()


def _staging(out: Path) -> Path:
    """Where a compare into ``out`` is written: ``out`` itself if it holds no earlier compare, else a fresh
    ``<out>.partial/`` beside it (an earlier one, from a compare cut short, deleted first)."""
    if not ((out / COMPARE_TABLE).exists() or (out / "runs").exists()):
        return out
    real = Path(os.path.realpath(out))  # (a symlinked folder is replaced where it points: one file system)
    work = partial_path(real)
    # (a folder of that name that no compare staged is refused, not deleted; one that an earlier version left,
    # unmarked, holds its runs only)
    remove_staging(work, legacy=lambda f: {e.name for e in f.iterdir()} <= {"runs"})
    make_staging(work)
    return work

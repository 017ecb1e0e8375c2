"""A sweep's folder: what it may hold, one sweep at a time in it, and what a sweep deletes there.

A sweep folder holds this sweep's point folders (each a run folder with ``point.json`` naming the sweep),
``table.csv`` and ``sweep.json`` (naming it too), and dot-entries (``.sweep.lock``, ``.tmp-<id>-<pid>-<random>``
points being trained, ``.table.<pid>.tmp.csv`` a table being written; a dot-file of the user's, ``.tmp-`` or not,
is left alone). A sweep writes there, and
with ``--fresh`` deletes point folders and the table, so :func:`check_sweep_folder` lets it in only where that
can cost no one else's result: a new or empty folder, or this sweep's own. :func:`sweep_lock` keeps a second
sweep out while one runs.

A sweep is its name (the file's stem, or ``sweep.name``) *and* its file: two files named ``x.toml`` in two
folders are two sweeps with one default folder. So ``sweep.json`` and each ``point.json`` also record the
sweep file (:data:`SWEEP_FILE`, :func:`sweep_file_record`), and a folder whose record names another file
that still exists is another sweep's. Its two variants (the full sweep and ``--quick``) are kept apart too:
``sweep.json`` and each ``point.json`` say which wrote them (``quick``), and the other variant's folder is refused
(its table was silently replaced by this one's, the points of both mixed), unless ``--fresh`` deletes them.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ampsim.errors import OUTCOME_FIELDS, ConfigError, DataError, Diverged, OutOfMemory
from ampsim.files import read_json, read_toml
from ampsim.folders import check_not_in_staging
from ampsim.locks import holding
from ampsim.outputs import check_output_dir, check_replacing, left_by_killed_writers, what_it_holds
from ampsim.results import check_not_inside_run, not_run_outputs
from ampsim.runfiles import CONFIG, POINT, SUMMARY, TRACE
from ampsim.runread import read_summary
from ampsim.tables import TABLE, TABLE_FILES, read_table_info
from ampsim.wording import wording

__all__ = ["LOCK_NAME", "SWEEP_FILE", "check_point_folder", "check_sweep_folder", "clear_sweep_folder", "fresh_deletes",
           "check_clearable", "point_finished", "point_id_of", "point_lacks", "remove_temporaries", "sweep_file_record",
           "sweep_lock", "temporary_path"]

LOCK_NAME = ".sweep.lock"
#: the key of ``sweep.json`` and ``point.json`` that names the sweep's file (:func:`sweep_file_record`)
SWEEP_FILE = "sweep_file"


def sweep_file_record(file: str | Path, out: str | Path) -> str:
    """How sweep folder ``out`` records its sweep ``file``: the path from the folder to the file, both resolved.

    Resolved, so the file given relative or absolute, or through a link, is recorded alike; relative to the
    folder, so a checkout moved or copied whole (its sweep files and results/ together) still names its own
    file, where an absolute path would name the old place (or the other copy)."""
    return os.path.relpath(os.path.realpath(file), os.path.realpath(out))


def _other_file(record: dict, out: Path, file: Path | None) -> str | None:
    """The sweep file ``record`` (a ``sweep.json`` or ``point.json``) names, where that is an existing file other
    than ``file``; else None. A recorded file that is gone says nothing (the sweep file was moved or renamed:
    its folder is still its own); nor does a record naming no file (written before files were recorded), but a
    ``sweep.json`` of then has its ``source``, the file as it was given, from the working directory."""
    recorded, base = record.get(SWEEP_FILE), Path(os.path.realpath(out))
    if not isinstance(recorded, str):
        recorded, base = record.get("source"), Path.cwd()
    if file is None or not isinstance(recorded, str) or not recorded:
        return None
    there = base / recorded
    try:
        return None if not there.is_file() or there.samefile(file) else str(there.resolve())
    except OSError:  # (unreadable meanwhile: no evidence of another sweep)
        return None


def check_sweep_folder(out: str | Path, name: str, file: str | Path | None = None, *, quick: bool | None = None,
                       fresh: bool = False) -> Path:
    """Check, changing nothing, that sweep ``name`` (of sweep file ``file``, and variant ``quick``, where given)
    may write into ``out``; returns ``Path(out)``. ``fresh``: its earlier results are to be deleted (the other
    variant's are then no obstacle).

    Raises :class:`~ampsim.errors.ConfigError` in one line where ``out`` cannot be a folder this process
    writes (:func:`~ampsim.outputs.check_output_dir`), or holds another sweep's results (its ``sweep.json``, or
    a point's ``point.json``, names another sweep, or another existing sweep file of the same name), or is not
    this sweep's folder (neither its ``sweep.json`` nor a point names it) and holds anything (a run's files, a
    table, a folder of one's own): a finished result is never written over or deleted by a sweep that is not
    its own. This sweep's own folder may hold files of its user's besides (they are left alone).
    """
    out = check_output_dir(out)
    check_not_in_staging(out)
    # (re-running that run or point, or its sweep's --fresh, would delete this one)
    check_not_inside_run(out, f"give sweep {name!r} a folder outside it")
    if not out.is_dir():
        return out
    file = Path(file) if file is not None else None
    info = read_table_info(out)
    if info is not None and info.get("name") != name:
        raise ConfigError(f"{out}: holds the results of another sweep ({info.get('name')!r}); give sweep "
                          f"{name!r} a folder of its own ({wording().out})")
    if info is not None and (other := _other_file(info, out, file)):
        raise _another_file(out, name, other, file)
    if info is not None and not fresh:
        _check_variant(out, name, info, quick)
    foreign, own = [], info is not None
    for entry in sorted(out.iterdir()):
        if entry.name.startswith("."):  # the lock, points being trained
            continue
        if entry.is_dir() and (entry / POINT).is_file():
            record = _point_record(entry)
            owner = record.get("sweep")
            if owner is None:  # (not a point's record: "a point of another sweep (... of None)" said otherwise)
                raise ConfigError(f"{out}: {entry.name}/{POINT} is not a sweep point's record (an object naming its "
                                  "sweep); move the folder away")
            if owner != name:
                raise ConfigError(f"{out}: holds a point of another sweep ({entry.name}/ of {owner!r}); give "
                                  f"sweep {name!r} a folder of its own ({wording().out})")
            if other := _other_file(record, out, file):
                raise _another_file(out, name, other, file)
            if not fresh:
                _check_variant(out, name, record, quick)
            own = True
        elif entry.name not in TABLE_FILES:
            foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    # what else its own folder holds is left alone (``--fresh`` deletes points and the table only); a folder
    # that is not its own (no table or point names it) it writes nothing into
    if not own and (foreign or (out / TABLE).exists()):
        held = foreign or [TABLE]
        raise ConfigError(f"{out}: exists and is not a folder of sweep {name!r} (it holds {what_it_holds(held)}); "
                          "give a new or empty folder, or this sweep's own")
    for table in TABLE_FILES:  # (refused as they were written: after every point had run, and sweep.json rewritten)
        check_replacing(out / table)
    return out


def _check_variant(out: Path, name: str, record: dict, quick: bool | None) -> None:
    """Refuse, in one line, variant ``quick`` of sweep ``name`` a folder whose ``record`` (its ``sweep.json`` or a
    ``point.json``) says the other variant wrote it; a record of before variants were recorded says nothing."""
    held = record.get("quick")
    if quick is None or not isinstance(held, bool) or held == quick:
        return
    w = wording()
    which = f"the quick variant's ({w.quick})" if held else f"the full sweep's ({w.full})"
    this = w.quick if quick else "the full sweep"
    raise ConfigError(f"{out}: holds {which} results of sweep {name!r}; give {this} another {w.out}, or run "
                      f"{w.full if quick else 'with ' + w.quick} here ({w.fresh}: delete those results and start "
                      "over)")


def _another_file(out: Path, name: str, other: str, file: Path | None) -> ConfigError:
    """The one line refusing sweep file ``file`` a folder of another file's sweep of the same name."""
    return ConfigError(f"{out}: holds the results of another sweep named {name!r}, of the file {other}; give {file} "
                       f"a folder of its own ({wording().out}, or a sweep.name of its own)")


def point_says(folder: Path, key: str) -> object:
    """What a point folder's ``point.json`` says of ``key`` (``"sweep"``, ``"point_id"``: None where it says
    nothing); a ``point.json`` that is not JSON is one :class:`DataError` line."""
    return _point_record(folder).get(key)


def point_id_of(folder: Path) -> object:
    """The point id a point folder's ``point.json`` names (None where it has none, or none readable)."""
    try:
        return point_says(folder, "point_id")
    except DataError:
        return None


#: what every run's summary.json holds (the table's row reads them)
RUN_KEYS = ("time_s", "instances")


def point_lacks(folder: Path) -> str | None:
    """What a folder of its point lacks to be a finished run, in words (None: nothing): a summary, one that reads
    (a summary.json cut short or overwritten, by a full disk or an editor, blocked the sweep's table in a line that
    said nothing of what to do: the point is run again, as one with none), or the trace its config asks for (but
    a run that stopped, diverged or out of chip memory, is finished without one)."""
    if not (folder / SUMMARY).is_file():
        return f"has no {SUMMARY}"
    try:
        summary = read_summary(folder)
    except DataError as e:
        return f"has a damaged {SUMMARY} ({e})"
    if missing := [k for k in RUN_KEYS if k not in summary]:  # ({} made an empty row of the table)
        return f"has a damaged {SUMMARY} (no {', '.join(missing)}, which every run's holds)"
    oom = summary.get(OutOfMemory.field, {"error": ""})  # (its line goes into the table's column)
    if not (isinstance(oom, dict) and isinstance(oom.get("error"), str)):
        return f"has a damaged {SUMMARY} ({OutOfMemory.field}: not an object with the error's line)"
    if not isinstance(summary.get(Diverged.field, ""), str):  # (an object's missing line failed the table: KeyError)
        return f"has a damaged {SUMMARY} ({Diverged.field}: not the error's line)"
    if any(field in summary for field in OUTCOME_FIELDS):  # stopped (diverged, out of memory): no trace is written,
        return None  # and run again it would stop as it did, without one
    return f"has no {TRACE} (its config traces)" if _trace_missing(folder) else None


def point_finished(final: Path, point_id: str) -> bool:
    """Whether point ``point_id`` is done in its folder ``final``: that holds a point record naming the point (a run
    trained into the folder by hand holds a summary too, of another config), a summary that reads, and the trace its
    config asks for."""
    return point_id_of(final) == point_id and point_lacks(final) is None


def check_point_folder(final: Path, point_id: str) -> bool:
    """Refuse (ConfigError, one line) what stands at unfinished point ``point_id``'s folder ``final`` and is not the
    sweep's to replace; return whether a folder of the point is there (unfinished: replaced when the point is done
    again). The sweep asks it of every point before it runs any, so that a folder in the way of its last point does
    not stop it after hours of the others (a point asks again as it starts: the folder may change meanwhile), and
    ``sweep --check`` asks it too."""
    # a folder of this point without a summary that reads (edited, deleted) or the trace its config asks for is
    # unfinished: replaced when the point is done again; anything else by its name is not the sweep's to delete
    damaged = os.path.lexists(final)
    if damaged and not (final.is_dir() and not final.is_symlink() and point_id_of(final) == point_id):
        record = "has no" if not (final / POINT).exists() else "does not name the point in its"
        why = (f"a run, not known as this sweep's point: it {record} {POINT}"
               if (final / SUMMARY).is_file() else f"not a finished point of this sweep: no {SUMMARY}")
        raise ConfigError(f"{final}: in the way of point {point_id} ({why}); move it away and run the sweep again")
    if damaged and (other := not_run_outputs(final, also=(POINT,))):  # (replaced whole, they would go too)
        raise ConfigError(f"{final}: point {point_id} {point_lacks(final)} and is run again, but its folder also "
                          f"holds {what_it_holds(other)}, which no run writes: move that away first")
    return damaged


def _trace_missing(folder: Path) -> bool:
    """Whether the run in ``folder`` was asked for a trace (``executor.trace`` in its resolved config) that is
    not there. Traces are left out of committed results (tracked files stay under 1 MB, traces are larger), so
    a checkout's traced points are run again, in seconds, and its timeline figures can be drawn; a config.toml
    that cannot be read counts as a point to run again too."""
    if (folder / TRACE).is_file():
        return False
    try:
        executor = read_toml(folder / CONFIG).get("executor", {})
    except ConfigError:
        return True
    return isinstance(executor, dict) and executor.get("trace") is True


def _point_record(folder: Path) -> dict:
    """A point folder's ``point.json`` (empty where it is not an object; one :class:`DataError` line where it is
    not JSON)."""
    record = read_json(folder / POINT, error=DataError)
    return record if isinstance(record, dict) else {}


@contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of sweep folder ``out`` for the block (:func:`ampsim.locks.holding`), or raise
    :class:`RunError` at once if another process holds it.

    ``flock`` on ``out/.sweep.lock``, which holds the holder's pid: the kernel releases the lock when the
    last descriptor of its holder closes, also when the holder is killed, so no stale lock can block a
    later sweep. Processes forked while it is held (pool workers) share it: a killed sweep's folder stays
    locked until its last worker is gone. The file is deleted on release (a killed sweep leaves it behind,
    harmlessly); a process that locked the file just as it was deleted notices and locks the new one.
    """
    def busy(pid: str) -> str:
        return f"{out}: another sweep (pid {pid}) is running in this folder"

    # cloexec=False, as it always was: a program a sweep's process execs (with the descriptor) holds it too
    with holding(out / LOCK_NAME, busy=busy, what="sweep", cloexec=False):
        yield


# -- what a sweep deletes (only with the folder's lock held) ---------------------------------------------------
#: the names a point's temporaries take (:func:`temporary_path`: its folder, that folder's partial run and lock, a
#: damaged folder put aside): the only dot-entries a sweep deletes; others (``.tmp-notes.md`` of one's own) are
#: the user's
_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{12}-[0-9]+-[0-9a-f]{6}(-unfinished|\.partial|\.partial\.lock)?")


def temporary_path(final: Path, point_id: str, suffix: str = "") -> Path:
    """A new temporary folder's path for point ``point_id``, beside its folder ``final``
    (``.tmp-<id>-<pid>-<random><suffix>``: deleted by the next sweep in the folder, :func:`remove_temporaries`)."""
    return final.with_name(f".tmp-{point_id}-{os.getpid()}-{uuid.uuid4().hex[:6]}{suffix}")


def remove_temporaries(out: Path) -> None:
    """Delete the temporaries of points that did not finish, and those of a table or ``sweep.json`` whose writer
    was killed as it wrote them (``.table.<pid>.tmp.csv``: they stayed for good) (call only with the folder's
    lock)."""
    for stale in (p for name in TABLE_FILES for p in left_by_killed_writers(out / name)):
        stale.unlink(missing_ok=True)
    for stale in out.glob(".tmp-*"):  # folders, and the lock files of their runs (a killed one leaves it)
        if not _TEMPORARY.fullmatch(stale.name):  # (a file of the user's: they deleted all of ".tmp-*")
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def fresh_deletes(entry: Path) -> bool:
    """Whether ``--fresh`` deletes ``entry`` of its sweep folder as a point: a folder holding a ``point.json`` (not a
    link to one elsewhere: not this sweep's result, and ``rmtree`` refuses links)."""
    return not entry.is_symlink() and entry.is_dir() and (entry / POINT).is_file()


def check_clearable(out: Path) -> None:
    """Refuse, in one line and changing nothing, a point folder of ``out`` that ``--fresh`` would delete but that also
    holds files no run writes (a figure, another sweep put inside it)."""
    for p in sorted(out.iterdir()):
        if fresh_deletes(p) and (other := not_run_outputs(p, also=(POINT,))):
            raise ConfigError(f"{p}: this sweep's point also holds {what_it_holds(other)}, which no run writes; "
                              f"{wording().fresh} would delete it with the point: move it away first")


def clear_sweep_folder(out: Path) -> None:
    """Delete a sweep folder's results (point folders, temporaries, table) and nothing else: a point folder
    that also holds files no run writes is refused first, in one line (:func:`check_clearable`).

    Cut short anywhere (Ctrl-C, SIGKILL), it leaves a folder the same command finishes: the table goes first (no
    table over points partly gone), and each point is renamed to a temporary before it is deleted, in one step.
    ``rmtree`` of the point itself deleted its ``point.json`` first (ext4's directory order), and the folder it
    left, a run no point record names, failed every later sweep of the folder, ``--fresh`` or not."""
    check_clearable(out)
    for name in TABLE_FILES:
        if (table := out / name).is_file() and not table.is_symlink():
            table.unlink()
    for p in out.iterdir():
        if fresh_deletes(p):
            gone = temporary_path(p, uuid.uuid4().hex[:12], "-unfinished")  # (any 12 hex digits: p is any name)
            os.rename(p, gone)  # (a temporary from here on: what an interrupted rmtree leaves, the next run deletes)
            shutil.rmtree(gone)
        elif not p.is_symlink() and p.is_dir() and _TEMPORARY.fullmatch(p.name):
            shutil.rmtree(p)

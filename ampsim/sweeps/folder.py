"""A sweep's folder: what it may hold, and one sweep at a time in it.

A sweep folder holds this sweep's point folders (each a run folder with ``point.json`` naming the sweep),
``table.csv`` and ``sweep.json`` (naming it too), and dot-entries (``.sweep.lock``, ``.tmp-*`` points being
trained). A sweep writes there, and with ``--fresh`` deletes point folders and the table, so
:func:`check_sweep_folder` lets it in only where that can cost no one else's result: a new or empty folder,
or this sweep's own. :func:`sweep_lock` keeps a second sweep out while one runs.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ampsim.errors import ConfigError, DataError
from ampsim.files import check_output_dir, read_json, what_it_holds
from ampsim.locks import holding
from ampsim.results import enclosing_run
from ampsim.runfiles import POINT
from ampsim.tables import TABLE, TABLE_FILES, read_table_info

__all__ = ["LOCK_NAME", "check_sweep_folder", "sweep_lock"]

LOCK_NAME = ".sweep.lock"


def check_sweep_folder(out: str | Path, name: str) -> Path:
    """Check, changing nothing, that sweep ``name`` may write into ``out``; returns ``Path(out)``.

    Raises :class:`~ampsim.errors.ConfigError` in one line where ``out`` cannot be a folder this process
    writes (:func:`~ampsim.files.check_output_dir`), or holds another sweep's results (its ``sweep.json``, or
    a point's ``point.json``, names another sweep), or is not this sweep's folder (neither its ``sweep.json``
    nor a point names it) and holds anything (a run's files, a table, a folder of one's own): a finished
    result is never written over or deleted by a sweep that is not its own. This sweep's own folder may hold
    files of its user's besides (they are left alone).
    """
    out = check_output_dir(out)
    inside = enclosing_run(Path(os.path.realpath(out)))
    if inside is not None:  # (re-running that run or point, or its sweep's --fresh, would delete this one)
        raise ConfigError(f"{out}: is inside the finished run {inside}; give sweep {name!r} a folder outside it")
    if not out.is_dir():
        return out
    info = read_table_info(out)
    if info is not None and info.get("name") != name:
        raise ConfigError(f"{out}: holds the results of another sweep ({info.get('name')!r}); give sweep "
                          f"{name!r} a folder of its own (--out)")
    foreign, own = [], info is not None
    for entry in sorted(out.iterdir()):
        if entry.name.startswith("."):  # the lock, points being trained
            continue
        if entry.is_dir() and (entry / POINT).is_file():
            owner = point_says(entry, "sweep")
            if owner is None:  # (not a point's record: "a point of another sweep (... of None)" said otherwise)
                raise ConfigError(f"{out}: {entry.name}/{POINT} is not a sweep point's record (an object naming its "
                                  "sweep); move the folder away")
            if owner != name:
                raise ConfigError(f"{out}: holds a point of another sweep ({entry.name}/ of {owner!r}); give "
                                  f"sweep {name!r} a folder of its own (--out)")
            own = True
        elif entry.name not in TABLE_FILES:
            foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    # what else its own folder holds is left alone (``--fresh`` deletes points and the table only); a folder
    # that is not its own (no table or point names it) it writes nothing into
    if not own and (foreign or (out / TABLE).exists()):
        held = foreign or [TABLE]
        raise ConfigError(f"{out}: exists and is not a folder of sweep {name!r} (it holds {what_it_holds(held)}); "
                          "give a new or empty folder, or this sweep's own")
    return out


def point_says(folder: Path, key: str) -> object:
    """What a point folder's ``point.json`` says of ``key`` (``"sweep"``, ``"point_id"``: None where it says
    nothing); a ``point.json`` that is not JSON is one :class:`DataError` line."""
    record = read_json(folder / POINT, error=DataError)
    return record.get(key) if isinstance(record, dict) else None


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

"""Run folders, written so that an interrupted run loses nothing finished.

Layout of ``results/<run>/``:

* ``config.toml`` — the resolved experiment (every default filled in); ``ampsim train`` accepts it back.
* ``metrics.csv`` — one row per epoch, of the columns :func:`ampsim.runfiles.metrics_columns` (``wall_s`` not
  where simulated). ``time_s`` is the executor's clock (wall seconds, or simulated seconds for the simulator).
  Rows are appended and flushed as each epoch ends.
* ``summary.json`` — final and best metric, time to target, throughput, executor extras (utilization,
  staleness, memory).
* ``environment.json`` — what it ran with beyond its config (:mod:`ampsim.environment`); ``hardware.toml`` — a
  copy of its hardware file (:mod:`ampsim.hardware.source`); ``staleness.json`` — per-update staleness.
* executor artifacts: ``placement.json``, ``trace.json``, ``timing.json`` (see the executors).

A run never destroys or mixes with a finished one (:class:`RunDir`): it is written into the sibling
``<run>.partial/`` and swapped in whole when it completes (atomically on Linux: ``renameat2`` exchange),
so ``results/<run>/`` holds either the earlier run or the new one, never parts of both. If the run
fails or is interrupted, ``results/<run>/`` is untouched and ``<run>.partial/`` keeps the rows written
so far (metrics rows are flushed as each epoch ends); the next run into ``<run>`` deletes it. An existing
folder that is not a run folder (it holds sub-folders or none of config.toml, metrics.csv, summary.json),
a run folder that also holds files no run writes (:data:`ampsim.runfiles.RUN_OUTPUTS`; a desktop's aside), and a
sweep's point (:data:`ampsim.runfiles.POINT`) are never replaced: the run is refused before any work.

Their one reader (``metrics.csv``, ``summary.json``, any CSV table) is :mod:`ampsim.runread`; tables of runs (a
sweep's ``table.csv`` and ``sweep.json``) are :mod:`ampsim.tables`'.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from contextlib import suppress
from pathlib import Path
from typing import Any

from ampsim import jsontext
from ampsim.environment import describe as describe_environment
from ampsim.errors import ConfigError, RunError
from ampsim.files import os_error_cause
from ampsim.folders import (
    STAGING_MARK,
    make_staging,
    missing_folders,
    remove_empty,
    remove_staging,
    replace_folder,
    restore_aside,
    staging_in_the_way,
    unmark_staging,
)
from ampsim.locks import LockHeld, lock_file, unlock_file
from ampsim.outputs import check_output_dir, entries_of, replacing, what_it_holds
from ampsim.runfiles import CONFIG, ENVIRONMENT, METRICS, POINT, RUN_FILES, RUN_OUTPUTS, SUMMARY, holds_finished_run
from ampsim.wording import wording

__all__ = ["RunDir", "finished_note", "check_not_inside_run", "check_run_folder", "enclosing_run", "not_run_outputs",
           "partial_path", "atomic_write", "write_json"]

log = logging.getLogger(__name__)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and a rename: whole or absent."""
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, jsontext.dumps(obj) + "\n")  # json.dumps(plain(obj), indent=2, sort_keys=True)


def partial_path(out: str | Path) -> Path:
    """Where a run into ``out`` is written until it is complete: the sibling folder ``<out>.partial``, beside the
    folder the kernel opens at ``out``: symlinks followed, a link to a run folder included (it is replaced where
    it points, so its partial sibling lives there, on its file system). ``out`` as written where no symlink is on
    its way (a relative one stays relative, as messages show it)."""
    real = Path(os.path.realpath(out))
    # (not os.path.abspath: "link/../x" is "x" beside the link as text, but the kernel's is beside the link's
    # target, so two spellings of one folder locked two partial paths and two runs wrote it at once)
    partial = real.with_name(real.name + ".partial")
    if os.path.isabs(out) or str(real) != os.path.abspath(out):
        return partial
    return Path(os.path.relpath(partial))


def _is_run_folder(folder: Path) -> bool:
    entries = list(folder.iterdir())
    return not entries or (not any(e.is_dir() for e in entries) and any(e.name in RUN_FILES for e in entries))


def check_run_folder(out: str | Path) -> Path:
    """Check, changing nothing, that a run can be written to ``out`` and swapped in there; returns ``Path(out)``.
    (Where ``out`` is missing because a replacement of it was stopped between its two renames, the earlier run it
    set aside is first put back: :func:`~ampsim.folders.restore_aside`.)

    Raises :class:`~ampsim.errors.ConfigError` in one line if ``out`` (or its ``.partial`` sibling) cannot
    be created or written, is the file system root or holds the working folder, is an existing folder
    that is not a run folder (which a run would replace whole), or is a sweep's point.
    """
    out = Path(out)
    restore_aside(out)
    check_output_dir(out)
    real = Path(os.path.realpath(out))
    if real.parent == real:
        raise ConfigError(f"{out}: cannot be a run folder (the file system root); give a folder below it")
    cwd = Path.cwd()
    if real == cwd or real in cwd.parents:
        raise ConfigError(f"{out}: holds the working folder, so it cannot be replaced by a run; give a folder below it")
    check_not_inside_run(out)
    if (real / POINT).is_file():  # a sweep's finished point, which the sweep would take as still its own
        raise ConfigError(f"{out}: is a sweep's point (it holds {POINT}); a run would replace it, and the "
                          "sweep would take that run for its point: give another folder")
    if real.is_dir() and (real / STAGING_MARK).exists():  # (its mark is no file of the user's to move away)
        of = Path(out).with_name(Path(out).name.removesuffix(".partial"))
        raise ConfigError(f"{out}: the staging folder of a run into {of} (written there first; kept from one cut "
                          f"short, or being written now), which the next run into {of} deletes: give another folder")
    if real.is_dir() and not _is_run_folder(real):
        raise ConfigError(f"{out}: exists and is not a run folder (it holds {what_it_holds(entries_of(real))}); a "
                          "run replaces its folder whole, so give a new or empty folder, or an earlier run's")
    # (a figure plotted there; a desktop's or an editor's own files are not results: they go with the folder)
    if real.is_dir() and (other := not_run_outputs(real)):
        raise ConfigError(f"{out}: an earlier run's folder that also holds {what_it_holds(other)}, which no run "
                          "writes; a run replaces its folder whole: move that out first, or give another folder")
    partial = partial_path(out)
    if (why := staging_in_the_way(partial, legacy=_left_partial)) is not None:  # (deleted by the run: not ours)
        if os.path.isfile(partial / SUMMARY):  # (written last: a finished run's, as a run stopped between the two
            why = (f"holds a finished run (written there with --out, or the run that was replacing {out} when it was "
                   f"stopped: to keep that one, put it in place of {out})")  # renames of replace_folder leaves it)
        raise ConfigError(f"{out}: {partial} is in the way (a run is written there first) and {why}; move it away")
    return out


def _left_partial(folder: Path) -> bool:
    """Whether ``folder``, unmarked, is a partial run an earlier version left (it marked none): run files only,
    no summary (a finished run's, which ``--out x.partial`` makes, is not deleted by a run into ``x``)."""
    names = entries_of(folder)
    return (not any((folder / n).is_dir() for n in names) and not not_run_outputs(folder)
            and SUMMARY not in names)


def enclosing_run(path: Path) -> Path | None:
    """The nearest folder above ``path`` (resolved) that holds a finished run (a sweep's point is one): its
    ``config.toml`` and its ``summary.json``, which a run writes last. A run or a sweep written at ``path``
    would sit inside it, and replacing that run (a re-run, a sweep's ``--fresh``) would delete it too. (Not
    any file of a run's name: a working folder keeps an experiment's ``config.toml``, or a ``point.json``.)"""
    return next((p for p in path.parents if holds_finished_run(p)), None)


def check_not_inside_run(out: str | Path, way_out: str = "give a folder outside it") -> None:
    """One ConfigError line, ending with ``way_out``, where ``out`` is inside a finished run (:func:`enclosing_run`):
    anything made there would leave that run no run folder (never run again), and replacing the run would delete
    it. The run's own folder is not inside it."""
    if (inside := enclosing_run(Path(os.path.realpath(out)))) is not None:
        raise ConfigError(f"{out}: is inside the finished run {inside}; {way_out}")


def not_run_outputs(folder: Path, also: tuple[str, ...] = ()) -> list[str]:
    """The entries of run folder ``folder`` that no run writes (nor ``also``; a desktop's or an editor's own
    files aside): the user's, which replacing the folder whole would delete."""
    return [e for e in entries_of(folder) if e not in RUN_OUTPUTS and e not in also and not _junk(e)]


def _junk(name: str) -> bool:
    """A file a desktop or an editor leaves in any folder it shows (macOS's, Windows's, vim's)."""
    return name in (".DS_Store", "Thumbs.db", "desktop.ini") or name.startswith("._") or name.endswith((".swp", "~"))


class RunDir:
    """A run folder being written: into ``<path>.partial/`` until :meth:`commit` swaps it in at ``path``.

    Create it (checks ``path`` first, see :func:`check_run_folder`; deletes a stale ``.partial`` left by
    an earlier failed run; writes ``environment.json``, :mod:`ampsim.environment`), write the config, append
    metric rows (each flushed as its epoch ends), the summary and artifacts, then :meth:`commit`
    (``run_training`` commits when the run is complete). Used as a context manager, a run that raises is
    abandoned: ``path`` is untouched and, if rows were written and ``keep_partial``, ``<path>.partial/`` is
    kept and the exception gets a note saying so (the CLI adds it to its one line); else it is removed
    (``keep_partial`` false: a run into a temporary folder, whose partial run would be lost with it). Two
    runs into one folder at once: the second is refused.
    """

    def __init__(self, path: str | Path, *, keep_partial: bool = True) -> None:
        self.final = check_run_folder(path)
        self.target = Path(os.path.realpath(self.final)) if self.final.is_symlink() else self.final
        self.partial = partial_path(self.final)
        self.lock_path = self.partial.with_name(self.partial.name + ".lock")
        self.keep_partial = keep_partial
        self.path = self.partial  # where files go now; the final folder once committed
        self.metrics_path = self.path / METRICS
        self.epochs = 0
        self.committed = False
        self.aside = False  # finished, but kept in the partial folder: its folder took what it may not replace
        self._columns: list[str] | None = None
        self._lock: int | None = self._claim()
        try:  # what it runs with beyond its config, before any worker starts (the facts' git is a child process)
            self.write_json(ENVIRONMENT, describe_environment())
        except BaseException:  # (no context is entered yet: nothing else would release the lock)
            self._release()
            shutil.rmtree(self.partial, ignore_errors=True)
            self._remove_made()
            raise

    def _claim(self) -> int:
        """Hold the run's lock (``<out>.partial.lock``, :func:`~ampsim.locks.lock_file`) for its life, then make
        a fresh partial folder (one left by a run that is gone is deleted first). The lock comes first: a
        partial folder made before it is locked could be taken for a stale one and deleted by another run, or
        written by two."""
        #: the folders above it that did not exist (deepest first): a failed run that keeps nothing removes them
        self._made = missing_folders(self.partial.parent)
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            fd = lock_file(self.lock_path)
        except LockHeld:
            raise RunError(f"{self.final}: another run is writing it now (it holds {self.partial}); "
                           f"wait for it or give another {wording().out}") from None
        except OSError as e:
            raise ConfigError(f"{self.partial}: cannot create the run folder: {os_error_cause(e)}") from None
        try:
            remove_staging(self.partial, legacy=_left_partial)  # (made meanwhile? refused under the lock too)
            make_staging(self.partial)
        except ConfigError:
            unlock_file(fd, self.lock_path)
            raise
        except OSError as e:
            unlock_file(fd, self.lock_path)
            raise ConfigError(f"{self.partial}: cannot create the run folder: {os_error_cause(e)}") from None
        return fd

    def _release(self) -> None:
        if self._lock is not None:
            unlock_file(self._lock, self.lock_path)
            self._lock = None

    def _remove_made(self) -> None:
        """Remove the folders :meth:`_claim` made above the run's, where they are empty (a failed run into
        ``new/run`` left an empty ``new/``; a kept partial run keeps its own)."""
        remove_empty(getattr(self, "_made", []))

    def write_config(self, toml_text: str) -> None:
        atomic_write(self.path / CONFIG, toml_text)

    def append_metrics(self, row: dict) -> None:
        """Append one epoch's row; the file is closed (flushed) before this returns."""
        new = self._columns is None
        if new:
            self._columns = list(row)
        with open(self.metrics_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._columns)
            if new:
                w.writeheader()
            w.writerow({k: _fmt(row.get(k)) for k in self._columns})
            # counted before the row reaches the file (the close flushes it, an interrupt's too): a Ctrl-C or
            # SIGTERM as the file closed found the row written and the epoch not counted, and deleted the run
            self.epochs += 1

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / SUMMARY, summary)

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.path / name, obj)

    def write_bytes(self, name: str, data: bytes) -> None:
        with replacing(self.path / name) as tmp:
            tmp.write_bytes(data)

    def commit(self) -> Path:
        """The run is complete: swap it in at ``path`` (the earlier content is replaced whole). Idempotent."""
        if not self.committed:
            def in_place() -> None:  # (before the earlier run is deleted: a Ctrl-C then finds this one in place)
                self.committed = True
                self.path, self.metrics_path = self.final, self.final / METRICS

            try:
                unmark_staging(self.partial)  # (a finished run carries no mark: a folder of it is never deleted)
                if held := os.path.isdir(self.target) and not_run_outputs(self.target):  # (a sweep, a figure: since)
                    self.aside = True
                    raise RunError(f"{self.final}: not replaced: it holds {what_it_holds(held)} since the run "
                                   f"began; the finished run is in {self.partial}")
                replace_folder(self.partial, self.target, swapped=in_place)
            except OSError as e:
                if not self.committed:  # (kept: the next run into path may delete it again)
                    with suppress(OSError):
                        (self.partial / STAGING_MARK).touch()
                raise RunError(f"{self.final}: cannot put the finished run in place ({e.strerror or e}); it is kept "
                               f"in {self.partial}") from None
            finally:
                self._release()
        return self.final

    def abandon(self) -> str | None:
        """The run failed: leave ``path`` untouched; keep or remove the partial folder. Returns what
        became of it, as a note for the error line (None if nothing was kept). The lock goes last: the next
        run into ``path`` must not find its own partial folder being removed."""
        try:
            if self.committed or self.aside:
                return None
            if self.keep_partial and self.epochs:
                earlier = ("the earlier run there is untouched" if os.path.isdir(self.target)
                           else f"no run was at {self.final} before")
                return (f"the partial run ({self.epochs} epoch{'s' if self.epochs != 1 else ''}) is kept in "
                        f"{self.partial} until the next run into {self.final}; {earlier}")
            shutil.rmtree(self.partial, ignore_errors=True)
            return None
        finally:
            self._release()
            self._remove_made()  # (after the lock file, which is in the folder above, is gone)

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            try:
                self.commit()
            except KeyboardInterrupt as stopped:  # as the earlier run was deleted: this one is in place
                if self.committed:
                    stopped.add_note(finished_note(self.final))
                raise
        elif self.committed:  # finished and in place before (an interrupt as the workers stopped): it stays
            exc.add_note(finished_note(self.final))
        else:
            note = self.abandon()
            if note is None and isinstance(exc, KeyboardInterrupt):  # (an error's own line says what went wrong)
                note = self._nothing_kept()
            if note:
                exc.add_note(note)
        return False

    def _nothing_kept(self) -> str:
        """Why an interrupted run left nothing: no epoch had finished, or the run keeps no partial run (the API's
        run without ``out``, a sweep's point; it said "no epoch had finished" after epochs had)."""
        if not self.epochs:  # (without keep_partial, the folder is a temporary one, now gone: not named)
            return "no epoch had finished, so nothing was kept" + (f"; {self.final} is as it was"
                                                                   if self.keep_partial else "")
        return (f"{self.epochs} epoch{'s' if self.epochs != 1 else ''} had finished, but nothing was kept (a run "
                "into a temporary folder keeps no partial run)")


def finished_note(out: str | Path) -> str:
    """The note an interrupt gets once the run is in place at ``out`` (as it stops, or as it is read back)."""
    return f"the run had finished: {out} holds it"


def _fmt(v: Any) -> Any:
    return repr(v) if isinstance(v, float) else "" if v is None else v

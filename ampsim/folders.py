"""Replacing a folder whole: :func:`replace_folder` puts a finished folder (a run's, a calibrated model's, a
compare's) in place of the earlier one, which readers see whole, old or new, never a mix.

Where Linux can, the two folders are swapped in one step (``renameat2(RENAME_EXCHANGE)``). Elsewhere (another
system, a file system that cannot swap) the earlier folder is renamed aside to ``.<name>.old-<pid>``, the new one
renamed in, and the aside one deleted. A process stopped during that deletion (Ctrl-C, killed, the machine off)
leaves the aside folder behind; the next replacement of the same folder deletes it, once process ``<pid>`` is
gone: while that process runs it may still need it (its new folder failed to go in: the aside one goes back).
One stopped between the two renames left no folder at all, the earlier one aside: :func:`restore_aside` puts it
back, as the next replacement begins and as a run or compare into the folder is checked, before any clean-up.

A folder is staged (a run's or a compare's ``<out>.partial/``) in a folder :func:`make_staging` marks as one
(:data:`STAGING_MARK`, taken out by :func:`unmark_staging` just before the swap). A staging folder left by a
run cut short is deleted by the next one, but only where :func:`staging_in_the_way` finds it is one: a folder
of that name that the user made or ran into (``--out x.partial``, then ``--out x``) was deleted whole. For the
same reason no command writes its output inside a marked folder (:func:`check_not_in_staging`).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Callable

from ampsim.errors import ConfigError
from ampsim.wording import wording

__all__ = ["STAGING_MARK", "check_not_in_staging", "gone_since", "make_staging", "missing_folders", "process_gone",
           "remove_empty", "remove_staging", "replace_folder", "restore_aside", "staging_in_the_way", "unmark_staging"]

log = logging.getLogger(__name__)

#: the file that marks a folder as a staging folder (made by :func:`make_staging`), which only ampsim deletes
STAGING_MARK = ".ampsim-staging"

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).
    Returns False where the system or file system cannot (the caller falls back to two renames)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def replace_folder(new: str | Path, target: str | Path, swapped: Callable[[], None] = lambda: None) -> None:
    """Put the folder ``new`` at ``target`` (same file system), replacing whatever folder was there whole.

    Readers of ``target`` see the old content or the new, never a mix: where Linux can, the two are
    swapped atomically; elsewhere the old folder is renamed aside for the instant between two renames (and
    aside folders that earlier replacements of ``target`` left, their processes gone, are deleted; one that such a
    replacement, stopped between its renames, left in place of a missing ``target`` is first put back:
    :func:`restore_aside`). ``swapped()`` runs as soon as ``target`` holds the new content, before the old is
    deleted (a Ctrl-C then finds the new in place, and the caller knows). Raises OSError (the old ``target`` is
    then intact).
    """
    new, target = Path(new), Path(target)
    restore_aside(target)  # (then replaced as any earlier folder: never deleted as a leftover while it is the last)
    if not os.path.lexists(target):
        os.rename(new, target)
        return swapped()
    if _exchange(new, target):
        swapped()
        return shutil.rmtree(new, ignore_errors=True)  # now holds the old content
    aside = target.with_name(f".{target.name}.old-{os.getpid()}")
    _remove_leftovers(target, aside)
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:  # (an error, or a Ctrl-C between the two renames: the old folder goes back)
        if not os.path.lexists(target):  # (a Ctrl-C just after the new one went in leaves that in place)
            os.rename(aside, target)
        raise
    swapped()
    shutil.rmtree(aside, ignore_errors=True)


def restore_aside(target: str | Path) -> bool:
    """Put back at the missing ``target`` the folder that a replacement of it renamed aside (``.<name>.old-<pid>``)
    and was stopped (killed, the machine off) before renaming the new one in: else that earlier, finished folder
    was missing to every reader, and the next replacement deleted it as a leftover. Only one of a process that is
    gone: a live one is between its renames, and puts it back itself if its new folder does not go in (or it is
    stopped). Of several, the one set aside last. Returns whether one was put back; nothing where ``target`` is
    there.

    >>> restore_aside("/")
    False
    """
    target = Path(target)
    if os.path.lexists(target):
        return False
    stopped = [e for e, pid in _asides(target)
               if e.is_dir(follow_symlinks=False) and gone_since(pid, _renamed_at(e) / 1e9)]  # (a reused pid too)
    if not stopped:
        return False
    last = max(stopped, key=_renamed_at)  # (a rename sets a folder's ctime)
    try:
        os.rename(last.path, target)
    except OSError as e:
        if not os.path.lexists(target):  # (else made meanwhile: nothing is missing)
            log.warning("%s: missing, and %s, left by a replacement of it that was stopped, cannot be put back: %s",
                        target, last.path, e)
        return False
    log.warning("%s: put back from %s, where a replacement of it that was stopped left it", target, last.path)
    return True


def _renamed_at(entry: os.DirEntry) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_ctime_ns
    except OSError:  # (gone meanwhile: the rename says so)
        return 0


def _asides(target: Path) -> list[tuple[os.DirEntry, int]]:
    """The aside folders of ``target`` (``.<name>.old-<pid>``) beside it, each with its pid; none where its folder
    cannot be read (the rename that follows says what is wrong, if anything)."""
    pattern = re.compile(re.escape(f".{target.name}.old-") + r"([1-9][0-9]{0,6})")  # (Linux pids: < 2**22)
    try:
        return [(e, int(m[1])) for e in os.scandir(target.parent) if (m := pattern.fullmatch(e.name))]
    except OSError:
        return []


def _remove_leftovers(target: Path, aside: Path) -> None:
    """Delete the aside folders of ``target`` (``.<name>.old-<pid>``) whose process is gone, and ``aside``, this
    process's own name for one: a call of this process that was stopped while deleting it left it (the callers
    hold ``target``'s lock, so no other call of this process is using it), and renaming onto it would fail.
    Looked for only where aside folders are made: a file system that swaps folders has none. (One that a
    replacement stopped between its renames left in place of ``target`` was put back first: :func:`restore_aside`.)"""
    for entry, pid in _asides(target):
        if entry.name == aside.name or (entry.is_dir(follow_symlinks=False)
                                        and gone_since(pid, _renamed_at(entry) / 1e9)):
            log.info("removing %s, left by a replacement of %s that was stopped (process %d)", entry.path,
                     target, pid)
            shutil.rmtree(entry.path, ignore_errors=True)


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and the folders above it that do not exist yet, deepest first: what making it creates, for
    :func:`remove_empty` to take back if what was to go there fails.

    >>> [p.name for p in missing_folders(Path("/nonexistent/a/b"))]
    ['b', 'a', 'nonexistent']
    """
    return [d for d in (folder, *folder.parents) if not d.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first, as :func:`missing_folders` lists them) where they are empty: the first
    that holds anything (a kept result, another run's) stays, and so do the ones above it."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            break


def process_gone(pid: int) -> bool:
    """True if no process ``pid`` runs on this machine (another user's process is one; so is a pid beyond any:
    OverflowError).

    >>> process_gone(os.getpid())
    False
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's process: a signal to it is refused, not failed
        pass
    return False


def gone_since(pid: int, since: float) -> bool:
    """True if process ``pid`` cannot be the one that was running at ``since`` (a :func:`time.time`): it is
    gone (:func:`process_gone`), or the process under that pid now started later (pids are reused: a
    container's ampsim is pid 1 at every start, and a save killed there left its temporary, named by its pid,
    for ever). Where ``/proc`` does not tell a process's start (not Linux), only a gone process counts.

    >>> import time
    >>> gone_since(os.getpid(), time.time())  # (and, on Linux, True at 0.0: this process started since)
    False
    """
    if process_gone(pid):
        return True
    try:  # (field 22 of /proc/<pid>/stat: the start in clock ticks since boot; the name before it may hold spaces)
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return boot + ticks / os.sysconf("SC_CLK_TCK") > since + 2.0  # (boot time is in whole seconds)


def make_staging(folder: Path) -> None:
    """Make the new folder ``folder`` (parents too) to stage a folder in, marked as a staging folder."""
    folder.mkdir(parents=True)
    (folder / STAGING_MARK).touch()


def unmark_staging(folder: Path) -> None:
    """Take the mark out of staging folder ``folder``, as it is about to be swapped in (the result carries none)."""
    (folder / STAGING_MARK).unlink(missing_ok=True)


def staging_in_the_way(folder: Path, legacy: Callable[[Path], bool] = lambda _: False) -> str | None:
    """Why the existing ``folder`` at a staging folder's path may not be deleted to make a new one, in words; None
    where it may: nothing is there, or a staging folder left by a run cut short (marked, or ``legacy(folder)``: one
    an earlier version left, unmarked, as its caller recognises it)."""
    if not os.path.lexists(folder):
        return None
    if folder.is_symlink() or not folder.is_dir():
        return "is not a folder"
    if os.path.lexists(folder / STAGING_MARK) or legacy(folder):
        return None
    return "is not a staging folder ampsim left (it is a folder of its own, or a finished run)"


def check_not_in_staging(out: str | Path) -> None:
    """Refuse, in one line, an output ``out`` (a folder or a file) inside the staging folder of a run or compare
    that did not finish (``C.partial/``, marked), or that staging folder itself: the next run or compare into
    ``C`` deletes it, and with it what a command wrote there (a finished run, sweep, compare or model). Every
    command that takes an output checks it with this one check."""
    real = Path(os.path.realpath(out))
    if staging := next((f for f in (real, *real.parents) if os.path.lexists(f / STAGING_MARK)), None):
        raise ConfigError(f"{out}: inside {staging}, the staging folder of a run or compare that did not finish, "
                          f"which the next one into its folder deletes (with what is written there); give "
                          f"{wording().out} elsewhere")


def remove_staging(folder: Path, legacy: Callable[[Path], bool] = lambda _: False) -> None:
    """Delete the staging folder ``folder`` that a run cut short left (nothing if there is none); raise
    :class:`~ampsim.errors.ConfigError` in one line, deleting nothing, where it is something else
    (:func:`staging_in_the_way`)."""
    if (why := staging_in_the_way(folder, legacy)) is not None:
        raise ConfigError(f"{folder}: is in the way (ampsim stages its output there, then deletes it) and {why}; "
                          "move it away first")
    if os.path.lexists(folder):
        log.info("removing %s, left by an earlier run that did not finish", folder)
        shutil.rmtree(folder)

"""Lock files: one holder at a time for a folder being written (a run's ``<out>.partial.lock``, a sweep's
``.sweep.lock``), none left stale by a holder that died.

Life cycle::

    lock_file(path) ──► create, flock (LOCK_EX | LOCK_NB) ──► the same file still at path? ──► write our pid
         │                    │ held by another: LockHeld(its pid)   │ no: it was just deleted: again
         ▼
    unlock_file(fd, path) ──► delete the file while holding it ──► close (the kernel drops the lock)

Contract: the kernel drops a lock when the last descriptor of its holder closes, also when the holder is
killed, so no stale lock blocks a later holder; a killed holder leaves its file, which the next one locks and
deletes in turn.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ampsim.errors import ConfigError, RunError
from ampsim.files import os_error_cause

__all__ = ["LockHeld", "lock_file", "unlock_file", "holding", "measuring"]

log = logging.getLogger(__name__)


class LockHeld(Exception):
    """A lock file another process holds (``holder``: the pid it wrote there, or ``"unknown"``)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def lock_file(path: str | Path, *, cloexec: bool = True) -> int:
    """Take an exclusive ``flock`` on the lock file ``path`` (created if need be) and write this process's pid
    into it; returns its descriptor, to give to :func:`unlock_file`. Raises :class:`LockHeld` at once if another
    process holds it, and ``OSError`` if it cannot be made or written.

    The kernel drops the lock when the last descriptor of its holder closes, also when the holder is killed
    (forked children share it; with ``cloexec``, programs they exec do not), so no stale lock can block a later
    holder. :func:`unlock_file` deletes the file while it still holds it; a process that locked a file just
    deleted notices and locks the new one.
    """
    import fcntl

    path = Path(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_CLOEXEC if cloexec else 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise LockHeld(holder) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # we locked a file the previous holder had just deleted: lock the current one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        unlock_file(fd, path)
        raise
    return fd


def unlock_file(fd: int, path: str | Path) -> None:
    """Delete the lock file ``path`` (while still holding it: no one else is using it) and release ``fd``, also
    when the deletion is interrupted (a Ctrl-C there kept the descriptor, and the lock, for the rest of the process:
    a sweep's folder refused every later sweep of an API caller's session as "another sweep (pid <its own>)")."""
    try:
        os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _lock_holder(fd: int) -> str:
    """The pid the lock's holder wrote into the lock file (it may not have written it yet: wait a little)."""
    import time

    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.01)
    return "unknown"


@contextmanager
def holding(path: str | Path, *, busy: Callable[[str], str], what: str, cloexec: bool = True) -> Iterator[None]:
    """Hold the lock file ``path`` (its folder made if need be) for the block, refusing at once in one line:
    :class:`~ampsim.errors.RunError` ``busy(the holder's pid)`` if another process holds it,
    :class:`~ampsim.errors.ConfigError` "cannot create the ``what`` lock" if it cannot be made. ``cloexec``:
    as for :func:`lock_file` (False: programs the holder's children exec hold it too)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = lock_file(path, cloexec=cloexec)
    except LockHeld as held:
        raise RunError(busy(held.holder)) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot create the {what} lock: {os_error_cause(e)}") from None
    try:
        yield
    finally:
        unlock_file(fd, path)


#: this process's depth in :func:`measuring` (a compare's calibration measures inside the compare: one announcement)
_MEASURING = [0]


def measuring_lock_path() -> Path:
    """Where a measurement of this machine announces itself: ``$AMPSIM_MEASURING_LOCK``, else
    ``ampsim-measuring.lock`` in the temporary folder (one for the machine: anyone's measurement distorts anyone's)."""
    return Path(os.environ.get("AMPSIM_MEASURING_LOCK") or Path(tempfile.gettempdir()) / "ampsim-measuring.lock")


@contextmanager
def measuring(what: str) -> Iterator[None]:
    """Hold, for the block, the machine's measuring lock (:func:`measuring_lock_path`), as ``what`` measures
    wall-clock times (``ampsim calibrate``, a compare's measured runs); where another process holds it, warn that
    the two distort each other's times, and measure anyway: two at once on shared cores is a noisy machine, which
    the numbers of both then describe (a compare that refused would not have said why its numbers were off either).
    Nested in the same process (a compare's own calibration), the outer block's announcement holds."""
    if _MEASURING[0]:
        _MEASURING[0] += 1
        try:
            yield
        finally:
            _MEASURING[0] -= 1
        return
    path, fd = measuring_lock_path(), None
    try:
        fd = lock_file(path)
    except LockHeld as held:
        log.warning("%s: another ampsim measurement (pid %s) is running on this machine; each slows the other, so "
                    "these wall-clock times are not this machine's alone: measure again once it has finished",
                    what, held.holder)
    except OSError as e:  # (another user's lock file, a read-only /tmp: nothing to announce with, nothing to refuse)
        log.debug("measuring lock %s: %s", path, os_error_cause(e))
    _MEASURING[0] += 1
    try:
        yield
    finally:
        _MEASURING[0] -= 1
        if fd is not None:
            unlock_file(fd, path)

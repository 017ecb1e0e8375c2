"""Parsed data files kept for the life of the process, so that a sweep's worker parses a dataset once
rather than once per point.

Parsing is most of what building a task costs, and a sweep point builds its task anew, in a worker that
ran the points before it: built again in the same process, SST's task (whole splits) takes 0.43 s with its
trees kept and 1.58 s parsed again, QM9's 0.031 s against 1.74 s (``python -m benchmarks.bench_data``,
2026-12-05), where a replayed 300-tree point on a 1,024-chip machine takes about half a second. A reader
wrapped in :func:`parsed` runs once per file version and arguments::

    trees = memo.parsed(path, read_trees, limit)   # read_trees(path, limit), or the earlier result

Life cycle: a miss calls the reader; its result is kept under the file's real path, its contents' BLAKE2b
digest and the reader's arguments → a later call with the same key returns it → a file replaced or edited
on disk has a new key and is read again; the least recently used result is dropped beyond :data:`SLOTS`.
The key is the contents, not the file's modification time, which moves in steps of milliseconds: a file
rewritten within one step with as many bytes would look unchanged. Hashing costs about a millisecond per
megabyte, a small part of parsing it.

Contract: a reader's result must not be changed by its users. Readers return frozen records with
read-only arrays (:class:`~ampsim.data.sst.Tree`, :class:`~ampsim.data.qm9.Molecule`, MNIST's IDX arrays);
a list is handed out as a new list each time, so a caller may reorder or cut its own. Errors are not kept:
a reader that raises is called again next time (the error is its one-line ``DataError``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

from ampsim.recent import Recent

__all__ = ["SLOTS", "clear", "enabled", "parsed"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: results kept at most (a sweep's points read a train and a test split, or two)
SLOTS = 8
#: off: every call parses (a benchmark times both ways)
enabled = True
_KEPT: Recent = Recent(SLOTS)


def parsed(path: Path | str, read: Callable[..., T], *args: Any) -> T:
    """``read(path, *args)``, or its result for the same file version and arguments earlier in this process."""
    if not enabled:
        return read(path, *args)
    real = os.path.realpath(path)
    if not os.path.isfile(real):  # not a regular file (a FIFO would never end): the reader says what it is
        return read(path, *args)
    try:
        with open(real, "rb") as f:
            digest = hashlib.file_digest(f, "blake2b").hexdigest()
    except (OSError, ValueError):  # the reader says what is wrong with it, in its own words
        return read(path, *args)
    key = (real, digest, getattr(read, "__module__", ""), getattr(read, "__qualname__", repr(read)), args)
    if key in _KEPT:
        got = _KEPT.get(key)
    else:
        got = _KEPT[key] = read(path, *args)
        log.debug("parsed %s", real)
    return list(got) if isinstance(got, list) else got


def clear() -> None:
    """Forget every kept result."""
    _KEPT.clear()

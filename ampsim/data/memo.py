"""Parsed data files kept for the life of the process, so that a sweep's worker parses a dataset once
rather than once per point.

Parsing is most of what building a task costs, and a sweep point builds its task anew, in a worker that
ran the points before it: built again in the same process, SST's task (whole splits) takes 0.04 s with its
trees, vocabulary and encoded trees kept and 1.61 s parsed again, QM9's 0.033 s against 1.84 s (``python -m
benchmarks.bench_data``, 2026-12-05 09:31; 0.43 s for SST with only its trees kept), where a replayed
300-tree point on a 1,024-chip machine takes about 0.15 s. A reader wrapped in :func:`parsed` runs once per
file version and arguments::

    trees = memo.parsed(path, read_trees, limit)   # read_trees(path, limit), or the earlier result

Life cycle: a miss calls the reader; its result is kept under the file's real path, its contents' BLAKE2b
digest and the reader's arguments → a later call with the same key returns it → a file replaced or edited
on disk has a new key and is read again; the least recently used result is dropped beyond :data:`SLOTS`.
The key is the contents, not the file's modification time, which moves in steps of milliseconds: a file
rewritten within one step with as many bytes would look unchanged. Hashing costs about a millisecond per
megabyte, a small part of parsing it.

What a task builds from parsed records (SST's vocabulary and encoded trees: nine tenths of building its task
once the trees are kept) is kept the same way by :func:`derived`, keyed by *which* records it was made from::

    vocab, encoded = memo.derived((train, test), encode, min_count)   # encode(train, test, min_count)

Contract: a reader's result must not be changed by its users. Readers return frozen records with
read-only arrays (:class:`~ampsim.data.sst.Tree`, :class:`~ampsim.data.qm9.Molecule`, MNIST's IDX arrays);
a list is handed out as a new list each time, so a caller may reorder or cut its own. Errors are not kept:
a reader that raises is called again next time (the error is its one-line ``DataError``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, TypeVar

from ampsim.recent import Recent

__all__ = ["SLOTS", "clear", "derived", "enabled", "parsed"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: results kept at most (a sweep's points read a train and a test split, or two)
SLOTS = 8
#: off: every call parses (a benchmark times both ways)
enabled = True
_KEPT: Recent = Recent(SLOTS)
_DERIVED: Recent = Recent(SLOTS)


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


def derived(sources: tuple[Sequence[Any], ...], make: Callable[..., T], *args: Any) -> T:
    """``make(*sources, *args)``, or its result for the same records and arguments earlier in this process.

    ``sources`` are sequences of records that are never changed (what :func:`parsed` handed out, in lists cut
    or reordered as the caller likes, or what is made of it, as a task's instance data); the key is the
    records' identity, in order, and ``args``, which must be hashable. The entry
    holds the records, so while it is kept no other object can have their ids; records parsed again (a file
    changed on disk) are new objects and make a new entry. The result is shared as the records are: it must
    not be changed by its users either."""
    if not enabled:
        return make(*sources, *args)
    key = (tuple(tuple(map(id, s)) for s in sources), getattr(make, "__module__", ""),
           getattr(make, "__qualname__", repr(make)), args)
    got = _DERIVED.get(key)
    if got is None:
        got = _DERIVED[key] = (make(*sources, *args), tuple(list(s) for s in sources))
    return got[0]


def clear() -> None:
    """Forget every kept result."""
    _KEPT.clear()
    _DERIVED.clear()

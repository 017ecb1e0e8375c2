"""A dict bounded to its most recently used entries: the one least-recently-used rule that the process's
caches share (parsed data files, recordings in memory, a recording's step durations, routing tables).

    >>> r = Recent(2)
    >>> r["a"], r["b"] = 1, 2
    >>> r.get("a")  # read: now the most recent
    1
    >>> r["c"] = 3  # "b" is the least recent: dropped
    >>> list(r)
    ['a', 'c']
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["Recent"]


class Recent(OrderedDict):
    """A dict of the ``slots`` entries last set or read with :meth:`get` (the others are dropped)."""

    def __init__(self, slots: int) -> None:
        super().__init__()
        self.slots = slots

    def get(self, key, default=None):
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.slots:
            self.popitem(last=False)

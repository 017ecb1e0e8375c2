"""Packing the nodes that hold memory onto chips: first-fit decreasing, and an exact search behind it.

Why a module of its own: ``greedy`` (and ``groups`` inside a group) falls back on a packing when its spread,
longest first, leaves a node no chip with room (:mod:`ampsim.placement.strategies`). First-fit decreasing
(largest first, each on the first chip with room) is quick but a heuristic: it refuses some models that fit,
such as nodes of 5, 4, 4, 3, 2 and 2 bytes on two chips of 10 (it puts 5 + 4 on one chip and 4 + 3 + 2 on
the other, then finds no room for the last 2; 5 + 3 + 2 and 4 + 4 + 2 fit). Where it fails, :func:`search`
looks for a packing through every assignment that could differ (depth first, largest node first), within a
budget of steps so that a large instance is refused quickly instead of searched for ever. Both are pure: lists
of bytes in, each node's chip out; the strategies own the nodes and the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Sequence

__all__ = ["STEPS", "Search", "first_fit_decreasing", "search"]

#: the looks at a chip for a node :func:`search` takes before it gives up: some tenths of a second in CPython,
#: whatever the number of chips (the search is exponential: a hard instance of tens of nodes could take hours)
STEPS = 500_000


@dataclass(frozen=True)
class Search:
    """What :func:`search` found: ``chips`` each need's chip (in the order of the needs given), or None where it
    found no packing; ``steps`` the looks at a chip for a need it took; ``cut`` True where it ran out of steps
    before it found a packing or proved that none exists (``chips`` is then None)."""

    chips: tuple[int, ...] | None
    steps: int
    cut: bool


def first_fit_decreasing(needs: Sequence[int], free: Sequence[int]) -> list[int] | None:
    """Each need, largest first (equals in the order given), on the first chip with room left for it: the
    chip of each need in the order given, or None where one finds no chip with room.

    Examples
    --------
    >>> first_fit_decreasing([30, 60, 40], [100, 100])
    [1, 0, 0]
    >>> first_fit_decreasing([5, 4, 4, 3, 2, 2], [10, 10]) is None
    True
    """
    left = list(free)
    out = [0] * len(needs)
    for i in sorted(range(len(needs)), key=lambda i: -needs[i]):
        chip = next((c for c, f in enumerate(left) if f >= needs[i]), None)
        if chip is None:
            return None
        left[chip] -= needs[i]
        out[i] = chip
    return out


def search(needs: Sequence[int], free: Sequence[int], steps: int = STEPS) -> Search:
    """A packing of ``needs`` (bytes) into chips with ``free`` bytes each, if one exists and is found within
    ``steps`` looks at a chip for a need.

    Depth first over the needs largest first (equals in the order given), each tried on the chips in order:
    its first try is first-fit decreasing's packing. Two assignments that differ only by chips with the same
    room left, or by which of equal needs goes where, pack alike, so a need skips a chip whose room left
    equals that of a chip before it that it could take, and goes on no chip below that of the equal need
    before it. A branch stops where the needs left exceed the room left on the chips with room for the
    smallest need.

    Examples
    --------
    >>> search([5, 4, 4, 3, 2, 2], [10, 10])
    Search(chips=(0, 1, 1, 0, 0, 1), steps=9, cut=False)
    >>> search([6, 6, 6], [10, 10])
    Search(chips=None, steps=3, cut=False)
    >>> search([5, 4, 4, 3, 2, 2], [10, 10], steps=5)
    Search(chips=None, steps=5, cut=True)
    """
    order = sorted(range(len(needs)), key=lambda i: -needs[i])
    size = [needs[i] for i in order]
    rest = [*list(accumulate(reversed(size)))[::-1], 0]  # rest[k]: the bytes of needs k, k + 1, ...
    left = list(free)
    n, count, least = len(left), len(size), min(size, default=0)
    usable = sum(f for f in left if f >= least)  # the room left on chips with room for the smallest need

    def move(c: int, by: int) -> None:  # chip c's room left changes by ``by`` bytes
        nonlocal usable
        usable -= left[c] if left[c] >= least else 0
        left[c] += by
        usable += left[c] if left[c] >= least else 0

    chip = [-1] * (count + 1)  # each need's chip on the branch; -1: not yet tried
    k = spent = 0
    while k < count:
        low = chip[k - 1] if k and size[k] == size[k - 1] else 0
        if chip[k] >= 0:  # back at need k: take it off its chip to try the next
            move(chip[k], size[k])
            start = chip[k] + 1
        else:
            start = low if rest[k] <= usable else n  # (n: the needs left cannot fit, no chip to try)
        c, seen = None, set()
        for d in range(low, n if start < n else low):
            if spent == steps:
                return Search(None, spent, True)
            spent += 1
            if d >= start and left[d] >= size[k] and left[d] not in seen:
                c = d
                break
            seen.add(left[d])
        if c is None:
            chip[k] = -1
            if k == 0:
                return Search(None, spent, False)
            k -= 1
            continue
        chip[k] = c
        move(c, -size[k])
        k += 1
    out = [0] * count
    for j, i in enumerate(order):
        out[i] = chip[j]
    return Search(tuple(out), spent, False)

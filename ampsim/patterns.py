"""First match wins: the config tables that map node names, or fnmatch patterns, to a value (``replicas.nodes``,
``train.staleness_nodes``, ``placement.map``) give each node the value of the first pattern that matches it.

The three tables are read through one walk, :func:`first_matches`, so that they agree on what "first" means and
can each refuse, alike, a pattern that names no node and one whose every node an earlier pattern took (which
would be ignored without a word: ``{"fc*" = 2, "fc0" = 3}`` gives fc0 the value of ``fc*``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable

from ampsim.errors import ConfigError, listed

__all__ = ["FirstMatches", "first_matches"]


@dataclass(frozen=True)
class FirstMatches:
    """Which pattern of a first-match-wins table takes each name (:func:`first_matches`)."""

    #: each name, in order, -> the first pattern that matches it (None: none does)
    winner: dict[str, str | None]
    #: each pattern, in the table's order, -> the names it matches, in order (taken by it or by an earlier one)
    named: dict[str, tuple[str, ...]]

    @property
    def unmatched(self) -> list[str]:
        """The patterns that match no name, in the table's order."""
        return [pattern for pattern, names in self.named.items() if not names]

    @property
    def shadowed(self) -> dict[str, str]:
        """The patterns that match some name but take none (an earlier pattern took every name they match), in
        the table's order, each -> the earlier pattern that took the first name it matches (for its message)."""
        took = set(self.winner.values())
        return {pattern: self.winner[names[0]] for pattern, names in self.named.items()
                if names and pattern not in took}

    def refuse_shadowed(self, key: str, does: str, takes: str) -> None:
        """Raise the one ConfigError line of the first :attr:`shadowed` pattern, if there is one, worded alike for
        every table: ``<key>.<pattern>: <does> no node: every node it names (...) takes its <takes> from the earlier
        pattern <first> (first match wins; ...)``; ``key`` is the table's, after its source.

        >>> try:
        ...     first_matches(["fc0"], ["fc*", "fc0"]).refuse_shadowed("x.toml: placement.map", "places", "chip")
        ... except ConfigError as e:
        ...     print(*str(e).split(" takes "), sep="\\n takes ")
        x.toml: placement.map.fc0: places no node: every node it names (fc0)
         takes its chip from the earlier pattern fc* (first match wins; list the narrower pattern first)
        """
        for pattern, first in self.shadowed.items():
            raise ConfigError(f"{key}.{pattern}: {does} no node: every node it names ({listed(self.named[pattern])}) "
                              f"takes its {takes} from the earlier pattern {first} (first match wins; list the "
                              "narrower pattern first)")


def first_matches(names: Iterable[str], patterns: Iterable[str]) -> FirstMatches:
    """Match every name against a first-match-wins table's patterns (fnmatch, case-sensitive: node names are).

    Parameters
    ----------
    names : iterable of str
        The node names the table applies to, in the order the caller reports them.
    patterns : iterable of str
        The table's keys, in its order (a plain node name is a pattern that matches itself).

    Returns
    -------
    FirstMatches
        Each name's winning pattern, and each pattern's names; from these its ``unmatched`` and ``shadowed``
        patterns, which the tables refuse.

    Examples
    --------
    >>> m = first_matches(["x", "fc0", "fc1", "loss"], ["fc*", "fc0", "enc*"])
    >>> m.winner
    {'x': None, 'fc0': 'fc*', 'fc1': 'fc*', 'loss': None}
    >>> m.named["fc0"], m.unmatched, m.shadowed
    (('fc0',), ['enc*'], {'fc0': 'fc*'})

    The narrower pattern first is what such a table means:

    >>> first_matches(["fc0", "fc1"], ["fc0", "fc*"]).winner
    {'fc0': 'fc0', 'fc1': 'fc*'}
    """
    patterns = list(dict.fromkeys(patterns))
    winner: dict[str, str | None] = {}
    named: dict[str, list[str]] = {pattern: [] for pattern in patterns}
    for name in names:
        matching = [pattern for pattern in patterns if fnmatch.fnmatchcase(name, pattern)]
        winner[name] = matching[0] if matching else None
        for pattern in matching:
            named[pattern].append(name)
    return FirstMatches(winner, {pattern: tuple(names) for pattern, names in named.items()})

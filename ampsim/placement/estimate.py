"""The estimated load per chip of a placement (written with the run: ``placement.json``), and the nodes it
places on each chip."""

from __future__ import annotations

import numbers
from types import MappingProxyType
from typing import Mapping, Sequence

from ampsim.errors import ConfigError
from ampsim.placement.load import Profile, node_time_s

__all__ = ["check_estimated", "estimated_load", "frozen_load", "nodes_by_chip"]


def nodes_by_chip(mapping: dict[str, int], n_chips: int) -> list[list[str]]:
    """The names ``mapping`` places on each of ``n_chips`` chips, in its order: one pass over the mapping (a
    pass per chip, chips × nodes, took seconds for a replicated model on 16,384 chips)."""
    by_chip: list[list[str]] = [[] for _ in range(n_chips)]
    for name, c in mapping.items():
        by_chip[c].append(name)
    return by_chip


def estimated_load(mapping: dict[str, int], chips: Sequence, prof: Profile) -> list[dict]:
    """Per chip: nodes, estimated busy seconds per profiled instance, and parameter-free work."""
    by_chip = nodes_by_chip(mapping, len(chips))
    per = max(prof.instances, 1)
    return [{"chip": i, "nodes": names,  # (a chip with no nodes: 0.0, as the empty sum over it gives)
             "est_busy_s_per_instance": sum(node_time_s(prof, nm, c) for nm in names) / per if names else 0.0}
            for i, (c, names) in enumerate(zip(chips, by_chip))]


def check_estimated(estimated: list[dict], mapping: dict[str, int], n: int, where: str) -> None:
    """One ConfigError line unless ``estimated`` is :func:`estimated_load`'s form for ``mapping`` over ``n`` chips
    (a chip index, its nodes, a busy time, per chip): a caller's own load went unread into the run's
    placement.json."""
    by_chip = nodes_by_chip(mapping, n)
    if len(estimated) != n:
        raise ConfigError(f"{where}: expected one entry per chip ({n}), got {len(estimated)}")
    for i, (entry, names) in enumerate(zip(estimated, by_chip)):
        busy, chip, nodes = (entry.get(k) for k in ("est_busy_s_per_instance", "chip", "nodes"))
        # (a whole number: True and 1.0 equal chip 1, and went as they were into placement.json; the names a list:
        # a numpy array of them raised ValueError here, a dict of them went into placement.json as one)
        if (set(entry) != {"chip", "nodes", "est_busy_s_per_instance"} or isinstance(chip, bool)
                or not isinstance(chip, numbers.Integral) or chip != i or not isinstance(nodes, (list, tuple))
                or not all(isinstance(name, str) for name in nodes) or sorted(nodes) != sorted(names)
                or not isinstance(busy, (int, float)) or isinstance(busy, bool) or not 0 <= busy < float("inf")):
            raise ConfigError(f"{where}[{i}]: expected {{'chip': {i}, 'nodes': {sorted(names)!r}, "
                              f"'est_busy_s_per_instance': seconds >= 0}} (the placement's load on chip {i}), "
                              f"got {entry!r}"[:400])


def frozen_load(estimated: Sequence[Mapping] | None) -> tuple[Mapping, ...] | None:
    """A placement's estimated load as a plan holds it: read-only, its entries and their node lists too (a list of
    dicts, changed by code holding the frozen plan, went past its checks into the executor and placement.json).

    >>> load = frozen_load([{"chip": 0, "nodes": ["a"], "est_busy_s_per_instance": 0.5}])
    >>> load[0]["nodes"], type(load[0]).__name__
    (('a',), 'mappingproxy')
    """
    if estimated is None:
        return None
    return tuple(MappingProxyType({**entry, "nodes": tuple(entry["nodes"])}) for entry in estimated)

"""A sweep point's id: a hash of its resolved experiment and hardware model, as each field's rule counts it.

Stable across runs and machines; changed when anything that affects the result changes. Each config field
says how the id counts it (:func:`ampsim.config.spec`'s ``point_id``), so options added later leave the ids of
committed points alone.

>>> from ampsim.sweeps.ids import point_id
>>> a, b = point_id({"train": {"mak": 4}}, None), point_id({"train": {"mak": 8}}, None)
>>> len(a), a == point_id({"train": {"mak": 4}}, None), a == b
(12, True, False)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Mapping

from ampsim.config import Config, field_default
from ampsim.hardware.canonical import canonical_overrides
from ampsim.jsontext import InOrder

__all__ = ["id_view", "id_text", "point_id", "order_counts", "ordered_keys", "in_order", "PATTERN_TABLES"]

#: tables whose keys are patterns matched in order, the first match winning: their keys' order is part of the run
PATTERN_TABLES = (("replicas", "nodes"), ("train", "staleness_nodes"), ("placement", "map"))


def id_view(cfg: Config) -> dict[str, Any]:
    """The resolved experiment as a point's id counts it: every section and field, less those whose
    ``point_id`` rule (:func:`ampsim.config.spec`) leaves them out: ``never`` (the hardware file, hashed by
    content instead; the divergence stop; the watchdog) and ``unless_default`` at their defaults (options
    and the ``[replicas]`` section, added after results were committed, so that points predating them keep
    their ids). The hardware overrides count as the model reads them
    (:func:`~ampsim.hardware.canonical.canonical_overrides`: ``1e9`` and ``1_000_000_000`` are one bandwidth, one
    point). A pattern table (:data:`PATTERN_TABLES`) of several keys, one a glob pattern, adds their order under
    ``"order"``: the id's text sorts keys, and ``{fc1 = 3, "*" = 2}`` and ``{"*" = 2, fc1 = 3}`` are two runs
    (tables of plain names, whose order changes nothing, keep their ids)."""
    sections = {f.name: f for f in dataclasses.fields(cfg)}
    out: dict[str, Any] = {}
    for name, section in cfg.to_dict().items():
        obj = getattr(cfg, name)
        if _left_out(sections[name], obj):
            continue
        if not dataclasses.is_dataclass(obj):  # the hardware overrides: each value as the model reads it
            out[name] = canonical_overrides(section)
            continue
        out[name] = {f.name: section[f.name] for f in dataclasses.fields(obj) if not _left_out(f, section[f.name])}
    tables = {f"{s}.{k}": getattr(getattr(cfg, s), k) for s, k in PATTERN_TABLES}
    order = {name: list(t) for name, t in tables.items() if order_counts(t)}
    if order:
        out["order"] = order
    return out


def order_counts(table: Mapping[str, Any]) -> bool:
    """Whether a pattern table's key order is part of its run: it has several keys, one a glob pattern (a table of
    plain names places the same in any order).

    >>> order_counts({"fc1": 3, "*": 2}), order_counts({"fc1": 3, "fc2": 2}), order_counts({"*": 2})
    (True, False, False)
    """
    return len(table) > 1 and any(c in key for key in table for c in "*?[")


#: the dotted keys of :data:`PATTERN_TABLES`
_PATTERN_KEYS = frozenset(f"{s}.{k}" for s, k in PATTERN_TABLES)


def _ordered(key: str, value: Any) -> bool:
    """Whether dotted ``key``'s ``value`` is a whole pattern table whose order counts (:func:`order_counts`)."""
    return key in _PATTERN_KEYS and isinstance(value, dict) and order_counts(value)


def ordered_keys(values: Mapping[str, Any]) -> list[str]:
    """The dotted keys of a point's swept ``values`` that hold a pattern table whose order counts
    (:func:`order_counts`): its table's cell keeps that order (:func:`ampsim.tables.table_row`)."""
    return [key for key, value in values.items() if _ordered(key, value)]


def in_order(key: str, value: Any) -> Any:
    """``value`` of dotted ``key`` as a point's ``point.json`` writes it: a pattern table whose order counts in its
    own order (:class:`~ampsim.jsontext.InOrder`; sorted, two orders read as one run), anything else as it is.

    >>> in_order("placement.map", {"fc*": 3, "*": 0}), in_order("train.mak", 4)
    ({'fc*': 3, '*': 0}, 4)
    >>> type(in_order("placement.map", {"fc*": 3, "*": 0})).__name__, type(in_order("placement.map", {"fc1": 3}))
    ('InOrder', <class 'dict'>)
    """
    return InOrder(value) if _ordered(key, value) else value


def id_text(view: dict[str, Any], hardware: dict | None) -> str:
    """The text a point's id hashes: the :func:`id_view` and the resolved hardware model, keys sorted."""
    return json.dumps({"experiment": view, "hardware": hardware}, sort_keys=True, default=str)


def point_id(view: dict[str, Any], hardware: dict | None) -> str:
    """The 12 hex digits of a point's id."""
    return hashlib.sha256(id_text(view, hardware).encode()).hexdigest()[:12]


def _left_out(f: dataclasses.Field, value: Any) -> bool:
    rule = f.metadata.get("point_id", "always")
    return rule == "never" or (rule == "unless_default" and value == field_default(f))

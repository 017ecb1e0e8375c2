"""A hardware override's value as the model reads it, whatever its spelling: ``1e9`` and ``1_000_000_000`` are one
bandwidth, and one memory size.

An experiment's ``[hardware]`` table (a ``--set hardware.…``, a sweep's ``hardware.…`` key) holds each value as TOML
spelled it, an int or a float; the model reads each field as its spec's type (:mod:`ampsim.hardware.parse`: a rate
or a duration as a float, ``chip.memory_bytes`` as an int), so the two spellings are one machine. A sweep point's id
(:func:`ampsim.sweeps.ids.id_view`) counted the table as given, and a sweep file respelled ran its finished points
again into other folders; it counts :func:`canonical_overrides` instead.

>>> canonical_overrides({"link": {"bandwidth_bytes_per_s": 1_000_000_000}, "chip": {"memory_bytes": 3e8}})
{'link': {'bandwidth_bytes_per_s': 1000000000.0}, 'chip': {'memory_bytes': 300000000}}
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from typing import Any

from ampsim.hardware.spec import ChipSpec, ComputeCost, HostSpec, LinkSpec

__all__ = ["canonical_overrides"]


def _kinds(spec: type, **keys: str) -> dict[str, type]:
    """The int and float fields of ``spec`` by their TOML key (``keys``: a key that names another field)."""
    hints = typing.get_type_hints(spec)
    fields = {**{name: name for name in hints}, **keys}
    return {key: hints[name] for key, name in fields.items() if hints[name] in (int, float)}


_CHIP = _kinds(ChipSpec)
_ROW = _kinds(ComputeCost, seconds="time_s")
#: ``link.packet_bytes``, a float in the model, is a whole number of bytes (0, or one >= 1): counted as an int, as
#: the committed packets_sst points' ids count the ints their sweep file gives (as a float, their 60 ids would move)
_LINK = {**_kinds(LinkSpec), "packet_bytes": int}
_HOST = _kinds(HostSpec)
#: the tables whose values are respelled, and the arrays of such tables (their ``chips``, ``between`` as given);
#: ``[system]`` holds text, ``[topology]`` sizes the model takes only as ints (4.0 is refused): nothing to respell
_TABLES = {"chip": _CHIP, "link": _LINK, "host": _HOST}
_ARRAYS = {"chip_override": _CHIP, "link_override": _LINK}


def canonical_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` (an experiment's ``[hardware]`` table) with each number as its field's type: an int field's
    whole float an int, a float field's int a float; anything else as given (a bool, text, a fraction in an int
    field, an int too big for a float). The model's own checks run before any id or config is written, so a value
    they refuse (``compute_units = 4.0``, converted here all the same) never reaches either. ``overrides`` is not
    changed.

    >>> canonical_overrides({"chip_override": [{"chips": [1], "flops_per_s": 10**12}], "topology": {"n": 8}})
    {'chip_override': [{'chips': [1], 'flops_per_s': 1000000000000.0}], 'topology': {'n': 8}}
    >>> canonical_overrides({"link": {"packet_bytes": 256.0, "latency_s": True}})
    {'link': {'packet_bytes': 256, 'latency_s': True}}
    """
    out = dict(overrides)
    for key, value in overrides.items():
        if key in _TABLES and isinstance(value, Mapping):
            out[key] = _table(value, _TABLES[key])
        elif key in _ARRAYS and isinstance(value, list):
            out[key] = [_table(t, _ARRAYS[key]) if isinstance(t, Mapping) else t for t in value]
    return out


def _table(table: Mapping[str, Any], kinds: dict[str, type]) -> dict[str, Any]:
    """One table's values as :func:`canonical_overrides` counts them (a chip's ``compute_table`` rows too)."""
    out = {}
    for key, value in table.items():
        if key == "compute_table" and isinstance(value, list):
            out[key] = [_table(row, _ROW) if isinstance(row, Mapping) else row for row in value]
        else:
            out[key] = _as(kinds[key], value) if key in kinds else value
    return out


def _as(kind: type, value: Any) -> Any:
    """``value`` as the model reads it into a field of type ``kind``: a float field's int as ``float(value)``, an int
    field's whole float as ``int(value)``; anything else as given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # (True is an int: the model refuses it)
        return value
    if kind is int and isinstance(value, float) and value.is_integer():  # (not inf or nan)
        return int(value)
    if kind is float and isinstance(value, int) and abs(value) <= sys.float_info.max:  # (10**400: refused, as given)
        return float(value)
    return value

"""The JSON text of a run's files: ``json.dumps(plain(obj), indent=2, sort_keys=True)``, byte for byte,
in about two thirds of the time.

The standard library encodes an indented document in Python, one generator step per value and per
separator, after a pass that makes the document plain; a 1,024-chip run's ``placement.json`` (1,024 chip
records, 90 KB) took 7 ms of a replayed sweep point that takes 150, and takes 4.6 here (2026-12-05, the
committed file, side by side). :func:`dumps` makes it plain as it goes and builds each container's text with
one ``str.join``, with the standard library's own string escaping and number formatting
(``float.__repr__``, ``int.__repr__``), so the text is the same (``tests/unit/test_jsontext.py`` compares
them on arbitrary documents; every committed result file re-encodes to its own bytes).

What a run's files hold is made plain on the way (:func:`plain` alone gives the same as a structure): a
float that is not finite becomes ``null``, a numpy scalar its Python number, a tuple a list and every key
its ``str``. An :class:`InOrder` table keeps its keys' order (where that order is part of what it says: a
sweep point's pattern table, first match wins); the standard library has no such table, and sorts it too.

>>> print(dumps({"b": (1, 2.5), "a": {"x": float("nan")}, 3: []}))
{
  "3": [],
  "a": {
    "x": null
  },
  "b": [
    1,
    2.5
  ]
}
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring_ascii
from typing import Any, Mapping

__all__ = ["InOrder", "dumps", "plain"]


class InOrder(dict):
    """A table :func:`dumps` writes in its own order, not with its keys sorted: one whose order is part of what it
    says (a pattern table of a sweep's point, first match wins: :func:`ampsim.sweeps.ids.in_order`).

    >>> print(dumps(InOrder({"fc*": 3, "*": 0})))
    {
      "fc*": 3,
      "*": 0
    }
    """


def plain(obj: Any) -> Any:
    """``obj`` as JSON can hold it: non-finite floats None, numpy scalars Python numbers, keys ``str`` (an
    :class:`InOrder` table stays one)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):  # (a plan's read-only MappingProxyType too)
        return (InOrder if isinstance(obj, InOrder) else dict)((str(k), plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return plain(obj.item())
    return obj


def dumps(obj: Any) -> str:
    """``json.dumps(plain(obj), indent=2, sort_keys=True)``."""
    return _text(obj, "\n")


#: a list this long of floats alone or ints alone is written in C (:func:`_numbers`)
_MANY = 16
_NONFINITE = frozenset(("inf", "-inf", "nan"))  # float.__repr__ of what JSON writes as null


def _numbers(seq: list | tuple) -> list[str] | None:
    """The texts of a list of Python floats alone, or of ints alone (not bools), each as :func:`_text` writes
    it, made in C; None for any other list. A big machine's per-chip figures are such lists: 16,384 random
    floats took 18 ms one by one and 13 here (``float.__repr__`` is most of it), as many ints 5.5 and 2.2."""
    kinds = set(map(type, seq))
    if kinds == {float}:
        texts = list(map(float.__repr__, seq))
        if not _NONFINITE.isdisjoint(texts):
            texts = ["null" if t in _NONFINITE else t for t in texts]
        return texts
    if kinds == {int}:
        return list(map(int.__repr__, seq))
    return None


def _text(obj: Any, newline: str) -> str:
    """The text of ``obj`` whose first line is already written; ``newline`` starts each of its next lines
    (a newline and its indentation)."""
    if isinstance(obj, str):
        return encode_basestring_ascii(obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        return float.__repr__(obj) if math.isfinite(obj) else "null"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        inner = newline + "  "
        texts = _numbers(obj) if len(obj) >= _MANY else None
        return "[" + inner + ("," + inner).join(texts or [_text(v, inner) for v in obj]) + newline + "]"
    if isinstance(obj, Mapping):
        if not obj:
            return "{}"
        inner = newline + "  "
        items = {str(k): v for k, v in obj.items()}.items()  # (a later key with the same str wins)
        if not isinstance(obj, InOrder):
            items = sorted(items)
        return ("{" + inner + ("," + inner).join([encode_basestring_ascii(k) + ": " + _text(v, inner)
                                                  for k, v in items]) + newline + "}")
    if hasattr(obj, "item"):  # numpy scalars
        return _text(obj.item(), newline)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

"""Which rows of a sweep table a figure draws, and how they split into lines.

:func:`select` applies a figure's ``where`` (an empty result is a :class:`~ampsim.errors.RunError`, never
an empty figure); :func:`hue_keys` and :func:`groups` split the rows into one line (or bar colour) per
combination of the hue keys, in the table's order.
"""

from __future__ import annotations

import math
from typing import Any

from ampsim.errors import RunError
from ampsim.figures.labels import short_value
from ampsim.sweeps.figspec import FigureSpec

__all__ = ["select", "hue_keys", "groups", "cell_key"]


def _matches(cell: Any, want: Any) -> bool:
    # cells come back from CSV typed by pandas (an int axis with gaps reads as floats, 1e9 as 1000000000.0)
    # and hardware files as paths that a figure names by stem: compare as numbers, as text, then as shown
    wants = want if isinstance(want, list) else [want]
    for w in wants:
        if _is_bool(w) or _is_bool(cell):  # as truth values only: true matched a cell 1 (float(True) == 1)
            if str(cell).lower() == str(w).lower():
                return True
            continue
        try:
            if math.isclose(float(cell), float(w), rel_tol=1e-9):
                return True
        except (TypeError, ValueError):
            pass
        if str(cell) == str(w) or short_value(cell) == str(w):
            return True
    return False


def _is_bool(v: Any) -> bool:
    """A truth value: Python's, or numpy's (a table's column of True and False cells holds those)."""
    return isinstance(v, bool) or getattr(getattr(v, "dtype", None), "kind", "") == "b"


def select(df, spec: FigureSpec, source: str = ""):
    """The rows of a sweep table that the figure's ``where`` keeps (a RunError if none or a column is missing)."""
    for k, want in spec.where.items():
        if k not in df.columns:
            raise RunError(f"figure {spec.name}{source}: where: no column {k!r} in the sweep table")
        df = df[[_matches(c, want) for c in df[k]]]
    if df.empty:
        raise RunError(f"figure {spec.name}{source}: no rows of the sweep table match where = {spec.where}")
    return df


def hue_keys(df, spec: FigureSpec, swept: list[str]) -> tuple[str, ...]:
    """The figure's ``hue`` keys, or by default every swept key (but the seed and x) that varies in ``df``."""
    if spec.hue is not None:
        missing = [h for h in spec.hue if h not in df.columns]
        if missing:
            raise RunError(f"figure {spec.name}: hue: no column(s) {', '.join(missing)} in the sweep table")
        return spec.hue
    skip = {"experiment.seed", spec.x}
    return tuple(k for k in swept if k in df.columns and k not in skip and df[k].nunique(dropna=False) > 1)


def groups(df, keys: tuple[str, ...]) -> list[tuple[tuple, Any]]:
    """(values, sub-frame) per distinct combination of ``keys``, in the table's (sorted) order; the empty cells
    of a column are one value (NaN equals no NaN: each row with an empty hue was a line of its own).

    >>> import pandas as pd
    >>> [(float(v), list(g.x)) for (v,), g in groups(pd.DataFrame({"h": [None, 1.0, None], "x": [1, 2, 3]}), ("h",))]
    [(nan, [1, 3]), (1.0, [2])]
    """
    if not keys:
        return [((), df)]
    out: dict[tuple, tuple[tuple, list]] = {}
    for idx, row in df.iterrows():
        vals = tuple(row[k] for k in keys)
        out.setdefault(tuple(map(cell_key, vals)), (vals, []))[1].append(idx)
    return [(vals, df.loc[ix]) for vals, ix in out.values()]


#: the one key of every empty cell: NaN equals no NaN, but a dict or set finds this one object by identity
_EMPTY = float("nan")


def cell_key(v: Any) -> Any:
    """``v`` as a key that collects the empty cells of a column in one (dict, set, Counter): a table read
    from CSV holds a NaN object of its own in each (each was a category, a bar's tick "n/a", of its own).

    >>> len({cell_key(float("nan")), cell_key(None), cell_key(float("nan"))}), cell_key(2)
    (1, 2)
    """
    return _EMPTY if v is None or (isinstance(v, float) and math.isnan(v)) else v

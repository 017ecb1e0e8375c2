"""Where a sweep file sets its keys: dotted keys from nested tables (:func:`flatten`), each an experiment's field
with values it takes, named by their place in the file (:func:`check_key`), and each key in one place
(:func:`check_set_once`).

A key sets one value per point, so the file gives it in one place: [fixed] (every point), an axis of [grid],
the seeds (``sweep.seeds`` or ``repeats``: ``experiment.seed``), ``sweep.hardware`` (``executor.hardware``), or
a point of [[points]] (that point only, crossed with the grid). Set in two, one value was dropped without a
word: a point's ``train.mak = 4`` under a grid over ``train.mak`` gave rows of the grid's values with the point's
label. ``[quick].fixed``, though, replaces [fixed]'s values in the quick variant: that is what it is for.
"""

from __future__ import annotations

from typing import Any

from ampsim.config import SECTIONS, check_override, field_of
from ampsim.errors import ConfigError
from ampsim.schemas import task_schema

__all__ = ["SEED_KEY", "WHOLE_TABLES", "check_key", "check_set_once", "flatten"]

#: Dotted keys whose value is one whole table (never flattened into sub-keys).
WHOLE_TABLES = ("hardware.topology", "placement.map")
#: the key a sweep's seeds set
SEED_KEY = "experiment.seed"


def flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"mak": 1}}`` → ``{"train.mak": 1}``; quoted dotted keys pass through unchanged."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in WHOLE_TABLES:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def check_set_once(source: str, raw: dict, quick: bool) -> None:
    """Refuse, in one :class:`ConfigError` line naming the key and both places, a key that two of [fixed], [grid]
    and the seeds set, or that a point sets beside one of them, in sweep file ``source`` (its TOML ``raw``,
    already validated; ``quick``: its quick variant)."""
    q = raw.get("quick", {}) if quick else {}
    shared = {SEED_KEY: seeds} if (seeds := _seeds_place(raw.get("sweep", {}), q)) else {}
    if "hardware" in raw.get("sweep", {}):  # (its model: a grid over executor.hardware dropped it without a word)
        shared["executor.hardware"] = "sweep.hardware"
    at = "quick.points" if "points" in q else "points"  # (quick.points replaces the points)
    fixed = {**dict.fromkeys(flatten(raw.get("fixed", {})), "fixed"),
             **dict.fromkeys(flatten(q.get("fixed", {})), "quick.fixed")}
    points = [{k: f"{at}[{i}]" for k in flatten(p) if k != "label"}
              for i, p in enumerate(q.get("points", raw.get("points", [])))]
    for n, group in enumerate([fixed, dict.fromkeys(flatten(raw.get("grid", {})), "grid"), *points]):
        if key := next((k for k in group if k in shared), None):
            raise ConfigError(f"{source}: {key}: set in both {shared[key]} and {group[key]}; give it in one place, "
                              "not both")
        if n < 2:  # [fixed] and [grid] hold for every point; a point only for itself, apart from the others
            shared.update(group)


def _seeds_place(head: dict, quick: dict) -> str | None:
    """Where the variant's seeds come from (``quick.seeds``, ``sweep.repeats``...), None where it has none."""
    return next((f"{where}.{key}" for where, table in (("quick", quick), ("sweep", head))
                 for key in ("seeds", "repeats") if key in table), None)


def check_key(source: str, where: str, key: str, task: str, values: list[tuple[str, Any]] = ()) -> None:
    """A dotted key must name a section and, outside ``hardware``, an existing field of that section; each of
    its ``values`` (``(suffix, value)``: ``("[1]", 0.1)`` for a grid's second) one its field takes, in a line that
    names this place in the sweep file (``fixed.train.lr``): checked with a point's experiment, the message
    named the experiment file, which holds no such value."""
    if key == "label" and where.startswith(("points", "quick.points")):
        return
    section, _, rest = key.partition(".")
    if not rest or section not in SECTIONS:
        raise ConfigError(f"{source}: {where}.{key}: unknown sweep key (use a dotted experiment field such as "
                          f"train.mak; sections: {', '.join(SECTIONS)})")
    if section in ("data", "model"):
        task_schema(task, source)  # the experiment's task must be known here, where its fields are
    field_of(key, f"{source}: {where}.{key}", task)  # hardware keys: validated per point against the hardware model
    for suffix, value in values:
        check_override(key, value, f"{source}: {where}.{key}{suffix}", task)

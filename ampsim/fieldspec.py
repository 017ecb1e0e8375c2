"""How a config field is declared: its default, its allowed values, its help line, how a sweep point's id
counts it, and when it is read at all.

Every section of an experiment file (:mod:`ampsim.config`, and the tasks' ``[data]`` and ``[model]``) is a
frozen dataclass whose fields are made by :func:`spec`; the reader (``config.parse_section``), the key tables
(:mod:`ampsim.keys`) and the plan stage's warnings read the same declaration::

    lr: float = spec(0.05, gt=0, help="learning rate")
    momentum: float = spec(0.9, ge=0, le=1, read_if=(("train.optimizer", ("momentum",)),))

``read_if`` names the settings with which the field is read, as ``(dotted key, values)`` pairs (any of them
holding will do; a key that does not exist holds none): set away from its default while none holds, it does
nothing, and :func:`unread_keys` says so (the plan stage warns: such keys were taken without a word).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Train:
...     optimizer: str = spec("sgd", choices=("sgd", "momentum"))
...     momentum: float = spec(0.9, read_if=(("train.optimizer", ("momentum",)), ("model.emb_opt", ("momentum",))))
>>> @dataclass(frozen=True)
... class Config:
...     train: Train = Train()
>>> unread_keys(Config(Train(momentum=0.5)))
['train.momentum (read only with train.optimizer = momentum or model.emb_opt = momentum)']
>>> unread_keys(Config(Train(optimizer="momentum", momentum=0.5))), unread_keys(Config())
([], [])
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import field
from typing import Any, Iterable, Mapping

__all__ = ["POINT_ID_RULES", "spec", "field_default", "read_with", "unread_keys", "type_name", "unknown_key",
           "quoted_dotted", "other_kind", "value_hash"]

#: how a sweep point's id counts a field (:func:`spec`'s ``point_id``)
POINT_ID_RULES = ("always", "unless_default", "never")


def spec(default: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None,
         lt: float | None = None, choices: tuple | None = None, help: str = "", point_id: str = "always",
         finite: bool = False, read_if: tuple[tuple[str, tuple], ...] | None = None) -> Any:
    """A config field: default, optional bounds (``gt``, ``ge``, ``le``, ``lt``; ``finite``: no inf either, where a
    ``ge`` bound alone would allow it) or ``choices``, and a help line.

    ``point_id`` says how a sweep point's id (:mod:`ampsim.sweeps.spec`) counts the field: ``"always"``;
    ``"unless_default"`` for an option added after results were committed, whose default is the behaviour
    before it, so that points that leave it at its default keep their ids (and their finished results);
    ``"never"`` for a field that cannot change a result (a stop for runs that would have none, a watchdog).
    ``read_if``: ``((dotted key, values), …)``, the settings with which the field is read at all (see the
    module docstring)."""
    assert point_id in POINT_ID_RULES, point_id
    assert read_if is None or all(isinstance(k, str) and k.count(".") == 1 and isinstance(v, tuple)
                                  for k, v in read_if), f"read_if: ((dotted key, values), ...), got {read_if!r}"
    meta = {"gt": gt, "ge": ge, "le": le, "lt": lt, "choices": choices, "help": help, "point_id": point_id,
            "finite": finite, "read_if": read_if}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def value_hash(self: Any) -> int:
    """The hash of a frozen section dataclass (set as its ``__hash__``), consistent with its ``==``: that of its
    compared fields' values, arrays as tuples and tables as sets of their items, sections inside it likewise.
    The generated one raised ``TypeError: unhashable type: 'list'`` (``model.hidden``, ``placement.map``), so a
    config, frozen, could not be a dict key or an ``lru_cache`` argument. (A list inside it changed in place
    changes its hash: a config is not to be changed but with ``dataclasses.replace``.)

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Model:
    ...     hidden: list = spec([8, 8])
    ...     nodes: dict = spec({})
    ...     __hash__ = value_hash
    >>> hash(Model()) == hash(Model([8, 8], {}))
    True
    >>> hash(Model(nodes={"a": 1, "b": 2})) == hash(Model(nodes={"b": 2, "a": 1}))
    True
    """
    return hash(_frozen(self))


def _frozen(value: Any) -> Any:
    """``value`` as a hashable value that is equal where ``value`` is (a dataclass: its compared fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(_frozen(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare)
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (a fresh one where the field has a default factory)."""
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def unread_keys(config: Any) -> list[str]:
    """The keys of ``config`` (a dataclass of section dataclasses) set away from their default that their
    ``read_if`` says nothing reads, each with the settings that would read it."""
    out = []
    for sec in dataclasses.fields(config):
        section = getattr(config, sec.name)
        if not dataclasses.is_dataclass(section):
            continue
        for f in dataclasses.fields(section):
            cond = f.metadata.get("read_if")
            if cond is None or getattr(section, f.name) == field_default(f):
                continue
            if not any(_value(config, key) in values for key, values in cond):
                out.append(f"{sec.name}.{f.name} (read only with {read_with(cond)})")
    return out


def read_with(cond: tuple[tuple[str, tuple], ...]) -> str:
    """A ``read_if`` in words.

    >>> read_with((("data.dataset", ("blobs",)), ("model.cell", ("lstm", "gru"))))
    'data.dataset = blobs or model.cell = lstm/gru'
    """
    return " or ".join(f"{key} = {'/'.join(map(str, values))}" for key, values in cond)


_ABSENT = object()


def _value(config: Any, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(config, section, None), name, _ABSENT)


def type_name(value: Any) -> str:
    """The TOML word for ``value``'s type, as error messages name it.

    >>> type_name(True), type_name(3), type_name([1]), type_name({}), type_name(None)
    ('boolean', 'integer', 'array', 'table', 'NoneType')
    """
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


def unknown_key(key: Any, known: Iterable[str]) -> str:
    """The problem with a key no table of that kind holds: every file kind (experiments, hardware, sweeps, their
    figures) says it in these words, with the closest known key where one is close.

    >>> unknown_key("flop_per_s", ("flops_per_s", "overhead_s"))
    "unknown key (known: flops_per_s, overhead_s); did you mean 'flops_per_s'?"
    >>> unknown_key("zzz", ("lr", "mak"))
    'unknown key (known: lr, mak)'
    >>> unknown_key("chip.spin_s", ("system", "chip")).split("; ")[1]
    "a quoted key with a dot is one key: drop the quotes (chip.spin_s = ...) or set spin_s in chip's table"
    """
    known = list(known)
    hint = difflib.get_close_matches(str(key), known, n=1)
    return f"unknown key (known: {', '.join(known)})" + (
        quoted_dotted(key, known) or (f"; did you mean {hint[0]!r}?" if hint else ""))


def quoted_dotted(key: Any, known: Iterable[str]) -> str:
    """What to write instead, where ``key`` is a quoted TOML key with a dot whose first part is a ``known`` key
    (``"chip.spin_s" = 1.0`` is one key named ``chip.spin_s``, not ``spin_s`` in the ``chip`` table), else ''."""
    head, dot, rest = str(key).partition(".")
    if not dot or head not in known:
        return ""
    return f"; a quoted key with a dot is one key: drop the quotes ({key} = ...) or set {rest} in {head}'s table"


#: the top table that marks each kind of ampsim TOML file, and what to do with one given as another kind
_KINDS = {"experiment": "an experiment file: train it, or name it in a sweep file's sweep.experiment",
          "sweep": "a sweep file: run it as a sweep",
          "system": "a hardware model: name it in executor.hardware (in a sweep file, sweep.hardware)"}


def other_kind(raw: Mapping[str, Any], own: str) -> str:
    """``'; the file is ...'`` where a TOML file read as the kind whose top table is ``own`` lacks that table and has
    another kind's (a sweep file given as an experiment: "sweep: unknown section" alone read as a typo), else ''.

    >>> other_kind({"sweep": {}, "grid": {}}, "experiment")
    '; the file is a sweep file: run it as a sweep'
    >>> other_kind({"experiment": {}, "sweep": {}}, "experiment")  # (its own kind, with a table too many)
    ''
    """
    if own in raw:
        return ""
    return next((f"; the file is {what}" for key, what in _KINDS.items() if key in raw), "")

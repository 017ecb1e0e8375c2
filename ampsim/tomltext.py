"""The one writer of TOML text: a run's resolved ``config.toml`` (:func:`dump_toml`), which ``ampsim train``
reads back as it reads any experiment file (:func:`ampsim.config.load_config`); the standard library reads
TOML but does not write it. And the values a run's config.toml takes from the command line (``--set``):
:func:`parse_override` reads one, :func:`check_writable` refuses one no config.toml could hold; and from
Python code (the API's overrides, a config changed with ``dataclasses.replace``): :func:`as_toml`.
"""

from __future__ import annotations

import numbers
import os
import re
import tomllib
from typing import Any, Mapping

from ampsim.errors import ConfigError

__all__ = ["dump_toml", "deeper_than", "MAX_NESTING", "parse_override", "check_writable", "as_toml"]


def dump_toml(d: dict[str, dict]) -> str:
    """Write a resolved config back as TOML: one ``[section]`` table per key of ``d``, deeper tables inline.

    Round-trips: ``tomllib.loads(dump_toml(d)) == d`` for every dict of sections whose values are
    booleans, integers, floats (``inf``, ``nan``, subnormals and all: ``repr`` is exact), strings (any
    Unicode text: quotes, backslashes and control characters escaped), arrays (tuples come back as
    lists) and tables of these, with string keys of any spelling (quoted unless bare: ``A-Za-z0-9_-``).
    Raises ``TypeError`` for anything TOML cannot hold (None, a non-string key) and ``ValueError`` for a
    string that is not Unicode text (a lone surrogate, e.g. an undecodable byte in a command-line
    override), naming the dotted key.

    >>> print(dump_toml({"train": {"lr": 1e-300, "target": float("inf")}, "placement": {"map": {"enc/*": 0}}}))
    [train]
    lr = 1e-300
    target = inf
    <BLANKLINE>
    [placement]
    map = { "enc/*" = 0 }
    <BLANKLINE>
    """
    lines: list[str] = []
    for section, values in d.items():
        lines.append(f"[{_toml_key(section)}]")
        for k, v in values.items():
            try:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
            except (TypeError, ValueError) as e:
                raise type(e)(f"{section}.{k}: {e}") from None
        lines.append("")
    return "\n".join(lines)


#: TOML's bare keys; any other key is written quoted
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: TOML's short escapes; other control characters are written \uXXXX
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_key(k: str) -> str:
    if not isinstance(k, str):
        raise TypeError(f"TOML keys are strings, got {k!r}")
    return k if _BARE_KEY.fullmatch(k) else _toml_string(k)


def _toml_string(s: str) -> str:
    """A TOML basic string: everything but quotes, backslashes and control characters as it is."""
    out = []
    for ch in s:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:  # TOML (and UTF-8) can hold no surrogate
            raise ValueError(f"{s!r} is not Unicode text (lone surrogate U+{code:04X})")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):  # numpy integers too
        return str(int(v))
    if isinstance(v, numbers.Real):  # repr of a Python float is exact and valid TOML (inf, nan, 1e-300)
        return repr(float(v))
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML (no such value type)")


#: the deepest nesting of lists and tables a config value may have (none needs more than a few)
MAX_NESTING = 100


def deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and tables nest more than ``limit`` deep in ``value`` (one holding itself does); no recursion."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, tuple, dict)):
            if depth >= limit:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def as_toml(value: Any, depth: int = 0) -> Any:
    """``value`` with what Python code hands over as TOML would hold it: tuples as arrays (``(8, 8)``), numpy
    scalars as Python numbers and bools (``for mak in np.arange(...)``), numpy arrays as lists, paths as strings,
    enums and other subclasses of str, int and float as the plain value (:func:`_plain`), inside lists and tables
    too (tables' keys included) (copies: the caller's objects are never changed, nor shared with the config).
    The API's overrides and a config changed with ``dataclasses.replace`` go through it alike, so that one
    value is taken or refused the same either way; a config.toml holds arrays, so what is read back is equal.

    >>> as_toml({"hidden": (8, 8), "map": {"fc0": (1,)}})
    {'hidden': [8, 8], 'map': {'fc0': [1]}}
    """
    if depth > MAX_NESTING:
        return value  # (check_writable says "nested too deep")
    if isinstance(value, Mapping):
        return {_plain(k): as_toml(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_toml(v, depth + 1) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # a scalar (bool_, int64, ...) or array
        return value.tolist()
    return _plain(value)


def _plain(value: Any) -> Any:
    """A str, int or float of a subclass (an ``IntEnum``, a ``(str, Enum)``, a str of one's own) as the plain value
    it holds: kept, its type went into the Config, the Plan and the messages ("chip Chip.FOUR does not exist"), and
    a pickled Config needed the caller's class to be read. The base type's own method reads the value (``str()`` of
    a ``(str, Enum)`` is "Kind.SIM", and a subclass's ``__float__`` may say anything); a bool stays a bool.

    >>> import enum
    >>> class Kind(str, enum.Enum):
    ...     SIM = "sim"
    >>> [(v, type(v).__name__) for v in as_toml([Kind.SIM, enum.IntEnum("Mak", {"FOUR": 4}).FOUR, True])]
    [('sim', 'str'), (4, 'int'), (True, 'bool')]
    """
    for plain, read in ((str, str.__str__), (int, int.__int__), (float, float.__float__)):
        if isinstance(value, plain) and type(value) is not plain and type(value) is not bool:
            return read(value)
    return value


def parse_override(text: str, option: str = "--set", example: str = "train.lr=0.01") -> tuple[str, Any]:
    """``train.lr=0.01`` → ("train.lr", 0.01); values are TOML (bare words: strings). No ``=``: one line."""
    if "=" not in text:
        raise ConfigError(f"{option} {text}: expected KEY=VALUE, e.g. {example}")
    key, raw = (s.strip() for s in text.split("=", 1))
    if "\n" in raw or "\r" in raw:  # ("1\nmak=2" read as TOML was 1, and the rest of the line dropped)
        raise ConfigError(f"{option} {key}: the value holds a line break; give one setting per {option}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    except ValueError as e:  # an integer of more digits than Python converts (4,300)
        raise ConfigError(f"{option} {key}: {e}") from None
    except RecursionError:
        raise ConfigError(f"{option} {key}: nested too deep") from None
    check_writable(key, value, option)
    return key, value


def check_writable(key: str, value: Any, option: str = "--set") -> None:
    """One ConfigError line unless ``value`` is one a run's config.toml can hold (:func:`dump_toml`): not None,
    an object or text with a lone surrogate (a command-line byte that is not UTF-8), nor nested without end."""
    where = f"{option} {key}" if option else key
    if deeper_than(value, MAX_NESTING):  # (dump_toml's RecursionError came at a depth the caller's stack set)
        raise ConfigError(f"{where}: nested too deep (or holds itself)")
    try:
        dump_toml({"o": {"k": value}})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {str(e).removeprefix('o.k: ')}") from None
    except RecursionError:  # (within the depth counted above: only a caller already deep in its stack)
        raise ConfigError(f"{where}: nested too deep (or holds itself)") from None

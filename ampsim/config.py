"""Experiment files: TOML → frozen dataclasses, validated with errors that name the file and the field.

An experiment file has the sections ``[experiment]``, ``[data]``, ``[model]``, ``[train]``, ``[eval]``,
``[executor]`` and ``[placement]``. ``[data]`` and ``[model]`` are the task's (:mod:`ampsim.schemas`; a task from
elsewhere declares its own with :func:`register_task`); the rest are :mod:`ampsim.sections`'s. Every field is
declared once, with its type, its default and its allowed range (``field(metadata=...)``); :func:`parse_section`
enforces all of them, so an unknown key, a wrong type or an out-of-range value becomes one line such as
``experiments/mnist_mlp.toml: train.lr: must be > 0, got -1``.

``--set train.lr=0.01`` overrides are checked field by field under their own name first
(:func:`check_override`: ``--set train.lr: expected number, got string 'abc'``, not the file, which holds no such
value), then applied to the raw dictionary and validated with the file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import typing
from pathlib import Path
from typing import Any

from ampsim import runfiles
from ampsim.blame import blamed_line
from ampsim.errors import ConfigError
from ampsim.fieldspec import POINT_ID_RULES, field_default, other_kind, quoted_dotted, spec, type_name, unknown_key  # noqa: F401  (re-exported: the tasks' sections)
from ampsim.files import read_toml
from ampsim.schemas import TASK_SCHEMAS, TaskSchema, register_task, task_schema, unknown_task  # noqa: F401
from ampsim.sections import (  # noqa: F401  (re-exported: the sections are read as the config's)
    EXECUTOR_KINDS,
    FIXED_SECTIONS,
    MAX_EPOCHS,
    SECTIONS,
    WATCHDOG_S,
    Config,
    EvalSection,
    ExecutorSection,
    ExperimentSection,
    PlacementSection,
    ReplicasSection,
    TrainSection,
)
from ampsim.tomltext import MAX_NESTING, as_toml, check_writable, parse_override  # noqa: F401  (re-exported)

MAX_INT = 2**53  # any integer in an experiment: a float holds it exactly, numpy sizes and counts fit
MAX_ITEMS = 10_000  # any list field's (model.hidden of 20,000 layers was built, and ran for minutes)
_BOUNDS = ("gt", "ge", "le", "lt", "finite")  # what a list field's spec says of each item


def too_large(value: Any) -> str | None:
    """Why an integer read from a file is refused (TOML's are unbounded), or None: the one rule and wording for
    experiment and hardware files alike.

    >>> too_large(2**53), too_large(-10**30)
    (None, '-1000000000000000000… is beyond any size or count ampsim takes (at most 2**53)')
    """
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) <= MAX_INT:
        return None
    text = str(value)
    return f"{text[:20]}{'…' if len(text) > 20 else ''} is beyond any size or count ampsim takes (at most 2**53)"


def check_no_nul(where: str, text: str) -> None:
    """Refuse, in one ConfigError line, ``text`` (a name or a path) holding a NUL character, which no file system
    takes: the one rule and wording for a config's string fields and the API's path arguments. Unchecked, a path's
    was "<path>: invalid TOML: embedded null byte" (the NUL printed, a file never opened blamed), or os.stat's
    ValueError raw from deep in a run.

    >>> check_no_nul("train: out", "runs/a\\0b")
    Traceback (most recent call last):
    ampsim.errors.ConfigError: train: out: holds a NUL character, which no name or path can, got 'runs/a\\x00b'
    """
    if "\0" in text:
        raise ConfigError(f"{where}: holds a NUL character, which no name or path can, got {text[:80]!r}")


def parse_section(cls: type, raw: Any, source: str, section: str) -> Any:
    """Build dataclass ``cls`` from ``raw`` (a dict), checking keys, types and ranges."""
    return _parse_table(cls, raw, f"{source}: {section}")


def _parse_table(cls: type, raw: Any, where_table: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where_table}: must be a table, got {type_name(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        where = f"{where_table}.{key}"
        if key not in fields:
            raise ConfigError(f"{where}: {unknown_key(key, fields)}")
        values[key] = _check(where, value, hints[key], fields[key].metadata)
    return cls(**values)


def _check(where: str, value: Any, hint: Any, meta: typing.Mapping) -> Any:
    origin = typing.get_origin(hint) or hint
    if (why := too_large(value)) is not None:
        raise ConfigError(f"{where}: {why}")
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, origin) and not (origin in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where}: expected {_tname_type(origin)}, got {type_name(value)} {value!r}")
    if origin is list:
        if len(value) > MAX_ITEMS:
            raise ConfigError(f"{where}: {len(value):,} items, more than the limit of {MAX_ITEMS:,}")
        (item,) = typing.get_args(hint) or (object,)  # a list's bounds are its items' (model.hidden: ge=1)
        bounds = {k: meta[k] for k in _BOUNDS if k in meta}
        return [_check(f"{where}[{i}]", v, item, bounds) for i, v in enumerate(value)]
    if origin is str:
        check_no_nul(where, value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{where}: must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
    # nan nowhere; inf not for a rate or step (> b: train.eps = inf trained nothing), where ">= b" may mean "never"
    if origin is float and not math.isfinite(value) and (value != value or meta.get("gt") is not None
                                                         or meta.get("finite")):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    for bound, test, word in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                              ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
        b = meta.get(bound)
        if b is not None and not test(value, b):
            raise ConfigError(f"{where}: must be {word} {b:g}, got {value!r}")
    return value


def _tname_type(t: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(t, getattr(t, "__name__", str(t)))


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]], option: str = "--set") -> dict:
    """Set dotted keys in a nested dict, in order (a table's value replaces the table). Neither ``raw`` nor
    the values are changed, nor shared with the result: a later key set inside a table given as a value went
    into the caller's own dict (and from there into the next config made with it)."""
    raw, overrides = copy.deepcopy(raw), list(overrides)
    for i, (key, value) in enumerate(overrides):
        value = copy.deepcopy(value)
        parts = key.split(".")
        d = raw
        for depth, p in enumerate(parts[:-1]):
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                # an earlier override that made it a value is the mistake (--set train=5 --set train.epochs=1)
                made = ".".join(parts[:depth + 1])
                if any(k == made for k, _ in overrides[:i]):
                    got = f"{type_name(d)} {d!r}"
                    raise ConfigError(f"{_named(option, made)}: must be a table ({key} is set inside it), got "
                                      f"{got[:200]}")
                raise ConfigError(f"{_named(option, key)}: {p} is not a table")
        d[parts[-1]] = value
    names = {key for key, _ in overrides}
    if "executor.hardware" in names and "executor.hardware_sha256" not in names:
        # a pin belongs to the file it was written with: naming a file (--hardware) means that file as it is
        raw["executor"].pop("hardware_sha256", None)
    return raw


def load_config(path: str | Path, overrides: list[tuple[str, Any]] = (), option: str = "--set",
                given_by: dict[str, str] | None = None) -> Config:
    """Read, override and validate an experiment file (its task must be registered); ``option`` names where
    the overrides came from in an error about one (the API's ``overrides:``; "": the key alone, for a caller
    that names the place itself, as a sweep's point); ``given_by``, the option of its own that gave a key's last
    override (the command line's ``--workers`` for ``executor.workers``)."""
    source = str(path)
    if os.path.isdir(path):  # (a run's folder for its config.toml is a common slip: say which file it meant)
        raise ConfigError(f"{source}: is a directory, not a file{runfiles.folder_kind(path)}")
    raw = read_toml(path)
    if not raw:  # nothing at all (an empty or cut-off file) is a mistake, not "every default: MNIST"
        raise ConfigError(f"{source}: an empty experiment file (give at least an [experiment] table)")
    _check_values(raw, source)
    overrides = list(overrides)
    merged = apply_overrides(raw, overrides, option)
    experiment = merged.get("experiment")
    task = experiment.get("task", ExperimentSection.task) if isinstance(experiment, dict) else None
    for key, value in overrides:
        check_override(key, value, _named(option, key), task)
    last = {key: i for i, (key, _) in enumerate(overrides)}
    places = tuple((key, (given_by or {}).get(key, _named(option, key)) if last[key] == i else _named(option, key))
                   for i, (key, _) in enumerate(overrides))
    try:
        cfg = _from_raw(merged, source)
    except ConfigError as e:  # a rule across fields (data.min_len <= data.max_len) refused an override's value
        line = blamed_line(str(e), source, places)
        raise (e if line is None else ConfigError(line)) from None
    cfg = dataclasses.replace(cfg, overridden=places)
    cfg = marked_read(cfg)
    if hardware_keys := [key for key, _ in overrides if key.partition(".")[0] == "hardware"]:
        given = _named(option, ", ".join(hardware_keys))
        cfg = dataclasses.replace(cfg, hardware_from=f"{source} and {given}" if raw.get("hardware") else given)
    return cfg


def marked_read(cfg: Config) -> Config:
    """``cfg`` with its sections as they are now noted as read (``Config.as_read``): a value changed after this, in
    Python, is named as the Config's (:func:`checked`)."""
    return dataclasses.replace(cfg, as_read=tuple((name, getattr(cfg, name)) for name in SECTIONS))


def changed_in_python(cfg: Config) -> list[str]:
    """The dotted keys of ``cfg`` whose values differ from the ones it was read with (``Config.as_read``): changed
    in Python with ``dataclasses.replace``; a section of another class, or without a record, whole.

    >>> import dataclasses
    >>> cfg = load_config("experiments/blobs_mlp.toml", [("train.lr", 0.5)])
    >>> changed_in_python(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, mak=4, lr=0.5)))
    ['train.mak']
    """
    read = dict(cfg.as_read) if isinstance(cfg.as_read, tuple) else {}
    changed = []
    for name, old in read.items():
        new = getattr(cfg, name, None)
        if new is old:
            continue
        if isinstance(old, dict) and isinstance(new, dict):  # [hardware]: its top-level keys
            changed += [f"{name}.{k}" for k in {**old, **new} if not _same(old.get(k), new.get(k))]
        elif type(new) is not type(old) or not dataclasses.is_dataclass(new):
            changed.append(name)
        else:
            changed += [f"{name}.{f.name}" for f in dataclasses.fields(new)
                        if not _same(getattr(old, f.name), getattr(new, f.name))]
    return changed


def _same(a: Any, b: Any) -> bool:
    """Whether ``b`` is the value ``a`` was read as: equal, and of the same type all the way down. (``True == 1``
    and ``[64.0] == [64]``: such a replaced value, which the check refuses, was taken as the one read, and its error
    blamed on the experiment file or an override, which hold the int.)"""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # (an array's truth is ambiguous: not the value read)
        return False


def _named(option: str, key: str) -> str:
    return f"{option} {key}" if option else key


def section_class(section: str, where: str, task: Any) -> type | None:
    """The dataclass of ``section``, or None where its fields are not known here (``hardware``, checked with the
    hardware model; ``data``/``model`` where ``task``, the experiment's, is no known task: checked with the whole
    config). One ConfigError line naming ``where`` for a section that does not exist."""
    if section not in SECTIONS:
        raise ConfigError(f"{where}: unknown section {section!r} (known: {', '.join(SECTIONS)})")
    if section == "hardware" or (section in ("data", "model") and (not isinstance(task, str)
                                                                  or unknown_task(task) is not None)):
        return None
    return FIXED_SECTIONS.get(section) or getattr(task_schema(task), section)


def field_of(key: str, where: str, task: Any) -> tuple[type, dataclasses.Field] | None:
    """The section dataclass and the field a dotted ``key`` names (``model.hidden.x``: the model's ``hidden``), or
    None as for :func:`section_class` and for a whole table (``train``); one ConfigError line naming ``where`` for
    an unknown section or field, in the words of every file kind's unknown key (the one lookup of ``--set``, API
    overrides and a sweep file's keys).

    >>> cls, f = field_of("train.lr", "--set train.lr", "mlp")
    >>> cls.__name__, f.name, f.default
    ('TrainSection', 'lr', 0.01)
    >>> field_of("hardware.link.latency_s", "--set hardware.link.latency_s", "mlp") is None
    True
    >>> field_of("train.mka", "--set train.mka", "mlp")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ampsim.errors.ConfigError: --set train.mka: unknown key (known: epochs, ..., target); did you mean 'mak'?
    """
    section, dot, rest = key.partition(".")
    cls = section_class(section, where, task)
    if cls is None or not dot:
        return None
    name = rest.partition(".")[0]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ConfigError(f"{where}: {unknown_key(name, fields)}")
    return cls, fields[name]


def check_override(key: str, value: Any, where: str, task: Any) -> None:
    """One ConfigError line naming ``where``, the override's own place (``--set train.lr``, a sweep file's
    ``fixed.train.lr``), for a value its field refuses whatever the rest (an unknown key, a type, a range): merged
    first, the message named the experiment file, which holds no such value. What depends on other fields
    (``placement.map`` and its strategy), a hardware key, a key inside a table field, and a ``data``/``model`` key
    where ``task`` (the experiment's) is no known task are checked with the whole config, the hardware model."""
    if "." not in key:  # a whole table ("train." names a key, the empty one)
        if (cls := section_class(key, where, task)) is not None:
            parsed = _parse_table(cls, value, where)
            if key == "experiment" and (why := unknown_task(parsed.task)) is not None:
                raise ConfigError(f"{where}.task: {why}")
        return
    if (found := field_of(key, where, task)) is None:
        return
    cls, f = found
    hint = typing.get_type_hints(cls)[f.name]
    if key.count(".") > 1:
        if (typing.get_origin(hint) or hint) is not dict:
            raise ConfigError(f"{where}: {f.name} is not a table")
        return
    value = _check(where, value, hint, f.metadata)
    if key == "experiment.task" and (why := unknown_task(value)) is not None:
        raise ConfigError(f"{where}: {why}")


def _check_values(raw: dict, source: str) -> None:
    """One line for a value of a section's that no run's config.toml could hold, as a ``--set`` one is
    (:func:`check_writable`): a date where no field's type is checked (``[hardware]``, ``placement.map``) failed
    when config.toml was written, after the plan stage; tables nested hundreds deep, copying them."""
    for section, table in raw.items():
        for key, value in table.items() if section in SECTIONS and isinstance(table, dict) else ():
            check_writable(f"{source}: {section}.{key}", value, option="")


def checked(cfg: Config) -> Config:
    """``cfg`` validated again as a file's would be: a Config changed by ``dataclasses.replace`` (which
    validates nothing) is one ConfigError line, as in a file, before it runs (its run's config.toml could
    not be read back). Returns the Config the values make."""
    path = _path_of(cfg)
    for name in SECTIONS:  # (to_dict's dataclasses.asdict raised a TypeError on anything else)
        section = getattr(cfg, name)
        if name != "hardware" and (not dataclasses.is_dataclass(section) or isinstance(section, type)):
            what = FIXED_SECTIONS[name].__name__ if name in FIXED_SECTIONS else f"the task's {name} dataclass"
            # (named as the Config's, as a value changed in Python is: the experiment file holds the section it read)
            raise ConfigError(f"Config.{name}: must be an instance of {what} (dataclasses.replace of cfg.{name}), got "
                              f"{type(section).__name__}")
    # a tuple, a numpy number or a path taken as the API's overrides take them (to_dict copies them as they are:
    # hidden=(8, 8) was refused here, "expected array, got tuple", where overrides took it)
    raw = {name: {key: as_toml(value) for key, value in table.items()} if isinstance(table, dict) else table
           for name, table in cfg.to_dict().items()}
    # where its values came from: the overrides, and after them what Python changed (named so, not the file)
    places = cfg.overridden if isinstance(cfg.overridden, tuple) else ()
    known = set(places)  # (a Config checked again names each change once)
    places += tuple(p for k in changed_in_python(cfg) if (p := (k, f"Config.{k}")) not in known)
    try:
        _check_values(raw, path)
        made = _from_raw(raw, path)
    except ConfigError as e:
        line = blamed_line(str(e), path, places)
        raise (e if line is None else ConfigError(line)) from None
    made = dataclasses.replace(made, overridden=places, as_read=cfg.as_read)
    if hardware := [words for key, words in places if key.startswith("hardware.") and words.startswith("Config.")]:
        return dataclasses.replace(made, hardware_from=", ".join(hardware))  # (the hardware model's errors name it)
    return dataclasses.replace(made, hardware_from=cfg.hardware_from) if isinstance(cfg.hardware_from, str) else made


def _path_of(cfg: Config) -> str:
    """``cfg.path`` as text (a Path too); anything else is one line: every message starts with it."""
    path = os.fspath(cfg.path) if isinstance(cfg.path, (str, os.PathLike)) else None
    if not isinstance(path, str):
        raise ConfigError(f"Config.path: must be the experiment file's path (a string), got {type(cfg.path).__name__}")
    return path


def _from_raw(raw: dict, source: str) -> Config:
    for key in raw:
        if key not in SECTIONS:
            raise ConfigError(f"{source}: {key}: unknown section (known: {', '.join(SECTIONS)})"
                              f"{quoted_dotted(key, SECTIONS) or other_kind(raw, 'experiment')}")
    sections = {name: parse_section(cls, raw.get(name, {}), source, name) for name, cls in FIXED_SECTIONS.items()}
    if bool((placed := sections["placement"]).map) != (placed.strategy == "explicit"):  # unused, or nothing placed
        raise ConfigError(f"{source}: placement.map: only placement.strategy = \"explicit\" reads it, the strategy "
                          f"is {placed.strategy!r}" if placed.map else f"{source}: placement.map: placement.strategy "
                          "= \"explicit\" needs a map of node name (or pattern) -> chip, got none")
    pin = sections["executor"].hardware_sha256  # (any other text was refused as "its bytes differ": a file edited)
    if pin and not (len(pin) == 64 and all(c in "0123456789abcdefABCDEF" for c in pin)):
        raise ConfigError(f"{source}: executor.hardware_sha256: expected a SHA-256 of the hardware file's bytes "
                          f"(64 hex digits) or \"\" for none, got {pin[:80]!r}")
    _check_eps(sections["train"], sections["experiment"].dtype, source)
    schema = task_schema(sections["experiment"].task, source)
    data = parse_section(schema.data, raw.get("data", {}), source, "data")
    model = parse_section(schema.model, raw.get("model", {}), source, "model")
    hardware = raw.get("hardware", {})
    if not isinstance(hardware, dict):
        raise ConfigError(f"{source}: hardware: must be a table of hardware-model overrides")
    cfg = Config(source, data=data, model=model, hardware=hardware, **sections)
    if schema.check is not None:  # (at the plan stage, a sweep's --check passed what its points then refused)
        schema.check(cfg)
    return cfg


def _check_eps(train: TrainSection, dtype: str, source: str) -> None:
    """Refuse a ``train.eps`` that the experiment's dtype rounds to 0: Adam and Adagrad add it to a root of the
    squared gradients in that dtype, and a parameter whose gradients are all zero so far divides 0 by 0 (1e-50 in
    float32 made every step NaN, said as a divergence to lower train.lr for)."""
    import numpy as np

    if train.optimizer in ("adam", "adagrad") and np.asarray(train.eps, dtype=dtype) == 0:
        raise ConfigError(f"{source}: train.eps: {train.eps:g} is 0 in {dtype} (experiment.dtype), and an update "
                          f"would divide 0 by 0: give at least {np.finfo(dtype).smallest_subnormal:g}")


__all__ = ["Config", "load_config", "checked", "parse_section", "parse_override", "apply_overrides", "check_override",
           "section_class", "field_of", "spec", "field_default", "register_task", "read_toml", "too_large", "SECTIONS",
           "MAX_INT", "check_no_nul", "marked_read", "changed_in_python"]

"""Experiment files: TOML → frozen dataclasses, validated with errors that name the file and the field.

An experiment file has the sections ``[experiment]``, ``[data]``, ``[model]``, ``[train]``, ``[eval]``,
``[executor]`` and ``[placement]``. ``[data]`` and ``[model]`` are the task's (:mod:`ampsim.schemas`; a task from
elsewhere declares its own with :func:`register_task`); the rest are defined here. Every field is declared once,
with its type, its default and its allowed range (``field(metadata=...)``); :func:`parse_section` enforces all
of them, so an unknown key, a wrong type or an out-of-range value becomes one line such as
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ampsim.errors import ConfigError
from ampsim.fieldspec import POINT_ID_RULES, field_default, spec, type_name, unknown_key  # noqa: F401  (re-exported: the tasks' sections)
from ampsim.files import read_toml
from ampsim.schemas import TASK_SCHEMAS, TaskSchema, register_task, task_schema, unknown_task  # noqa: F401
from ampsim.tomltext import MAX_NESTING, check_writable, parse_override  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class ExperimentSection:
    """``[experiment]``: the run's name, its task (model family), random seed and array dtype."""

    name: str = spec("experiment", help="run name; the default run folder is results/<name>")
    task: str = spec("mlp", help="model family: mlp, list_reduction, sst_treelstm, qm9_ggnn")
    seed: int = spec(0, ge=0)
    dtype: str = spec("float32", choices=("float32", "float64"))


#: largest ``train.epochs`` accepted
MAX_EPOCHS = 1_000_000
MAX_INT = 2**53  # any integer in an experiment: a float holds it exactly, numpy sizes and counts fit
MAX_ITEMS = 10_000  # any list field's (model.hidden of 20,000 layers was built, and ran for minutes)
_BOUNDS = ("gt", "ge", "le", "finite")  # what a list field's spec says of each item
#: default ``executor.watchdog_s``: generous, a healthy worker answers in milliseconds (see multicore/executor.py)
WATCHDOG_S = 60.0


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


def _OPTIMIZERS(*kinds: str) -> tuple:  # noqa: N802  (a read_if, spelled as the table it is)
    return (("train.optimizer", kinds), ("model.embedding_optimizer", kinds))


@dataclass(frozen=True)
class TrainSection:
    """``[train]``: epochs, the optimizer, asynchrony (``mak``, ``muf``), staleness, admission, stopping, target."""

    #: the upper bound catches typos such as 1e12 epochs (a run that would never end)
    epochs: int = spec(1, ge=1, le=MAX_EPOCHS, help="passes over the training set")
    optimizer: str = spec("sgd", choices=("sgd", "momentum", "adam", "adagrad"))
    lr: float = spec(0.01, gt=0)
    # (the embedding table of the SST task may have an optimizer of its own, with these settings)
    momentum: float = spec(0.9, ge=0, le=1, read_if=_OPTIMIZERS("momentum"))
    beta1: float = spec(0.9, ge=0, le=1, read_if=_OPTIMIZERS("adam"))
    beta2: float = spec(0.999, ge=0, le=1, read_if=_OPTIMIZERS("adam"))
    eps: float = spec(1e-8, gt=0, read_if=_OPTIMIZERS("adam", "adagrad"))
    weight_decay: float = spec(0.0, ge=0, finite=True)  # (inf trained nothing but a divergence)
    clip_norm: float = spec(0.0, ge=0, help="clip each node's update to this gradient norm; 0 = off")
    count_optimizer_state: bool = spec(False, help="simulator: an update also reads and writes its optimizer's state "
                                       "(momentum and Adagrad one array per parameter, Adam two) and the state "
                                       "takes chip memory; false = an update moves 3x its parameters' bytes, "
                                       "whatever the optimizer, and the state no memory", point_id="unless_default")
    #: far above any healthy run of the shipped experiments (their loss per row stays below 10^3)
    max_loss: float = spec(1e6, ge=0, help="stop the run when a loss per labelled row exceeds this; "
                           "0 = stop only on NaN or infinity", point_id="never")
    mak: int = spec(1, ge=1, help="max_active_keys: instances in flight")
    muf: int = spec(1, ge=1, help="min_update_frequency: completed instances per parameter update")
    staleness: str = spec("none", choices=("none", "stash", "predict", "scale_lr"),
                          help="stale-gradient mitigation per parameterized node: stash (backward uses the "
                          "forward's parameters), predict (forward extrapolates along the last step), scale_lr "
                          "(step / (1 + staleness)); see ampsim/ir/param.py", point_id="unless_default")
    predict_delay: float = spec(-1.0, ge=-1, finite=True, help="staleness = predict: updates to extrapolate by; "
                                "-1 = the node's mean measured staleness so far", point_id="unless_default")
    staleness_nodes: dict = spec({}, help="per-node train.staleness: node name (or fnmatch pattern, first "
                                 "match wins) -> mode; other nodes take train.staleness", point_id="unless_default")
    max_staleness: float = spec(0.0, ge=0, help="simulator: a window of instances in flight (up to mak) that "
                                "grows while every parameterized node's recent mean staleness is at most this and "
                                "shrinks in proportion when not (ampsim/executors/sim/admission.py); 0 = off (mak "
                                "alone)", point_id="unless_default")
    admission_start: int = spec(1, ge=0, help="with train.max_staleness: the window's first size (it doubles "
                                "from there while under the bound); 0 = one instance per chip the placement "
                                "occupies (fill the pipeline once before measuring)", point_id="unless_default")
    admission_slow_start: bool = spec(True, help="with train.max_staleness: the window doubles from its first "
                                      "size each round while under the bound (TCP's slow start); false = it "
                                      "grows by one a round from the first size, as after a cut",
                                      point_id="unless_default")
    max_instances: int = spec(0, ge=0, help="stop an epoch after this many instances; 0 = all")
    target: float = spec(0.0, help="metric value that counts as reaching the target (time-to-target)")


@dataclass(frozen=True)
class EvalSection:
    """``[eval]``: how often and on how many instances the model is evaluated, and whether that costs time."""

    every_epochs: int = spec(1, ge=1)
    limit: int = spec(0, ge=0, help="evaluate on at most this many instances; 0 = all")
    advances_time: bool = spec(False, help="simulated executor: evaluation costs simulated time")


#: the executors' names, here so that a config is refused as it is read (the registry, :mod:`ampsim.executors`, is a
#: layer above; tests/unit/test_config.py checks that the two agree)
EXECUTOR_KINDS = ("reference", "sim", "multicore")


@dataclass(frozen=True)
class ExecutorSection:
    """``[executor]``: which executor runs the experiment (``kind``), and its options."""

    kind: str = spec("reference", choices=EXECUTOR_KINDS, help="executor: reference, sim, multicore")
    hardware: str = spec("", help="hardware model TOML for the simulated executor", point_id="never")
    hardware_sha256: str = spec("", help="the hardware file's bytes a run used (its config.toml pins them; its folder "
                                "keeps a copy, hardware.toml): another file's are refused, the copy used instead",
                                point_id="never")
    workers: int = spec(0, ge=0, help="multicore worker processes; 0 = one per core")
    trace: bool = spec(False, help="write a Chrome/Perfetto trace of the run")
    numerics: bool = spec(True, help="false: the simulated executor replays recorded message graphs "
                          "(exact times, no numpy; loss and metrics not measured)", point_id="unless_default")
    watchdog_s: float = spec(WATCHDOG_S, ge=0, le=1e6, help="multicore: stop with an error naming a worker that makes "
                             "no progress this many seconds (0.1 to 1e6: 11 days); 0 = off", point_id="never")


@dataclass(frozen=True)
class ReplicasSection:
    """``[replicas]``: copies of the model (groups) and of nodes, and how their parameters are synchronized."""

    groups: int = spec(1, ge=1, le=1 << 16, help="whole-model copies (data-parallel AMP groups); instance key "
                       "k runs in group k % groups")
    nodes: dict = spec({}, help="copies inside each group: node name (or fnmatch pattern, first match wins) -> "
                       "copies; instance key k takes copy (k // groups) % copies")
    sync: str = spec("average", choices=("average", "none"),
                     help="copies of a parameterized node: average their parameters every sync_every local "
                     "updates (local updates since a copy contributed are kept), or never (none)")
    sync_every: int = spec(1, ge=1, help="local updates of each copy between synchronizations")
    outer_lr: float = spec(1.0, gt=0, help="a round's result is anchor + outer_lr * (average - anchor), the anchor "
                           "being the previous result: 1 = the plain average, the number of copies = the sum of "
                           "their moves (federated averaging's server learning rate)", point_id="unless_default")
    sparse_sync: bool = spec(False, help="tables updated by rows (embeddings) synchronize only the rows some copy "
                             "changed since the last round (exact; fewer bytes); every executor, a "
                             "replay included", point_id="unless_default")
    overlap: bool = spec(False, help="simulator: copies keep training while a synchronization runs and apply its "
                         "result when it arrives (false: a copy waits from the round's close to its apply, and mak = 1 "
                         "equals the reference)")
    collective: str = spec("ring", choices=("ring", "halving_doubling", "host"),
                           help="simulator: the all-reduce a round runs over the links: ring (2 (k - 1) steps to "
                           "the next copy) or halving_doubling (2 log2 k steps, partners copy index XOR 2^j; k a "
                           "power of two); or host: through the controller of a measured machine's [host], as the "
                           "multicore executor does (snapshots in, the average out); what the copies end with is "
                           "the same", point_id="unless_default")


@dataclass(frozen=True)
class PlacementSection:
    """``[placement]``: how the model's nodes are mapped onto chips (workers)."""

    strategy: str = spec("round_robin", choices=("explicit", "round_robin", "greedy", "min_cut", "groups",
                                                 "single"),
                         help="groups: each replica group on its own run of consecutive chips, greedy inside")
    map: dict = spec({}, help="explicit placement: node name -> chip index")


@dataclass(frozen=True)
class Config:
    """A resolved, validated experiment. ``data`` and ``model`` are the task's own dataclasses."""

    path: str
    experiment: ExperimentSection
    data: Any
    model: Any
    train: TrainSection
    eval: EvalSection
    executor: ExecutorSection
    placement: PlacementSection
    #: the section came after results were committed: wholly at its defaults it leaves point ids alone
    replicas: ReplicasSection = field(default_factory=ReplicasSection, metadata={"point_id": "unless_default"})
    #: overrides applied to the hardware model file (``hardware.link.bandwidth_bytes_per_s = 1e9``);
    #: validated with the hardware file when the simulator loads it
    hardware: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict]:
        """The TOML-shaped dict: section name -> its fields (``hardware`` only where it has overrides)."""
        d = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS if name != "hardware"}
        if self.hardware:
            d["hardware"] = self.hardware
        return d


SECTIONS = ("experiment", "data", "model", "train", "eval", "executor", "placement", "replicas", "hardware")
FIXED_SECTIONS = {"experiment": ExperimentSection, "train": TrainSection, "eval": EvalSection,
          "executor": ExecutorSection, "placement": PlacementSection, "replicas": ReplicasSection}


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
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{where}: must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
    # nan nowhere; inf not for a rate or step (> b: train.eps = inf trained nothing), where ">= b" may mean "never"
    if origin is float and not math.isfinite(value) and (value != value or meta.get("gt") is not None
                                                         or meta.get("finite")):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    for bound, test, word in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                              ("le", lambda v, b: v <= b, "<=")):
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
    raw = copy.deepcopy(raw)
    for key, value in overrides:
        value = copy.deepcopy(value)
        parts = key.split(".")
        d = raw
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):
                raise ConfigError(f"{_named(option, key)}: {p} is not a table")
        d[parts[-1]] = value
    names = {key for key, _ in overrides}
    if "executor.hardware" in names and "executor.hardware_sha256" not in names:
        # a pin belongs to the file it was written with: naming a file (--hardware) means that file as it is
        raw["executor"].pop("hardware_sha256", None)
    return raw


def load_config(path: str | Path, overrides: list[tuple[str, Any]] = (), option: str = "--set") -> Config:
    """Read, override and validate an experiment file (its task must be registered); ``option`` names where
    the overrides came from in an error about one (the API's ``overrides:``; "": the key alone, for a caller
    that names the place itself, as a sweep's point)."""
    source = str(path)
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
    return _from_raw(merged, source)


def _named(option: str, key: str) -> str:
    return f"{option} {key}" if option else key


def check_override(key: str, value: Any, where: str, task: Any) -> None:
    """One ConfigError line naming ``where``, the override's own place (``--set train.lr``, a sweep file's
    ``fixed.train.lr``), for a value its field refuses whatever the rest (an unknown key, a type, a range): merged
    first, the message named the experiment file, which holds no such value. What depends on other fields
    (``placement.map`` and its strategy), a hardware key, a key inside a table field, and a ``data``/``model`` key
    where ``task`` (the experiment's) is no known task are checked with the whole config, the hardware model."""
    section, _, rest = key.partition(".")
    name, _, deeper = rest.partition(".")
    if section not in SECTIONS:
        raise ConfigError(f"{where}: unknown section {section!r} (known: {', '.join(SECTIONS)})")
    if section in ("hardware", "data", "model") and (section == "hardware" or not isinstance(task, str)
                                                     or unknown_task(task) is not None):
        return
    cls = FIXED_SECTIONS.get(section) or getattr(task_schema(task), section)
    if "." not in key:  # a whole table ("train." names a key, the empty one)
        parsed = _parse_table(cls, value, where)
        if section == "experiment" and (why := unknown_task(parsed.task)) is not None:
            raise ConfigError(f"{where}.task: {why}")
        return
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ConfigError(f"{where}: {unknown_key(name, fields)}")
    hint = typing.get_type_hints(cls)[name]
    if deeper:
        if (typing.get_origin(hint) or hint) is not dict:
            raise ConfigError(f"{where}: {name} is not a table")
        return
    value = _check(where, value, hint, fields[name].metadata)
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
            raise ConfigError(f"{path}: {name}: must be an instance of {what} (dataclasses.replace of cfg.{name}), got "
                              f"{type(section).__name__}")
    raw = cfg.to_dict()
    _check_values(raw, path)
    return _from_raw(raw, path)


def _path_of(cfg: Config) -> str:
    """``cfg.path`` as text (a Path too); anything else is one line: every message starts with it."""
    path = os.fspath(cfg.path) if isinstance(cfg.path, (str, os.PathLike)) else None
    if not isinstance(path, str):
        raise ConfigError(f"Config.path: must be the experiment file's path (a string), got {type(cfg.path).__name__}")
    return path


def _from_raw(raw: dict, source: str) -> Config:
    for key in raw:
        if key not in SECTIONS:
            raise ConfigError(f"{source}: {key}: unknown section (known: {', '.join(SECTIONS)})")
    sections = {name: parse_section(cls, raw.get(name, {}), source, name) for name, cls in FIXED_SECTIONS.items()}
    if bool((placed := sections["placement"]).map) != (placed.strategy == "explicit"):  # unused, or nothing placed
        raise ConfigError(f"{source}: placement.map: only placement.strategy = \"explicit\" reads it, the strategy "
                          f"is {placed.strategy!r}" if placed.map else f"{source}: placement.map: placement.strategy "
                          "= \"explicit\" needs a map of node name (or pattern) -> chip, got none")
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


__all__ = ["Config", "load_config", "checked", "parse_section", "parse_override", "apply_overrides", "spec",
           "field_default", "register_task", "read_toml", "too_large", "SECTIONS", "MAX_INT"]

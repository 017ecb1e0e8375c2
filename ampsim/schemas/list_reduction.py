"""The ``list_reduction`` task's ``[data]`` and ``[model]`` (:mod:`ampsim.models.rnn` builds it): generated lists of
digits reduced by an operation, an LSTM or GRU over each."""

from __future__ import annotations

from dataclasses import dataclass

from ampsim.data.list_reduction import OPS
from ampsim.errors import ConfigError
from ampsim.fieldspec import spec, value_hash

__all__ = ["DataConfig", "ModelConfig", "check_config"]


@dataclass(frozen=True)
class DataConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    n_train: int = spec(20000, ge=1, help="training lists (generated from the run seed)")
    n_test: int = spec(2000, ge=1, help="test lists (an independent draw)")
    min_len: int = spec(1, ge=1, help="shortest list (digits, excluding the operation token)")
    # lists are generated in memory before training: a bound keeps a typo from exhausting it
    max_len: int = spec(10, ge=1, le=10_000, help="longest list")
    ops: list[str] = spec(list(OPS), help="operations: sum (mod 10), max, min, first, last")
    batch: int = spec(16, ge=1, help="lists of equal length per instance (one message carries the batch)")


@dataclass(frozen=True)
class ModelConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    cell: str = spec("lstm", choices=("lstm", "gru"))
    hidden: int = spec(64, ge=1)
    embed: int = spec(32, ge=1, help="token embedding width")
    forget_bias: float = spec(1.0, finite=True, help="LSTM forget-gate bias at initialization",
                              read_if=(("model.cell", ("lstm",)),))


def check_config(cfg) -> None:
    """What the config alone must satisfy, checked when it is read (config's task check), before any data."""
    d = cfg.data
    if d.min_len > d.max_len:
        raise ConfigError(f"{cfg.path}: data.min_len: must be <= data.max_len ({d.max_len}), got {d.min_len}")
    bad = [o for o in d.ops if o not in OPS]
    if bad or not d.ops:
        what = f"unknown operations {bad}" if bad else "no operation given"
        raise ConfigError(f"{cfg.path}: data.ops: {what} (known: {', '.join(OPS)})")

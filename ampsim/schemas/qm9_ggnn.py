"""The ``qm9_ggnn`` task's ``[data]`` and ``[model]`` (:mod:`ampsim.models.ggnn` builds it): QM9 molecules, a gated
graph neural network regressing one property."""

from __future__ import annotations

from dataclasses import dataclass

from ampsim.data import qm9
from ampsim.errors import ConfigError
from ampsim.fieldspec import spec, value_hash

__all__ = ["DataConfig", "ModelConfig", "check_config"]


@dataclass(frozen=True)
class DataConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    target: str = spec("homo", choices=qm9.TASKS, help="QM9 property to regress (one)")
    batch: int = spec(1, ge=1, help="molecules per instance (disjoint union; one output row each)")
    limit_train: int = spec(0, ge=0, help="use only the first N training molecules; 0 = all 13,291")
    limit_valid: int = spec(0, ge=0, help="evaluate on the first N validation molecules; 0 = all 1,424")


@dataclass(frozen=True)
class ModelConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    hidden: int = spec(64, ge=len(qm9.ELEMENTS), help="atom state width H (>= the 5 element features)")
    steps: int = spec(4, ge=1, le=1000, help="propagation steps T (each instance holds every step's activations "
                      "until its backward: 10^8 took memory without end)")
    readout: int = spec(64, ge=1, help="width of the gated readout before the final Linear")
    granularity: str = spec("molecule", choices=("molecule", "atom"),
                            help="one message per instance (rows = atoms) or one message per atom/edge")


def check_config(cfg) -> None:
    """What the config alone must satisfy, checked when it is read (config's task check), before any data (the
    files' own atom features are checked against ``model.hidden`` once they are read: :func:`_check_hidden`)."""
    d, m = cfg.data, cfg.model  # (model.hidden >= the atom features: its spec)
    if m.granularity == "atom" and d.batch != 1:
        raise ConfigError(f"{cfg.path}: data.batch: model.granularity 'atom' takes one molecule per instance "
                          f"(each molecule is its own loss message); use train.muf for minibatches, got {d.batch}")

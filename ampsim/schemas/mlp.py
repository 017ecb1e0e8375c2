"""The ``mlp`` task's ``[data]`` and ``[model]`` (:mod:`ampsim.models.mlp` builds it): MNIST or synthetic blobs,
an MLP of ReLU layers."""

from __future__ import annotations

from dataclasses import dataclass

from ampsim.fieldspec import spec, value_hash

__all__ = ["BLOBS", "DataConfig", "ModelConfig"]


#: what reads the synthetic dataset's settings
BLOBS = (("data.dataset", ("blobs",)),)


@dataclass(frozen=True)
class DataConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    dataset: str = spec("mnist", choices=("mnist", "blobs"))
    batch: int = spec(32, ge=1, help="examples per instance (one message carries the batch)")
    limit_train: int = spec(0, ge=0, help="use only the first N training examples; 0 = all")
    limit_test: int = spec(0, ge=0)
    n_features: int = spec(16, ge=1, read_if=BLOBS)
    n_classes: int = spec(4, ge=2, read_if=BLOBS)
    n_train: int = spec(2000, ge=1, read_if=BLOBS)
    n_test: int = spec(500, ge=1, read_if=BLOBS)


@dataclass(frozen=True)
class ModelConfig:
    __hash__ = value_hash  # (by value, lists and tables too: equal configs, equal hashes)

    hidden: list[int] = spec([256, 256, 256], ge=1, help="widths of the hidden ReLU layers")
    init: str = spec("he", choices=("he", "glorot"))


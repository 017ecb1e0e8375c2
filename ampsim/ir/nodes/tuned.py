"""Per-node optimizer overrides (e.g. a separate learning rate for an embedding table).

The training driver configures every PPT node from the run's ``[train]`` section. A node built with the
:class:`OptimizerOverrides` mixin replaces some fields of that :class:`~ampsim.optim.OptimizerSpec` for
itself only (``kind``, ``lr``, ``weight_decay`` ...), as Tai et al. trained the Tree-LSTM's embeddings
with plain SGD at lr 0.1 and everything else with Adagrad at lr 0.05. muf and clipping are unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.optim import OptimizerSpec

__all__ = ["TunedEmbedding", "TunedLinear"]


class OptimizerOverrides:
    """Mixin for :class:`~ampsim.ir.param.ParamNode` subclasses (put it first in the bases)."""

    optimizer_overrides: dict = {}

    def override_optimizer(self, **fields):
        """Replace these OptimizerSpec fields at :meth:`configure` time; returns self."""
        bad = set(fields) - set(OptimizerSpec.__dataclass_fields__)
        if bad:
            raise ValueError(f"node {self.name}: unknown optimizer fields {sorted(bad)}")
        self.optimizer_overrides = dict(fields)
        return self

    def configure(self, optimizer: OptimizerSpec, muf: int, clip_norm: float = 0.0) -> None:
        super().configure(replace(optimizer, **self.optimizer_overrides), muf, clip_norm)


class TunedEmbedding(OptimizerOverrides, Embedding):
    """An :class:`~ampsim.ir.nodes.linear.Embedding` with its own optimizer settings."""


class TunedLinear(OptimizerOverrides, Linear):
    """A :class:`~ampsim.ir.nodes.linear.Linear` with its own optimizer settings."""

"""What a model builder hands to executors: the IR graph plus how instances enter it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance, Message

__all__ = ["DataSpec", "InjectFields", "Metric", "Model", "Task"]


@dataclass(frozen=True, slots=True)
class Metric:
    """The validation metric: ``sum(values[num]) / sum(values[den])`` over one loss node's reports.

    ``scale`` converts units (e.g. a normalized regression target back to its physical unit).
    """

    name: str
    node: str
    num: str
    den: str = "n"
    higher_is_better: bool = True
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class InjectFields:
    """Inject ``inst.data[field]`` at each named Input node with an empty state (e.g. an MLP batch)."""

    fields: tuple[tuple[str, str], ...]  # (input node, data field)

    def __call__(self, inst: Instance) -> list[tuple[str, Message]]:
        return [(node, Message(inst, (), inst.data[f])) for node, f in self.fields]


@dataclass(frozen=True, slots=True)
class DataSpec:
    """What one array of an instance's data must be for the model's nodes: its dtype, the length of its last
    axis (a layer's input width; None: any) and a bound its values stay under (class labels, token ids; None:
    unchecked). An instance of another task with the same fields failed in numpy's matmul mid-run."""

    field: str
    dtype: str
    width: int | None = None
    bound: int | None = None

    def mismatch(self, data: dict) -> str | None:
        """Why ``data[field]`` does not fit (a short phrase), or None."""
        v = data[self.field]
        if not isinstance(v, np.ndarray) or v.dtype != self.dtype or not v.ndim:
            return f"{self.field!r} is {type(v).__name__} {getattr(v, 'dtype', '')}, not a {self.dtype} array"
        if self.width is not None and v.shape[-1] != self.width:
            return f"{self.field!r} is {v.shape[-1]} wide, not {self.width}"
        if self.bound is not None and v.size and int(v.max()) >= self.bound:  # (negatives are "none": a tree's -1)
            return f"{self.field!r} holds {int(v.max())}, above this model's {self.bound - 1}"
        return None


@dataclass
class Model:
    """An IR graph and the (picklable) rule that turns an instance into its first messages."""

    graph: Graph
    inject: Callable[[Instance], list[tuple[str, Message]]]
    metric: Metric
    #: the fields every instance's data holds (what the graph's callables read): executors check a given
    #: instance has them, so another task's instances are one line instead of a KeyError inside a node
    fields: tuple[str, ...] = ()
    #: what those fields' arrays must be (dtype, width, bound), checked the same way before anything runs
    data_specs: tuple[DataSpec, ...] = ()


@dataclass
class Task:
    """A model with its data: the instances of each epoch and of evaluation.

    ``train_instances(epoch)`` must be a pure function of (seed, epoch), so runs repeat exactly.
    Instance keys are unique within a run.
    """

    model: Model
    train_instances: Callable[[int], Sequence[Instance]]
    eval_instances: Callable[[], Sequence[Instance]]
    info: dict = field(default_factory=dict)

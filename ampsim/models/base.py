"""What a model builder hands to executors: the IR graph plus how instances enter it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance, Message


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


@dataclass
class Model:
    """An IR graph and the (picklable) rule that turns an instance into its first messages."""

    graph: Graph
    inject: Callable[[Instance], list[tuple[str, Message]]]
    metric: Metric
    #: the fields every instance's data holds (what the graph's callables read): executors check a given
    #: instance has them, so another task's instances are one line instead of a KeyError inside a node
    fields: tuple[str, ...] = ()


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

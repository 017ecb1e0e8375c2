"""The reference executor: synchronous, deterministic, obviously right.

One instance at a time: its first messages go into a FIFO queue; each message popped is processed by its
node and what that node sends is appended. Forward and backward messages share the queue, so a loss's
gradient follows the forward messages already queued. When the queue is empty the instance is complete:
no node may still hold state for it, and every parameterized node is told, which applies the muf rule.
With mak = 1 and muf = 1 this is plain per-instance SGD; muf = k is minibatch SGD over k instances.

It is the oracle every other executor is tested against.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Sequence

from ampsim.errors import RunError
from ampsim.executors.base import ExecutorBase, ExecutorPlan, checked_instances, guarded
from ampsim.ir.message import Instance
from ampsim.ir.node import Report
from ampsim.ir.pump import pump
from ampsim.ir.sync import SyncSet, rounds_and_drift
from ampsim.models.base import Model

__all__ = ["ReferenceExecutor"]


class ReferenceExecutor(ExecutorBase):
    name = "reference"
    time_unit = "wall"

    @classmethod
    def from_plan(cls, plan: ExecutorPlan) -> ReferenceExecutor:
        return cls(plan.task.model, plan.sync_sets)

    def __init__(self, model: Model, sync_sets: Sequence[SyncSet] = ()) -> None:
        self.model = model
        self.graph = model.graph.validate()
        self.params = self.graph.param_nodes
        #: replicas: copy name -> its sync set; a round is reduced and applied as soon as it is ready
        self.sync_sets = list(sync_sets)
        self._sync = {c.name: s for s in self.sync_sets for c in s.copies}
        self.time_s = 0.0  # wall seconds spent training

    @guarded
    def train(self, instances: Iterable[Instance], on_done: Callable[[int], None] | None = None) -> list[Report]:
        # every instance checked before the first runs (a bad one at k refused k trained ones: see guarded)
        instances = list(checked_instances(instances, f"{self.name} executor: train", self.model, on_done=on_done))
        self._set_training(True)
        reports: list[Report] = []
        t0 = time.perf_counter()
        for inst in instances:
            reports.extend(self._run(inst))
            for node in self.params:
                if node.complete(inst.key) is not None and node.name in self._sync:
                    self._synchronize(node)
            if on_done:
                on_done(1)
        self.time_s += time.perf_counter() - t0
        return reports

    @guarded
    def evaluate(self, instances: Iterable[Instance]) -> list[Report]:
        return self.evaluate_checked(list(checked_instances(instances, f"{self.name} executor: evaluate", self.model)))

    def evaluate_checked(self, instances: list[Instance]) -> list[Report]:
        """:meth:`evaluate` of instances its caller has checked: an executor evaluating on its reference copy
        (the simulator's, the multicore one's) checked them in its own ``evaluate``, naming itself, and the copy
        checked every instance again."""
        self._set_training(False)
        reports: list[Report] = []
        try:
            for inst in instances:
                reports.extend(self._run(inst))
        finally:
            self._set_training(True)
        return reports

    def _set_training(self, training: bool) -> None:
        for node in self.graph.nodes.values():
            node.training = training

    def _run(self, inst: Instance) -> list[Report]:
        reports: list[Report] = []
        for visit in pump(self.graph, self.model.inject(inst)):
            reports.extend(visit.step.reports)
        stuck = [n.name for n in self.graph.nodes.values() if n.holds(inst.key)]
        if stuck:
            raise RunError(f"instance {inst.key} ended with messages stuck at {', '.join(stuck)} "
                           "(a join waited for an input that never came)")
        return reports

    def _synchronize(self, node) -> None:
        s = self._sync[node.name]
        s.contribute(node)
        while s.ready() is not None:
            reduced = s.reduce()
            for c in s.copies:
                s.apply(c, reduced)

    def summary(self) -> dict:
        out = {"executor": self.name, "time_unit": self.time_unit}
        if self.sync_sets:
            rounds, drift = rounds_and_drift(self.sync_sets)
            out.update(sync_rounds=rounds, replica_drift=drift)
        return out


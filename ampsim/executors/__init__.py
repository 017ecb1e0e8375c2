"""Executors decide *when* and *where* each message is processed; the node code is shared.

The interface is :class:`~ampsim.executors.base.Executor` (see :mod:`ampsim.executors.base`). Executors
are a registry by name: a new executor is one module with a class that has ``from_plan(plan)`` plus one
entry in :data:`EXECUTORS`. Modules are imported when first used, so the multicore machinery loads only
for multicore runs.
"""

from __future__ import annotations

import importlib

from ampsim.errors import ConfigError
from ampsim.executors.base import Executor, ExecutorBase, ExecutorPlan

#: ``executor.kind`` -> "module:Class"
EXECUTORS: dict[str, str] = {
    "reference": "ampsim.executors.reference:ReferenceExecutor",
    "sim": "ampsim.executors.sim.executor:SimExecutor",
    "multicore": "ampsim.executors.multicore.executor:MulticoreExecutor",
}


def check_kind(kind: str, source: str = "<config>") -> None:
    """One line naming the known executors when ``kind`` is not one of them."""
    if kind not in EXECUTORS:
        raise ConfigError(f"{source}: executor.kind: must be one of {', '.join(EXECUTORS)}, got {kind!r}")


def executor_class(kind: str, source: str = "<config>") -> type:
    check_kind(kind, source)
    module, _, cls = EXECUTORS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_executor(plan: ExecutorPlan) -> Executor:
    """The executor ``plan.executor`` names, built from the plan."""
    return executor_class(plan.executor, plan.source).from_plan(plan)


__all__ = ["EXECUTORS", "Executor", "ExecutorBase", "ExecutorPlan", "check_kind", "executor_class", "make_executor"]

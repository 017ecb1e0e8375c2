"""The tasks' schemas for experiment files: each task (:mod:`ampsim.models`) declares the dataclasses of its
``[data]`` and ``[model]`` and a check of what no single field says; :mod:`ampsim.config` reads them from here.
(Apart from config.py, which must stay under 400 lines.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ampsim.errors import ConfigError


@dataclass(frozen=True)
class TaskSchema:
    """What a task declares for experiment files: the dataclasses of its ``[data]`` and ``[model]``."""

    data: type
    model: type
    #: ``check(cfg)``: the task's rules across fields that need no data (``model.hidden`` widths >= 1), or None
    check: Callable[[Any], None] | None = None


#: task name -> its schema, filled by :func:`register_task` (the task modules call it on import)
TASK_SCHEMAS: dict[str, TaskSchema] = {}


def register_task(name: str, data: type, model: type, check: Callable[[Any], None] | None = None) -> None:
    """Declare task ``name`` with its ``[data]`` and ``[model]`` dataclasses (validated like the rest) and its
    ``check`` of what no single field says."""
    TASK_SCHEMAS[name] = TaskSchema(data, model, check)


def task_schema(task: str, source: str = "<config>") -> TaskSchema:
    if task not in TASK_SCHEMAS:  # the task modules (a layer above) register on import: the package loads them
        import ampsim

        ampsim._load_tasks()
    if task not in TASK_SCHEMAS:
        raise ConfigError(f"{source}: experiment.task: unknown task {task!r} (known: {', '.join(TASK_SCHEMAS)})")
    return TASK_SCHEMAS[task]

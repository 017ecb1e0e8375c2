"""The tasks' schemas for experiment files: what each task's ``[data]`` and ``[model]`` hold (frozen dataclasses
of :func:`~ampsim.fieldspec.spec` fields) and a check of what no single field says. :mod:`ampsim.config` reads
them here, a layer below the models that build the tasks (:mod:`ampsim.models`): so reading an experiment file
loads no model code, and no import runs upwards (config asked the models package to register the schemas, a
cycle through ``import ampsim``).

A new task is a schema module here (its ``DataConfig``, ``ModelConfig`` and, if it has one, ``check_config``),
its entry in :data:`TASK_SCHEMAS`, and its builder in :data:`ampsim.models.TASKS`; a task defined outside the
package declares its builder and schema together with :func:`ampsim.models.register_task` (or its schema alone
with :func:`register_task`), and the command line finds its module by name (:mod:`ampsim.schemas.outside`).

>>> sorted(TASK_SCHEMAS)
['list_reduction', 'mlp', 'qm9_ggnn', 'sst_treelstm']
>>> task_schema("mlp").model.__module__
'ampsim.schemas.mlp'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from ampsim.errors import ConfigError
from ampsim.schemas import list_reduction, mlp, qm9_ggnn, sst_treelstm
from ampsim.schemas.outside import MODULES_VAR, load_outside_task, named_modules

__all__ = ["TaskSchema", "TASK_SCHEMAS", "register_task", "task_schema", "unknown_task"]


@dataclass(frozen=True)
class TaskSchema:
    """What a task declares for experiment files: the dataclasses of its ``[data]`` and ``[model]``."""

    data: type
    model: type
    #: ``check(cfg)``: the task's rules across fields that need no data (``model.hidden`` widths >= 1), or None
    check: Callable[[Any], None] | None = None

    @classmethod
    def of(cls, module: ModuleType) -> TaskSchema:
        """The schema a module of this package declares."""
        return cls(module.DataConfig, module.ModelConfig, getattr(module, "check_config", None))


#: ``experiment.task`` name -> its schema (the built-in tasks, and those :func:`register_task` adds)
TASK_SCHEMAS: dict[str, TaskSchema] = {name: TaskSchema.of(module) for name, module in (
    ("mlp", mlp), ("list_reduction", list_reduction), ("sst_treelstm", sst_treelstm), ("qm9_ggnn", qm9_ggnn))}


def register_task(name: str, data: type, model: type, check: Callable[[Any], None] | None = None, *,
                  replace: bool = False) -> None:
    """Declare task ``name`` with its ``[data]`` and ``[model]`` dataclasses (validated like the rest) and its
    ``check`` of what no single field says. A task already declared with another schema (a built-in one, or
    another package's) is refused in one ConfigError line unless ``replace``: replacing it silently left
    ``ampsim.models.TASKS`` building the old task from configs read with the new schema. The same schema again is
    no change. :func:`ampsim.models.register_task` declares a task's builder and schema together."""
    schema, old = TaskSchema(data, model, check), TASK_SCHEMAS.get(name)
    if old is not None and old != schema and not replace:
        raise ConfigError(f"register_task: task {name!r} is already registered, with [model] "
                          f"{old.model.__module__}.{old.model.__qualname__}: pass replace=True to replace it")
    TASK_SCHEMAS[name] = schema


def task_schema(task: str, source: str = "<config>") -> TaskSchema:
    """Task ``task``'s schema, or one ConfigError line naming ``source`` and the known tasks."""
    if (why := unknown_task(task)) is not None:
        raise ConfigError(f"{source}: experiment.task: {why}")
    return TASK_SCHEMAS[task]


def unknown_task(task: Any) -> str | None:
    """Why ``task`` names no known task, or None. A name not yet known is looked for outside the package first
    (:func:`~ampsim.schemas.outside.load_outside_task`: a module that fails is one ConfigError line)."""
    if isinstance(task, str) and task not in TASK_SCHEMAS:
        load_outside_task(task, TASK_SCHEMAS.keys)
    if task in TASK_SCHEMAS:
        return None
    named = named_modules()
    how = (f"none of the modules {MODULES_VAR} names ({', '.join(named)}) registers it" if named else
           f"a task of your own: name its module in {MODULES_VAR}, or install it with an ampsim.tasks entry point")
    return f"unknown task {task!r} (known: {', '.join(TASK_SCHEMAS)}; {how})"

"""Model builders: each task module turns a config into a :class:`~ampsim.models.base.Task`.

A task module declares ``DataConfig`` and ``ModelConfig`` (frozen dataclasses validated by
:mod:`ampsim.config`) and ``build(config) -> Task``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ampsim.errors import ConfigError

TASKS = {
    "mlp": "ampsim.models.mlp",
    "list_reduction": "ampsim.models.rnn",
    "sst_treelstm": "ampsim.models.treelstm",
    "qm9_ggnn": "ampsim.models.ggnn",
}


def task_module(task: str, source: str = "<config>") -> ModuleType:
    if task not in TASKS:
        raise ConfigError(f"{source}: experiment.task: unknown task {task!r} (known: {', '.join(TASKS)})")
    try:
        return importlib.import_module(TASKS[task])
    except ModuleNotFoundError as e:
        if e.name == TASKS[task]:
            raise ConfigError(f"{source}: experiment.task: task {task!r} is not available in this build") from None
        raise


def build_task(config) -> "Task":  # noqa: F821
    return task_module(config.experiment.task, config.path).build(config)

"""Model builders: each task module turns a config into a :class:`~ampsim.models.base.Task`.

A task module has ``build(config) -> Task``, ``epoch_instances(config) -> int`` and ``skeleton(config) -> Model``
(see :func:`epoch_instances`, :func:`skeleton`); what its ``[data]`` and ``[model]`` hold is its schema, a layer
below (:mod:`ampsim.schemas`, which experiment files are read with). A new task is a module here, one entry in
:data:`TASKS` and its schema.
"""

from __future__ import annotations

from types import ModuleType

from ampsim.config import task_schema
from ampsim.models import ggnn, mlp, rnn, treelstm
from ampsim.models.base import Metric, Model, Task

#: ``experiment.task`` name -> the module that builds it
TASKS: dict[str, ModuleType] = {
    "mlp": mlp,
    "list_reduction": rnn,
    "sst_treelstm": treelstm,
    "qm9_ggnn": ggnn,
}


def epoch_instances(config) -> int:
    """The training instances of one epoch of a loaded experiment's task (its ``instances_per_epoch``), read from
    its data without building its model."""
    task_schema(config.experiment.task, config.path)
    return TASKS[config.experiment.task].epoch_instances(config)


def skeleton(config) -> Model:
    """The model of a loaded experiment's task with the run's nodes and edges, built from the config alone (no
    data read): where the data decides a width (features, vocabulary) it is a placeholder, so its parameters are
    not the run's. Checks that name nodes (``placement.map``, ``replicas.nodes``) read it before any data."""
    task_schema(config.experiment.task, config.path)
    return TASKS[config.experiment.task].skeleton(config)


def build_task(config) -> Task:
    """The task of a loaded experiment: its IR model and its data (see :class:`Task`)."""
    task_schema(config.experiment.task, config.path)  # one wording for an unknown task
    return TASKS[config.experiment.task].build(config)


__all__ = ["TASKS", "Task", "Model", "Metric", "build_task", "epoch_instances", "skeleton"]

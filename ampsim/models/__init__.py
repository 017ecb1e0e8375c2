"""Model builders: each task module turns a config into a :class:`~ampsim.models.base.Task`.

A task module has ``build(config) -> Task``, ``epoch_instances(config) -> int`` and ``skeleton(config) -> Model``
(see :func:`epoch_instances`, :func:`skeleton`); what its ``[data]`` and ``[model]`` hold is its schema, a layer
below (:mod:`ampsim.schemas`, which experiment files are read with). A new task is a module here, one entry in
:data:`TASKS` and its schema.
"""

from __future__ import annotations

from types import ModuleType

from ampsim.config import task_schema
from ampsim.ir.hostmem import model_build
from ampsim.models import ggnn, mlp, rnn, treelstm
from ampsim.models.base import Metric, Model, Task
from ampsim.recent import Recent

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


#: (task, its [model], dtype) -> its nodes' names: a sweep checks every point's, most of them of one model
_NAMES: Recent = Recent(16)


def node_names(config) -> tuple[str, ...]:
    """The names of the nodes of a loaded experiment's model, from its :func:`skeleton` built once per ``[model]``
    in the process, its parameters checked against host memory as one model's (a sweep's --check built every
    point's, a second or more each with wide layers)."""
    key = (config.experiment.task, repr(config.model), config.experiment.dtype)
    names = _NAMES.get(key)
    if names is None:
        with model_build():
            names = _NAMES[key] = tuple(skeleton(config).graph.nodes)
    return names


def build_task(config) -> Task:
    """The task of a loaded experiment: its IR model and its data (see :class:`Task`)."""
    task_schema(config.experiment.task, config.path)  # one wording for an unknown task
    return TASKS[config.experiment.task].build(config)


__all__ = ["TASKS", "Task", "Model", "Metric", "build_task", "epoch_instances", "skeleton", "node_names"]

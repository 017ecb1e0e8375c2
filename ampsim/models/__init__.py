"""Model builders: each task module turns a config into a :class:`~ampsim.models.base.Task`.

A task module has ``build(config) -> Task``, ``epoch_instances(config) -> int`` and ``skeleton(config) -> Model``
(see :func:`epoch_instances`, :func:`skeleton`), and may have ``check_memory(config)`` (see
:func:`check_model_memory`), ``example_counts(config)`` or ``read_example_counts(config)`` (see
:func:`example_counts`) and, where its data sizes parameters, ``read_widths(config)``, ``width_bounds(config)`` and
``skeleton(config, widths)`` (see :func:`data_widths`); what its ``[data]`` and ``[model]`` hold is its schema, a layer
below (:mod:`ampsim.schemas`, which experiment files are read with). A new task is a module here, one entry in
:data:`TASKS` and its schema; one outside the package is registered with :func:`register_task`, builder and
schema together, and found by the command line through ``AMPSIM_TASK_MODULES`` or an entry point
(:mod:`ampsim.schemas.outside`).
"""

from __future__ import annotations

import math
from types import ModuleType

from ampsim.config import register_task as register_schema
from ampsim.errors import ConfigError
from ampsim.ir.hostmem import check_activation_memory, check_sized, sizing
from ampsim.models import ggnn, mlp, rnn, treelstm
from ampsim.models.base import Metric, Model, Task
from ampsim.recent import Recent
from ampsim.schemas import TaskSchema, task_schema

#: ``experiment.task`` name -> the module that builds it
TASKS: dict[str, ModuleType] = {
    "mlp": mlp,
    "list_reduction": rnn,
    "sst_treelstm": treelstm,
    "qm9_ggnn": ggnn,
}

#: what a task's module defines for :func:`register_task` (``check_config`` is optional)
TASK_MODULE_NAMES = ("build", "epoch_instances", "skeleton", "DataConfig", "ModelConfig")


def register_task(name: str, module: ModuleType, schema: TaskSchema | None = None, *, replace: bool = False) -> None:
    """Declare task ``name``, built by ``module`` (``build``, ``epoch_instances``, ``skeleton``), with its schema
    (by default the module's own ``DataConfig``, ``ModelConfig`` and optional ``check_config``): the entry in
    :data:`TASKS` and the schema together, so that they cannot disagree. A name already registered to another
    module or schema is refused in one ConfigError line unless ``replace``; the same module imported again (a
    reload) replaces its own registration. A task's module calls this when it is imported::

        register_task("mytask", sys.modules[__name__])
    """
    wanted = TASK_MODULE_NAMES if schema is None else TASK_MODULE_NAMES[:3]
    if missing := [attr for attr in wanted if not callable(getattr(module, attr, None))]:
        raise ConfigError(f"register_task: task {name!r}: module {module.__name__} does not define "
                          f"{', '.join(missing)}")
    old = TASKS.get(name)
    again = old is not None and old.__name__ == module.__name__
    if old is not None and old is not module and not (replace or again):
        raise ConfigError(f"register_task: task {name!r} is already registered, built by module {old.__name__}: "
                          "pass replace=True to replace it")
    schema = schema or TaskSchema.of(module)
    register_schema(name, schema.data, schema.model, schema.check, replace=replace or again)
    TASKS[name] = module
    for cache in (_NAMES, _SIZED):  # (an equal [model] of the module replaced, or of the one reloaded, built other
        for key in [key for key in cache if key[0] == name]:  # nodes: check_names refused the new names, took the
            del cache[key]  # old)


def _builder(config) -> ModuleType:
    """The module that builds a loaded experiment's task; one ConfigError line for an unknown task, and for one
    whose schema was registered without its builder."""
    task = config.experiment.task
    task_schema(task, config.path)  # one wording for an unknown task
    if task not in TASKS:
        raise ConfigError(f"{config.path}: experiment.task: task {task!r} has a schema but no builder in "
                          "ampsim.models.TASKS (register both with ampsim.models.register_task)")
    return TASKS[task]


def epoch_instances(config) -> int:
    """The training instances of one epoch of a loaded experiment's task (its ``instances_per_epoch``), read from
    its data without building its model."""
    return _builder(config).epoch_instances(config)


def skeleton(config) -> Model:
    """The model of a loaded experiment's task with the run's nodes and edges, built from the config alone (no
    data read): where the data decides a width (features, vocabulary) it is a placeholder, so its parameters are
    not the run's. Checks that name nodes (``placement.map``, ``replicas.nodes``) read it before any data."""
    return _builder(config).skeleton(config)


#: (task, its [model], dtype) -> its nodes' names and its parameterized nodes' names: a sweep checks every point's,
#: most of them of one model
_NAMES: Recent = Recent(16)
#: (task, its [model], its [data], dtype, the widths its data decides or None: what a skeleton's arrays are sized
#: from; the seed draws none) -> its skeleton sized and the arrays the sizing checked
#: (:func:`~ampsim.ir.hostmem.sizing`), not the verdict: a sweep's --check sizes every point's model, most of them
#: one model, once for its memory and once for its names
_SIZED: Recent = Recent(16)


def check_model_memory(config, widths: tuple[int, ...] | None = None) -> Model:
    """Refuse, in one line and before any data is read, a loaded experiment whose data (where the task generates
    it: its module's optional ``check_memory(config)``) or whose model's parameters this host cannot hold, as its
    run refuses them (:func:`~ampsim.ir.hostmem.check_param_memory`, as one model's); returns the model, its
    :func:`skeleton` sized (:func:`~ampsim.ir.hostmem.sizing`: no array made, no value drawn), shared with every
    caller of the same model (read it, do not change it). ``widths``: those its data decides (:func:`data_widths`:
    the run's, or bounds on them), where the task has any; None: the skeleton's placeholders, whose parameters are
    then not the run's (SST's table of one word). The model is sized once per ``[model]``, ``[data]`` and
    ``widths`` in the process (other widths, another model), its parameters checked against the memory available
    at every call (:func:`~ampsim.ir.hostmem.check_sized`).

    Raises:
        ConfigError: "<experiment>: <what> need X GiB of host memory to generate; ..." (the data).
        RunError: "node '<name>': parameters [a, b] need X GiB of host memory to initialize and train; ...".
    """
    module = _builder(config)
    if callable(check := getattr(module, "check_memory", None)):
        check(config)
    model, checked, fresh = _sized(config, widths)
    if not fresh:  # (its build checked them just now)
        check_sized(checked)
    return model


def data_key(config) -> tuple[str, str]:
    """A loaded experiment's task and ``[data]``, as a key: what its data (files, splits, limits, counts) depend on.
    The one key of both caches that hold what a ``[data]`` gives (here and :mod:`ampsim.sweeps.early`)."""
    return config.experiment.task, repr(config.data)


def _sized(config, widths: tuple[int, ...] | None = None) -> tuple[Model, list, bool]:
    """The skeleton of a loaded experiment sized (with ``widths``, as :func:`check_model_memory`), the parameter
    arrays its sizing checked, and whether it was sized just now (its parameters checked against host memory as it
    was built; else in an earlier call)."""
    key = (*data_key(config), repr(config.model), config.experiment.dtype, widths)
    if (sized := _SIZED.get(key)) is not None:
        return (*sized, False)
    module = _builder(config)
    with sizing() as checked:
        model = module.skeleton(config) if widths is None else module.skeleton(config, widths)
    _SIZED[key] = model, checked
    return model, checked, True


def data_widths(config, *, read: bool = False) -> tuple[int, ...] | None:
    """The widths of a loaded experiment's model that its data decides and that size its parameters (SST's
    vocabulary: the embedding table's rows; QM9's atom features: the readout gate's), for
    :func:`check_model_memory`. Without ``read``, bounds on them told without the data (its module's optional
    ``width_bounds(config)``: none larger in any run, so where the model sized with them fits, the run's fits); with
    ``read``, the run's own, from its data as its run reads it (its module's optional ``read_widths(config)``, which
    depends on ``[data]`` alone: a sweep keeps it per task and ``[data]``). None: the task has none (its skeleton's
    parameters are the run's), or no bound is known. The node names do not depend on them (:func:`node_names` reads
    a skeleton sized with any)."""
    hook = getattr(_builder(config), "read_widths" if read else "width_bounds", None)
    return hook(config) if callable(hook) else None


def example_counts(config, *, read: bool = False) -> tuple[int, int] | None:
    """The training and test examples of a loaded experiment's task, where its module tells them without its data
    being read or generated (its optional ``example_counts(config)``: blobs, MNIST's labels files, the generated
    lists), else None; with ``read``, also where they are counted from the data read (its optional
    ``read_example_counts(config)``: SST's trees, QM9's molecules), which a caller asks for only where the count
    can change what it decides (``sweep --check``: :func:`ampsim.sweeps.early.check_memory_early`)."""
    module = _builder(config)
    count = getattr(module, "example_counts", None)
    if not callable(count) and read:
        count = getattr(module, "read_example_counts", None)
    return count(config) if callable(count) else None


def check_activations(config, graph, counts: tuple[int, int]) -> None:
    """Refuse, in one line, a run whose activations cannot fit in host memory
    (:func:`~ampsim.ir.hostmem.check_activation_memory`), ``graph`` its model's and ``counts`` its data's training
    and test examples (``(0, 0)``: not known, nothing capped): a batch holds no more rows than the larger split, nor do
    the instances in flight (the plan, and ``sweep --check``: :func:`ampsim.sweeps.early.check_memory_early`)."""
    rows = max(counts)
    batch = min(getattr(config.data, "batch", 1), rows or math.inf)  # (0: not known)
    check_activation_memory(graph, batch, config.experiment.dtype, config.train.mak, config.path, rows)


def node_names(config) -> tuple[str, ...]:
    """The names of the nodes of a loaded experiment's model, from its :func:`skeleton` built once per ``[model]``
    in the process (again once :func:`register_task` registers its task anew), sized, not made (its parameters
    checked against host memory as one model's, none drawn: a sweep's --check built every point's, a second or
    more each with wide layers), as :func:`check_model_memory` sizes it (the same skeleton, sized once)."""
    return _skeleton_names(config)[0]


def param_node_names(config) -> tuple[str, ...]:
    """The names of the parameterized nodes of a loaded experiment's model, in its graph's order (as
    :func:`node_names`: no data read)."""
    return _skeleton_names(config)[1]


def _skeleton_names(config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    key = (config.experiment.task, repr(config.model), config.experiment.dtype)
    names = _NAMES.get(key)
    if names is None:  # (a skeleton of the model sized with any widths: they change no name)
        base = (*data_key(config), repr(config.model), config.experiment.dtype)
        sized = next((v for k, v in reversed(_SIZED.items()) if k[:4] == base), None)
        graph = (sized or _sized(config))[0].graph
        names = _NAMES[key] = tuple(graph.nodes), tuple(n.name for n in graph.param_nodes)
    return names


def build_task(config) -> Task:
    """The task of a loaded experiment: its IR model and its data (see :class:`Task`)."""
    return _builder(config).build(config)


__all__ = ["TASKS", "TASK_MODULE_NAMES", "register_task",
           "Task", "Model", "Metric", "build_task", "epoch_instances", "skeleton", "node_names", "param_node_names",
           "check_model_memory", "data_key", "data_widths", "example_counts", "check_activations"]

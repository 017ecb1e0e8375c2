"""The executor interface, and what every executor shares.

An executor decides *when* and *where* each message is processed; the node code is shared. Every
executor is a class with a ``from_plan`` constructor registered by name in :mod:`ampsim.executors`, and
satisfies :class:`Executor`:

    ex = make_executor(plan)          # the registry picks the class by plan.executor
    with ex:                          # close() on the way out, also on errors
        ex.train(instances, on_done)  # admits at most mak instances at a time (asynchronous executors)
        ex.evaluate(instances)        # forward only: nothing cached, parameters untouched
        ex.time_s                     # the executor's clock: wall or simulated seconds
        ex.summary()                  # executor-specific results (utilization, staleness, memory, …)
        ex.write_artifacts(run)       # files beside the summary (placement.json, trace.json)

Executors talk to nodes only through their public methods (``step``, ``complete``, ``stashed``,
``holds``, ``joining``, ``has_state``); a node's caches are its own.
"""

from __future__ import annotations

import functools
import numbers
import reprlib
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from ampsim import runfiles
from ampsim.errors import ConfigError, RunError
from ampsim.hardware.spec import SystemSpec
from ampsim.ir.message import Instance
from ampsim.ir.node import Report
from ampsim.models.base import Task
from ampsim.placement import nodes_by_chip

__all__ = ["Executor", "ExecutorBase", "ExecutorPlan", "RunFolder", "check_placement", "checked_instances",
           "guarded"]


class ExecutorPlan(Protocol):
    """What an executor reads from a resolved plan (:class:`ampsim.planning.Plan` is one): the model and
    its data, the machine, the placement and the run options, never the raw config."""

    task: Task
    #: the executor to build (``executor.kind``, a name in :data:`ampsim.executors.EXECUTORS`)
    executor: str
    #: the simulated machine (executors that simulate one), else None
    system: SystemSpec | None
    #: node name -> chip (worker) index, for executors that place nodes (read-only in a Plan, as its load)
    placement: Mapping[str, int] | None
    estimated_load: Sequence[Mapping] | None
    #: worker processes (multicore)
    workers: int
    mak: int
    trace: bool
    eval_advances_time: bool
    #: multicore: seconds without progress after which a worker is reported (0 = never)
    watchdog_s: float
    #: sim: False replays recorded message graphs instead of running the numpy code
    numerics: bool
    #: sim: what a recording depends on besides the instances and the code (task, data, model, seed; JSON)
    recording_context: str
    #: the experiment file, for error messages
    source: str
    #: replicas: the copies of each parameterized node to keep in step (empty without replicas)
    sync_sets: list
    #: sim: staleness-bounded admission (0 = off)
    max_staleness: float
    #: sim: the admission window's first size
    admission_start: int
    #: sim: whether the admission window doubles from its first size (else it grows by one a round)
    admission_slow_start: bool
    #: sim: the all-reduce algorithm of replica synchronization (``replicas.collective``)
    collective: str


class RunFolder(Protocol):
    """Where an executor writes its artifacts (:class:`ampsim.results.RunDir` is one)."""

    path: Path

    def write_json(self, name: str, obj: Any) -> None: ...


@runtime_checkable
class Executor(Protocol):
    """What every executor offers (the module docstring shows the life cycle): training and evaluation on
    the plan's model, its clock, its results. Calls after :meth:`close`, or after a ``train`` or
    ``evaluate`` that failed part way, raise :class:`~ampsim.errors.RunError` (:func:`guarded`)."""

    #: the registry's name (``executor.kind``): "reference", "sim" or "multicore"
    name: str
    #: what ``time_s`` counts: "wall" (real seconds) or "simulated" (the simulated machine's seconds)
    time_unit: str
    #: the executor's clock in seconds (of ``time_unit``): training time so far, over all calls (and
    #: evaluation's, on the simulator with ``eval_advances_time``)
    time_s: float

    def train(self, instances: Iterable[Instance], on_done: Callable[[int], None] | None = None) -> list[Report]:
        """Train on ``instances`` (a task's ``train_instances(epoch)``), each forward and backward with its
        parameter updates, keeping at most ``mak`` in flight (asynchronous executors); returns when every
        instance has completed and its update jobs have run. ``on_done(n)``, if given, is called as ``n`` more
        instances complete (a progress bar's ``update``). Returns the :class:`~ampsim.ir.node.Report` s the
        nodes sent the controller (losses, counts, correct predictions); advances ``time_s``. Raises
        :class:`~ampsim.errors.ConfigError` for instances that are not this model's, one given twice, or an
        ``on_done`` that is not callable (before any runs), and :class:`~ampsim.errors.RunError` where the run
        cannot end (a deadlock, state left at a node)."""
        ...

    def evaluate(self, instances: Iterable[Instance]) -> list[Report]:
        """Forward only on ``instances`` (a task's ``eval_instances()``): nothing cached, parameters
        untouched. Returns the nodes' :class:`~ampsim.ir.node.Report` s (none from a simulator that does not
        run the numerics). Advances ``time_s`` only on the simulator with ``eval_advances_time``. Raises as
        :meth:`train` does."""
        ...

    def summary(self) -> dict:
        """The executor's own results so far, a JSON-able dict (a snapshot: later calls and edits of it do not
        change one another) whose quantities carry their unit in the key
        (``simulated_time_s``, ``peak_memory_bytes``; ``chip_utilization``: fractions): merged into the run's
        summary."""
        ...

    def write_artifacts(self, run: RunFolder) -> None:
        """Write the files beside the run's summary into ``run``: ``placement.json`` for an executor that
        places nodes, ``trace.json`` where tracing is on; nothing otherwise."""
        ...

    def close(self) -> None:
        """Release what the executor holds (the multicore executor's worker processes). Idempotent; the
        executor refuses ``train`` and ``evaluate`` afterwards."""
        ...


class ExecutorBase:
    """Defaults for an executor: ``placement.json`` from :attr:`placement` and :attr:`estimated_load`,
    nothing to release on :meth:`close`, and use as a context manager."""

    name: ClassVar[str]
    time_unit: ClassVar[str]
    #: node name -> chip (worker) index; None for an executor without placement
    placement: dict[str, int] | None = None
    #: the placement's estimated load per chip (profiled strategies), else None: the plan's own (read-only)
    estimated_load: Sequence[Mapping] | None = None
    #: chips (workers) the placement maps onto
    n_units: int = 0
    #: whether the model's nodes in this process hold the parameters as trained (False where workers of their own
    #: train them: the training driver then does not read them for a divergence's line)
    holds_parameters: ClassVar[bool] = True

    def write_artifacts(self, run: RunFolder) -> None:
        if self.placement is None:
            return
        run.write_json(runfiles.PLACEMENT, {
            "strategy_output": self.placement,
            "chips": self.estimated_load or [{"chip": i, "nodes": nodes}
                                             for i, nodes in enumerate(nodes_by_chip(self.placement, self.n_units))],
        })

    #: closed (:meth:`close`), and how a call failed part way ("" while none did): see :func:`guarded`
    _closed: bool = False
    _failed: str = ""

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def guarded(method: Callable) -> Callable:
    """An executor's ``train`` or ``evaluate``, refused in one RunError line after :meth:`~ExecutorBase.close` or
    after a call that failed part way (interrupted, or raising anything but the ConfigError of a bad argument,
    which is refused before anything runs): such a call leaves its state half done (a simulator's event queue
    and its chips' queues, a node's caches of instances in flight), and a later call trained nothing, failed
    with a deadlock, or wrote past the end of the replay's arrays."""
    @functools.wraps(method)
    def call(self: ExecutorBase, *args, **kwargs):
        where = f"{self.name} executor: {method.__name__}()"
        if self._closed:
            raise RunError(f"{where} after close()")
        if self._failed:
            raise RunError(f"{where} after a call that {self._failed}: its state is that call's, part done; make a "
                           "new executor (ampsim.plan the experiment again)")
        try:
            return method(self, *args, **kwargs)
        except ConfigError:
            raise
        except BaseException as e:
            self._failed = "was interrupted" if isinstance(e, KeyboardInterrupt) else f"failed ({type(e).__name__})"
            raise
    return call


def check_placement(placement: dict[str, int], names: Iterable[str], n: int, source: str, *,
                    unit: str = "chip", machine: str = "") -> None:
    """Every node placed exactly once, on an existing chip (worker) ``0..n-1``: else one ConfigError."""
    names = list(names)
    known = set(names)
    for name, c in placement.items():
        if name not in known:
            raise ConfigError(f"{source}: placement: no node named {name!r} in the model")
        if not 0 <= c < n:
            where = f"hardware {machine} has" if machine else "there are"
            raise ConfigError(f"{source}: placement: node {name} on {unit} {c}, but {where} {unit}s 0..{n - 1}")
    missing = [nm for nm in names if nm not in placement]
    if missing:
        raise ConfigError(f"{source}: placement: node(s) {', '.join(missing)} not placed")


def checked_instances(instances: Iterable[Instance], where: str, model: Any = None, *,
                      on_done: Any = None) -> Iterator[Instance]:
    """``instances``, each checked to be an :class:`~ampsim.ir.message.Instance` (a task's
    ``train_instances(epoch)`` or ``eval_instances()``) whose data holds ``model``'s
    :attr:`~ampsim.models.base.Model.fields` as it is taken, or one ConfigError line naming ``where``: an
    executor's ``train`` and ``evaluate`` are public API, and a list of numbers, or another task's instances,
    failed deep in the run (or, on the multicore executor, closed it), their arrays as its
    :class:`~ampsim.models.base.DataSpec` s say (another task's with the same fields failed in a node's
    matmul). ``on_done``, train's progress callback, must be callable or None, checked before the first instance
    is taken: ``on_done=5`` was a TypeError from the event loop once an instance had completed."""
    if on_done is not None and not callable(on_done):
        raise ConfigError(f"{where}: on_done: expected a callable (told how many more instances completed) or None, "
                          f"got {type(on_done).__name__} {reprlib.repr(on_done)}")
    if not isinstance(instances, Iterable) or isinstance(instances, (str, bytes, Mapping)):
        raise ConfigError(f"{where}: instances: expected an iterable of Instances, got {type(instances).__name__}")
    fields, specs = (model.fields, model.data_specs) if model is not None else ((), ())
    needed = frozenset(fields)
    keys: set[int] = set()
    for x in instances:
        if not isinstance(x, Instance):
            raise ConfigError(f"{where}: instances: expected Instances (from the plan's task: "
                              f"task.train_instances(epoch), task.eval_instances()), got {type(x).__name__} "
                              f"{reprlib.repr(x)}")
        # a node files what it caches for an instance in flight under its key: two at once collided in a node
        # (a GraphError blaming the model), and a key no int64 holds failed deep in a replay's arrays
        if not isinstance(x.key, numbers.Integral) or isinstance(x.key, bool) or not -2**63 <= x.key < 2**63:
            raise ConfigError(f"{where}: instance key {reprlib.repr(x.key)}: expected a whole number (64-bit); take "
                              "the instances from the plan's task")
        if fields and not (type(x.data) is dict and x.data.keys() >= needed):  # (~0.2 µs an instance: an epoch's)
            missing = [f for f in fields if not isinstance(x.data, Mapping) or f not in x.data]
            if missing:
                raise ConfigError(f"{where}: instance {x.key}: its data has no {', '.join(map(repr, missing))} (this "
                                  f"model reads {', '.join(fields)}): an instance of another task? Take them from "
                                  "the plan's own task")
        for spec in specs:
            if (why := spec.mismatch(x.data)) is not None:
                raise ConfigError(f"{where}: instance {x.key}: {why} as this model reads it: an instance of another "
                                  "task? Take them from the plan's own task")
        if x.key in keys:  # (after its data: another task's instance is named as such)
            raise ConfigError(f"{where}: instance {x.key}: given twice in one call (an instance's key names it "
                              "while it is in flight); give each instance once, or train it again in another call")
        keys.add(x.key)
        yield x

"""What the plan stage (:mod:`ampsim.planning`) resolves an experiment into: a :class:`Plan`, everything an
executor needs. A plan pickles (a process pool's or Ray's tasks are sent that way): a copy of it, by value (its
task's model and data as they are now; its placement and estimated load read-only again on arrival).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ampsim.config import Config
from ampsim.hardware.spec import ChipSpec, SystemSpec
from ampsim.models.base import Task
from ampsim.placement import frozen_load
from ampsim.replicas import Replicated

__all__ = ["Plan", "recording_context"]


@dataclass(frozen=True, repr=False)
class Plan:
    """A resolved experiment: everything an executor needs, nothing it must look up.

    ``chips`` are the specs the placement placed on: the simulated machine's chips (``sim``), one
    pseudo-chip per worker (``multicore``), none (``reference``). ``placement`` maps every node name to a
    chip (worker) index; ``estimated_load`` is the placement's per-chip estimate (profiled strategies
    only), written with the run as ``placement.json``. Both are read-only (a ``MappingProxyType``; a tuple of them,
    their nodes tuples), as the plan is: its executor reads them after the plan's checks.
    """

    config: Config
    task: Task
    executor: str
    system: SystemSpec | None = None
    chips: tuple[ChipSpec, ...] = ()
    placement: Mapping[str, int] | None = None
    estimated_load: tuple[Mapping, ...] | None = None
    workers: int = 0
    #: the groups and node copies (``[replicas]``); None when nothing is copied
    replicas: Replicated | None = None

    def __repr__(self) -> str:  # (the default printed every chip spec: a megabyte for 1,024 chips in a notebook)
        machine = f", system={self.system.name!r} ({self.system.n_chips} chips)" if self.system is not None else ""
        placed = f", {len(self.placement)} nodes on {len(set(self.placement.values()))} units" if self.placement else ""
        return (f"Plan({self.config.experiment.name!r}, executor={self.executor!r}{machine}{placed}"
                f"{f', workers={self.workers}' if self.workers else ''}"
                f"{f', {self.replicas.spec.groups} groups' if self.replicas is not None else ''})")

    @property
    def sync_sets(self) -> list:
        """The copies to keep in step (:class:`~ampsim.ir.sync.SyncSet`), empty without replicas."""
        return self.replicas.sync_sets if self.replicas is not None else []

    @property
    def source(self) -> str:
        """The experiment file, for error messages."""
        return self.config.path

    @property
    def mak(self) -> int:
        """Max active keys: the most instances in flight at once (``train.mak``; 1 = one at a time)."""
        return self.config.train.mak

    @property
    def trace(self) -> bool:
        """Whether the executor writes a Chrome/Perfetto trace, the run's ``trace.json`` (``executor.trace``)."""
        return self.config.executor.trace

    @property
    def eval_advances_time(self) -> bool:
        """Simulator: whether evaluation runs on the simulated machine and advances its clock (else it runs
        outside it, in no simulated time) (``eval.advances_time``)."""
        return self.config.eval.advances_time

    @property
    def watchdog_s(self) -> float:
        """Multicore: seconds without progress after which a worker is reported (0 = never)."""
        return self.config.executor.watchdog_s

    @property
    def collective(self) -> str:
        """Simulator: the all-reduce algorithm of replica synchronization (``replicas.collective``)."""
        return self.config.replicas.collective

    @property
    def max_staleness(self) -> float:
        """Simulator: admit while every parameterized node's recent staleness is at most this (0 = off)."""
        return self.config.train.max_staleness

    @property
    def admission_start(self) -> int:
        """Simulator: the admission window's first size (``train.admission_start``, its 0 resolved to the
        number of chips the placement occupies)."""
        return self.config.train.admission_start or len(set((self.placement or {}).values())) or 1

    @property
    def admission_slow_start(self) -> bool:
        """Simulator: whether the admission window doubles from its first size while under the bound."""
        return self.config.train.admission_slow_start

    @property
    def numerics(self) -> bool:
        """False: the simulated executor replays recordings instead of running the numpy code."""
        return self.config.executor.numerics

    @property
    def recording_context(self) -> str:
        """What a recording of this experiment's instances depends on besides the instances themselves
        and the code: the task, ``[data]``, ``[model]``, seed and dtype (JSON), and the replica layout
        (``replicas.groups`` and ``replicas.nodes``: the copies and the routing a replicated model's recording
        holds) when the model is replicated. How copies synchronize (``sync``, ``sync_every``, ``overlap``) is
        decided at replay time, so it is not part of it; without replicas the context is unchanged."""
        return recording_context(self.config, self.replicas is not None)

    def __reduce__(self) -> tuple:
        # (a mappingproxy does not pickle: the read-only placement and estimated load travel as plain dicts and are
        # made read-only again on arrival; the rest, the task's model and data included, by value)
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["placement"] = None if self.placement is None else dict(self.placement)
        fields["estimated_load"] = None if self.estimated_load is None else [dict(e) for e in self.estimated_load]
        return _unpickled, (fields,)


def _unpickled(fields: dict) -> Plan:
    """The plan :meth:`Plan.__reduce__` pickled, its placement and estimated load read-only again."""
    placement = fields["placement"]
    return Plan(**{**fields, "placement": None if placement is None else MappingProxyType(placement),
                   "estimated_load": frozen_load(fields["estimated_load"])})


def recording_context(c: Config, replicated: bool) -> str:
    """:attr:`Plan.recording_context` of ``c``, of its replicated model or of the model before copying."""
    context = {"task": c.experiment.task, "seed": c.experiment.seed, "dtype": c.experiment.dtype,
               "data": dataclasses.asdict(c.data), "model": dataclasses.asdict(c.model)}
    if replicated:
        context["replicas"] = {"groups": c.replicas.groups, "nodes": dict(c.replicas.nodes)}
    return json.dumps(context, sort_keys=True, default=str)

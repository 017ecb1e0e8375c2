"""Contention: chips that slow each other down, and a host whose cores they share with the controller.

Two rules, both off on an accelerator model (then :attr:`Contention.active` is False and a chip's work
items take exactly their durations):

**Shared caches and memory** (``chip.contention_slowdown`` = s > 0 on any chip). A chip is *busy* while one
of its units runs a work item or sends frames. While more than one chip of the machine is busy, a chip with
s > 0 makes progress at ``1 / (1 + s)`` of its speed; while it is the only busy one, at full speed.

**Shared cores** (``[host]``, :class:`~ampsim.hardware.spec.HostSpec`, with ``cores`` = c > 0). The chips
of a measured machine are worker processes, and the controller, a process of its own, needs CPU for every
instance (``controller_s_per_instance + controller_s_per_message * messages``, queued from the moment the
instance completes: :meth:`Contention.controller_work`). While more than c of them run at once (busy units
and a busy controller), the operating system time-shares the cores and each makes progress at ``c / n``
of its speed (n: how many run). The two rules multiply.

Life cycle of one run (a unit's work item, or the controller's work)::

    occupy(chip, d) / controller_work(d) ──► every run's work left is brought up to now at its old rate
    ──► the run joins ──► every run's rate and projected end are recomputed ──► its end event fires
    (unless a later change moved it) ──► it leaves ──► the others' rates and ends are recomputed

Both are fluid rules: an item's duration from its handler is its work at full speed, and its end is
recomputed whenever a run starts or ends, so two chips that run items of d seconds side by side both take
exactly ``(1 + s) * d``; with one core, two d-second items take 2d each; an item that overlaps another's for
part of its time is stretched for that part only. A chip's busy time is the stretched time; the
controller's is reported as ``controller_cpu_s``, its work at full speed (the CPU time it needs, as the
multicore executor's ``controller_cpu_s`` is the CPU time its controller used).
"""

from __future__ import annotations

import weakref
from typing import Generator, Protocol

import simpy

from ampsim.hardware.spec import ChipSpec, HostSpec

__all__ = ["Contention"]


class Chip(Protocol):
    """What contention needs of a chip (:class:`ampsim.executors.sim.chips.Chip`, which builds on this
    module): its spec, and its busy time to add the stretched time to."""

    spec: ChipSpec
    busy_s: float


class _Run:
    """Work in progress on one unit (or the controller's, ``chip`` None): ``left`` seconds of full-speed
    work as of ``since``, at ``factor``; it ends at ``end`` (the latest projection) when the end event of the
    current ``serial`` fires."""

    __slots__ = ("chip", "slowdown", "left", "since", "factor", "end", "serial", "done", "stretched")

    def __init__(self, chip: Chip | None, seconds: float, done: simpy.Event | None, now: float) -> None:
        self.chip, self.left, self.since, self.done = chip, seconds, now, done
        self.slowdown = chip.spec.contention_slowdown if chip is not None else 0.0
        self.factor, self.end, self.serial = 1.0, now, 0
        self.stretched = False  # ever slowed down: else its busy time is exactly its work


class Contention:
    """The busy chips of one simulation, the controller, and their work in progress (module docstring).

    One per SimPy environment, shared by its chips (:meth:`of`); ``active`` once any chip's spec has a
    ``contention_slowdown`` (all chips are built before the environment runs) or :meth:`share_cores` was
    given a host with cores.

    Why ends are *projected*: SimPy cannot cancel a timeout, and one left behind at a later time than its
    run's end would still advance the clock when it fires. So whenever a run starts, grows or ends, every
    run's end is computed as if no other run were to start (a small fluid simulation of the runs in
    progress, their ends and the speed-ups these bring included). A run that starts or grows later can only
    slow the others down, so an end never moves earlier: a run whose end moves gets a new end event, and
    the old one, now early, is ignored when it fires (its ``serial`` is out of date)."""

    _by_env: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.active = False
        self.runs: list[_Run] = []
        self.busy_units: dict[Chip, int] = {}  # chip -> its units at work (only chips with one or more)
        self.cores = 0  # host.cores: 0 = no time-sharing
        self.controller: _Run | None = None  # the controller's work in progress, if any
        self.controller_cpu_s = 0.0  # all the work given to the controller

    @classmethod
    def of(cls, env: simpy.Environment, spec: ChipSpec | None = None) -> Contention:
        got = cls._by_env.get(env)
        if got is None:
            got = cls._by_env[env] = cls(env)
        if spec is not None and spec.contention_slowdown:
            got.active = True
        return got

    def share_cores(self, host: HostSpec) -> None:
        """Time-share ``host.cores`` among the chips and the controller (before the environment runs)."""
        if host.shares_cores:
            self.cores, self.active = host.cores, True

    def occupy(self, chip: Chip, seconds: float) -> Generator[simpy.Event, None, None]:
        """Keep one of ``chip``'s units busy for ``seconds`` of full-speed work (a SimPy sub-process)."""
        env = self.env
        start = env.now
        run = _Run(chip, seconds, env.event(), start)
        self._advance()
        self.runs.append(run)
        self.busy_units[chip] = self.busy_units.get(chip, 0) + 1
        self._project(new=run)
        yield run.done
        chip.busy_s += env.now - start if run.stretched else seconds

    def controller_work(self, seconds: float) -> None:
        """The controller needs ``seconds`` more of CPU, after what it has left (it runs one thing at a time)."""
        if seconds <= 0.0 or not self.cores:
            return
        self.controller_cpu_s += seconds
        self._advance()
        run = self.controller
        if run is None:
            run = self.controller = _Run(None, seconds, None, self.env.now)
            self.runs.append(run)
            self._project(new=run)
        else:
            run.left += seconds
            self._project()

    def _advance(self) -> None:
        """Bring every run's work left up to now, at the factor it ran at since the last change."""
        now = self.env.now
        for run in self.runs:
            run.left = max(run.left - (now - run.since) / run.factor, 0.0) if run.end > now else 0.0
            run.since = now

    def _factor(self, run: _Run, crowded: bool, running: int) -> float:
        """How many times slower than alone ``run`` goes while ``crowded`` (more than one chip busy) with
        ``running`` runs in progress."""
        factor = 1.0 + run.slowdown if crowded else 1.0
        if self.cores and running > self.cores:
            factor *= running / self.cores
        return factor

    def _project(self, new: _Run | None = None) -> None:
        """Every run's factor now and its end if no other run starts (class docstring); new end events."""
        now = self.env.now
        crowded = len(self.busy_units) > 1
        for run in self.runs:
            run.factor = self._factor(run, crowded, len(self.runs))
            run.stretched = run.stretched or run.factor != 1.0
        ends: dict[_Run, float] = {}
        left = {run: run.left for run in self.runs}
        busy = dict(self.busy_units)
        t = now
        while left:
            crowded = len(busy) > 1
            factor = {run: self._factor(run, crowded, len(left)) for run in left}
            need = {run: work * factor[run] for run, work in left.items()}
            dt = min(need.values())
            t_next = t + dt
            for run, seconds in need.items():
                if seconds == dt:
                    ends[run] = t_next
                    del left[run]
                    if run.chip is not None:
                        busy[run.chip] -= 1
                        if not busy[run.chip]:
                            del busy[run.chip]
                else:
                    left[run] = max(left[run] - dt / factor[run], 0.0)  # (rounding)
            t = t_next
        for run, end in ends.items():
            if run is new or end > run.end:  # never earlier (class docstring)
                run.end, run.serial = end, run.serial + 1
                event = self.env.timeout(end - now)
                event.callbacks.append(lambda _e, run=run, serial=run.serial: self._due(run, serial))

    def _due(self, run: _Run, serial: int) -> None:
        if serial != run.serial:
            return  # an end that a later start has moved
        self._advance()
        self.runs.remove(run)
        if run.chip is None:
            self.controller = None
        else:
            n = self.busy_units[run.chip] - 1
            if n:
                self.busy_units[run.chip] = n
            else:
                del self.busy_units[run.chip]
            run.done.succeed()
        self._project()

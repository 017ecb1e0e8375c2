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

    occupy(chip, d) / controller_work(d) ──► the work done is brought up to now at the old rates ──►
    the run joins ──► the rates are recomputed, one timer set for the earliest end ──► the timer fires
    (unless a later change set another) ──► the runs that end then leave ──► the rates are recomputed,
    a timer for the next

Both are fluid rules: an item's duration from its handler is its work at full speed, and its end is
recomputed whenever a run starts or ends, so two chips that run items of d seconds side by side both take
exactly ``(1 + s) * d``; with one core, two d-second items take 2d each; an item that overlaps another's for
part of its time is stretched for that part only. A chip's busy time is the stretched time; the
controller's is reported as ``controller_cpu_s``, its work at full speed (the CPU time it needs, as the
multicore executor's ``controller_cpu_s`` is the CPU time its controller used).
"""

from __future__ import annotations

import heapq
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
    """Work in progress on one unit (or the controller's, ``chip`` None): it ends when its class's clock
    of work done reaches ``finish``. ``seq`` orders runs that end together (the order they started);
    ``stretches`` is its class's count of slowed-down periods when it started."""

    __slots__ = ("chip", "finish", "seq", "done", "stretches", "stretched")

    def __init__(self, chip: Chip | None, finish: float, seq: int, done: simpy.Event | None, stretches: int) -> None:
        self.chip, self.finish, self.seq, self.done, self.stretches = chip, finish, seq, done, stretches
        self.stretched = False  # ever slowed down: else its busy time is exactly its work

    def __lt__(self, other: _Run) -> bool:  # a class's heap: the earliest finish, then the first started
        return (self.finish, self.seq) < (other.finish, other.seq)


class _Class:
    """The runs that always go at one rate: the units of chips with one ``slowdown``, or the controller.

    ``work`` is the seconds of full-speed work any of them has done since the class last had no run (its
    clock; a run that starts at ``work`` = w with d seconds of work ends when it reaches w + d), as of
    ``since``, going at ``1 / factor`` of full speed since then. ``runs`` is a heap by finish."""

    __slots__ = ("slowdown", "work", "since", "factor", "runs", "stretches")

    def __init__(self, slowdown: float) -> None:
        self.slowdown, self.work, self.since, self.factor = slowdown, 0.0, 0.0, 1.0
        self.runs: list[_Run] = []
        self.stretches = 0  # periods between two changes in which its factor was not 1


class Contention:
    """The busy chips of one simulation, the controller, and their work in progress (module docstring).

    One per SimPy environment, shared by its chips (:meth:`of`); ``active`` once any chip's spec has a
    ``contention_slowdown`` (all chips are built before the environment runs) or :meth:`share_cores` was
    given a host with cores.

    Why it costs O(log runs) per change, however many chips are busy: a run's rate depends only on its
    chip's slowdown and on how many runs and busy chips there are, so all units of chips with one
    slowdown (a *class*: a measured machine has one, and the controller its own) go at one rate, and one
    clock per class of the work each has done since stands for all their ``work left`` (:class:`_Class`).
    A change (a run starts, grows or ends) brings the classes' clocks up to now, recomputes their rates,
    and sets one timer for the earliest end (each class's first finish in its heap; no run can end before
    it, so no other run speeds up first). SimPy cannot cancel a timeout: one that a later change made
    obsolete fires and is ignored (its ``serial`` is out of date). It is never later than what follows
    it: a start only slows the runs down, so every run ends at or after the projection that set the
    timer, and a simulation that runs until no event is left ends at its last real end."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.active = False
        self.busy_units: dict[Chip, int] = {}  # chip -> its units at work (only chips with one or more)
        self.cores = 0  # host.cores: 0 = no time-sharing
        self.controller: _Run | None = None  # the controller's work in progress, if any
        self.controller_cpu_s = 0.0  # all the work given to the controller
        self._classes: dict[float, _Class] = {}  # chips' slowdown -> their class
        self._host = _Class(0.0)  # the controller's class (one run at most)
        self._active: list[_Class] = []  # the classes with runs in progress
        self._running = 0  # runs in progress
        self._seq = 0
        self._serial = 0  # the timer set last; an older one is ignored when it fires

    @classmethod
    def of(cls, env: simpy.Environment, spec: ChipSpec | None = None) -> Contention:
        # kept on the environment, not in a table keyed by it (a WeakKeyDictionary whose values hold their
        # keys, ``self.env``, never lets go: every simulation of a sweep worker's points stayed in memory)
        got = getattr(env, "_ampsim_contention", None)
        if got is None:
            got = env._ampsim_contention = cls(env)
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
        slowdown = chip.spec.contention_slowdown
        c = self._classes.get(slowdown)
        if c is None:
            c = self._classes[slowdown] = _Class(slowdown)
        run = self._join(c, chip, seconds, env.event())
        self.busy_units[chip] = self.busy_units.get(chip, 0) + 1
        self._reschedule()
        yield run.done
        chip.busy_s += env.now - start if run.stretched else seconds

    def controller_work(self, seconds: float) -> None:
        """The controller needs ``seconds`` more of CPU, after what it has left (it runs one thing at a time)."""
        if seconds <= 0.0 or not self.cores:
            return
        self.controller_cpu_s += seconds
        run = self.controller
        if run is None:
            self.controller = self._join(self._host, None, seconds, None)
        else:
            self._advance()
            run.finish += seconds  # the class's only run: its heap stays a heap
        self._reschedule()

    def _join(self, c: _Class, chip: Chip | None, seconds: float, done: simpy.Event | None) -> _Run:
        self._advance()
        if not c.runs:
            c.work, c.since = 0.0, self.env.now
            self._active.append(c)
        self._seq += 1
        run = _Run(chip, c.work + seconds, self._seq, done, c.stretches)
        heapq.heappush(c.runs, run)
        self._running += 1
        return run

    def _advance(self) -> None:
        """Bring every class's clock of work done up to now, at the factor it ran at since the last change."""
        now = self.env.now
        for c in self._active:
            c.work += (now - c.since) / c.factor
            c.since = now

    def _reschedule(self) -> None:
        """Every class's factor now, and a timer for the earliest end (class docstring)."""
        if not self._running:
            return
        crowded = len(self.busy_units) > 1
        share = self._running / self.cores if self.cores and self._running > self.cores else 1.0
        needs = []  # per class: seconds until its first run ends at today's rate
        for c in self._active:
            factor = (1.0 + c.slowdown if crowded else 1.0) * share
            c.factor = factor
            if factor != 1.0:
                c.stretches += 1
            needs.append(max(c.runs[0].finish - c.work, 0.0) * factor)
        first = min(needs)
        ending = [c for c, need in zip(self._active, needs) if need == first]
        self._serial += 1
        event = self.env.timeout(first)
        event.callbacks.append(lambda _e, serial=self._serial: self._due(serial, ending))

    def _due(self, serial: int, classes: list[_Class]) -> None:
        if serial != self._serial:
            return  # a change since the timer was set moved every end
        self._advance()
        ending = []
        for c in classes:  # each class's runs that finish first (several when they finish together)
            finish = c.runs[0].finish
            while c.runs and c.runs[0].finish == finish:
                run = heapq.heappop(c.runs)
                run.stretched = c.stretches > run.stretches
                ending.append(run)
            if not c.runs:
                self._active.remove(c)
        for run in sorted(ending, key=lambda r: r.seq) if len(ending) > 1 else ending:
            self._running -= 1
            if run.chip is None:
                self.controller = None
            else:
                n = self.busy_units[run.chip] - 1
                if n:
                    self.busy_units[run.chip] = n
                else:
                    del self.busy_units[run.chip]
                run.done.succeed()
        self._reschedule()

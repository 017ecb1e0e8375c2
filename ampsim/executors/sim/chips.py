"""A simulated chip: a FIFO queue of work served by ``compute_units`` SimPy processes.

The queue is a plain deque; an idle unit waits on an event that the next ``put`` triggers (cheaper than a
``simpy.Store``'s get/put events on every message, with the same FIFO semantics).

Life cycle of one work item on a chip::

    put on the queue ──► a free unit takes it ──► the item's handler runs the real numpy code and
    returns its duration ──► the unit is busy for that long ──► the handler's ``after`` releases the
    outputs (to this chip's queue, onto the network, or into the outbox) ──► if the outbox holds
    messages and the queue is empty or ``coalesce_window_s`` has passed since the last frame left or
    the chip last woke up (the multicore worker's rule), the
    ``flush`` hook sends them as frames, the unit being busy for the frames' send cost first.

Messages from other chips arrive through :meth:`Chip.deliver` (see ``poll_interval_s`` there). Receiving a
frame costs the chip ``frame_receive_overhead_s``, and waking up after more than ``spin_s``
idle costs it ``wake_overhead_s``: :meth:`Chip.charge` records such costs and the handler adds
:meth:`Chip.collect` to the next item's duration (for an idle chip, the one that woke it).

**Contention** (``chip.contention_slowdown`` = s > 0 on any chip; 0 everywhere leaves the code path above
untouched). A chip is *busy* while one of its units runs a work item or sends frames. While more than one
chip of the machine is busy, a chip with s > 0 makes progress at ``1 / (1 + s)`` of its speed; while it is
the only busy one, at full speed. The rate changes the moment another chip becomes busy or idle (a fluid
rule: an item's duration from its handler is work at full speed, and its end is recomputed at every
change), so two chips that run items of d seconds side by side both take exactly ``(1 + s) * d``, and an
item that overlaps another chip's for part of its time is stretched for that part only. It stretches all
of a chip's work alike (compute, the receive and wake-up costs charged to an item, remote sends, frames).
Busy time (``busy_s``) is the stretched time.

Ties in time are broken by SimPy's event order (insertion order), so runs repeat exactly.
The chip also keeps the accounting the run summary reports: busy time, and memory in use
(resident parameters + per-instance state of its nodes + queued messages) with its peak.
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import Callable, Generator

import simpy

from ampsim.errors import RunError
from ampsim.hardware.spec import ChipSpec

#: handle(chip, unit, item) -> (duration_s, after or None)
Handler = Callable[["Chip", int, tuple], tuple[float, Callable[[], None] | None]]
#: flush(chip) -> (send cost in seconds, send): empties the outbox now, sends its frames when called
Flusher = Callable[["Chip"], tuple[float, Callable[[], None]]]


class Chip:
    def __init__(self, env: simpy.Environment, index: int, spec: ChipSpec, handle: Handler,
                 flush: Flusher | None = None) -> None:
        self.env, self.index, self.spec = env, index, spec
        self.queue: deque[tuple[tuple, int]] = deque()
        self._idle: deque[simpy.Event] = deque()
        self.busy_s = 0.0
        self.items = 0
        self.param_bytes = 0
        self.held_bytes = 0  # per-instance state of this chip's nodes
        self.queued_bytes = 0
        self.peak_bytes = 0
        self.outbox: dict[int, list] = {}  # destination chip -> messages waiting to share a frame
        self.inbox: deque[tuple[tuple, int]] = deque()  # arrived from other chips, not yet polled
        self.last_flush_s = self.last_poll_s = 0.0
        self._debt_s = 0.0  # receive and wake-up costs not yet charged to a work item
        self._handle, self._flush = handle, flush
        #: the simulated time, for error messages (the replay's own event loop replaces it)
        self.clock: Callable[[], float] = lambda: env.now
        self.contention = Contention.of(env, spec)
        for unit in range(spec.compute_units):
            env.process(self._serve(unit))

    def put(self, item: tuple, nbytes: int) -> None:
        self.queued_bytes += nbytes
        self.queue.append((item, nbytes))
        if self._idle:
            self._idle.popleft().succeed()

    def deliver(self, item: tuple, nbytes: int) -> None:
        """A message from another chip arrives. With ``poll_interval_s`` > 0 a busy chip sees it only at
        its next poll (every ``poll_interval_s`` between items, or when its queue runs empty), as a
        software transport that reads its sockets between messages; an idle chip takes it at once."""
        if not self.spec.poll_interval_s or (not self.queue and self._idle):
            self.put(item, nbytes)
        else:
            self.queued_bytes += nbytes
            self.inbox.append((item, nbytes))

    def charge(self, seconds: float) -> None:
        """Record ``seconds`` of work (a received frame, a wake-up) for the next item this chip processes."""
        self._debt_s += seconds

    def collect(self) -> float:
        """The work recorded by :meth:`charge` since the last call (the handler adds it to an item)."""
        debt, self._debt_s = self._debt_s, 0.0
        return debt

    def account(self, held_delta: int) -> None:
        """Add ``held_delta`` bytes of node state; raise if the chip's memory is exceeded."""
        self.held_bytes += held_delta
        used = self.param_bytes + self.held_bytes + self.queued_bytes
        if used > self.peak_bytes:
            self.peak_bytes = used
            if used > self.spec.memory_bytes:
                raise RunError(
                    f"chip {self.index} out of memory at t={self.clock():.6g} s: {used:,} bytes in use "
                    f"(parameters {self.param_bytes:,}, instance state {self.held_bytes:,}, queued messages "
                    f"{self.queued_bytes:,}) > memory_bytes {self.spec.memory_bytes:,}; "
                    "lower train.mak, use more chips or another placement")

    def _serve(self, unit: int):
        env, queue, inbox = self.env, self.queue, self.inbox
        while True:
            if inbox and (not queue or env.now - self.last_poll_s >= self.spec.poll_interval_s):
                self.last_poll_s = env.now
                queue.extend(inbox)
                inbox.clear()
            if not queue:
                wake = env.event()
                self._idle.append(wake)
                idle_from = env.now
                yield wake
                self.last_flush_s = self.last_poll_s = env.now  # both intervals restart when the chip wakes
                if env.now - idle_from > self.spec.spin_s:  # it had stopped polling and gone to sleep
                    self._debt_s += self.spec.wake_overhead_s
                continue
            item, nbytes = queue.popleft()
            self.queued_bytes -= nbytes
            duration, after = self._handle(self, unit, item)
            self.items += 1
            if duration > 0:
                if self.contention.active:
                    yield from self.contention.occupy(self, duration)
                else:
                    self.busy_s += duration
                    yield env.timeout(duration)
            if after is not None:
                after()
            if self.outbox and (not queue or env.now - self.last_flush_s >= self.spec.coalesce_window_s):
                self.last_flush_s = env.now
                cost, send = self._flush(self)
                if cost > 0:
                    if self.contention.active:
                        yield from self.contention.occupy(self, cost)
                    else:
                        self.busy_s += cost
                        yield env.timeout(cost)
                send()


class _Run:
    """Work in progress on one unit under contention: ``left`` seconds of full-speed work as of ``since``, at
    ``factor``; it ends at ``end`` (the latest projection) when the end event of the current ``serial`` fires."""

    __slots__ = ("chip", "left", "since", "factor", "end", "serial", "done", "stretched")

    def __init__(self, chip: Chip, seconds: float, done: simpy.Event, now: float) -> None:
        self.chip, self.left, self.since, self.done = chip, seconds, now, done
        self.factor, self.end, self.serial = 1.0, now, 0
        self.stretched = False  # ever slowed down: else its busy time is exactly its work


class Contention:
    """The busy chips of one simulation and their work in progress (the rule is in the module docstring).

    One per SimPy environment, shared by its chips (:meth:`of`); ``active`` once any chip's spec has a
    ``contention_slowdown`` (all chips are built before the environment runs).

    Why ends are *projected*: SimPy cannot cancel a timeout, and one left behind at a later time than its
    run's end would still advance the clock when it fires. So whenever a run starts or ends, every run's end
    is computed as if no other run were to start (a small fluid simulation of the runs in progress, their
    ends and the speed-ups these bring included). A run that starts later can only slow the others down, so
    an end never moves earlier: a run whose end moves gets a new end event, and the old one, now early,
    is ignored when it fires (its ``serial`` is out of date)."""

    _by_env: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.active = False
        self.runs: list[_Run] = []
        self.busy_units: dict[Chip, int] = {}  # chip -> its units at work (only chips with one or more)

    @classmethod
    def of(cls, env: simpy.Environment, spec: ChipSpec) -> Contention:
        got = cls._by_env.get(env)
        if got is None:
            got = cls._by_env[env] = cls(env)
        if spec.contention_slowdown:
            got.active = True
        return got

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

    def _advance(self) -> None:
        """Bring every run's work left up to now, at the factor it ran at since the last change."""
        now = self.env.now
        for run in self.runs:
            run.left = max(run.left - (now - run.since) / run.factor, 0.0) if run.end > now else 0.0
            run.since = now

    @staticmethod
    def _factor(run: _Run, crowded: bool) -> float:
        return 1.0 + run.chip.spec.contention_slowdown if crowded else 1.0

    def _project(self, new: _Run | None = None) -> None:
        """Every run's factor now and its end if no other run starts (class docstring); new end events."""
        now = self.env.now
        crowded = len(self.busy_units) > 1
        for run in self.runs:
            run.factor = self._factor(run, crowded)
            run.stretched = run.stretched or run.factor != 1.0
        ends: dict[_Run, float] = {}
        left = {run: run.left for run in self.runs}
        busy = dict(self.busy_units)
        t = now
        while left:
            crowded = len(busy) > 1
            need = {run: work * self._factor(run, crowded) for run, work in left.items()}
            dt = min(need.values())
            t_next = t + dt
            for run, seconds in need.items():
                if seconds == dt:
                    ends[run] = t_next
                    del left[run]
                    busy[run.chip] -= 1
                    if not busy[run.chip]:
                        del busy[run.chip]
                else:
                    left[run] = max(left[run] - dt / self._factor(run, crowded), 0.0)  # (rounding)
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
        n = self.busy_units[run.chip] - 1
        if n:
            self.busy_units[run.chip] = n
        else:
            del self.busy_units[run.chip]
        run.done.succeed()
        self._project()

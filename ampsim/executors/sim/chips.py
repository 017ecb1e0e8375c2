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

Messages from other chips arrive a frame at a time through :meth:`Chip.deliver` (see ``poll_interval_s``
there). Receiving a
frame costs the chip ``frame_receive_overhead_s``, and waking up after more than ``spin_s``
idle costs it ``wake_overhead_s``: :meth:`Chip.charge` records such costs and the handler adds
:meth:`Chip.collect` to the next item's duration (for an idle chip, the one that woke it).

**Contention** (``chip.contention_slowdown`` > 0 on any chip, or a ``[host]`` whose cores the chips share;
with neither, the path above is all there is): a busy unit's work goes through
:meth:`~ampsim.executors.sim.contention.Contention.occupy`, which stretches it while other chips (and the
controller) are busy; the rules are in :mod:`ampsim.executors.sim.contention`.
Busy time (``busy_s``) is the stretched time, and so is a traced span (:meth:`Chip.trace_span`).

Ties in time are broken by SimPy's event order (insertion order), so runs repeat exactly.
The chip also keeps the accounting the run summary reports: busy time, and memory in use
(resident parameters + per-instance state of its nodes + queued messages) with its peak.
"""

from __future__ import annotations

from collections import deque
from itertools import compress
from operator import add, attrgetter
from typing import Callable

import simpy

from ampsim.errors import OutOfMemory
from ampsim.executors.sim.contention import Contention
from ampsim.hardware.spec import ChipSpec
from ampsim.trace import chip_pid, lane_tid

__all__ = ["Chip", "chip_counters"]

#: handle(chip, unit, item) -> (duration_s, after or None)
Handler = Callable[["Chip", int, tuple], tuple[float, Callable[[], None] | None]]
#: flush(chip, unit) -> (send cost in seconds, send): empties the outbox now, sends its frames when called
Flusher = Callable[["Chip", int], tuple[float, Callable[[], None]]]


class Chip:
    # (a 16,384-chip machine makes 16,384 of them per run: slots make each smaller and quicker to build)
    __slots__ = ("env", "index", "spec", "queue", "_idle", "busy_s", "items", "param_bytes", "held_bytes",
                 "queued_bytes", "peak_bytes", "outbox", "inbox", "last_flush_s", "last_poll_s", "_debt_s",
                 "_handle", "_flush", "clock", "contention", "_open_spans", "__weakref__")

    def __init__(self, env: simpy.Environment, index: int, spec: ChipSpec, handle: Handler,
                 flush: Flusher | None = None, *, serve: bool = True,
                 clock: Callable[[], float] | None = None) -> None:
        """``serve``: start the units' SimPy processes (False where the replay's own event loop serves the
        chip: it keeps only the chip's accounting, and a thousand idle processes cost a 1,024-chip sweep point
        about 5 ms to create). ``clock``: the simulated time for error messages, where not ``env.now`` (the
        replay's own event loop's)."""
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
        self.clock: Callable[[], float] = clock or (lambda: env.now)  # the simulated time, for error messages
        self.contention = Contention.of(env, spec)
        self._open_spans: dict[int, tuple] = {}  # unit -> the trace span of the work it runs, written at its end
        for unit in range(spec.compute_units if serve else 0):
            env.process(self._serve(unit))

    def put(self, item: tuple, nbytes: int) -> None:
        self.queued_bytes += nbytes
        self.queue.append((item, nbytes))
        if self._idle:
            self._idle.popleft().succeed()

    def deliver(self, msgs: list[tuple[int, tuple, int]]) -> None:
        """Messages from another chip arrive, together (one frame: ``(wire bytes, item, nbytes)`` each, as the
        network carries them; the wire bytes are the network's business). With
        ``poll_interval_s`` > 0 a busy chip sees them only at its next poll (every ``poll_interval_s``
        between items, or when its queue runs empty), as a software transport that reads its sockets between
        messages; a chip with an idle unit takes them at once, all of them, as a worker reads a whole frame
        (taken one by one, the first would make the chip busy and send the rest to the inbox: the chip would
        run dry after each and flush its outputs in a frame per message). A unit is idle only with the inbox
        empty (it polls before it waits), so what is taken at once never passes an earlier arrival; asking
        for an empty queue too let a frame wait in the inbox beside an idle unit (another unit just woken for
        an earlier one) and the next arrival, with the queue empty again, pass it: at mak = 1 the next
        instance's forward ran before the previous one's update job (tests/sim/test_controller_timelines.py)."""
        if not self.spec.poll_interval_s or self._idle:
            for _, item, nbytes in msgs:
                self.put(item, nbytes)
        else:
            for _, item, nbytes in msgs:
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
                fix = ("use more chips or another placement" if self.param_bytes > self.spec.memory_bytes
                       else "lower train.mak, use more chips or another placement")  # (mak cannot shrink parameters)
                now = self.clock()
                raise OutOfMemory(
                    f"chip {self.index} out of memory at t={now:.6g} s: {used:,} bytes in use "
                    f"(parameters and any optimizer state counted {self.param_bytes:,}, instance state "
                    f"{self.held_bytes:,}, queued messages {self.queued_bytes:,}) > memory_bytes "
                    f"{self.spec.memory_bytes:,}; {fix}",
                    # (plain numbers for the summary: a replay's kernel counts in numpy's)
                    {"chip": self.index, "time_s": float(now), "used_bytes": int(used),
                     "memory_bytes": int(self.spec.memory_bytes), "param_bytes": int(self.param_bytes),
                     "instance_bytes": int(self.held_bytes), "queued_bytes": int(self.queued_bytes)})

    def trace_span(self, trace, unit: int, name: str, duration: float, **args) -> None:
        """Record in ``trace`` the work ``unit`` starts now, of ``duration`` at full speed: at once, or where
        contention may stretch it, once it ends, as long as it took (its busy time)."""
        if self.contention.active:
            self._open_spans[unit] = (trace, name, self.env.now, args)
        else:
            trace.span(name, chip_pid(self.index), lane_tid(unit), self.env.now, duration, **args)

    def _close_span(self, unit: int) -> None:
        span = self._open_spans.pop(unit, None)
        if span is not None:
            trace, name, start, args = span
            # (to now, not for now - start: start plus that may miss now by a float's last bit, and a span that
            # ends as the next begins must end where it begins, to the nanosecond)
            trace.span_to(name, chip_pid(self.index), lane_tid(unit), start, self.env.now, **args)

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
            if self._open_spans:  # (contention: the span as long as the work took)
                self._close_span(unit)
            if after is not None:
                after()
            if self.outbox and (not queue or env.now - self.last_flush_s >= self.spec.coalesce_window_s):
                self.last_flush_s = env.now
                cost, send = self._flush(self, unit)
                if cost > 0:
                    if self.contention.active:
                        yield from self.contention.occupy(self, cost)
                        self._close_span(unit)
                    else:
                        self.busy_s += cost
                        yield env.timeout(cost)
                send()


_COUNTERS = tuple(map(attrgetter, ("param_bytes", "held_bytes", "queued_bytes", "peak_bytes", "busy_s", "_debt_s")))


def chip_counters(chips: list[Chip]) -> dict[str, list]:
    """Every chip's memory in use (parameters + held + queued bytes), peak and busy seconds, and its
    :meth:`Chip.collect`, by chip index: read a counter at a time over the chips, in C (a 16,384-chip
    machine's replay reads them on every call, and most chips owe nothing)."""
    param, held, queued, peak, busy, debt = (list(map(get, chips)) for get in _COUNTERS)
    for chip in compress(chips, debt):
        chip._debt_s = 0.0
    return {"used": list(map(add, map(add, param, held), queued)), "peak": peak, "busy": busy, "debt": debt}

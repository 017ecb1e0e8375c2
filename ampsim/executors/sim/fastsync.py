"""Replicas that synchronize, on the replay's own event loop: the simulator's own
:class:`~ampsim.executors.sim.collective.Collectives`, unchanged, hosted by
:class:`~ampsim.executors.sim.fastloop.FastReplay` instead of SimPy.

The collectives decide when copies are gated, when a round is ready and how an all-reduce runs; they ask
their host for a clock and events, for the chips their jobs go to and for a network to send chunks on
(:meth:`~ampsim.executors.sim.collective.Collectives.rehost`). :class:`FastSync` gives them the loop's own:

* **events** (:class:`LoopEnv`): an event fires as one loop event ``(time, order, CALL, 0, event)`` that
  runs its callbacks, with its order drawn from the loop's counter where SimPy schedules it
  (``succeed``, a timeout at creation); a process (an all-reduce member) resumes as SimPy's does, and
  starts with an URGENT event: its order is the counter's less ``URGENT``, so it comes before every
  normal event of its time, as SimPy's priority puts it;
* **chips** (:class:`LoopChip`): a synchronization's add or apply joins the chip's queue as a work item of
  the loop (an id past the messages and update jobs, ``join[id] = SYNCJOB``), waking an idle unit as any
  item does; its memory is the loop's ``used`` and ``peak`` lists; a parked item put back rejoins the
  queue under its own id;
* **the network** (:meth:`FastSync.send`): a chunk is a message of the loop (an id as above, its route
  between the two chips, whose last hop schedules ``DELIVER`` instead of ``ARRIVE``), over whole-message or
  packet-switched links alike, claiming its first link at once as ``Network.send`` does.

The loop asks :meth:`FastSync.parked` for every item it takes off a queue while some copy is gated
(``Collectives.park``), hands an update job or a synchronization's job to :meth:`FastSync.job`, and
``AFTER``, ``DELIVER`` and ``CALL`` events to :meth:`FastSync.event`. The lists the loop indexes by message
(join, route, wire, occupancy) take the ids it adds past their ends for the length of a call only. Every
step is SimPy's, in SimPy's order, so a replay equals the SimPy replay's, hence the full run's, bit for bit
(``tests/sim/test_replay_replicas.py``).

Only the tie rule needs care: an URGENT event scheduled now sorts before normal events already popped, so
"has a set-aside completion's key passed?" (:meth:`FastMachine._settle`) is judged against the last
*normal* event's order, which the loop keeps in ``cur`` while it runs URGENT ones.
"""

from __future__ import annotations

from heapq import heappush
from typing import TYPE_CHECKING, Callable

import numpy as np

from ampsim.executors.sim.fastprep import Hops
from ampsim.hardware.spec import ChipSpec
from ampsim.trace import SYNC, UPDATE

if TYPE_CHECKING:
    from ampsim.executors.sim.faststate import FastMachine

__all__ = ["FastSync", "CALL", "AFTER", "DELIVER", "SYNCJOB", "URGENT"]

#: the loop's event codes for synchronization (negative: the controller's branch, never a hot one): an event
#: fires; a unit of chip c ends a job whose end runs something (x: what); chunk c reaches its chip
CALL, AFTER, DELIVER = -2, -3, -4  # (after the controller's ADMIT, -1: faststate)
#: ``join`` of a synchronization's job or chunk (after the messages' -2, -1, groups, and update jobs' -3)
SYNCJOB = -4
#: subtracted from an URGENT event's order (SimPy's priority: before every normal event of its time)
URGENT = 1 << 62


class LoopEvent:
    """A SimPy event on the loop: ``callbacks`` run when it fires (then None: processed)."""

    __slots__ = ("_fs", "callbacks")

    def __init__(self, fs: FastSync) -> None:
        self._fs = fs
        self.callbacks: list | None = []

    def succeed(self, value=None) -> LoopEvent:
        self._fs.schedule(self, 0.0)
        return self


class LoopProcess:
    """A SimPy process on the loop: started by an URGENT event, resumed by the events it yields."""

    __slots__ = ("_gen",)

    def __init__(self, fs: FastSync, gen) -> None:
        self._gen = gen
        start = LoopEvent(fs)
        start.callbacks.append(self._resume)
        fs.schedule(start, 0.0, urgent=True)

    def _resume(self, _event) -> None:
        while True:  # simpy.Process._resume: on through events already processed
            try:
                event = self._gen.send(None)
            except StopIteration:
                return  # (its own end wakes nobody: SimPy's event for it is left out)
            if event.callbacks is not None:
                event.callbacks.append(self._resume)
                return


class LoopEnv:
    """What :class:`~ampsim.executors.sim.collective.Collectives` uses of a ``simpy.Environment``."""

    def __init__(self, fs: FastSync) -> None:
        self._fs = fs

    @property
    def now(self) -> float:
        return self._fs.m.now

    def event(self) -> LoopEvent:
        return LoopEvent(self._fs)

    def timeout(self, delay: float) -> LoopEvent:
        ev = LoopEvent(self._fs)
        self._fs.schedule(ev, delay)
        return ev

    def process(self, gen) -> LoopProcess:
        return LoopProcess(self._fs, gen)


class LoopChip:
    """What the collectives use of a :class:`~ampsim.executors.sim.chips.Chip`, on the loop's state."""

    __slots__ = ("_fs", "index", "spec", "queued_bytes")

    def __init__(self, fs: FastSync, index: int, spec: ChipSpec) -> None:
        self._fs, self.index, self.spec = fs, index, spec
        self.queued_bytes = 0  # (the loop counts a queued item's bytes in ``used`` until its step runs)

    def put(self, item: tuple, nbytes: int) -> None:
        self._fs.requeue(self.index, item)

    def account(self, held_delta: int) -> None:
        """Chip.account on the loop's lists."""
        m = self._fs.m
        c = self.index
        n = m.used[c] = m.used[c] + held_delta
        if n > m.peak[c]:
            m.peak[c] = n
            if n > m.chip_specs["memory"][c]:
                m.out_of_memory(c, m.now)


class FastSync:
    """The collectives' host on a :class:`~ampsim.executors.sim.faststate.FastMachine` ``m`` (built once per
    executor: parked items and gates carry over between calls)."""

    def __init__(self, m: FastMachine) -> None:
        self.m = m
        self.sync = m.sync
        self.chips = [LoopChip(self, chip.index, chip.spec) for chip in m.ex.chips]
        self.sync.rehost(LoopEnv(self), {name: self.chips[chip.index] for name, chip in m.ex.where.items()},
                         self.send)
        self.gates = self.sync.gates  # truthy while a copy is gated (the loop reads it per item)
        self.serial: dict[int, int] = {}  # stash -> the serial of the completion that queued its update job
        self.jobs: dict[int, tuple] = {}  # item id -> a synchronization's job (Collectives' tuple)
        self.delivers: dict[int, Callable[[], None]] = {}  # chunk id -> what its arrival runs
        self._routes: dict[tuple[int, int], tuple] = {}  # (chip, chip) -> a chunk's route
        self._grown: list[tuple[list, int]] = []  # during a call: the lists grown, and their lengths before

    # -- per call ----------------------------------------------------------------------------------
    def begin(self, join: list, route: list, wire: list, occ: list | None, links: tuple) -> list | None:
        """A call starts: the lists it indexes by item id and the links' next free times, busy seconds and
        bytes. Jobs and chunks join the lists past their ends for the length of the call (:meth:`end` cuts
        them back): the recording's and the placement's own lists, which copies would double in memory on a
        run of millions of messages. Returns the fixed occupancy per message the loop is to use: ``occ`` for
        cut-through, where a chunk's is its own too, else None (each hop divides by its bandwidth). The loop
        sets :attr:`pk`, its packet links (or None), once it has made them on these lists."""
        n = len(join)
        occ = occ if self.m.ex.network.cut_through else None
        self._grown = [(lst, len(lst)) for lst in (join, route, wire, occ) if lst is not None]
        route.extend([None] * (n - len(route)))
        wire.extend([0] * (n - len(wire)))
        if occ is not None:
            occ.extend([0.0] * (n - len(occ)))
        self.join, self.route, self.wire, self.occ = join, route, wire, occ
        self.base = n  # ids from here on are jobs and chunks
        self.links, self.pk = links, None
        return occ

    def end(self) -> None:
        """A call ends (or fails): the lists as they were."""
        for lst, n in self._grown:
            del lst[n:]
        self._grown = []

    def _new_id(self, wire: float, route: tuple | None, occ: float) -> int:
        k = len(self.join)
        self.join.append(SYNCJOB)
        self.route.append(route)
        self.wire.append(wire)
        if self.occ is not None:
            self.occ.append(occ)
        return k

    # -- events --------------------------------------------------------------------------------------
    def schedule(self, ev: LoopEvent, delay: float, urgent: bool = False) -> None:
        m = self.m
        m.order += 1
        if urgent:
            heappush(m.heap, (m.now, m.order - URGENT, CALL, 0, ev))
        elif delay:
            heappush(m.heap, (m.now + delay, m.order, CALL, 0, ev))
        else:
            m.soon.append((m.now, m.order, CALL, 0, ev))

    def event(self, code: int, c: int, x) -> bool:
        """A synchronization's event comes up (the loop has set the machine's clock): True when a unit of
        chip ``c`` has ended a job and serves its queue next."""
        if code == AFTER:
            x()
            return True
        if code == DELIVER:
            self.delivers.pop(c)()
            return False
        callbacks, x.callbacks = x.callbacks, None  # CALL
        for cb in callbacks:
            cb(x)
        return False

    # -- chips -----------------------------------------------------------------------------------------
    def requeue(self, c: int, item: tuple) -> None:
        """``LoopChip.put``: a synchronization's job, or a parked item put back (its bytes never left)."""
        if item[0] == SYNC:
            k = self._new_id(0, None, 0.0)
            self.jobs[k] = item
        else:
            k = item[2]
        self.m.queues[c].append(k)
        self.m.wake_unit(c)

    def parked(self, c: int, k: int) -> bool:
        """Whether item ``k``, just taken off chip ``c``'s queue, waits for its copy's gate (set aside)."""
        m = self.m
        if k >= self.base:
            return False  # a synchronization's job is never gated
        n_messages = m.n_messages
        if k < n_messages:
            item, nbytes = (int(m.bwd[k]), m.nodes[m.node[k]], k, 0), m.nbytes[k]
        else:
            j = k - n_messages
            item, nbytes = (UPDATE, m.nodes[m.stash_node[j]], k, self.serial[j]), 0
        return self.sync.park(self.chips[c], item, nbytes)

    def job(self, c: int, k: int, received: float) -> tuple[float, Callable[[], None] | None]:
        """Item ``k`` (an update job or a synchronization's) runs on chip ``c``: its duration and what its
        end runs (the replay's own rules, on this chip's view)."""
        m = self.m
        if k >= self.base:
            return m.run_sync_job(self.chips[c], 0, self.jobs.pop(k), received)
        return m.run_update_job(self.chips[c], 0, k - m.n_messages, received)

    # -- the network -------------------------------------------------------------------------------------
    def send(self, src: int, dst: int, nbytes: float, deliver: Callable[[], None]) -> None:
        """Network.send: a chunk leaves chip ``src`` for chip ``dst`` now, claiming its first link at once."""
        m = self.m
        m.ex.network.messages += 1
        rt = self._routes.get((src, dst))
        if rt is None:
            rt = self._routes[(src, dst)] = self._route(src, dst)
        k = self._new_id(nbytes, rt, nbytes / min(h[2] for h in rt))
        self.delivers[k] = deliver
        if self.pk is not None:
            m.order = self.pk.send(k, m.now, m.order)
            return
        lid, latency, bw, add, then, hop = rt[0]  # the loop's first hop (FastReplay._loop, a message's release)
        occ = self.occ[k] if self.occ is not None else nbytes / bw
        free, busy, carried = self.links
        now, f = m.now, free[lid]
        start = now if now >= f else f
        free[lid] = start + occ
        busy[lid] += occ
        carried[lid] += nbytes
        m.order += 1
        heappush(m.heap, (now + (start - now + latency + occ if add else start - now + latency), m.order, then, k, hop))

    def _route(self, src: int, dst: int) -> tuple:
        """The hops from chip ``src`` to chip ``dst`` as the loop's tuples, the last one delivering a chunk."""
        pair = np.array([[src, dst]], dtype=np.int64)
        (rt,) = Hops.of(pair, self.m.links.hops(pair), self.m.ex.network.cut_through).tuples()
        *first, last = rt
        return (*first, (*last[:4], DELIVER, last[5]))

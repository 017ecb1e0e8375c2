"""The controller of the multicore executor (runs in the main process): admission by mak, completion.

As in the simulator, an instance is *live* from admission until its last message has been processed;
at most mak instances are live. Completion is detected exactly by weight throwing (see
:mod:`.protocol`): each instance starts with weight 1, split among its messages as they multiply; workers
return the weight of messages that end, in batches and whenever convenient; the instance has completed
when the returned weights sum to 1. No global stop, no consistent snapshot, no ordering between returns
and data messages is needed.

On completion the controller sends ``DONE(k)`` to every worker (owners of parameterized nodes queue the
muf update jobs) and admits the next instance: ``INST`` (its data) first, to every worker its messages can
reach (all of them, unless the graph falls apart into replica groups), and, once all those bytes are in
the kernel, the first messages to the workers owning the input nodes (see :mod:`.worker` for why this
order makes mak = 1 equal the reference executor).

Replicas (:mod:`.replicas`): when a completion closes a synchronization round, ``GATE`` follows that
completion's ``DONE`` in the same batch (and precedes the next completion's); snapshots (``SNAP``) are
averaged here as they arrive and ``APPLY`` goes back at once. :meth:`Controller.run` returns only once
every closed round has been averaged, so the state collected after it includes every round.

Failures: a worker's ``ERROR`` frame, or a worker process that exits (its sentinel fires or its socket
closes), raises :class:`~ampsim.errors.RunError` naming the worker and the node it was running.

Watchdog (``watchdog_s`` > 0; 0 = off): the controller's wait for the workers is a ``poll`` with that
timeout, so it costs nothing while frames arrive. When no worker has written for ``watchdog_s``, a worker
that is stopped (``T`` in ``/proc``: SIGSTOP, a debugger) is reported at once; a worker that is using CPU
(one long node step) counts as progress and the controller waits another period; if nobody used CPU during
a whole further period either, the worker running a node (else worker 0: every worker waits, a message
was lost) is reported. Either way a one-line :class:`~ampsim.errors.RunError` naming the worker, and the
executor then stops every worker.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections import deque
from select import POLLIN, POLLOUT, poll
from typing import Any, Callable, Iterable, Iterator

from ampsim.errors import RunError
from ampsim.executors.multicore import protocol as P
from ampsim.executors.multicore.procs import RERAN_SCRIPT_STATUS, exit_description, process_state, rerun_error
from ampsim.executors.multicore.replicas import ControllerSync
from ampsim.executors.multicore.transport import Channel, ChannelClosed, watch
from ampsim.ir.message import Instance
from ampsim.ir.node import Report

__all__ = ["Controller"]

log = logging.getLogger(__name__)


class Controller:
    """Talks to the workers over ``channels[w]``; watches ``procs[w].sentinel``."""

    def __init__(self, channels: list[Channel], procs: list, names: list[str], index: dict[str, int],
                 owner: list[int], current: Any, watchdog_s: float = 0.0,
                 replicas: ControllerSync | None = None, reach: list[frozenset[int]] | None = None) -> None:
        self.channels, self.procs, self.names, self.index, self.owner = channels, procs, names, index, owner
        self.replicas = replicas
        #: per node: the workers its messages can reach (owners of its connected part of the graph; with
        #: replica groups, the group's); only they are sent an instance's data
        self.reach = reach or [frozenset(range(len(channels)))] * len(names)
        self.current = current
        self.watchdog_s = watchdog_s
        # None: poll forever; poll() takes at most 2**31 - 1 ms (24 days): a longer watchdog waits that long
        self._timeout_ms: float | None = min(watchdog_s * 1000, 2**31 - 1) if watchdog_s > 0 else None
        self._cpu_seen: list[int | None] | None = None  # workers' CPU ticks when the last period ran out
        self._poller = poll()
        self._registered: dict[int, int] = {}
        self._sentinel = {p.sentinel: w for w, p in enumerate(procs)}
        self._worker_of = {ch.fd: w for w, ch in enumerate(channels)}
        for fd in self._sentinel:
            self._poller.register(fd, POLLIN)
        self._states: dict[Any, dict[int, dict]] = {}
        self._deferred: list[list[tuple]] | None = None
        self.reports: list[Report] = []
        self.rounds = 0
        #: the completion round trip (seconds): per completion, its last RETURN's way from the worker's
        #: queue to this process's read; per completion that let an instance in, from that read until the
        #: instance's first messages are in the kernel (the simulator injects at the completion's instant)
        self.return_lags_s: list[float] = []
        self.admit_lags_s: list[float] = []
        #: admitted instances whose first messages are not all in the kernel yet: (key, the completion that
        #: let it in, or None for the first mak)
        self._unsent: list[tuple[int, float | None]] = []
        #: with a trace: (perf_counter seconds, "admit" or "complete", key), as they happen
        self.events: list[tuple[float, str, int]] | None = None

    # -- training ------------------------------------------------------------------------------------
    def run(self, inject: Callable[[Instance], list], instances: Iterable[Instance], mak: int,
            on_done: Callable[[int], None] | None) -> list[Report]:
        """Train on ``instances`` with at most ``mak`` live; return the loss reports received so far.

        Reports sent after an instance completed may still be on their way: :meth:`sync` appends them to
        the same list.
        """
        pending = deque(instances)
        live: dict[int, P.Weight] = {}
        reports = self.reports = []
        done: list = []  # completed keys, and after a key the gates its completion closes (worker -> copies)
        n_workers = len(self.channels)
        completed_at: deque[float] = deque()  # completions whose successors are not admitted yet
        events = self.events
        while pending or live:
            now: list[list[tuple]] = [[] for _ in range(n_workers)]
            later: list[list[tuple]] = [[] for _ in range(n_workers)]
            if done:
                _done_commands(done, now)
                done = []
            while pending and len(live) < mak:
                inst = pending.popleft()
                # the earliest completion not yet used lets it in (none for the first mak)
                self._unsent.append((inst.key, completed_at.popleft() if completed_at else None))
                msgs = inject(inst)
                need = frozenset().union(*(self.reach[self.index[name]] for name, _ in msgs))
                # INST goes out before any injection, one tuple in every batch that needs it (batches alike
                # are pickled once: _send); a message whose payload is a field of the instance's data names
                # the field (an image batch crosses in the INST only)
                command = (P.INST, inst.key, inst.data)
                for w in need:
                    now[w].append(command)
                fields = {id(v): f for f, v in inst.data.items()} if isinstance(inst.data, dict) else {}
                weights = P.split(0, len(msgs)) if msgs else []
                for (name, msg), e in zip(msgs, weights):
                    i = self.index[name]
                    payload = fields.get(id(msg.payload), msg.payload)
                    later[self.owner[i]].append((P.MSG, i, False, 0, inst.key, msg.state, e, payload))
                if msgs:
                    live[inst.key] = P.Weight()
                else:  # pragma: no cover - a model that injects nothing completes at once
                    done.append(inst.key)
            self._send(now, later)
            if not live and not pending:
                break
            for key, lag in self._pump(live, reports).items():
                if live[key].is_one:
                    del live[key]
                    done.append(key)
                    self.return_lags_s.append(lag)
                    t = time.perf_counter()
                    completed_at.append(t)
                    if events is not None:
                        events.append((t, "complete", key))
                    if self.replicas is not None and (gates := self.replicas.completed(key)):
                        done.append(gates)
                    if on_done:
                        on_done(1)
        if done:
            now = [[] for _ in range(n_workers)]
            _done_commands(done, now)
            self._send(now, None)
        while self.replicas is not None and self.replicas.pending:  # every closed round averaged
            self._pump({}, reports)
        return reports

    def sync(self, with_params: bool, tag: Any = None) -> dict[int, dict]:
        """Ask every worker for its state once its queued work (update jobs) is done; wait for all."""
        tag = tag if tag is not None else ("sync", time.perf_counter())
        self._states[tag] = {}
        self._send([[(P.SYNC, tag, with_params)] for _ in self.channels], None)
        while len(self._states[tag]) < len(self.channels):
            self._pump({}, self.reports)
        return self._states.pop(tag)

    # -- plumbing ------------------------------------------------------------------------------------
    def _send(self, now: list[list[tuple]], later: list[list[tuple]] | None) -> None:
        """Queue ``now`` frames; queue ``later`` frames only once every byte queued before is written. Batches
        of the same command objects are pickled once (an INST for every worker, a DONE for all)."""
        pickled: dict[tuple[int, ...], bytes] = {}
        for ch, batch in zip(self.channels, now):
            if batch:
                same = tuple(map(id, batch))
                data = pickled.get(same)
                if data is None:
                    data = pickled[same] = pickle.dumps(batch, protocol=5)
                ch.put_pickled(data)
        if later is not None and any(later):
            if self._deferred is not None:  # still waiting to send an earlier round: merge
                for acc, batch in zip(self._deferred, later):
                    acc.extend(batch)
            else:
                self._deferred = later
        self._write()

    def _write(self) -> None:
        clean = True
        for ch in self.channels:
            if ch.pending:
                try:
                    clean &= ch.flush()
                except ChannelClosed:
                    self._fail(self.channels.index(ch))
        if clean and self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            for ch, batch in zip(self.channels, deferred):
                if batch:
                    ch.put(batch)
            self._write()
        if self._unsent and self._deferred is None and not any(ch.pending for ch in self.channels):
            # every byte of the admitted instances' first messages is in the kernel
            t = time.perf_counter()
            for key, completed in self._unsent:
                if completed is not None:
                    self.admit_lags_s.append(t - completed)
                if self.events is not None:
                    self.events.append((t, "admit", key))
            self._unsent = []

    def _pump(self, live: dict[int, P.Weight], reports: list[Report]) -> dict[int, float]:
        """Wait for data, read what has arrived and apply it; return the keys that got weight back, each
        with the seconds its last RETURN took from the worker's queue to this read."""
        touched: dict[int, float] = {}
        for w in self._wait():
            ch = self.channels[w]
            try:
                frames = ch.recv()
            except ChannelClosed:
                self._fail(w)
            read_s = time.perf_counter()
            for frame in frames:
                for item in frame:
                    op = item[0]
                    if op == P.RETURN:
                        lag = read_s - item[4]
                        for key, (num, scale) in item[1].items():
                            live[key].add(num, scale)
                            touched[key] = lag
                        reports.extend(Report(*r) for r in item[2])
                        if item[3]:
                            self.replicas.noted(item[3])
                    elif op == P.SNAP:
                        self.replicas.snapshot(*item[1:], channels=self.channels)
                    elif op == P.STATE:
                        self._states.setdefault(item[1], {})[w] = item[2]
                    elif op == P.ERROR:
                        log.debug("worker %d traceback:\n%s", w, item[2])
                        raise P.worker_error(item)
        self.rounds += 1
        if self.replicas is not None:
            self._write()  # averages (APPLY) go out at once
        return touched

    def _wait(self) -> list[int]:
        """Sleep until a worker channel has data (writing queued output whenever the kernel takes it); the
        workers whose channels have, in order (reading only those: with 16 workers most channels are
        empty at any moment, and an empty read costs a system call and an exception)."""
        while True:
            watch(self._poller, self._registered, self.channels)
            events = self._poller.poll(self._timeout_ms)
            if not events:
                self._watchdog()  # raises, or returns when the workers are busy computing
                continue
            self._cpu_seen = None
            for fd, _ in events:
                if fd in self._sentinel:
                    self._fail(self._sentinel[fd])
            if any(ev & POLLOUT for _, ev in events):
                self._write()
            ready = sorted({self._worker_of[fd] for fd, ev in events if ev & ~POLLOUT and fd in self._worker_of})
            if ready:
                return ready

    def _watchdog(self) -> None:
        """No worker has written for ``watchdog_s``: raise naming one that made no progress, or return if
        some worker used CPU since the previous period ran out (it is computing)."""
        states = [process_state(p.pid) for p in self.procs]
        stopped = [w for w, st in enumerate(states) if st is not None and st[0] in "Tt"]
        if stopped:
            time.sleep(0.2)  # resumed together with us after a Ctrl-Z / fg? Look again
            stopped = [w for w in stopped if (st := process_state(self.procs[w].pid)) and st[0] in "Tt"]
        if stopped:
            w, why, waited = stopped[0], "stopped? SIGSTOP'd?", self.watchdog_s
        else:
            cpu = [st[1] if st is not None else None for st in states]
            seen, self._cpu_seen = self._cpu_seen, cpu
            if seen is None or any(c is not None and b is not None and c > b for c, b in zip(cpu, seen)):
                return
            codes = [self.current[w] if self.current is not None else P.IDLE for w in range(len(self.procs))]
            w = next((w for w, c in enumerate(codes) if c != P.IDLE), 0)
            why = (f"stuck {P.describe_current(codes[w], self.names)}" if codes[w] != P.IDLE
                   else "every worker is waiting: a lost message?")
            waited = 2 * self.watchdog_s
        raise RunError(f"worker {w} (pid {self.procs[w].pid}) made no progress for {waited:g} s ({why})")

    def _fail(self, w: int) -> None:
        """Worker ``w`` ended or closed its channel: raise its ERROR if it sent one, else describe its exit. A
        worker that exited quietly (status 0: a channel to it closed) gives way to another that died."""
        p = self.procs[w]
        p.join(1.0)
        if p.exitcode == 0:
            w = next(self._others_dead(w), w)
            p = self.procs[w]
        if p.exitcode == RERAN_SCRIPT_STATUS:  # (spawned, it found itself running the caller's script again)
            raise rerun_error()
        try:
            for frame in self.channels[w].recv():
                for item in frame:
                    if item[0] == P.ERROR:
                        log.debug("worker %d traceback:\n%s", w, item[2])
                        raise P.worker_error(item)
        except ChannelClosed:
            pass
        code = self.current[w] if self.current is not None else P.IDLE
        owned = [n for i, n in enumerate(self.names) if self.owner[i] == w]
        shown = ", ".join(owned[:6]) + (", ..." if len(owned) > 6 else "")
        raise RunError(f"worker {w} (pid {p.pid}, nodes {shown}) {exit_description(p)} "
                       f"{P.describe_current(code, self.names)}")

    def _others_dead(self, w: int) -> Iterator[int]:
        """The workers other than ``w`` that died (a signal, a failing status) within a second: a worker
        killed as the workers start closes its channels to its peers, and the peer that notices first exits
        quietly (status 0), which is not the failure to report."""
        deadline = time.monotonic() + 1.0
        for v, q in enumerate(self.procs):
            if v != w:
                q.join(max(0.0, deadline - time.monotonic()))
                if q.exitcode not in (None, 0):
                    yield v


def _done_commands(done: list, batches: list[list[tuple]]) -> None:
    """Append DONE (and GATE) commands for ``done`` (keys, each followed by the gates its completion closes,
    a dict worker -> copies) to every worker's batch, in completion order; one DONE object for all of them
    (:meth:`Controller._send` pickles batches of the same objects once)."""
    keys: list[int] = []
    for x in done:
        if isinstance(x, dict):
            if keys:
                command = (P.DONE, keys)
                for batch in batches:
                    batch.append(command)
                keys = []
            for w, nodes in x.items():
                batches[w].append((P.GATE, nodes))
        else:
            keys.append(x)
    if keys:
        command = (P.DONE, keys)
        for batch in batches:
            batch.append(command)

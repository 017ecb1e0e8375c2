"""A worker process: owns some IR nodes and processes their messages with the shared node code.

Event loop (one thread, no locks)::

    ┌─► read: every peer channel, THEN the controller channel (see "ordering" below)
    │   process one work item from the FIFO queue (a message, an update job, a sync request)
    │     node.step(...) → each send goes to this queue (own node) or to a peer's outgoing batch
    │   flush when the queue is empty, every ``flush_every`` items, or past ``flush_bytes`` buffered:
    │     first the DELTA frame to the controller, then the data frames to peers
    └── when the queue is empty: flush, then sleep in poll() until a channel has data

Ordering guarantees (what makes mak/muf behave as in the simulator, and mak = 1 exact):

* The controller sends ``DONE(k)`` (and ``INST(k')``) to every worker and only then, once those bytes
  are in the kernel, injects the next instance. A worker reads its peers *before* draining the
  controller channel, so any DONE or INST that causally precedes a peer message is already read when
  that message is queued: an update job for k is queued before any later message reaches its node, and
  the data of every instance a message refers to is known.
* A DELTA covering a message's creation is written to the controller before the message is written to a
  peer (peer data waits while the controller channel has unwritten bytes).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from select import POLLIN, POLLOUT, poll
from typing import Any

from ampsim.errors import AmpsimError, RunError
from ampsim.executors.multicore import protocol as P
from ampsim.executors.multicore.transport import Channel, ChannelClosed
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node

log = logging.getLogger(__name__)


@dataclass
class WorkerSpec:
    """Everything a worker needs; inherited through fork or pickled for forkserver/spawn."""

    index: int
    names: list[str]  # every node of the graph, by id
    nodes: dict[int, Node]  # the nodes this worker owns, by id
    owner: list[int]  # node id -> worker
    route: dict[tuple[int, bool, int], tuple[int, int]]  # (node, backward, port) -> (node, port)
    controller: Channel
    peers: dict[int, Channel]
    close_fds: list[Channel] = field(default_factory=list)  # inherited ends that belong to others
    current: Any = None  # shared array: what each worker is running now
    flush_every: int = 8
    flush_bytes: int = 1 << 20
    read_every: int = 8


def worker_main(spec: WorkerSpec) -> None:
    """Process entry point (multiprocessing target)."""
    from ampsim.executors.multicore.procs import setup_worker_process

    setup_worker_process()
    for ch in spec.close_fds:
        ch.close()
    spec.close_fds = []
    Worker(spec).run()


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.me = spec.index
        self.nodes = spec.nodes
        self.names = spec.names
        self.owner = spec.owner
        self.route = spec.route
        self.ctrl = spec.controller
        self.peers = spec.peers
        for ch in (self.ctrl, *self.peers.values()):
            ch.configure()
        self.params = sorted(i for i, n in self.nodes.items() if n.kind == "ppt")
        self.joiners = [n for n in self.nodes.values() if n.n_in > 1 or n.n_out > 1]
        self.queue: deque = deque()
        self.insts: dict[int, Instance] = {}
        self.deltas: dict[int, int] = {}
        self.reports: list[tuple] = []
        self.outgoing: dict[int, list[tuple]] = {w: [] for w in self.peers}
        self.out_bytes = 0
        self.since_flush = 0
        self.since_read = 0
        self.stopping = False
        self.busy_s = 0.0
        self.processed = 0
        self.remote_sent = 0
        self.updates = 0
        self._poller = poll()
        self._fd_channel = {ch.fd: ch for ch in (self.ctrl, *self.peers.values())}
        self._registered: dict[int, int] = {}
        self._current = spec.current

    # -- main loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except ChannelClosed:  # the controller went away: nothing to report to
            log.debug("worker %d: controller closed, exiting", self.me)
            raise SystemExit(0) from None
        except BaseException as e:  # noqa: BLE001 - every failure is reported, then the process exits
            self._report_error(e)
            raise SystemExit(1) from None
        self._flush()
        self.ctrl.flush_blocking(2.0)

    def _loop(self) -> None:
        queue, read_every = self.queue, self.spec.read_every
        while not self.stopping:
            if not queue:
                self._flush()
                self._set_current(P.IDLE)
                self._read(block=True)
                continue
            if self.since_read >= read_every:
                self._read(block=False)
                if not queue:
                    continue
            self._process(queue.popleft())
            self.since_read += 1
            self.since_flush += 1
            if self.since_flush >= self.spec.flush_every or self.out_bytes >= self.spec.flush_bytes:
                self._flush()

    # -- input ---------------------------------------------------------------------------------------
    def _read(self, block: bool) -> None:
        self.since_read = 0
        if block:
            self._wait()
        else:
            self._write()
        incoming: list[list[tuple]] = []
        for ch in self.peers.values():
            incoming.extend(ch.recv())
        for frame in self.ctrl.recv():  # after the peers: see the module docstring
            self._command(frame)
        insts, queue, nodes = self.insts, self.queue, self.nodes
        for frame in incoming:
            for node, backward, port, key, state, payload in frame:
                queue.append((P.BWD if backward else P.FWD, node, port,
                              Message(insts[key], state, payload)))

    def _wait(self) -> None:
        """Sleep until some channel has data (writing queued output whenever the kernel takes it)."""
        while True:
            want = {fd: POLLIN for fd in self._fd_channel}
            for ch in self._writable():
                want[ch.fd] |= POLLOUT
            for fd, mask in want.items():
                if self._registered.get(fd) != mask:
                    self._poller.register(fd, mask)
                    self._registered[fd] = mask
            events = self._poller.poll()
            if any(ev & POLLOUT for _, ev in events):
                self._write()
            if any(ev & ~POLLOUT for _, ev in events):
                return

    def _command(self, frame: list[tuple]) -> None:
        for cmd in frame:
            op = cmd[0]
            if op == P.MSG:
                _, node, backward, port, key, state, payload = cmd
                self.queue.append((P.BWD if backward else P.FWD, node, port,
                                   Message(self.insts[key], state, payload)))
            elif op == P.INST:
                self.insts[cmd[1]] = Instance(cmd[1], cmd[2])
            elif op == P.DONE:
                self._done(cmd[1])
            elif op == P.SYNC:
                self.queue.append((P.SYNC_JOB, cmd[1], cmd[2], None))
            elif op == P.STOP:
                self.stopping = True
            else:  # pragma: no cover - protocol bug
                raise RuntimeError(f"unknown command {op!r}")

    def _done(self, keys: list[int]) -> None:
        for key in keys:
            for n in self.joiners:
                if n._joins and n.holds(key):
                    raise RunError(f"deadlock: instance {key} has no messages in flight but is waiting at "
                                   f"node {n.name} (an input that never arrives)")
            for i in self.params:
                if self.nodes[i].stashed(key):
                    self.queue.append((P.UPDATE, i, key, None))
            self.insts.pop(key, None)

    # -- processing ----------------------------------------------------------------------------------
    def _process(self, item: tuple) -> None:
        kind, i, port, msg = item
        if kind == P.SYNC_JOB:
            self._sync(i, port)
            return
        self._set_current(P.encode_current(i, kind))
        node = self.nodes[i]
        t0 = time.perf_counter()
        if kind == P.UPDATE:
            node.complete(port)  # port carries the instance key for update jobs
            self.busy_s += time.perf_counter() - t0
            self.updates += 1
            return
        step = node.step(kind == P.BWD, msg, port)
        self.busy_s += time.perf_counter() - t0
        self.processed += 1
        key = msg.inst.key
        sends = step.sends
        delta = len(sends) - 1
        if delta:
            self.deltas[key] = self.deltas.get(key, 0) + delta
        for r in step.reports:
            self.reports.append((r.node, r.key, r.state, r.values))
        route, owner, me = self.route, self.owner, self.me
        for s in sends:
            j, dport = route[(i, s.backward, s.port)]
            w = owner[j]
            m = s.msg
            if w == me:
                self.queue.append((P.BWD if s.backward else P.FWD, j, dport, m))
            else:
                self.outgoing[w].append((j, s.backward, dport, m.inst.key, m.state, m.payload))
                self.out_bytes += m.payload.nbytes
                self.remote_sent += 1

    def _sync(self, tag: Any, with_params: bool) -> None:
        self._flush()
        state: dict[str, Any] = {
            "t": time.perf_counter(), "busy_s": self.busy_s, "processed": self.processed,
            "remote_sent": self.remote_sent, "updates": self.updates, "pid": os.getpid(),
            "leftover": [n.name for n in self.nodes.values() if n._cache or n._joins],
            "sent_bytes": sum(ch.sent_bytes for ch in self.peers.values()),
        }
        if with_params:
            state["params"] = {
                n.name: {"params": n.params, "version": n.version, "staleness": dict(n.staleness)}
                for n in (self.nodes[i] for i in self.params)}
        self.ctrl.put([(P.STATE, tag, state)])
        self._write()

    # -- output --------------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Hand everything produced so far to the channels: the DELTA first, then peer data."""
        self.since_flush = 0
        if self.deltas or self.reports:
            deltas = {k: d for k, d in self.deltas.items() if d}
            if deltas or self.reports:
                self.ctrl.put([(P.DELTA, deltas, self.reports)])
            self.deltas, self.reports = {}, []
        if self.out_bytes or any(self.outgoing.values()):
            for w, batch in self.outgoing.items():
                if batch:
                    self.peers[w].put(batch)
                    self.outgoing[w] = []
            self.out_bytes = 0
        self._write()

    def _writable(self) -> list[Channel]:
        if self.ctrl.pending:
            return [self.ctrl]
        return [ch for ch in self.peers.values() if ch.pending]

    def _write(self) -> None:
        if self.ctrl.pending and not self.ctrl.flush():
            return  # peer data must not overtake the DELTA that announces it
        for ch in self.peers.values():
            if ch.pending:
                ch.flush()

    def _set_current(self, code: int) -> None:
        if self._current is not None:
            self._current[self.me] = code

    def _report_error(self, e: BaseException) -> None:
        code = self._current[self.me] if self._current is not None else P.IDLE
        where = P.describe_current(code, self.names).replace("while running ", "")
        where = "" if where.startswith("while") else f", {where}"
        text = str(e) if isinstance(e, AmpsimError) else f"{type(e).__name__}: {e}"
        msg = f"worker {self.me} (pid {os.getpid()}){where}: {text}"
        try:
            self.ctrl.put([(P.ERROR, msg, traceback.format_exc())])
            self.ctrl.flush_blocking(2.0)
        except Exception:  # noqa: BLE001 - the controller will see the exit status instead
            pass

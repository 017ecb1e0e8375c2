"""A worker process: owns some IR nodes and processes their messages with the shared node code.

Event loop (one thread, no locks)::

    ┌─► read: every peer channel, THEN the controller channel (see "ordering" below)
    │   process one work item from the FIFO queue (a message, an update job, a sync request)
    │     node.step(...) → each send goes to this queue (own node) or to a peer's outgoing batch;
    │     the message's weight is split among its sends, or returned if there are none
    │   flush peer batches when the queue is empty, every ``flush_s`` seconds or past ``flush_bytes``;
    │   send returned weights and loss reports when the queue is empty, every ``report_s`` seconds, or
    │   ``report_min_s`` after an instance's last message in this worker ended here (it may be complete)
    └── when the queue is empty: flush, then poll the channels for up to ``spin_s`` without sleeping
        (a peer's answer often comes within microseconds, and a sleep/wake-up costs both ends more),
        then sleep in poll() until a channel has data

Ordering guarantee (what makes mak/muf behave as in the simulator, and mak = 1 exact): the controller
sends ``DONE(k)`` (and ``INST(k')``) to every worker and only then, once those bytes are in the kernel,
injects the next instance. A worker reads its peers *before* draining the controller channel, so any DONE
or INST that causally precedes a peer message is already read when that message is queued: an update job
for k is queued before any later message reaches its node, and every instance a message refers to is
known. The same holds for a GATE (replicas, :mod:`.replicas`): it follows its completion's DONE and
precedes any message that completion let in.

Routing: :func:`.spec.route_table` (an edge into a copy set picks the copy by instance key). ``busy_s`` is wall
time not spent waiting in poll() (node code and message handling).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from select import POLLIN, POLLOUT, poll
from typing import Any

from ampsim.errors import AmpsimError, Diverged, RunError
from ampsim.executors.multicore import protocol as P
from ampsim.executors.multicore.replicas import WorkerSync
from ampsim.executors.multicore.spec import WorkerSpec, route_table
from ampsim.executors.multicore.transport import ChannelClosed, pack_envelopes, unpack_envelopes, watch
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker:
    """The event loop of one worker process (see the module docstring); :meth:`run` until STOP."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.me = spec.index
        self.nodes, self.names, self.owner, self.route = spec.nodes, spec.names, spec.owner, spec.route
        self.ctrl, self.peers = spec.controller, spec.peers
        for ch in (self.ctrl, *self.peers.values()):
            ch.configure()
        self.params = sorted(i for i, n in self.nodes.items() if n.kind == "ppt")
        self.joiners = [n for n in self.nodes.values() if n.n_in > 1 or n.n_out > 1]
        self.queue: deque = deque()
        self.insts: dict[int, Instance] = {}
        self.held: dict[int, int] = {}  # instance key -> its messages in this worker's queue
        self.eager = False  # an instance may have completed here: report soon
        self.rets: list[tuple[int, int, int]] = []  # (key, num, scale): weight num/2**scale returned here
        self.notes: list[tuple[int, int]] = []  # (key, node): travel with rets (see protocol.py)
        self.reports: list[tuple] = []
        self.last_report = 0.0
        n_workers = len(self.peers) + 1
        self.outgoing: list[list[tuple]] = [[] for _ in range(n_workers)]
        self.out_bytes = self.out_count = 0
        self.node_list: list[Node | None] = [spec.nodes.get(i) for i in range(len(spec.names))]
        self.routes = route_table(spec)  # routes[i][backward][port]: see the module docstring
        self.sync = WorkerSync(spec.copies, spec.nodes, self.ctrl)
        self.stopping, self.idle_s = False, 0.0
        self.t_start = time.perf_counter()
        self.processed = self.remote_sent = self.updates = self.waits = self.sleeps = 0
        # the transport's share of busy time, for `ampsim calibrate`: (seconds, frames, messages, bytes)
        self.sent = [0.0, 0, 0, 0]
        self.received = [0.0, 0, 0, 0]
        self._poller = poll()
        self._registered: dict[int, int] = {}
        self._peer_poller = poll()  # which peers have data: reading only those (one system call, not one per peer)
        for ch in self.peers.values():
            self._peer_poller.register(ch.fd, POLLIN)
        self._current = memoryview(spec.current).cast("B").cast("q") if spec.current is not None else None
        #: executor.trace: (start, end, node, kind, key) of every node step and update job, perf_counter
        #: seconds (one clock for all processes), handed over with each state
        self.spans: list[tuple[float, float, int, int, int]] | None = [] if spec.trace else None

    # -- main loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
            self._flush()
            self._report()
            self.ctrl.flush_blocking(2.0)
        except ChannelClosed:  # the controller went away: nothing to report to
            log.debug("worker %d: controller closed, exiting", self.me)
            raise SystemExit(0) from None
        except BaseException as e:  # noqa: BLE001 - every failure is reported, then the process exits
            self._report_error(e)
            raise SystemExit(1) from None

    def _loop(self) -> None:
        """The hot loop; everything it touches per message is a local variable (see the module docstring).

        Reading, flushing and reporting are paced by time, not by message counts, so batches adapt to the
        message granularity (a 100 us MLP layer flushes almost every message, a 5 us control node
        batches dozens) while no message waits longer than ``flush_s`` for its peer.
        """
        queue, spec, me = self.queue, self.spec, self.me
        popleft, append = queue.popleft, queue.append
        nodes, routes, outgoing, rets, reports = self.node_list, self.routes, self.outgoing, self.rets, self.reports
        cur, encode, split, perf = self._current, P.encode_current, P.split, time.perf_counter
        gates, park, synced, notes = self.sync.gates, self.sync.park, set(spec.copies), self.notes
        spans, held = self.spans, self.held
        report_min_s = spec.report_min_s
        read_s, flush_s, flush_bytes, report_s = spec.read_s, spec.flush_s, spec.flush_bytes, spec.report_s
        BWD, BETWEEN = P.BWD, P.BETWEEN
        last_read = last_flush = perf()
        while not self.stopping:
            if not queue:
                if cur is not None:  # (before the flush: handing the last step's output on is no step's work)
                    cur[me] = P.IDLE
                self._flush(idle=True)
                self._read(block=True)
                last_read = last_flush = perf()
                continue
            if cur is not None:  # work is queued: the next step or job sets its own code; until then none runs
                cur[me] = BETWEEN
            now = perf()
            if now - last_read >= read_s:
                self._read(block=False)
                last_read = now
                if not queue:
                    continue
            if self.out_count and (now - last_flush >= flush_s or self.out_bytes >= flush_bytes):
                self._flush()
                last_flush = now
            if rets and now - self.last_report >= (report_min_s if self.eager else report_s):
                self._report()
            kind, i, port, msg, weight = popleft()
            if kind > BWD:  # an update job, a sync request or a replica round's apply
                self._job(kind, i, port, weight)
                continue
            if gates and i in gates and park((kind, i, port, msg, weight)):
                continue  # its copy waits for a synchronization round to apply
            if cur is not None:
                cur[me] = encode(i, kind)
            key = msg.inst.key
            node = nodes[i]
            fresh = synced and i in synced and not node.stashed(key)
            if spans is not None:
                t0 = perf()
            step = node.step(kind == BWD, msg, port)
            if spans is not None:
                spans.append((t0, perf(), i, kind, key))
            self.processed += 1
            if step.reports:
                for r in step.reports:
                    reports.append((r.node, r.key, r.state, r.values))
            left = held[key] - 1  # messages of this instance still queued here
            sends = step.sends
            n = len(sends)
            if fresh and node.stashed(key):  # a note, with a piece of the weight (see protocol.py)
                notes.append((key, i))
                if n:
                    *weights, last = split(weight, n + 1)
                    rets.append((key, 1, last))
            elif n:
                weights = (weight,) if n == 1 else split(weight, n)
            if n == 0:
                rets.append((key, 1, weight))
                if left:
                    held[key] = left
                else:  # its last message here ended here: the instance may be complete, say so soon
                    del held[key]
                    self.eager = True
                continue
            for s, wt in zip(sends, weights):
                j, dport, w, dkind = routes[i][s.backward][s.port]
                if dkind is None:  # a copy set: the instance key picks the copy
                    j, dport, w, dkind = j[(key // dport) % len(j)]
                m = s.msg
                if w == me:
                    append((dkind, j, dport, m, wt))
                    left += 1
                else:
                    outgoing[w].append((j, s.backward, dport, m.inst.key, m.state, wt, m.payload))
                    self.out_bytes += m.payload.nbytes
                    self.out_count += 1
            if left:
                held[key] = left
            else:
                del held[key]

    # -- input ---------------------------------------------------------------------------------------
    def _read(self, block: bool) -> None:
        # the peers with data: as the wait's own poll found them, or one poll of the peers alone
        ready = self._wait() if block else {fd for fd, _ in self._peer_poller.poll(0)}
        t0 = time.perf_counter()
        incoming: list = []
        for ch in self.peers.values():  # in worker order
            if ch.fd in ready:
                incoming.extend(ch.recv())
        t1 = time.perf_counter()
        for frame in self.ctrl.recv():  # after the peers: see the module docstring
            self._command(frame)
        t2 = time.perf_counter()
        insts, queue, held, received = self.insts, self.queue, self.held, self.received
        for frame in incoming:
            envs = unpack_envelopes(frame[0])
            for node, backward, port, key, state, weight, payload in envs:
                queue.append((P.BWD if backward else P.FWD, node, port, Message(insts[key], state, payload), weight))
                held[key] = held.get(key, 0) + 1
            if frame[1] is not None:  # returns, loss reports and notes a peer passed on (see _flush)
                self.rets.extend(frame[1])
                self.reports.extend(frame[2])
                self.notes.extend(frame[3])
            received[1] += 1
            received[2] += len(envs)
            received[3] += len(frame[0][1])
        received[0] += t1 - t0 + time.perf_counter() - t2  # the controller's commands are not transport

    def _wait(self) -> set[int]:
        """Sleep until some channel has data (writing queued output whenever the kernel takes it); return
        the descriptors that have."""
        t0 = time.perf_counter()
        self.waits += 1
        while True:
            watch(self._poller, self._registered, (self.ctrl, *self.peers.values()))
            events = self._poller.poll(0)
            if not events and self.spec.spin_s > 0:  # a reply often comes within microseconds: spin first
                deadline = time.perf_counter() + self.spec.spin_s
                while not events and time.perf_counter() < deadline:
                    events = self._poller.poll(0)
            if not events:
                self.sleeps += 1
                events = self._poller.poll()
            if any(ev & POLLOUT for _, ev in events):
                self._write()
            readable = {fd for fd, ev in events if ev & ~POLLOUT}
            if readable:
                break
        self.idle_s += time.perf_counter() - t0
        return readable

    def _command(self, frame: list[tuple]) -> None:
        for cmd in frame:
            op = cmd[0]
            if op == P.MSG:
                _, node, backward, port, key, state, weight, payload = cmd
                inst = self.insts[key]
                if type(payload) is str:  # a field of the instance's data (protocol.py)
                    payload = inst.data[payload]
                self.queue.append((P.BWD if backward else P.FWD, node, port, Message(inst, state, payload), weight))
                self.held[key] = self.held.get(key, 0) + 1
            elif op == P.INST:
                self.insts[cmd[1]] = Instance(cmd[1], cmd[2])
            elif op == P.DONE:
                self._done(cmd[1])
            elif op == P.SYNC:
                self.queue.append((P.SYNC_JOB, cmd[1], cmd[2], None, 0))
            elif op == P.GATE:
                self.sync.gate(cmd[1])
            elif op == P.APPLY:
                _, si, r, avg, rows = cmd
                self.queue.extend((P.APPLY_JOB, i, r, None, (avg, rows)) for i in self.sync.members[si])
            elif op == P.STOP:
                self.stopping = True
            else:  # pragma: no cover - protocol bug
                raise RuntimeError(f"unknown command {op!r}")

    def _done(self, keys: list[int]) -> None:
        for key in keys:
            for n in self.joiners:
                if n.joining(key):
                    raise RunError(f"deadlock: instance {key} has no messages in flight but is waiting at "
                                   f"node {n.name} (an input that never arrives)")
            for i in self.params:
                if self.nodes[i].stashed(key):
                    self.queue.append((P.UPDATE, i, key, None, self.sync.epoch))
            self.insts.pop(key, None)

    # -- processing ----------------------------------------------------------------------------------
    def _job(self, kind: int, i: Any, port: Any, arg: Any) -> None:
        if kind == P.SYNC_JOB:
            self._sync(i, port)
            return
        sync = self.sync
        if kind == P.APPLY_JOB:  # port: the round, arg: its average and rows
            if self._current is not None:
                self._current[self.me] = P.encode_current(i, kind)
            self.queue.extendleft(reversed(sync.apply(i, port, *arg)))
            return
        if sync.gates and i in sync.gates and sync.park((kind, i, port, None, arg)):
            return  # an update job from a completion after the copy's gate closed
        if self._current is not None:
            self._current[self.me] = P.encode_current(i, kind)
        t0 = time.perf_counter() if self.spans is not None else 0.0
        work = self.node_list[i].complete(port)  # port carries the instance key for update jobs
        if self.spans is not None and work is not None:
            self.spans.append((t0, time.perf_counter(), i, P.UPDATE, port))
        self.updates += 1
        if work is not None and i in sync.copies:
            sync.updated(i)

    def _sync(self, tag: Any, with_params: bool) -> None:
        if self._current is not None:  # no node runs now (the answer may end the call): not the last job's failure
            self._current[self.me] = P.IDLE
        self._flush()
        self._report()
        now = time.perf_counter()
        state: dict[str, Any] = {
            "t": now, "cpu_s": time.process_time(), "busy_s": now - self.t_start - self.idle_s,
            "processed": self.processed, "remote_sent": self.remote_sent, "updates": self.updates,
            "pid": os.getpid(), "leftover": [n.name for n in self.nodes.values() if n.has_state()],
            "sent_bytes": sum(ch.sent_bytes for ch in self.peers.values()), "waits": self.waits, "sleeps": self.sleeps,
            "frames": sum(ch.sent_frames for ch in (self.ctrl, *self.peers.values())),
            "transport_sent": list(self.sent), "transport_received": list(self.received),
        }
        if self.spans is not None:
            state["spans"] = self.spans[:]
            self.spans.clear()  # in place: the hot loop holds this list
        if with_params:
            state["params"] = {
                n.name: {"params": n.params, "version": n.version, "staleness": (n.staleness, n.update_staleness)}
                for n in (self.nodes[i] for i in self.params)}
        self.ctrl.put([(P.STATE, tag, state)])
        self._write()

    # -- output --------------------------------------------------------------------------------------
    def _flush(self, idle: bool = False) -> None:
        """Hand the peer batches produced so far to their channels.

        On going idle, pending returns and loss reports go to the controller, unless data just went to a
        peer: then they ride along with it (weights add up wherever they are summed), and the peer passes
        them on in turn. Along a chain of workers that take turns (mak = 1) the controller then hears
        once per instance, from the worker that finishes it, instead of being woken at every hop.
        """
        t0 = time.perf_counter()
        carried = False
        sent = self.sent
        frames = sent[1]
        for w, batch in enumerate(self.outgoing):
            if batch:
                packed = pack_envelopes(batch)
                if idle and not carried and (self.rets or self.reports):
                    self.peers[w].put((packed, P.totals(self.rets), self.reports, self.notes))  # pickled now
                    self.rets.clear()  # in place: the hot loop holds these lists
                    self.reports.clear()
                    self.notes.clear()
                    carried = True
                else:
                    self.peers[w].put((packed, None, None))
                self.remote_sent += len(batch)
                sent[1] += 1
                sent[2] += len(batch)
                sent[3] += len(packed[1])
                batch.clear()
        self.out_bytes = self.out_count = 0
        if sent[1] != frames:  # the peer frames' cost, without the controller report that may follow
            self._write()
            sent[0] += time.perf_counter() - t0
        if idle and not carried:
            self._report()
        self._write()

    def _report(self) -> None:
        """Send returned weights and loss reports to the controller."""
        self.last_report = time.perf_counter()
        self.eager = False
        if self.rets or self.reports:
            totals = {k: (num, scale) for k, num, scale in P.totals(self.rets)}
            self.ctrl.put([(P.RETURN, totals, self.reports, self.notes, time.perf_counter())])  # pickled now
            self.rets.clear()  # in place: the hot loop holds these lists
            self.reports.clear()
            self.notes.clear()
            self._write()

    def _write(self) -> None:
        for ch in (self.ctrl, *self.peers.values()):
            if ch.pending:
                ch.flush()

    def _report_error(self, e: BaseException) -> None:
        code = self._current[self.me] if self._current is not None else P.IDLE
        where = P.describe_current(code, self.names)
        where = f", {where.removeprefix('while running ')}" if where.startswith("while running ") else ""
        text = str(e) if isinstance(e, AmpsimError) else f"{type(e).__name__}: {e}"
        pid = "" if isinstance(e, Diverged) else f" (pid {os.getpid()})"  # (a divergence is a result: it repeats)
        msg = f"worker {self.me}{pid}{where}: {text}"
        try:
            self.ctrl.put([(P.ERROR, msg, traceback.format_exc(), isinstance(e, Diverged))])
            self.ctrl.flush_blocking(2.0)
        except Exception:  # noqa: BLE001 - the controller will see the exit status instead
            pass

"""Replay: the simulated executor without numpy (``executor.numerics = false``).

A :class:`Replay` drives a :class:`~ampsim.executors.sim.executor.SimExecutor`'s own chips, network,
trace and memory accounting from a :class:`~ampsim.executors.sim.recording.Recording` of the same
instances instead of running node code. Every rule that decides simulated time is the executor's:
mak admission (its controller), the chips' FIFO queues, polling, framing and wake-ups, the links,
remote-send costs, and the muf rule (update jobs on the chips' queues, their cost from each node's
:meth:`~ampsim.ir.param.ParamNode.update_work` over the stashes it stacks). So a replayed run's simulated
time, per-chip busy time, per-link bytes, peak memory and staleness equal the full run's bit for bit;
losses and metrics are not measured.

Life cycle per ``train`` call: :meth:`Replay.start` (the recording of exactly these instances, from the
cache or recorded now; per-run counters) → the executor runs :meth:`Replay.controller` and the chips call
:meth:`Replay.handle` for every work item → :meth:`Replay.finish` writes the parameter versions back.

Where it models every rule of the machine (no framing, polling, contention or trace),
:class:`~ampsim.executors.sim.fastloop.FastReplay` runs the same replay on its own event loop instead of
SimPy processes (the executor chooses; both are tested against the full run).

Work items are plain ints: ``m >= 0`` is recorded message ``m``, ``-1 - j`` the update job of stash ``j``.
With replicas the recording is the replicated model's (its messages go to the copies the instance's key
routes to), and the replay synchronizes the copies with the executor's
:class:`~ampsim.executors.sim.collective.Collectives` exactly as a full run does (on SimPy here; on the fast
loop, :mod:`~ampsim.executors.sim.fastsync` hosts the same object): a completion closes
rounds, a gated copy's items wait (``Collectives.park`` in :meth:`Replay.handle`), an update contributes
its snapshot and starts the ready all-reduces, and the all-reduce's adds and applies (tuples of kind
``SYNC``) run on the chips. Then an update job is the tuple ``(UPDATE, node, -1 - j, completion
serial)``, and a message set aside by a gate comes back as ``(FWD or BWD, node, m, 0)``. The copies never
train, so the rounds are computed from the arrays' sizes (``Collectives.sizes_only``): the same time,
bytes and memory; ``replica_drift`` is not measured. With ``replicas.sparse_sync`` a round of a table's
copies moves the rows they changed: an update job hands its stash's recorded changed rows to the copy's
``changed_rows`` (as :meth:`~ampsim.ir.param.ParamNode.update` does), and such a set keeps
:mod:`ampsim.ir.sync`'s own rules over the untrained arrays, so its bytes, work and memory are the full
run's.

A message's step duration on each distinct chip spec is computed for all messages at once (numpy, the
same IEEE operations as :func:`~ampsim.hardware.cost.compute_time_s`), so the loop does no cost arithmetic.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ampsim.errors import GraphError
from ampsim.executors.sim.chips import Chip
from ampsim.executors.sim.recording import Recording, replay_lists
from ampsim.executors.sim.recording_cache import obtain
from ampsim.executors.sim.replayhost import ReplayHost
from ampsim.gcpause import gc_paused
from ampsim.hardware.cost import compute_time_s, compute_times_s, duration_key
from ampsim.hardware.spec import ChipSpec
from ampsim.ir.message import Instance
from ampsim.ir.node import Work
from ampsim.ir.param import ParamNode
from ampsim.trace import SYNC, UPDATE, step_label

__all__ = ["Replay"]


class Replay:
    #: whether it reads ``children`` (per group: its messages' children), built on first use per recording
    uses_children = True

    def __init__(self, ex: ReplayHost, context: str = "") -> None:
        # an update's cost comes from its node's grad_work: a node kind of a model's own without one failed
        # mid-run, after the recording, with NotImplementedError's traceback
        for node in ex.graph.param_nodes:
            if type(node).grad_work is ParamNode.grad_work:
                raise GraphError(f"node {node.name}: a replay (executor.numerics = false) costs its updates with "
                                 f"its grad_work, which {type(node).__name__} does not define (see "
                                 f"ampsim/ir/param.py); define it or set executor.numerics = true")
        self.ex, self.context = ex, context
        self.rec: Recording | None = None
        #: per parameterized node: (profile, held bytes) of the completed instances not yet in an update
        #: (kept across ``train`` calls, as the nodes keep theirs)
        self.ready: dict[int, list[tuple[np.ndarray, int, bytes]]] = {}
        self._update_cost: dict[tuple, tuple[float, int]] = {}
        #: an update's Work by (:func:`update_key`, the stashes' profiles): computed once for the nodes that
        #: report the same, not per node (a 512-layer chain's nodes, 8 replica groups' copies: 512 nodes'
        #: ``update_work`` a call, 6.5-10 us each, were the largest part of a call's setup)
        self._update_work: dict[tuple, Work] = {}

    # -- per train/evaluate call -----------------------------------------------------------------
    def start(self, instances: list[Instance], training: bool) -> None:
        ex = self.ex
        rec = obtain(ex.model, instances, training=training, context=self.context)
        if self.rec is not rec:
            with gc_paused():
                self._load(rec)
        self.training = training
        self.sync = getattr(ex, "collectives", None)
        if self.sync is not None:  # nothing to average: rounds from the arrays' sizes alone
            self.sync.sizes_only()
        self.live = [0] * len(rec.keys)
        self.in_flight = 0  # instances admitted and not completed (SimPy loop; staleness-bounded admission)
        self.version = [n.version if isinstance(n, ParamNode) else 0 for n in self.nodes]

    def _load(self, rec: Recording) -> None:
        ex = self.ex
        self.rec = rec
        self.names = rec.names.tolist()
        if self.names != sorted(ex.graph.nodes):
            raise ValueError("recording was made for another graph")
        nodes = [ex.graph.nodes[n] for n in self.names]
        self.nodes = nodes
        self.staleness = [n.staleness if isinstance(n, ParamNode) else None for n in nodes]
        self.chip_of = [ex.where[n] for n in self.names]
        view = vars(rec).get("replay_view")
        if view is None:  # built once per recording and process, shared by every executor replaying it
            view = rec.replay_view = replay_lists(rec)
        if self.uses_children and "children" not in view:
            cp, ch = rec.child_ptr.tolist(), rec.children.tolist()
            view["children"] = [ch[a:b] for a, b in zip(cp, cp[1:])]
        self.__dict__.update(view)

    def duration_arrays(self, spec: ChipSpec) -> tuple[np.ndarray, np.ndarray]:
        """Every message's step duration on a chip of ``spec`` (buffered by a join, and running its step)."""
        key = duration_key(spec)
        d = self.duration_cache.get(key)
        if d is None:
            d = self.duration_cache[key] = (compute_times_s(spec, self.rec.w0), compute_times_s(spec, self.rec.w1))
        return d

    def durations(self, spec: ChipSpec) -> tuple[list[float], list[float]]:
        """:meth:`duration_arrays` as lists (what the SimPy replay's handler indexes)."""
        key = ("list", *duration_key(spec))
        d = self.duration_cache.get(key)
        if d is None:
            d = self.duration_cache[key] = tuple(a.tolist() for a in self.duration_arrays(spec))
        return d

    def finish(self) -> None:
        for node, v in zip(self.nodes, self.version):
            if isinstance(node, ParamNode):
                node.version = v

    # -- the controller: admit instances, at most mak in flight ----------------------------------
    def group_counters(self) -> None:
        """The Python loops' per-call counters, per group: its messages still to come, the version its node
        had when it saved a stash (made at their start: the compiled loop keeps its own arrays, and two lists
        of a message each made per call cost its call the collector's pass over them, 0.5 ms of 25 on a
        77,824-message chain)."""
        self.remaining = list(self.size)
        self.ver_at = [0] * len(self.size)

    def controller(self):
        self.group_counters()
        ex, live, node, nbytes, chip_of = self.ex, self.live, self.node, self.nbytes, self.chip_of
        slots = ex.admission_slots
        in_flight = lambda: self.in_flight  # noqa: E731  (staleness-bounded admission reads it)
        for i, roots in enumerate(self.roots):
            yield slots.get(1)
            yield from ex.wait_for_admission(in_flight)
            self.in_flight += 1
            for r in roots:
                live[i] += 1
                ex.controller_puts(chip_of[node[r]], r, nbytes[r])
            if ex.trace:
                ex.trace.controller("admit", ex.env.now, self.keys[i])
        yield slots.get(ex.mak)
        slots.put(ex.mak)

    # -- chips call this for every work item -------------------------------------------------------
    def handle(self, chip: Chip, unit: int, m) -> tuple[float, Callable[[], None] | None]:
        if self.sync is not None:
            if type(m) is tuple:
                if m[0] == SYNC:
                    return self.run_sync_job(chip, unit, m, chip.collect())
                item, m = m, m[2]
            else:
                item = (int(self.bwd[m]), self.nodes[self.node[m]], m, 0)
            if self.sync.park(chip, item, self.nbytes[m] if m >= 0 else 0):
                return 0.0, None  # its copy waits for a synchronization to apply
        received = chip.collect()
        if m < 0:
            return self.run_update_job(chip, unit, -1 - m, received)
        g = self.group[m]
        left = self.remaining[g] - 1
        self.remaining[g] = left
        ex = self.ex
        ex.messages += 1
        spec = chip.spec
        d0, d1 = self.durations(spec)
        if left:  # a join buffers this input: nothing is sent
            chip.account(self.h0[m])
            duration = d0[m] + received
            children = ()
        else:
            chip.account(self.h1[m])
            duration = d1[m] + received
            self._staleness(m, g)
            children = self.children[g]
            if children and (spec.remote_send_overhead_s or spec.remote_send_s_per_byte):
                t = 0.0
                for c in children:
                    if self.chip_of[self.node[c]] is not chip:
                        t += spec.remote_send_overhead_s + spec.remote_send_s_per_byte * self.wire[c]
                duration += t
        if ex.trace:
            rec = self.rec
            s = rec.states[rec.state_ptr[m]:rec.state_ptr[m + 1]].tolist()
            chip.trace_span(ex.trace, unit, step_label(self.names[self.node[m]], int(self.bwd[m])), duration,
                            key=self.keys[self.inst_of[m]], state=s)
        return duration, lambda: self._release(chip, m, children)

    def _staleness(self, m: int, g: int) -> None:
        """Message ``m`` ran its step (group ``g``): note the parameter version a forward saves, and the
        staleness a backward's pop sees, as the real node does."""
        n = self.node[m]
        if self.saves[g]:
            self.ver_at[g] = self.version[n]
        ref = self.pop_ref[g]
        if ref >= 0:  # the node's own bookkeeping: staleness-bounded admission reads its recent window
            self.nodes[n].note_staleness(self.version[n] - self.ver_at[ref])

    def _release(self, chip: Chip, m: int, children) -> None:
        i = self.inst_of[m]
        if children:
            ex, node, chip_of, nbytes, wire, live = self.ex, self.node, self.chip_of, self.nbytes, self.wire, self.live
            for c in children:
                live[i] += 1
                target = chip_of[node[c]]
                if target is chip:
                    self.put(target, c, nbytes[c])
                elif chip.spec.framed:
                    ex.framed_messages += 1
                    chip.outbox.setdefault(target.index, []).append((wire[c], c, nbytes[c]))
                else:
                    self.send(chip, target, wire[c], c, nbytes[c])
        self.live[i] -= 1
        if self.live[i] == 0:
            self._complete(i)

    # -- what the loop provides (SimPy here; :class:`~ampsim.executors.sim.fastloop.FastReplay` its own) --
    def put(self, chip: Chip, item: int, nbytes: int) -> None:
        chip.put(item, nbytes)

    def send(self, chip: Chip, target: Chip, wire: int, item: int, nbytes: int) -> None:
        ex = self.ex
        ex.network.send(chip.index, target.index, wire,
                        lambda: ex.receive(target, [(wire, item, nbytes)], framed=False))

    def free_slot(self) -> None:
        self.in_flight -= 1
        self.ex.admission_slots.put(1)

    def _admission_wake(self) -> None:
        self.ex.admission_wake()

    def _complete(self, i: int) -> None:
        ex = self.ex
        if ex.trace:
            ex.trace.controller("complete", ex.env.now, self.keys[i])
        ex.controller_learns(lambda: self._completed(i))

    def _completed(self, i: int) -> None:
        """The controller acts on instance ``i``'s completion (SimExecutor._completed)."""
        ex = self.ex
        ex.controller_completed(self.messages_of[i])
        if self.training and self.sync is not None:  # as the executor's _complete: closes rounds, gates copies
            ex.completions += 1
            serial = ex.completions
            for j in self.stashes[i]:
                self._put_update(j, serial)
                self.sync.closed(self.nodes[self.stash_node[j]], serial)
        elif self.training:
            self._queue_updates(self.stashes[i])
        if self.training:
            ex.admission_completed()
        self.free_slot()
        self._admission_wake()
        if ex.on_done:
            ex.on_done(1)

    def _put_update(self, j: int, serial: int) -> None:
        """With replicas that synchronize: stash ``j``'s update job joins its chip's queue, carrying the serial
        of the completion that queued it (a gate lets through the jobs queued before it closed)."""
        n = self.stash_node[j]
        self.ex.controller_puts(self.chip_of[n], (UPDATE, self.nodes[n], -1 - j, serial), 0)

    def _queue_updates(self, stashes: list[int]) -> None:
        """A completed instance's update jobs (one per stash ``j``) join their nodes' chips' queues."""
        for j in stashes:
            self.ex.controller_puts(self.chip_of[self.stash_node[j]], -1 - j, 0)

    def run_update_job(self, chip: Chip, unit: int, j: int, received: float) -> tuple[float, Callable[[], None] | None]:
        cost = self.update_cost(chip, j)
        node, after, snap = self.nodes[self.stash_node[j]], None, None
        if self.sync is not None:
            self._changed(node, j)
        if cost is None:
            chip.account(0)
            return received, None
        if self.sync is not None:  # a contribution: the snapshot's work and memory join the update's
            held = node.held_nbytes
            snap = self.sync.contributed(node)
            chip.account(cost[1] + node.held_nbytes - held)
        else:
            chip.account(cost[1])
        self.applied(j)
        if snap is None:
            duration = cost[0] + received
        else:
            work, sync = cost[2] + snap, self.sync  # a new Work: the cached cost stays as it is
            duration = compute_time_s(chip.spec, work.flops, work.bytes, work.kernels) + received
            after = lambda: sync.snapshot_taken(node)  # noqa: E731
        ex = self.ex
        if ex.trace:
            chip.trace_span(ex.trace, unit, step_label(node.name, UPDATE), duration)
        return duration, after

    def _changed(self, node: ParamNode, j: int) -> None:
        """Sparse synchronization: the rows stash ``j``'s update changes join ``node.changed_rows``, as
        :meth:`~ampsim.ir.param.ParamNode.update` adds them. Added when its update job runs, even while
        fewer than muf stashes are ready: that stash is in the node's next update, and only a
        contribution, right after an update, reads them (their union)."""
        if node.changed_rows is None:
            return
        for name, rows in zip(node.row_params, self.changed_rows[j]):
            node.changed_rows.setdefault(name, []).append(rows)

    def run_sync_job(self, chip: Chip, unit: int, item: tuple, received: float) -> tuple[float, Callable[[], None]]:
        """An all-reduce's add or apply (:meth:`~ampsim.executors.sim.collective.Collectives.run`), after
        ``received`` seconds of the chip's collected costs."""
        work, after, extra = self.sync.run(chip, item)
        duration = compute_time_s(chip.spec, work.flops, work.bytes, work.kernels) + extra + received
        ex = self.ex
        if ex.trace:
            chip.trace_span(ex.trace, unit, item[2], duration)
        return duration, after

    def update_cost(self, chip: Chip, j: int) -> tuple[float, int, Any] | None:
        """The update job of stash ``j`` runs on ``chip``: its stash joins the node's ready ones; ``None``
        while fewer than muf are ready, else the update's (duration, held-bytes change); then
        :meth:`applied` (after the chip accounts for it, as the node does); the third item is its
        :class:`~ampsim.ir.node.Work` (a snapshot's is added to it)."""
        n = self.stash_node[j]
        node = self.nodes[n]
        ready = self.ready.get(n)
        if not ready and node.muf == 1:  # an update per stash, which joins no list
            stashes = [(self.profiles[j], self.stash_held[j], self.prof_key[j])]
        else:
            stashes = self.stash_ready(j)
            if len(stashes) < node.muf:
                return None
        profiles = tuple(k for _, _, k in stashes)
        key = (n, chip.index, profiles)
        cost = self._update_cost.get(key)
        if cost is None:  # the same stashes (profiles) on the same chip cost the same
            shared = (update_key(node), profiles)
            work = self._update_work.get(shared)
            if work is None:
                work = self._update_work[shared] = node.update_work([p for p, _, _ in stashes])
            cost = self._update_cost[key] = (compute_time_s(chip.spec, work.flops, work.bytes, work.kernels),
                                             -sum(h for _, h, _ in stashes), work)
        return cost

    def stash_ready(self, j: int) -> list:
        """Stash ``j`` joins its node's ready ones, which are returned."""
        ready = self.ready.setdefault(self.stash_node[j], [])
        ready.append((self.profiles[j], self.stash_held[j], self.prof_key[j]))
        return ready

    def applied(self, j: int) -> int:
        """The update of stash ``j``'s node has run: a new parameter version. Returns the node's index."""
        n = self.stash_node[j]
        if self.ready.get(n):
            self.ready[n] = []
        self.version[n] += 1
        return n


def update_key(node: ParamNode) -> tuple:
    """What ``node``'s update Work depends on besides the stashes' profiles (nodes with equal keys report equal
    Work): its kind, parameters' shapes and dtypes, optimizer and clipping, where the kind's ``grad_work`` and
    ``grad_sizes`` read no more (:attr:`~ampsim.ir.param.ParamNode.update_work_from_shapes`, and no subclass
    overrides them or ``update_work``); else the node itself (a kind of a model's own may read anything, its
    name included, so not even its replica copies are assumed to report the same)."""
    kind = type(node)
    if _reads_shapes_only(kind):
        shapes = tuple((k, p.shape, p.dtype) for k, p in node.params.items())
        return kind, shapes, type(node.optimizer), node.optimizer.spec, node.clip_norm
    return ("node", node.name)


@functools.cache
def _reads_shapes_only(kind: type) -> bool:
    """Whether ``kind`` says its update reads only its parameters' shapes, and no subclass on the way overrides
    the methods that compute it."""
    if not kind.update_work_from_shapes:
        return False
    declared = next(c for c in kind.__mro__ if "update_work_from_shapes" in vars(c))
    return all(getattr(kind, f) is getattr(declared, f) for f in ("grad_work", "grad_sizes", "update_work"))

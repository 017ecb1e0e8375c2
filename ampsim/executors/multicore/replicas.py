"""Replicas in the multicore executor: gates, snapshots and averages, with the reference's numerics.

What a round computes is :mod:`ampsim.ir.sync`'s (:func:`~ampsim.ir.sync.average`,
:func:`~ampsim.ir.sync.drift`, :func:`~ampsim.ir.sync.apply_average`, the same code the reference executor
and the simulator run); this module is who does it where. Workers own the copies, the controller
(:class:`ControllerSync`, in the main process) decides when a round closes and averages it::

    backward of a synchronized copy stashes for instance k the first time on its worker
      └─► the worker returns a piece of that message's weight with a note (k, copy)   (protocol.py)
    instance k completes (its weights sum to 1, so every note of it has arrived)
      └─► controller: DONE(k), then SyncSet.close() for each copy that stashed k (the muf rule, mirrored);
          if a round closes: GATE(copies) to their owners, before any later INST or MSG
    worker, GATE: the copies' later messages, and update jobs queued after the gate, are parked
          (update jobs queued before it, i.e. by that DONE and earlier, still run)
    worker, update job of a copy: every ``sync_every``-th applied update snapshots its parameters; a
          snapshot of round r is sent (SNAP) once the copy has applied round r - 1 (the one before is
          then in the same frame as the others: see below)
    controller, every snapshot of round r in: average (copy order), drift ──► APPLY(set, r, average) to each
          owner (once per worker, whatever its number of copies)
    worker, APPLY job (queued FIFO behind the update jobs already there): p ← avg + (p − snapshot), later
          snapshots of the copy likewise; the gate opens and what it parked goes back to the queue's front,
          in order; the copy's next snapshot, if taken, goes to the controller

Because a copy sends round r's snapshot only after it applied round r - 1, the controller has all of
round r only once round r - 1 has been applied to every copy: the reference's :meth:`SyncSet.ready` rule.
With mak = 1 the gate puts each round between the same two messages of every copy as in the reference
executor (the next instance's messages wait at the copy until the round is applied), so the runs agree
bit for bit. At the end of :meth:`Controller.run`, every closed round is averaged before the state is
collected (a SYNC queues behind the APPLY jobs).

Sparse synchronization (``replicas.sparse_sync``, the rules of :mod:`ampsim.ir.sync`): a snapshot holds a
row parameter's changed rows and their ids; the controller widens the round's snapshots to the union of
the rows and averages them with the set's own :meth:`~ampsim.ir.sync.SyncSet.reduce_round`; APPLY
carries those rows, and each worker keeps the table's base (the value no copy changed since the last
round) for the copies it owns, so that it can widen its own snapshot the same way when it applies.

``sync_bytes`` counts the parameter bytes moved: snapshots to the controller and averages back (sparse:
the rows moved and 8 bytes of id per row).
"""

from __future__ import annotations

import pickle
from collections import deque
from dataclasses import dataclass

import numpy as np

from ampsim.executors.multicore import protocol as P
from ampsim.executors.multicore.transport import Channel
from ampsim.ir.sync import SyncSet, apply_round, moved_nbytes, rounds_and_drift, take_snapshot, widen

__all__ = ["CopySpec", "ControllerSync", "WorkerSync"]


@dataclass(frozen=True)
class CopySpec:
    """What a worker knows of one synchronized copy it owns."""

    set: int  # index of its sync set
    copy: int  # its index in the set (copy order: the order averages add in)
    every: int  # updates between snapshots
    #: sparse synchronization: the row parameters, snapshot and averaged by the rows copies changed
    row_params: tuple[str, ...] = ()


class ControllerSync:
    """The controller's side: the muf mirror that says when a round closes, and the averaging."""

    def __init__(self, sync_sets: list[SyncSet], index: dict[str, int], owner: list[int]) -> None:
        # fresh counters over the same (main-process) copies: close() reads only their names and muf;
        # reduce_round() their start (the anchor, a sparse table's base)
        self.sets = [SyncSet(s.name, s.copies, s.every, outer_lr=s.outer_lr, sparse=bool(s.row_params))
                     for s in sync_sets]
        self.nodes = [[index[c.name] for c in s.copies] for s in self.sets]
        self.owner = owner
        self.of = {i: (si, c) for si, s in enumerate(self.sets) for i, c in zip(self.nodes[si], s.copies)}
        self.stashed: dict[int, list[int]] = {}  # instance key -> synchronized copies that stashed it
        self.closed = [0] * len(self.sets)  # rounds closed, per set
        self.reduced = [0] * len(self.sets)  # rounds averaged, per set
        #: (set, round) -> copy -> (params, rows it holds of each row parameter)
        self.snaps: dict[tuple[int, int], dict[int, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]] = {}
        self.bytes = 0

    def copies_of(self, w: int) -> dict[int, CopySpec]:
        """The synchronized copies worker ``w`` owns, by node id."""
        return {i: CopySpec(si, j, self.sets[si].every, self.sets[si].row_params) for si, ids in enumerate(self.nodes)
                for j, i in enumerate(ids) if self.owner[i] == w}

    @property
    def pending(self) -> bool:
        """True while a closed round has not been averaged yet."""
        return self.closed != self.reduced

    def noted(self, notes: list[tuple[int, int]]) -> None:
        for key, i in notes:
            self.stashed.setdefault(key, []).append(i)

    def completed(self, key: int) -> dict[int, list[int]]:
        """Instance ``key`` completed: the copies to gate, per worker (empty if no round closes)."""
        gates: dict[int, list[int]] = {}
        for i in sorted(self.stashed.pop(key, ())):
            si, copy = self.of[i]
            r = self.sets[si].close(copy)
            if r is not None:
                self.closed[si] = r + 1
                for j in self.nodes[si]:
                    gates.setdefault(self.owner[j], []).append(j)
        return gates

    def snapshot(self, si: int, r: int, copy: int, params: dict[str, np.ndarray], rows: dict[str, np.ndarray],
                 channels: list[Channel]) -> None:
        """Copy ``copy`` of set ``si`` contributed ``params`` to round ``r`` (of a row parameter, the
        ``rows`` it changed); once the round is complete, average it (the set's
        :meth:`~ampsim.ir.sync.SyncSet.reduce_round`, the reference's arithmetic) and queue ``APPLY`` on the
        channel of every owner of a copy (one pickle for all)."""
        self.bytes += moved_nbytes(params, rows)
        got = self.snaps.setdefault((si, r), {})
        got[copy] = (params, rows)
        ids = self.nodes[si]
        if len(got) < len(ids):
            return
        del self.snaps[(si, r)]
        s = self.sets[si]
        red = s.reduce_round(r, [got[j][0] for j in range(len(ids))],
                             [got[j][1] for j in range(len(ids))] if s.row_params else None)
        self.reduced[si] = r + 1
        data = pickle.dumps([(P.APPLY, si, r, red.average, red.rows)], protocol=5)
        for w in sorted({self.owner[i] for i in ids}):
            self.bytes += moved_nbytes(red.average, red.rows)
            channels[w].put_pickled(data)

    def summary(self) -> dict:
        rounds, drift = rounds_and_drift(self.sets)
        return {"sync_rounds": rounds, "sync_bytes": self.bytes, "replica_drift": drift}


class WorkerSync:
    """A worker's side: gates and parked work of its copies, their snapshots, applying averages.

    ``gates[node]``: the epochs of the GATE commands not yet opened (oldest first). The epoch counts the
    GATE commands this worker received; an update job carries the epoch current when its DONE arrived,
    so it is older than a gate exactly when its DONE came before that gate."""

    def __init__(self, copies: dict[int, CopySpec], nodes: dict, ctrl: Channel) -> None:
        self.copies, self.nodes, self.ctrl = copies, nodes, ctrl
        self.members: dict[int, list[int]] = {}  # sync set -> the copies this worker owns, in copy order
        for i, spec in sorted(copies.items(), key=lambda kv: kv[1].copy):
            self.members.setdefault(spec.set, []).append(i)
        self.gates: dict[int, deque[int]] = {}
        self.parked: dict[int, list[tuple]] = {}
        self.epoch = 0
        self.updates = dict.fromkeys(copies, 0)
        self.applied = dict.fromkeys(copies, 0)
        #: node -> round -> (its snapshot, the rows it holds of each row parameter: empty when dense)
        self.snaps: dict[int, dict[int, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]] = {i: {} for i in copies}
        #: sparse synchronization, per set: each row parameter where no copy changed it since the last round
        #: (the copies' common start, then every round's result on its rows; as the set's own base)
        self.base: dict[int, dict[str, np.ndarray]] = {}
        for si, members in self.members.items():
            node = nodes[members[0]]
            for i in members:
                if copies[i].row_params and nodes[i].changed_rows is None:
                    nodes[i].changed_rows = {}
            self.base[si] = {n: node.params[n].copy() for n in copies[members[0]].row_params}

    def gate(self, nodes: list[int]) -> None:
        self.epoch += 1
        for i in nodes:
            self.gates.setdefault(i, deque()).append(self.epoch)

    def park(self, item: tuple) -> bool:
        """True (and ``item`` set aside) if it must wait for its node's gate: a message, or an update job
        from a DONE after the oldest gate (``item[4]``: its epoch)."""
        i = item[1]
        gate = self.gates.get(i)
        if not gate or (item[0] == P.UPDATE and item[4] < gate[0]):
            return False
        self.parked.setdefault(i, []).append(item)
        return True

    def updated(self, i: int) -> None:
        """Copy ``i`` applied an update: snapshot every ``every``-th; send it if it is due."""
        spec = self.copies[i]
        self.updates[i] += 1
        if self.updates[i] % spec.every:
            return
        r = self.updates[i] // spec.every - 1
        self.snaps[i][r] = take_snapshot(self.nodes[i], spec.row_params)
        if self.applied[i] == r:
            self.send((P.SNAP, spec.set, r, spec.copy, *self.snaps[i][r]))

    def apply(self, i: int, r: int, avg: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> list[tuple]:
        """Apply round ``r`` to copy ``i`` (p ← avg + (p − snapshot), later snapshots likewise; a row
        parameter on the round's ``rows``), open its oldest gate; return the parked items to queue again
        (in order)."""
        snaps, spec = self.snaps[i], self.copies[i]
        snap, held = snaps.pop(r)
        base = self.base[spec.set]
        for n, u in rows.items():  # the snapshot on the round's rows, as the controller averaged it
            snap[n] = widen(base[n], u, held[n], snap[n])
        apply_round(self.nodes[i].params, snap, [snaps[q] for q in sorted(snaps) if q > r], avg, rows)
        self.applied[i] += 1
        if rows and all(self.applied[j] > r for j in self.members[spec.set]):
            for n, u in rows.items():  # every copy here has it: the round's result is the next base
                base[n][u] = avg[n]
        nxt = snaps.get(r + 1)  # taken before this round applied, shifted just now: due
        if nxt is not None:
            self.send((P.SNAP, spec.set, r + 1, spec.copy, *nxt))
        gate = self.gates[i]
        gate.popleft()
        if not gate:
            del self.gates[i]
        return self.parked.pop(i, [])

    def send(self, item: tuple) -> None:
        """Send ``item`` to the controller now (a snapshot: the controller is waiting for it)."""
        self.ctrl.put([item])
        self.ctrl.flush()

"""Synchronization rounds counted from the parameters' sizes alone, for a replay, whose copies never train.

A replay (``executor.numerics = false``) times a replicated run without its numbers: there is nothing to
average, yet its rounds must be the full run's, bit for bit (readiness, gating, work, memory). A
:class:`SizedSyncSet` keeps :class:`~ampsim.ir.sync.SyncSet`'s bookkeeping and computes each step's work and
``held_nbytes`` change from the arrays' sizes, with the same formulas (:func:`~ampsim.ir.sync.average_work`,
:func:`~ampsim.ir.sync.add_apply_work`); a snapshot is a marker, a round's average is the first copy's
arrays (read for their sizes only) and its drift 0 (not measured)::

    contribute(copy)   a marker for round r; the copy holds a snapshot's bytes (and the anchor's, from r = 0)
    reduce()           the round's average work, from the first copy's arrays
    apply(copy, r)     the copy's and its later markers' apply work; the snapshot's bytes freed

A sparse set (``replicas.sparse_sync``) is not converted: what its rounds move depends on which rows the
copies changed, so it runs the set's own rules on the untrained arrays (:func:`sizes_only` leaves it).
"""

from __future__ import annotations

from ampsim.ir.node import Work
from ampsim.ir.param import ParamNode
from ampsim.ir.sync import Reduced, SyncSet, add_apply_work, average_work

__all__ = ["SizedSyncSet", "sizes_only"]


def sizes_only(s: SyncSet) -> bool:
    """Count ``s``'s rounds from sizes from now on (it becomes a :class:`SizedSyncSet`, in place: whoever holds
    it keeps it); a sparse set stays as it is. Whether it was converted."""
    if s.row_params:
        return False
    s.__class__ = SizedSyncSet  # same state, size-only arithmetic
    return True


class SizedSyncSet(SyncSet):
    """A :class:`~ampsim.ir.sync.SyncSet` whose rounds move no numbers (see the module docstring)."""

    def contribute(self, copy: ParamNode) -> Work | None:
        i = self.index[copy.name]
        self._updates[i] += 1
        if self._updates[i] % self.every:
            return None
        r = self._updates[i] // self.every - 1
        self._snaps.setdefault(r, {})[i] = None
        copy.held_nbytes += copy.param_bytes + self._anchor_bytes(copy, r)
        return Work(bytes=2 * copy.param_bytes, kernels=len(copy.params))

    def snapshot_nbytes(self, copy: ParamNode) -> float:
        return copy.param_bytes

    def reduce(self) -> Reduced:
        r = self.ready()
        if r is None:
            raise RuntimeError(f"sync set {self.name}: no round is ready")
        arrays = dict(self.copies[0].params)
        self._reduced += 1
        self.rounds += 1
        return Reduced(r, arrays, 0.0, average_work(arrays.values(), len(self.copies)))

    def apply(self, copy: ParamNode, reduced: Reduced) -> Work:
        i = self.index[copy.name]
        self._snaps[reduced.round].pop(i)
        if not self._snaps[reduced.round]:
            del self._snaps[reduced.round]
        targets = 1 + sum(1 for r in self._snaps if r > reduced.round and i in self._snaps[r])
        work = self._apply_work(reduced)
        for name in reduced.average:  # each target (the parameters, later snapshots) as SyncSet.apply
            for _ in range(targets):
                add_apply_work(work, copy.params[name])
        copy.held_nbytes -= copy.param_bytes
        self._applied[i] += 1
        return work

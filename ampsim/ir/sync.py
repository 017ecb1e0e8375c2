"""Keeping the copies of one parameterized node in step: synchronization rounds, as numerics only.

A :class:`SyncSet` is every copy of one model node (across groups and node copies, :mod:`ampsim.replicas`).
Executors decide *when* things happen; this module decides *what* they compute, so every executor
synchronizes the same way (the reference executor at once, the simulator over its network)::

    instance completes ──► close(copy)        the muf rule says copy will update; if that update is the
                                              last contribution of round r, round r *closes* now
    copy updates ───────► contribute(copy)    every ``every``-th update: a snapshot of the parameters
    round r ready ──────► reduce()            every snapshot of r is taken (and r-1 applied everywhere):
                                              their average, in copy order, and how far they drifted
    result arrives ─────► apply(copy, round)  p ← avg + (p − snapshot)

With an outer learning rate η ≠ 1 (``replicas.outer_lr``) a round's result is not the plain average but a
step from the previous round's result (the *anchor*, initially the copies' common start) along the mean
change, as federated averaging's server learning rate and DiLoCo's outer optimizer do::

    result = anchor + η · (avg − anchor);   anchor ← result

η = 1 is the plain average (and runs the plain arithmetic, bit for bit). η = k, the number of copies, adds
up the copies' moves instead of averaging them: what the copies learned from k times the data, each as
far as it moved it (a word's embedding row one copy moved is moved that far, not 1/k of it). Every copy
keeps the anchor from its first contribution on (it counts in its chip's memory) and does the step's
arithmetic when it applies a round.

Applying keeps the local updates a copy made after it contributed (none when copies are in lock step:
then p = avg exactly). A copy that contributed to a later round before this one reached it has that
snapshot moved the same way (snapshot ← avg + (snapshot − this round's snapshot)), so every snapshot a
round averages lives in the same frame. Optimizer state (momenta, accumulators) stays each copy's own.

The simulator uses :meth:`SyncSet.close` to hold a copy's later messages from the moment a round closes
until its result is applied there (see ``executors/sim/collective.py``): with mak = 1 every executor then
applies each round between the same two messages, and the runs agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampsim.ir.node import Work
from ampsim.ir.param import ParamNode

__all__ = ["SYNC_MODES", "Reduced", "SyncSet", "average", "drift", "apply_average", "outer_step", "outer_work",
           "rounds_and_drift"]

#: values of ``replicas.sync``
SYNC_MODES = ("average", "none")


@dataclass(frozen=True)
class Reduced:
    """A ready round: its index, the average parameters, the drift (mean over copies of the L2 distance
    of its snapshot to the average) and the work of averaging (``k - 1`` adds and a scale per array)."""

    round: int
    average: dict[str, np.ndarray]
    drift: float
    work: Work


class SyncSet:
    """The copies of model node ``name``, synchronized every ``every`` updates of each copy."""

    def __init__(self, name: str, copies: list[ParamNode], every: int, *, overlap: bool = False,
                 outer_lr: float = 1.0) -> None:
        if len(copies) < 2:
            raise ValueError(f"sync set {name}: needs at least two copies, got {len(copies)}")
        self.name, self.copies, self.every = name, list(copies), every
        #: η of ``result = anchor + η (avg − anchor)``; 1: the plain average
        self.outer_lr = outer_lr
        #: the previous round's result (the copies' common start before the first), for η ≠ 1
        self.anchor = ({n: p.copy() for n, p in copies[0].params.items()} if outer_lr != 1.0 else None)
        #: the simulator does not gate the copies while a round runs (``replicas.overlap``)
        self.overlap = overlap
        self.index = {c.name: i for i, c in enumerate(copies)}
        k = len(copies)
        self._since_update = [0] * k  # completions since the copy's last scheduled update (muf rule)
        self._scheduled = [0] * k  # updates scheduled at completions
        self._updates = [0] * k  # updates applied
        self._snaps: dict[int, dict[int, dict[str, np.ndarray]]] = {}  # round -> copy -> snapshot
        self._applied = [0] * k  # rounds applied, per copy
        self._reduced = 0  # rounds reduced
        self.rounds = 0
        self.drift_sum = 0.0

    @property
    def param_bytes(self) -> int:
        return self.copies[0].param_bytes

    def close(self, copy: ParamNode) -> int | None:
        """An instance that stashed gradients at ``copy`` completed: mirror the muf rule; return the round
        this closes (the update it schedules is the last contribution a round was waiting for), else None."""
        i = self.index[copy.name]
        self._since_update[i] += 1
        if self._since_update[i] < copy.muf:
            return None
        self._since_update[i] = 0
        self._scheduled[i] += 1
        if self._scheduled[i] % self.every:
            return None
        r = self._scheduled[i] // self.every - 1
        return r if min(self._scheduled) // self.every > r else None

    def contribute(self, copy: ParamNode) -> Work | None:
        """``copy`` applied an update: snapshot its parameters if this update is a contribution (the work
        of copying them), else None. The snapshot counts in ``copy.held_nbytes`` until applied."""
        i = self.index[copy.name]
        self._updates[i] += 1
        if self._updates[i] % self.every:
            return None
        r = self._updates[i] // self.every - 1
        self._snaps.setdefault(r, {})[i] = {n: p.copy() for n, p in copy.params.items()}
        copy.held_nbytes += copy.param_bytes * (2 if r == 0 and self.outer_lr != 1.0 else 1)  # + the anchor
        return Work(bytes=2 * copy.param_bytes, kernels=len(copy.params))

    def ready(self) -> int | None:
        """The next round to reduce, once all its snapshots are taken and the round before it has been
        applied to every copy; else None."""
        r = self._reduced
        if len(self._snaps.get(r, ())) == len(self.copies) and min(self._applied) >= r:
            return r
        return None

    def reduce(self) -> Reduced:
        """Average the snapshots of the :meth:`ready` round (in copy order)."""
        r = self.ready()
        if r is None:
            raise RuntimeError(f"sync set {self.name}: no round is ready")
        snaps = [self._snaps[r][i] for i in range(len(self.copies))]
        avg, work = average(snaps)
        spread = drift(snaps, avg)
        if self.anchor is not None:
            avg = outer_step(self.anchor, avg, self.outer_lr)
        self._reduced += 1
        self.rounds += 1
        self.drift_sum += spread
        return Reduced(r, avg, spread, work)

    def apply(self, copy: ParamNode, reduced: Reduced) -> Work:
        """Apply a reduced round to ``copy`` (p ← avg + (p − snapshot), later snapshots likewise); return
        the work. Frees the snapshot."""
        i = self.index[copy.name]
        snap = self._snaps[reduced.round].pop(i)
        if not self._snaps[reduced.round]:
            del self._snaps[reduced.round]
        work = Work() if self.anchor is None else outer_work(reduced.average)
        later = [self._snaps[r][i] for r in sorted(self._snaps) if r > reduced.round and i in self._snaps[r]]
        for name, avg in reduced.average.items():
            for target in [copy.params[name]] + [s[name] for s in later]:
                apply_average(target, avg, snap[name])
                work.flops += 2 * target.size
                work.bytes += 4 * target.nbytes
                work.kernels += 3  # subtract, add, assign
        copy.held_nbytes -= copy.param_bytes
        self._applied[i] += 1
        return work

    def applied_everywhere(self, r: int) -> bool:
        """True once round ``r`` has been applied to every copy."""
        return min(self._applied) > r



def rounds_and_drift(sync_sets: list[SyncSet]) -> tuple[int, float]:
    """The rounds all ``sync_sets`` reduced and their mean drift (0 before any round): the summary's
    ``sync_rounds`` and ``replica_drift``."""
    rounds = sum(s.rounds for s in sync_sets)
    return rounds, (sum(s.drift_sum for s in sync_sets) / rounds if rounds else 0.0)


# -- the arithmetic, shared by every executor (the multicore workers and controller call these directly) ----
def average(snapshots: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], Work]:
    """The average of ``snapshots`` (the copies' parameters, in copy order), array by array: a copy of
    the first, the others added in order, then scaled by ``1 / k`` in the arrays' dtype; and its work."""
    k, avg, work = len(snapshots), {}, Work()
    for name, first in snapshots[0].items():
        acc = first.copy()
        for s in snapshots[1:]:
            acc += s[name]
        acc *= acc.dtype.type(1.0 / k)
        avg[name] = acc
        work.flops += k * acc.size
        work.bytes += (k + 1) * acc.nbytes
        work.kernels += k + 1  # copy, k - 1 adds, scale
    return avg, work


def outer_step(anchor: dict[str, np.ndarray], avg: dict[str, np.ndarray], lr: float) -> dict[str, np.ndarray]:
    """A round's result with outer learning rate ``lr``: ``anchor + lr · (avg − anchor)``, array by array in
    the arrays' dtype; ``anchor`` is moved to it in place (the next round's anchor) and a copy returned.

    >>> a = {"w": np.array([1.0, 2.0])}
    >>> outer_step(a, {"w": np.array([2.0, 2.5])}, 4.0)["w"], a["w"]
    (array([5., 4.]), array([5., 4.]))
    """
    out = {}
    for name, x in anchor.items():
        x += x.dtype.type(lr) * (avg[name] - x)
        out[name] = x.copy()
    return out


def outer_work(arrays: dict[str, np.ndarray]) -> Work:
    """The work one copy does for :func:`outer_step` over ``arrays``: a subtract, a scale and an add per
    element, reading the average and the anchor and writing the anchor."""
    work = Work()
    for a in arrays.values():
        work += Work(flops=3 * a.size, bytes=3 * a.nbytes, kernels=3)
    return work


def drift(snapshots: list[dict[str, np.ndarray]], avg: dict[str, np.ndarray]) -> float:
    """Mean over the snapshots of their L2 distance (in float64) to ``avg``."""
    return float(np.mean([np.sqrt(sum(float(np.sum((s[n] - avg[n]).astype(np.float64) ** 2)) for n in avg))
                          for s in snapshots]))


def apply_average(target: np.ndarray, avg: np.ndarray, snap: np.ndarray) -> None:
    """``target ← avg + (target − snap)`` in place: a copy's parameters (or a later snapshot of them)
    moved into the frame of a round's average, keeping what changed since that round's snapshot."""
    target[...] = avg + (target - snap)

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

Sparse synchronization (``replicas.sparse_sync``): a table updated by rows (an embedding,
``ParamNode.row_params``) changes only in the rows its instances used, so a round need not move all of
it. Each copy records the rows its updates changed and snapshots only those; a round averages, for such
a parameter, only the union U of the rows any copy changed since the previous round, and the all-reduce
moves those rows and their ids. This is exact, not an approximation: a row no copy changed since the last
round holds the same value in every copy (that round's result, kept as the set's *base*), so its average
is that value. Rows outside U are left as they are (the dense average rewrites them as ``(k·x)/k``, which
can round), so the option is opt-in and the dense rule stays the default, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ampsim.ir.node import Work
from ampsim.ir.param import ParamNode

__all__ = ["SYNC_MODES", "Reduced", "SyncSet", "add_apply_work", "average", "average_work", "drift", "apply_average",
           "apply_round", "outer_step", "outer_work", "rounds_and_drift", "take_snapshot", "widen", "moved_nbytes"]

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
    #: sparse synchronization: the rows (sorted ids) a row parameter's average holds; empty when dense
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    #: bytes the all-reduce moves per copy (values, and 8 bytes per row id); None: every parameter whole
    nbytes: float | None = None


class SyncSet:
    """The copies of model node ``name``, synchronized every ``every`` updates of each copy."""

    def __init__(self, name: str, copies: list[ParamNode], every: int, *, overlap: bool = False,
                 outer_lr: float = 1.0, sparse: bool = False) -> None:
        if len(copies) < 2:
            raise ValueError(f"sync set {name}: needs at least two copies, got {len(copies)}")
        self.name, self.copies, self.every = name, list(copies), every
        #: η of ``result = anchor + η (avg − anchor)``; 1: the plain average
        self.outer_lr = outer_lr
        #: sparse synchronization: the row parameters, synchronized by the rows the copies changed
        self.row_params = tuple(copies[0].row_params) if sparse else ()
        for c in copies if self.row_params else ():
            c.changed_rows = {}
        #: each row parameter's value wherever no copy changed it since the last round (its result)
        self._base = {n: copies[0].params[n].copy() for n in self.row_params}
        self._rows: dict[int, dict[int, dict[str, np.ndarray]]] = {}  # round -> copy -> rows it changed
        self._held: dict[tuple[int, int], int] = {}  # (round, copy) -> bytes its snapshot holds
        #: the previous round's result (the copies' common start before the first), for η ≠ 1 (a row
        #: parameter's is its base)
        self.anchor = ({n: p.copy() for n, p in copies[0].params.items() if n not in self.row_params}
                       if outer_lr != 1.0 else None)
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
        snap, rows = take_snapshot(copy, self.row_params)
        if self.row_params:
            self._rows.setdefault(r, {})[i] = rows
        self._snaps.setdefault(r, {})[i] = snap
        nbytes = self._held[(r, i)] = sum(a.nbytes for a in snap.values())
        copy.held_nbytes += nbytes + self._anchor_bytes(copy, r)
        return Work(bytes=2 * nbytes, kernels=len(copy.params))

    def snapshot_nbytes(self, copy: ParamNode) -> float:
        """The bytes ``copy``'s last snapshot moves to wherever the average is taken: its arrays, and with
        sparse synchronization the 8-byte ids of the rows it holds of each row parameter (as a sparse
        round's average carries its rows' ids, :attr:`Reduced.nbytes`). Asked before that round is applied."""
        i = self.index[copy.name]
        r = self._updates[i] // self.every - 1
        return moved_nbytes(self._snaps[r][i], self._rows.get(r, {}).get(i, {}))

    def _anchor_bytes(self, copy: ParamNode, r: int) -> int:
        """Memory a copy takes on for the anchor with its contribution to round ``r`` (from the first on)."""
        return copy.param_bytes if r == 0 and self.outer_lr != 1.0 else 0

    def _apply_work(self, reduced: Reduced) -> Work:
        """The work of applying ``reduced`` before the per-target arithmetic: the outer step, if any."""
        return Work() if self.outer_lr == 1.0 else outer_work(reduced.average)

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
        changed = self._rows.pop(r) if self.row_params else {}
        return self.reduce_round(r, snaps, [changed[i] for i in range(len(snaps))] if changed else None)

    def reduce_round(self, r: int, snaps: list[dict[str, np.ndarray]],
                     changed: list[dict[str, np.ndarray]] | None = None) -> Reduced:
        """Average round ``r`` from its snapshots (copy order) and, with sparse synchronization, the rows
        each holds of each row parameter (``changed``, as :func:`take_snapshot` returns them); such a
        snapshot is widened in place to the round's rows. What :meth:`reduce` does once the round is
        ready, for an executor whose copies live elsewhere (the multicore controller)."""
        rows = self._widen(snaps, changed) if self.row_params else {}
        avg, work = average(snaps)
        spread = drift(snaps, avg)
        if self.anchor is not None:
            avg.update(outer_step(self.anchor, {n: a for n, a in avg.items() if n not in rows}, self.outer_lr))
        for n, u in rows.items():
            if self.outer_lr != 1.0:
                avg[n] = outer_step({n: self._base[n][u]}, {n: avg[n]}, self.outer_lr)[n]
            self._base[n][u] = avg[n]
        self._reduced += 1
        self.rounds += 1
        self.drift_sum += spread
        if not rows:
            return Reduced(r, avg, spread, work)
        return Reduced(r, avg, spread, work, rows, moved_nbytes(avg, rows))

    def _widen(self, snaps: list[dict[str, np.ndarray]], changed: list[dict[str, np.ndarray]]
               ) -> dict[str, np.ndarray]:
        """Sparse synchronization: replace each copy's snapshot of a row parameter (its changed rows) by
        its values on U, the union of the rows every copy changed (the base's where it changed none), in
        place; return U per row parameter."""
        rows = {}
        for n in self.row_params:
            u = _unique([held[n] for held in changed])
            for snap, held in zip(snaps, changed):
                snap[n] = widen(self._base[n], u, held[n], snap[n])
            rows[n] = u
        return rows

    def apply(self, copy: ParamNode, reduced: Reduced) -> Work:
        """Apply a reduced round to ``copy`` (p ← avg + (p − snapshot), later snapshots likewise); return
        the work. Frees the snapshot."""
        i = self.index[copy.name]
        snap = self._snaps[reduced.round].pop(i)
        if not self._snaps[reduced.round]:
            del self._snaps[reduced.round]
        later = [(self._snaps[r][i], self._rows[r][i] if self.row_params else None)
                 for r in sorted(self._snaps) if r > reduced.round and i in self._snaps[r]]
        work = self._apply_work(reduced)
        work += apply_round(copy.params, snap, later, reduced.average, reduced.rows)
        copy.held_nbytes -= self._held.pop((reduced.round, i))
        self._applied[i] += 1
        return work


def take_snapshot(copy: ParamNode, row_params: tuple[str, ...] = ()
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A copy's contribution to a round: its parameters, copied, and with sparse synchronization
    (``row_params``) of each row parameter only the rows its updates changed since its last snapshot (taken
    off ``copy.changed_rows``); (snapshot, those rows' sorted ids per row parameter, empty when dense)."""
    rows = {n: _unique(copy.changed_rows.pop(n, [])) for n in row_params}
    return {n: (p[rows[n]] if n in rows else p.copy()) for n, p in copy.params.items()}, rows


def moved_nbytes(arrays: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> int:
    """Bytes a snapshot or an average moves: its ``arrays``, and with sparse synchronization the ids of the
    ``rows`` it holds of each row parameter beside them (8 per row).

    >>> moved_nbytes({"W": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}, {"W": np.array([4, 9])})
    52
    """
    return sum(a.nbytes for a in arrays.values()) + 8 * sum(u.size for u in rows.values())


def widen(base: np.ndarray, u: np.ndarray, held: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy's snapshot of a row parameter on the round's rows ``u``: ``values`` on the rows it changed
    (``held``, sorted, a subset of ``u``), the table's ``base`` (the value every copy shares) elsewhere.

    >>> widen(np.zeros(5), np.array([1, 3, 4]), np.array([3]), np.array([7.0]))
    array([0., 7., 0.])
    """
    vals = base[u]
    vals[np.searchsorted(u, held)] = values
    return vals


def apply_round(params: dict[str, np.ndarray], snap: dict[str, np.ndarray],
                later: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]],
                average: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> Work:
    """Move a copy into a round's frame: ``p ← avg + (p − snapshot)`` for every array of the round's
    ``average``, on the copy's ``params`` and on each of its ``later`` snapshots (taken before this round
    arrived), and return the work. A row parameter (in ``rows``, the round's sorted row ids) moves on those
    rows only; ``snap`` holds the copy's snapshot widened to them (:func:`widen`), and a later snapshot,
    given with the rows it holds, moves on those of them the round has."""
    work = Work()
    for name, avg in average.items():
        u = rows.get(name)
        if u is None:
            pairs = [(params[name], avg, snap[name])] + [(s[name], avg, snap[name]) for s, _ in later]
        else:  # U's rows of the parameter, and those of U a later snapshot holds (its changed rows)
            pairs = [(_Rows(params[name], u), avg, snap[name])]
            for s, held in later:
                _, mine, theirs = np.intersect1d(held[name], u, assume_unique=True, return_indices=True)
                pairs.append((_Rows(s[name], mine), avg[theirs], snap[name][theirs]))
        for target, a, base in pairs:
            apply_average(target, a, base)
            add_apply_work(work, target)
    return work


def _unique(rows: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct ids of ``rows`` (an empty int64 array for none)."""
    return np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)


class _Rows:
    """Rows ``index`` of ``array`` as a target of :func:`apply_average` (read, then written back)."""

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self.array, self.index = array, index
        self.size = index.size * (array[0].size if array.ndim > 1 else 1)
        self.nbytes = self.size * array.itemsize

    def __sub__(self, other: np.ndarray) -> np.ndarray:
        return self.array[self.index] - other

    def __setitem__(self, _: object, value: np.ndarray) -> None:
        self.array[self.index] = value


def rounds_and_drift(sync_sets: list[SyncSet]) -> tuple[int, float | None]:
    """The rounds all ``sync_sets`` reduced and their mean drift (None before any round: not measured, where
    0.0 read as copies that had stayed together): the summary's ``sync_rounds`` and ``replica_drift``."""
    rounds = sum(s.rounds for s in sync_sets)
    return rounds, (sum(s.drift_sum for s in sync_sets) / rounds if rounds else None)


# -- the arithmetic, shared by every executor (the multicore workers and controller call these directly) ----
def average(snapshots: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], Work]:
    """The average of ``snapshots`` (the copies' parameters, in copy order), array by array: a copy of
    the first, the others added in order, then scaled by ``1 / k`` in the arrays' dtype; and its work."""
    k, avg = len(snapshots), {}
    for name, first in snapshots[0].items():
        acc = first.copy()
        for s in snapshots[1:]:
            acc += s[name]
        acc *= acc.dtype.type(1.0 / k)
        avg[name] = acc
    return avg, average_work(avg.values(), k)


def average_work(arrays: Iterable[np.ndarray], k: int) -> Work:
    """The work of averaging ``k`` snapshots of ``arrays`` (their shapes): per array a copy, ``k - 1`` adds
    and a scale.

    >>> w = average_work([np.zeros(10, np.float32)], 4)
    >>> w.flops, w.bytes, w.kernels
    (40.0, 200.0, 5.0)
    """
    work = Work()
    for a in arrays:
        work.flops += k * a.size
        work.bytes += (k + 1) * a.nbytes
        work.kernels += k + 1  # copy, k - 1 adds, scale
    return work


def add_apply_work(work: Work, target) -> None:
    """Add the work of moving one ``target`` array (``size``, ``nbytes``) into a round's frame to ``work``:
    ``p ← avg + (p − snapshot)``, a subtract, an add and an assignment."""
    work.flops += 2 * target.size
    work.bytes += 4 * target.nbytes
    work.kernels += 3


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

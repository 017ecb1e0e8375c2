"""Parameterized payload transforms (PPT): nodes that own parameters and update them locally.

The update rule (muf, ``min_update_frequency``): during backward a PPT node *stashes* what its parameter
gradient needs for each visit (for a linear layer, the input and the output gradient) under the
instance's key. When the controller reports an instance complete (its last message has been processed),
that instance's stashes become *ready*. Once stashes of at least ``muf`` completed instances are ready, the
node computes the parameter gradient from all of them, stacked in sorted ``(key, state)`` order, averages
it over those instances, and steps its optimizer. mak = 1, muf = 1 is therefore plain per-instance SGD.

Stacking in a canonical order, rather than summing as gradients arrive, makes the update independent of
message timing: executors that process the same instances in different orders produce bit-identical
parameters. It also turns many small outer products into one GEMM.

Staleness: each forward records the parameter version it used; the matching backward measures how many
updates happened in between (a histogram per node). ``train.staleness`` picks a mitigation, carried by
the node so that every executor applies it unchanged (:meth:`ParamNode.configure_staleness`):

* ``none`` — the plain AMP rule above (bit for bit the behaviour before the option existed).
* ``stash`` — weight stashing (PipeDream): a backward uses the parameter version its forward used. A
  superseded version is kept (copied once, just before the update that overwrites it) only while some
  forward that used it still awaits its backward; versions are reference-counted per forward visit, not
  copied per visit. The copies count in ``held_nbytes`` (so in the simulator's chip memory).
* ``predict`` — weight prediction (SpecTrain, PipeMare): a training forward uses ``p - D * step`` for
  every parameter ``p``, where ``step`` is the last step the optimizer subtracted from it
  (:attr:`~ampsim.optim.Optimizer.last_step`, weight decay included: ``lr g`` for sgd, ``lr v`` for momentum,
  Adagrad's and Adam's normalized steps; for a sparse update only the rows it touched) and ``D`` is
  ``train.predict_delay`` in updates or, when that is -1, the node's mean measured staleness so far
  (taken at the first training forward after each update). The prediction is computed once per
  parameter version, charged to that forward, and its copy counts in ``held_nbytes``. ``D = 0`` (or no
  update yet) uses the parameters as they are. Backward and evaluation use the live parameters.
* ``scale_lr`` — staleness-aware learning rate (Zhang et al. 2016): an instance's gradient applied with
  staleness ``s`` (updates of this node between the oldest forward of the instance here and the update
  that applies it) is applied at the learning rate times ``1 / (1 + s)``. An update averages several
  instances (muf > 1) in one GEMM, so it scales the rate by the mean of their ``1 / (1 + s)``: exact per
  gradient when they share ``s`` (always with muf = 1). The clip bounds the gradient, the rule the step:
  the optimizer's whole step (weight decay's share included) is divided, for Adam and Adagrad as for sgd
  (until 2026-12-07 the gradient was divided instead, which Adam's normalization undid but for eps).
"""

from __future__ import annotations

import zlib
from collections import Counter, deque
from typing import Any

import numpy as np

from ampsim.ir.message import Message
from ampsim.ir.node import Node, Step, Work, nbytes_of
from ampsim.optim import Optimizer, OptimizerSpec, SparseRows, make_optimizer

__all__ = ["ParamNode", "STALENESS_MODES", "init_rng"]

#: values of ``train.staleness`` (see the module docstring)
STALENESS_MODES = ("none", "stash", "predict", "scale_lr")
#: backward visits over which :meth:`ParamNode.recent_staleness` averages
STALENESS_WINDOW = 32


class ParamNode(Node):
    kind = "ppt"
    #: parameters updated by rows (a table whose gradient is sparse over the rows an instance used);
    #: with ``replicas.sparse_sync`` copies synchronize only the rows they changed (``ir/sync.py``)
    row_params: tuple[str, ...] = ()
    #: whether :meth:`grad_work` and :meth:`grad_sizes` read nothing of the node but its parameters' shapes and
    #: dtypes (and the profiles): nodes of such a kind with equal shapes, optimizer and clipping then report equal
    #: update Work, which a replay computes once for them all; a kind that reads more leaves it False
    update_work_from_shapes = False

    def __init__(self, name: str, params: dict[str, np.ndarray], *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.params = params
        self.version = 0
        self.muf = 1
        self.clip_norm = 0.0
        self.optimizer: Optimizer = make_optimizer(OptimizerSpec())
        self.staleness: Counter[int] = Counter()
        #: per applied instance: this node's updates between its oldest forward here and the update applying it
        self.update_staleness: Counter[int] = Counter()
        self.stash_peak_bytes = 0  # stash: the most bytes of superseded parameter versions kept at once
        self._recent, self._recent_sum = deque(maxlen=STALENESS_WINDOW), 0  # the last visits' (bounded admission)
        self._stash: dict[int, list[tuple[tuple[int, ...], Any]]] = {}
        #: completed instances awaiting the update: (key, arrival, stashes, forward version or None); a list: a
        #: key may come again (a second ``train`` call) while its first gradient still waits
        self._ready: list[tuple[int, int, list[tuple[tuple[int, ...], Any]], int | None]] = []
        self._arrivals = 0
        self.staleness_mode, self.predict_delay = "none", -1.0
        self._fwd_version: dict[int, int] = {}  # scale_lr: oldest forward version per instance
        #: stash: training forwards awaiting their backward, per version; copies of superseded versions
        self._refs: Counter[int] = Counter()
        self._versions: dict[int, dict[str, np.ndarray]] = {}
        self._predicted: tuple[int, dict[str, np.ndarray]] | None = None  # predict: (version, parameters)
        self.changed_rows: dict[str, list[np.ndarray]] | None = None  # rows updates changed (a sync set's)

    def configure(self, optimizer: OptimizerSpec, muf: int, clip_norm: float = 0.0) -> None:
        self.optimizer = make_optimizer(optimizer)
        self.optimizer.record_steps = self.staleness_mode == "predict"
        self.muf = muf
        self.clip_norm = clip_norm

    def configure_staleness(self, mode: str, predict_delay: float = -1.0) -> None:
        """Set the staleness mitigation (one of :data:`STALENESS_MODES`; see the module docstring) and, for
        ``predict``, the delay in updates (-1: the node's mean measured staleness). Call before training."""
        if mode not in STALENESS_MODES:
            raise ValueError(f"node {self.name}: unknown staleness mode {mode!r} (known: {', '.join(STALENESS_MODES)})")
        if predict_delay < 0 and predict_delay != -1:
            raise ValueError(f"node {self.name}: predict_delay must be >= 0 or -1, got {predict_delay!r}")
        self.staleness_mode = mode
        self.predict_delay = float(predict_delay)
        self.optimizer.record_steps = mode == "predict"

    def recent_staleness(self) -> float:
        """Mean staleness of this node's last :data:`STALENESS_WINDOW` backward visits (0 before any)."""
        return self._recent_sum / len(self._recent) if self._recent else 0.0

    def staleness_state(self) -> tuple:
        """The staleness record (histogram, recent window) as it is, for :meth:`restore_staleness`."""
        return self.staleness.copy(), list(self._recent), self._recent_sum

    def restore_staleness(self, state: tuple) -> None:
        """Put back a :meth:`staleness_state` (in place: executors hold the histogram)."""
        hist, recent, self._recent_sum = state
        self.staleness.clear()
        self.staleness.update(hist)
        self._recent.clear()
        self._recent.extend(recent)

    def note_staleness(self, s: int) -> None:
        """A backward visit saw parameters ``s`` updates older than the node's: the histogram and the recent
        window (:meth:`recent_staleness`) take it. :meth:`pop` calls it; so does a replay, which pops nothing."""
        self.staleness[s] += 1
        if len(self._recent) == STALENESS_WINDOW:
            self._recent_sum -= self._recent[0]
        self._recent.append(s)
        self._recent_sum += s

    def expected_delay(self) -> float:
        """predict: the updates a forward's parameters are extrapolated by (see the module docstring)."""
        if self.predict_delay >= 0:
            return self.predict_delay
        n = sum(self.staleness.values())
        return sum(s * c for s, c in self.staleness.items()) / n if n else 0.0

    # -- helpers for subclasses ----------------------------------------------------------------------
    def save(self, msg: Message, value: Any) -> None:
        super().save(msg, (self.version, value))
        if self.training and self.staleness_mode == "stash":
            self._refs[self.version] += 1  # this version must outlive updates until the backward

    def pop(self, msg: Message) -> Any:
        version, value = super().pop(msg)
        self.note_staleness(self.version - version)
        if self.staleness_mode == "stash":
            self._release(version)
        old = self._fwd_version.get(msg.key)  # per-update staleness (and scale_lr's step)
        self._fwd_version[msg.key] = version if old is None else min(old, version)
        return value

    def _release(self, version: int) -> None:
        """stash: a backward no longer needs ``version``; drop its copy once no forward does."""
        left = self._refs[version] - 1
        if left:
            self._refs[version] = left
            return
        del self._refs[version]
        copy = self._versions.pop(version, None)
        if copy is not None:
            self.held_nbytes -= nbytes_of(list(copy.values()))

    def stash(self, msg: Message, entry: Any) -> None:
        """Keep what the parameter gradient of this visit needs until the update."""
        self._stash.setdefault(msg.key, []).append((msg.state, entry))
        self.held_nbytes += nbytes_of(entry)

    def stashed(self, key: int) -> bool:
        """True if this node holds parameter-gradient stashes of instance ``key`` (it will want an update)."""
        return key in self._stash

    def param_grads(self, entries: list[Any]) -> dict[str, np.ndarray | SparseRows]:
        """Sum of the parameter gradients of ``entries`` (stashes in canonical order). Charge the work."""
        raise NotImplementedError

    # -- the cost of an update without computing it (recordings and replay) -------------------------
    def stash_profile(self, key: int) -> np.ndarray:
        """What instance ``key``'s stash adds to an update's cost, as int64 ``[bytes held, rows, ...]``
        (rows: the first array's rows of every stash entry). Side-effect free; see :meth:`update_work`."""
        entries = self.stashed_entries(key)
        return np.array([nbytes_of(entries), sum(_first_rows(e) for e in entries)], dtype=np.int64)

    def stashed_entries(self, key: int) -> list[Any]:
        """The stash entries instance ``key`` holds here, in visit order (read-only; for profiles)."""
        return [e for _, e in self._stash.get(key, ())]

    # -- a gradient check's access to the stash (ampsim.testing) -------------------------------------
    def pop_stash(self, key: int) -> list[Any]:
        """Take instance ``key``'s stash entries out without an update, in the order an update sums them."""
        entries = [e for _, e in sorted(self._stash.pop(key, ()), key=_by_state)]
        self.held_nbytes -= nbytes_of(entries)
        return entries

    def stash_state(self) -> dict:
        """Every instance's stash as it is, for :meth:`restore_stash` after a :meth:`reset`."""
        return dict(self._stash)

    def restore_stash(self, state: dict) -> None:
        """Put back a :meth:`stash_state` (its bytes are not counted in ``held_nbytes`` again)."""
        self._stash.update(state)

    def stash_rows(self, key: int) -> list[np.ndarray]:
        """Per row parameter (``row_params`` order), the rows an update over instance ``key``'s stash alone
        changes, as :meth:`update` adds them to ``changed_rows``: those of its sparse gradient (none for a
        dense one). Side-effect free (the work :meth:`param_grads` charges is dropped); a recording keeps
        them per stash so that a replay synchronizes sparsely (``executors/sim/recording.py``)."""
        if not self.row_params:
            return []
        saved, self._work = self._work, Work()
        try:
            grads = self.param_grads(self.stashed_entries(key))
        finally:
            self._work = saved
        return [grads[n].rows if isinstance(grads.get(n), SparseRows) else np.zeros(0, np.int64)
                for n in self.row_params]

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        """Add to ``work`` what :meth:`param_grads` charges for stashes with these profiles."""
        raise NotImplementedError

    def grad_sizes(self, profiles: list[np.ndarray]) -> list[tuple[int, bool]]:
        """(elements, sparse) of each gradient :meth:`param_grads` returns for these profiles."""
        return [(p.size, False) for p in self.params.values()]

    def update_work(self, profiles: list[np.ndarray]) -> Work:
        """The :class:`Work` that :meth:`update` reports when the ready instances' stashes have these
        :meth:`stash_profile`\\ s, bit for bit, computing nothing and changing nothing."""
        work = Work()
        self.grad_work(profiles, work)
        sizes = self.grad_sizes(profiles)
        if self.clip_norm:
            work.kernels += 2 * len(sizes)
        n = 0
        for (size, sparse), p in zip(sizes, self.params.values(), strict=True):  # (one gradient per array)
            n += size
            work.kernels += 1 + self.optimizer.kernels(sparse)
            work.bytes += self.optimizer.state_bytes(size, p.itemsize)
        work.flops += n * self.optimizer.flops_per_element
        work.bytes += 3 * self.param_bytes
        return work

    @property
    def param_bytes(self) -> int:
        return sum(p.nbytes for p in self.params.values())

    @property
    def state_bytes(self) -> int:
        """The memory its optimizer's state takes, where the optimizer counts it (``count_state``), else 0."""
        return self.optimizer.held_bytes(self.param_bytes)

    # -- what executors call -------------------------------------------------------------------------
    def step(self, backward: bool, msg: Message, port: int) -> Step:
        """:meth:`Node.step` with the parameter version the staleness mode asks for: the forward's
        (``stash``, backward) or the predicted one (``predict``, training forward). The node kinds read
        ``self.params`` as usual and see that version for the length of the call."""
        mode = self.staleness_mode
        if mode not in ("stash", "predict") or not self.training:
            return super().step(backward, msg, port)
        live, cost = self.params, None
        if backward and mode == "stash":
            saved = self.peek(msg)
            if saved is not None and saved[0] != self.version:
                self.params = self._versions[saved[0]]
        elif not backward and mode == "predict":
            self.params, cost = self._predict()
        try:
            step = super().step(backward, msg, port)
        finally:
            self.params = live
        if cost is not None:
            step.work += cost
        return step

    def _predict(self) -> tuple[dict[str, np.ndarray], Work | None]:
        """predict: this version's extrapolated parameters (computed once per version) and, when computed
        now, what computing them cost."""
        if self._predicted is not None and self._predicted[0] == self.version:
            return self._predicted[1], None
        if self._predicted is not None:
            self.held_nbytes -= nbytes_of([p for n, p in self._predicted[1].items() if p is not self.params[n]])
            self._predicted = None
        delay, last = self.expected_delay(), self.optimizer.last_step
        if delay <= 0 or not last:  # nothing to extrapolate: the live arrays, bit for bit
            return self.params, None
        pred, cost = dict(self.params), Work()
        for name, p in self.params.items():
            if name in last:
                pred[name] = p - delay * last[name]
                cost.flops += 2 * p.size
                cost.bytes += 3 * p.nbytes
                cost.kernels += 2  # scale, subtract
                self.held_nbytes += p.nbytes
        self._predicted = (self.version, pred)
        return pred, cost

    def complete(self, key: int) -> Work | None:
        """Instance ``key`` has finished everywhere. Returns the update's work if an update was applied."""
        version = self._fwd_version.pop(key, None)
        entries = self._stash.pop(key, None)
        if entries is None:
            return None
        self._arrivals += 1
        self._ready.append((key, self._arrivals, entries, version))
        if len(self._ready) < self.muf:
            return None
        return self.update()

    def update(self) -> Work | None:
        """Apply the ready gradients now (also used to flush a remainder smaller than muf)."""
        if not self._ready:
            return None
        self._work = work = Work()
        ready = sorted(self._ready)  # key order (then arrival, unique): the float sum is order-free
        entries = [e for _, _, stash, _ in ready for _, e in sorted(stash, key=_by_state)]
        self.held_nbytes -= nbytes_of(entries)
        n_inst = len(self._ready)
        # scale_lr; in key order, so that the float sum does not depend on completion order
        stale = [0 if v is None else self.version - v for _, _, _, v in ready]
        self.update_staleness.update(stale)
        self._ready.clear()
        if self.staleness_mode == "stash" and self._refs.get(self.version):
            # forwards of this version still await their backward: keep it before the in-place step
            self._versions[self.version] = {n: p.copy() for n, p in self.params.items()}
            self.held_nbytes += self.param_bytes
            self.stash_peak_bytes = max(self.stash_peak_bytes, len(self._versions) * self.param_bytes)
            work.kernels += len(self.params)
            work.bytes += 2 * self.param_bytes
        grads = self.param_grads(entries)
        scale = 1.0 / n_inst
        if self.clip_norm:
            norm = _norm(grads) * scale
            work.kernels += 2 * len(grads)  # square and sum per array (the rest is host scalar math)
            if norm > self.clip_norm:
                scale *= self.clip_norm / norm
        lr_scale = 1.0
        if self.staleness_mode == "scale_lr":  # the rate, not the gradient, which Adam's normalization would undo
            lr_scale = sum(1.0 / (1 + s) for s in stale) / n_inst  # host scalar math: the work is unchanged
        n = 0
        for name, g in grads.items():
            sparse = isinstance(g, SparseRows)
            g = SparseRows(g.rows, g.values * scale) if sparse else g * scale
            size = self.optimizer.update(name, self.params[name], g, lr_scale)
            n += size
            work.bytes += self.optimizer.state_bytes(size, self.params[name].itemsize)
            if sparse and self.changed_rows is not None:
                self.changed_rows.setdefault(name, []).append(g.rows)
            work.kernels += 1 + self.optimizer.kernels(sparse)  # the scaling, then the optimizer step
            if sparse and self.optimizer.record_steps:
                work.kernels += 2  # predict: last_step's fill and row scatter
        work.flops += n * self.optimizer.flops_per_element
        work.bytes += 3 * self.param_bytes
        self.version += 1
        return work

    def reset(self) -> None:
        super().reset()
        self._stash.clear()
        self._ready.clear()
        self._fwd_version.clear()
        self._refs.clear()
        self._versions.clear()
        self._predicted = None  # held_nbytes is 0 again: the prediction is recomputed when next needed


def _first_rows(entry: Any) -> int:
    first = entry[0] if isinstance(entry, (tuple, list)) else entry
    return int(first.shape[0])


def _by_state(item: tuple[tuple[int, ...], Any]) -> tuple[int, ...]:
    return item[0]


def _values(g: np.ndarray | SparseRows) -> np.ndarray:
    return g.values if isinstance(g, SparseRows) else g


def _norm(grads: dict[str, np.ndarray | SparseRows]) -> float:
    """The L2 norm of all of ``grads`` together, summed in their dtype; where the squares overflow it (float32
    entries past 1.8e19), of the gradients scaled by their largest magnitude: the norm, finite, not inf (whose
    clip zeroed the update). Unchanged, bit for bit, wherever the plain sum is finite."""
    with np.errstate(over="ignore"):
        total = sum(float(np.sum(_values(g) ** 2)) for g in grads.values())
    top = total == np.inf and max(float(np.max(np.abs(_values(g)), initial=0)) for g in grads.values())
    if top and np.isfinite(top):  # (an infinite entry: the norm is inf)
        return top * np.sqrt(sum(float(np.sum((_values(g) / top) ** 2)) for g in grads.values()))
    return np.sqrt(total)


def init_rng(seed: int, name: str) -> np.random.Generator:
    """A generator per (run seed, node name): initialization does not depend on construction order."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])

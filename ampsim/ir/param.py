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
updates happened in between (a histogram per node).
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from typing import Any

import numpy as np

from ampsim.errors import RunError
from ampsim.ir.message import Message
from ampsim.ir.node import Node, Work, _nbytes
from ampsim.optim import Optimizer, OptimizerSpec, SparseRows, make_optimizer


class ParamNode(Node):
    kind = "ppt"

    def __init__(self, name: str, params: dict[str, np.ndarray], *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.params = params
        self.version = 0
        self.muf = 1
        self.clip_norm = 0.0
        self.optimizer: Optimizer = make_optimizer(OptimizerSpec())
        self.staleness: Counter[int] = Counter()
        self._stash: dict[int, list[tuple[tuple[int, ...], Any]]] = {}
        self._ready: dict[int, list[tuple[tuple[int, ...], Any]]] = {}

    def configure(self, optimizer: OptimizerSpec, muf: int, clip_norm: float = 0.0) -> None:
        self.optimizer = make_optimizer(optimizer)
        self.muf = muf
        self.clip_norm = clip_norm

    # -- helpers for subclasses ----------------------------------------------------------------------
    def save(self, msg: Message, value: Any) -> None:
        super().save(msg, (self.version, value))

    def pop(self, msg: Message) -> Any:
        version, value = super().pop(msg)
        self.staleness[self.version - version] += 1
        return value

    def stash(self, msg: Message, entry: Any) -> None:
        """Keep what the parameter gradient of this visit needs until the update."""
        self._stash.setdefault(msg.key, []).append((msg.state, entry))
        self.held_nbytes += _nbytes(entry)

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
        return np.array([_nbytes(entries), sum(_first_rows(e) for e in entries)], dtype=np.int64)

    def stashed_entries(self, key: int) -> list[Any]:
        """The stash entries instance ``key`` holds here, in visit order (read-only; for profiles)."""
        return [e for _, e in self._stash.get(key, ())]

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
        for size, sparse in sizes:
            n += size
            work.kernels += 1 + self.optimizer.kernels(sparse)
        work.flops += n * self.optimizer.flops_per_element
        work.bytes += 3 * self.param_bytes
        return work

    @property
    def param_bytes(self) -> int:
        return sum(p.nbytes for p in self.params.values())

    # -- what executors call -------------------------------------------------------------------------
    def complete(self, key: int) -> Work | None:
        """Instance ``key`` has finished everywhere. Returns the update's work if an update was applied."""
        entries = self._stash.pop(key, None)
        if entries is None:
            return None
        self._ready[key] = entries
        if len(self._ready) < self.muf:
            return None
        return self.update()

    def update(self) -> Work | None:
        """Apply the ready gradients now (also used to flush a remainder smaller than muf)."""
        if not self._ready:
            return None
        self._work = work = Work()
        entries = [e for k in sorted(self._ready) for _, e in sorted(self._ready[k], key=_by_state)]
        self.held_nbytes -= _nbytes(entries)
        n_inst = len(self._ready)
        self._ready.clear()
        grads = self.param_grads(entries)
        scale = 1.0 / n_inst
        if self.clip_norm:
            norm = np.sqrt(sum(float(np.sum(_values(g) ** 2)) for g in grads.values())) * scale
            work.kernels += 2 * len(grads)  # square and sum per array (the rest is host scalar math)
            if norm > self.clip_norm:
                scale *= self.clip_norm / norm
        n = 0
        for name, g in grads.items():
            sparse = isinstance(g, SparseRows)
            g = SparseRows(g.rows, g.values * scale) if sparse else g * scale
            n += self.optimizer.update(name, self.params[name], g)
            work.kernels += 1 + self.optimizer.kernels(sparse)  # the scaling, then the optimizer step
        work.flops += n * self.optimizer.flops_per_element
        work.bytes += 3 * self.param_bytes
        self.version += 1
        return work

    def reset(self) -> None:
        super().reset()
        self._stash.clear()
        self._ready.clear()


def _first_rows(entry: Any) -> int:
    first = entry[0] if isinstance(entry, (tuple, list)) else entry
    return int(first.shape[0])


def _by_state(item: tuple[tuple[int, ...], Any]) -> tuple[int, ...]:
    return item[0]


def _values(g: np.ndarray | SparseRows) -> np.ndarray:
    return g.values if isinstance(g, SparseRows) else g


def init_rng(seed: int, name: str) -> np.random.Generator:
    """A generator per (run seed, node name): initialization does not depend on construction order."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def available_memory_bytes() -> int | None:
    """Host memory this process can still take: ``MemAvailable`` (Linux), lowered to a cgroup's
    remaining ``memory.max``; None where it cannot be told."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            avail = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pass
    try:  # a container's limit is what the kernel enforces, whatever the machine has
        with open("/sys/fs/cgroup/memory.max") as f, open("/sys/fs/cgroup/memory.current") as g:
            limit = f.read().strip()
            if limit != "max":
                left = int(limit) - int(g.read().strip())
                avail = left if avail is None else min(avail, left)
    except (OSError, ValueError):
        pass
    return avail


def check_param_memory(name: str, shape: tuple[int, ...], dtype: Any) -> None:
    """Refuse, in one line, a parameter array this machine cannot hold, *before* numpy allocates it.

    Numpy's MemoryError (or, worse, the kernel's OOM killer once the pages are touched) would otherwise
    speak first. Initialization draws float64 values and casts them to ``dtype``, so both arrays are
    counted. Checked per array against what is available now, so the arrays allocated before count too.

    Raises:
        RunError: "node '<name>': parameters [a, b] need X GiB of host memory to initialize; Y GiB is available".
    """
    elements = int(np.prod(shape, dtype=np.float64))  # float: a product of huge sizes must not overflow
    need = elements * (8 + np.dtype(dtype).itemsize)
    if need < 1 << 26:  # 64 MiB: not worth reading /proc for
        return
    avail = available_memory_bytes()
    if avail is not None and need > avail:
        raise RunError(f"node {name!r}: parameters {list(shape)} need {need / 2**30:.3g} GiB of host memory to "
                       f"initialize; {max(avail, 0) / 2**30:.3g} GiB is available; make the model smaller")

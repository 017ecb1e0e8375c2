"""Host memory a model's parameters need, checked before numpy allocates them.

Numpy's MemoryError, or the kernel's OOM killer after minutes of drawing values, would otherwise speak
first (the audit's 1.6·10⁹ weights on a 23 GB host). Initialization draws float64 values and casts them;
training holds each array, its gradient and two optimizer slots (Adam's). The nodes call
:func:`check_param_memory` for every array before they make it; within :func:`model_build` (the plan stage
builds every task in one) a check also counts what training will add to the arrays made before it, which
are already in memory but not yet their gradients and slots, so a model of many arrays that each fit but
together do not is refused before the first is drawn too far. The plan then checks the activations training
holds at least (:func:`check_activation_memory`). Within :func:`sizing` the same checks are made but no array:
``sweep --check`` sizes every point's model so, refusing what its run would, at no cost; the arrays it checked
are listed, so that :func:`check_sized` checks a model sized once again, against the memory of the moment.

Example (``available_memory_bytes`` reports 1 GiB: one 64-million-weight float32 array fits to initialize
and train, 0.95 GiB; a second beside it does not, its own 0.95 GiB plus the first's 0.72 GiB to come)::

    with model_build():
        check_param_memory("fc0", (8000, 8000), np.float32)   # passes
        check_param_memory("fc1", (8000, 8000), np.float32)   # RunError: ... with the 0.715 GiB ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np

from ampsim.errors import ConfigError, RunError

__all__ = ["available_memory_bytes", "check_param_memory", "model_build", "sizing", "check_sized", "param_values",
           "check_activation_memory", "check_data_memory", "check_copies_memory"]

#: within :func:`model_build`: bytes training will add (gradients, optimizer slots) to the arrays made so far
_TO_COME: ContextVar[list[int] | None] = ContextVar("ampsim_param_bytes_to_come", default=None)
#: within :func:`sizing`: parameter arrays are checked, not made; those checked so far (name, shape, dtype)
_SIZING: ContextVar[list[tuple[str, tuple[int, ...], Any]] | None] = ContextVar("ampsim_sizing", default=None)
_QUICK_BYTES = 1 << 26  # 64 MiB: less than this is not worth reading /proc for


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


@contextlib.contextmanager
def model_build() -> Iterator[None]:
    """Check the parameter arrays made within as one model's (see the module docstring)."""
    token = _TO_COME.set([0])
    try:
        yield
    finally:
        _TO_COME.reset(token)


@contextlib.contextmanager
def sizing() -> Iterator[list[tuple[str, tuple[int, ...], Any]]]:
    """Build a model within to check its parameters against host memory as :func:`model_build` does, without
    making them: :func:`param_values` gives each array as a read-only view of one zero (no memory, no values
    drawn), so only what a model is made of is sized, never its numbers. Yields the list of the arrays checked
    (name, shape, dtype), in order, filled as the model is built: :func:`check_sized` checks them again.

    >>> with sizing() as checked:
    ...     w = param_values("fc0", (1000, 1000), np.float32, lambda: 1 / 0)  # never drawn
    >>> w.shape, w.strides, w.flags.writeable, checked
    ((1000, 1000), (0, 0), False, [('fc0', (1000, 1000), <class 'numpy.float32'>)])
    """
    checked: list[tuple[str, tuple[int, ...], Any]] = []
    token = _SIZING.set(checked)
    try:
        with model_build():
            yield checked
    finally:
        _SIZING.reset(token)


def check_sized(checked: list[tuple[str, tuple[int, ...], Any]]) -> None:
    """Check again, as one model's and in the same order, the parameter arrays that a :func:`sizing` checked
    (its list ``checked``), against the host memory available now: the verdict of a model sized earlier, which a
    cache may keep (it is made of the config alone) where the verdict may not (the memory changes; tests patch
    :func:`available_memory_bytes`). Raises what building it raises: the first array's RunError that does not fit."""
    with model_build():
        for name, shape, dtype in checked:
            check_param_memory(name, shape, dtype)


def param_values(name: str, shape: tuple[int, ...], dtype: Any, draw: Callable[[], np.ndarray]) -> np.ndarray:
    """The initial values of parameter array ``name``: ``draw()`` (of ``shape``, in ``dtype``) once
    :func:`check_param_memory` lets it be made; within :func:`sizing`, a read-only zero view of ``shape`` instead,
    not drawn (a model sized to be checked is never trained)."""
    check_param_memory(name, shape, dtype)
    if (checked := _SIZING.get()) is not None:
        checked.append((name, shape, dtype))
        return np.broadcast_to(np.zeros((), dtype), shape)
    return draw()


def check_param_memory(name: str, shape: tuple[int, ...], dtype: Any) -> None:
    """Refuse, in one line, a parameter array this machine cannot hold, *before* numpy allocates it: its
    initialization or its training (the array, its gradient and two optimizer slots), whichever needs more,
    plus, within :func:`model_build`, what training will add to the arrays made before it.

    Raises:
        RunError: "node '<name>': parameters [a, b] need X GiB of host memory to initialize and train; ...".
    """
    item = np.dtype(dtype).itemsize
    elements = int(np.prod(shape, dtype=np.float64))  # float: a product of huge sizes must not overflow
    need = elements * max(8 + item, 4 * item)
    to_come = _TO_COME.get()
    before = to_come[0] if to_come is not None else 0
    if to_come is not None:
        to_come[0] += 3 * elements * item  # this array's gradient and slots, made once training starts
    if need + before < _QUICK_BYTES:
        return
    avail = available_memory_bytes()
    if avail is not None and need + before > avail:
        earlier = f" with the {before / 2**30:.3g} GiB training adds to the earlier parameters" if before else ""
        raise RunError(f"node {name!r}: parameters {list(shape)} need {need / 2**30:.3g} GiB of host memory to "
                       f"initialize and train{earlier}; {max(avail, 0) / 2**30:.3g} GiB is available; make the "
                       "model smaller")


def check_activation_memory(graph: Any, rows: int, dtype: Any, mak: int, source: str, examples: int = 0) -> None:
    """Refuse, in one line, a model whose activations cannot fit in host memory, before a message is sent.

    What training holds is at least every node's output for each instance in flight: its ``rows`` (the
    data's batch, else one) × the widths of every node's outputs in ``graph`` × ``mak`` instances, but no more
    rows than the data's ``examples`` (the larger split; 0: not known), which are all a call's instances hold
    (a ``train.mak`` far past the instances, meaning "no bound", was refused as needing petabytes). Past that
    the kernel's OOM killer spoke first (a hidden layer of 10^8 on 32-row batches: 12.8 GB an activation,
    killed after 90 s). A lower bound, so a run it lets through may still not fit; one it refuses cannot.

    Raises:
        ConfigError: "<source>: the model's activations need at least X GiB of host memory (...)".
    """
    widths = sum(node.out_width(p) or 0 for node in graph.nodes.values() for p in range(node.n_out))
    in_flight = min(rows * mak, examples) if examples else rows * mak
    need = widths * in_flight * np.dtype(dtype).itemsize
    if (avail := _short_of(need)) is not None:
        capped = f", at most the data's {examples:,} rows" if in_flight < rows * mak else ""
        raise ConfigError(f"{source}: the model's activations need at least {need / 2**30:.3g} GiB of host memory "
                          f"({widths:,} values a row, {rows} rows, train.mak {mak}{capped}); {avail / 2**30:.3g} GiB "
                          "is available: make the model, the batch or mak smaller")


def check_data_memory(source: str, what: str, need: float, fix: str) -> None:
    """Refuse, in one line, a dataset generated in memory that this machine cannot hold, before drawing it
    (``data.n_train = 2e9`` blobs grew to 21 GB in 25 s and the OOM killer ended the run without a word).
    ``need``: its bytes at the generator's peak; ``fix``: which keys to make smaller.

    Raises:
        ConfigError: "<source>: <what> need X GiB of host memory to generate; Y GiB is available: make <fix> smaller".
    """
    if (avail := _short_of(need)) is not None:
        raise ConfigError(f"{source}: {what} need {need / 2**30:.3g} GiB of host memory to generate; "
                          f"{max(avail, 0) / 2**30:.3g} GiB is available: make {fix} smaller")


def check_copies_memory(source: str, copies_bytes: float, model_bytes: float) -> None:
    """Refuse, in one line, a replicated model whose copies' parameters this machine cannot train, before they
    are copied: each copy's arrays with their gradients and two optimizer slots, and what training adds to the
    model's own (its gradients and slots). The model's own arrays were checked as they were made; the copies
    are deep copies, which no check saw (32 groups of a model that fit once grew past the host's memory).

    Raises:
        ConfigError: "<source>: replicas: the copies' parameters need X GiB of host memory to train; ...".
    """
    need = 4 * copies_bytes + 3 * model_bytes
    if (avail := _short_of(need)) is not None:
        raise ConfigError(f"{source}: replicas: the copies' parameters need {need / 2**30:.3g} GiB of host memory "
                          f"to train (each with its gradient and two optimizer slots); {max(avail, 0) / 2**30:.3g} "
                          "GiB is available: fewer groups or node copies")


def _short_of(need: float) -> int | None:
    """The memory available where ``need`` bytes exceed it, else None (also below 256 MiB: not worth reading
    /proc for, and where the machine does not say)."""
    if need < 1 << 28:
        return None
    avail = available_memory_bytes()
    return avail if avail is not None and need > avail else None

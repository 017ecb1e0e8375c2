"""The node interface: the one contract every executor relies on.

A node kind implements two methods, side by side:

* ``forward(msg, port)`` — a message arrived on input ``port``; return what to send.
* ``backward(msg, port)`` — a gradient arrived on output ``port``; return what to send.

Both return a list of :class:`Send` (forward along an output port, or backward along an input port) and
:class:`Report` (a loss node telling the controller a loss value). A node never knows where its ports lead,
which chip it runs on, or what time it is: executors decide only *when* and *where* a message is
processed, so one node implementation serves the reference, simulated and multicore executors alike.

Executors call :meth:`Node.step`, which also returns the :class:`Work` the call did (FLOPs, bytes of
memory traffic and array operations) for the simulator's cost model. Payload bytes in and out are counted
here; a node kind adds its arithmetic, parameter traffic and array operations with :meth:`Node.charge`.

Counting array operations (``kernels``): one per numpy call that allocates or computes (each ufunc,
matmul, reduction, concatenate, gather by index array, slice assignment, in-place update, np.empty or
zeros, a copying astype), as one kernel launch each on an accelerator. Views (basic slicing, reshape,
np.split) and host-side scalar arithmetic are not counted. ``a[idx] -= b`` is three (gather, subtract,
scatter). Small ops cost their count times a per-operation overhead far more than their FLOPs or bytes.

Life cycle of per-instance state: ``save`` files a value under the message's tag ``(key, state)`` during
a training forward; the matching backward ``pop``\\ s it. Evaluation forwards (``training=False``) cache
nothing. Join buffers (:meth:`Node.join`) hold partial inputs of one tag until all ports have arrived
(:attr:`Node.join_observer`, where set, is told of each arrival).
When an instance has completed, :meth:`Node.holds` is False for its key (executors check this with the
public :meth:`Node.holds`, :meth:`Node.joining` and :meth:`Node.has_state`; the caches are the node's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ampsim.errors import GraphError
from ampsim.ir.message import Message

__all__ = ["Node", "Report", "Send", "Step", "Work", "nbytes_of"]


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``msg`` forward along output ``port`` or, if ``backward``, back along input ``port``."""

    backward: bool
    port: int
    msg: Message


@dataclass(frozen=True, slots=True)
class Report:
    """A value for the controller (a loss node's loss, counts, correct predictions), summed per node."""

    node: str
    key: int
    state: tuple[int, ...]
    values: dict[str, float]


@dataclass(slots=True)
class Work:
    """What one call cost: floating-point operations, bytes of memory traffic and array operations."""

    flops: float = 0.0
    bytes: float = 0.0
    #: separate array operations (numpy calls on a CPU, kernel launches on an accelerator)
    kernels: float = 0.0

    def __add__(self, other: Work) -> Work:
        return Work(self.flops + other.flops, self.bytes + other.bytes, self.kernels + other.kernels)

    def __iadd__(self, other: Work) -> Work:
        self.flops += other.flops
        self.bytes += other.bytes
        self.kernels += other.kernels
        return self


@dataclass(slots=True)
class Step:
    """The outcome of one :meth:`Node.step`: messages to route, reports for the controller, work done."""

    sends: list[Send]
    reports: list[Report]
    work: Work


@dataclass(slots=True)
class _Pending:
    """Partial inputs (or output gradients) of one tag, waiting for the rest of the ports."""

    parts: list[Any] = field(default_factory=list)
    missing: int = 0
    nbytes: int = 0  # of the parts held so far (counted in held_nbytes)


class Node:
    """Base class of every IR node kind. Subclasses set ``n_in``/``n_out`` and implement forward/backward.

    Widths (``in_width(port)``, ``out_width(port)``) are the size of a payload's last axis, or None when
    the node accepts any; graph validation compares them across every edge.
    """

    n_in: int = 1
    n_out: int = 1
    kind: str = "nppt"
    #: True for nodes that may route a message out of a loop (Cond); used by cycle validation.
    exits_loops: bool = False
    #: an observer of this node's joins, or None: after every :meth:`join` call it is called as
    #: ``join_observer(node, msg, part, complete)`` (``part``: the value this call added; ``complete``: whether
    #: the join completed). The recorder (:mod:`ampsim.executors.sim.recording`) sets it, then sets it back.
    join_observer: Callable[[Node, Message, Any, bool], None] | None = None

    def __init__(self, name: str, *, width: int | None = None) -> None:
        self.name = name
        #: the model's node this one is (a copy of): reports and dropout masks use it, so copies agree
        self.origin = name
        self.width = width
        self.training = True
        self._cache: dict[tuple, Any] = {}
        self._joins: dict[tuple, _Pending] = {}
        self._work = Work()
        #: bytes of per-instance state held now (caches, join buffers, stashes), kept incrementally
        self.held_nbytes = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- shape contract (override where ports differ) -------------------------------------------------
    def in_width(self, port: int) -> int | None:
        return self.width

    def out_width(self, port: int) -> int | None:
        return self.width

    # -- what a node kind implements -----------------------------------------------------------------
    def forward(self, msg: Message, port: int) -> list[Send | Report]:
        raise NotImplementedError

    def backward(self, msg: Message, port: int) -> list[Send | Report]:
        raise NotImplementedError

    # -- helpers for node kinds ----------------------------------------------------------------------
    @staticmethod
    def out(msg: Message, port: int = 0) -> Send:
        return Send(False, port, msg)

    @staticmethod
    def grad(msg: Message, port: int = 0) -> Send:
        return Send(True, port, msg)

    def charge(self, flops: float = 0.0, bytes: float = 0.0, kernels: float = 0.0) -> None:
        work = self._work
        work.flops += flops
        work.bytes += bytes
        work.kernels += kernels

    def save(self, msg: Message, value: Any) -> None:
        """Cache ``value`` for the backward of this visit (training forwards only)."""
        if not self.training:
            return
        if msg.tag in self._cache:
            raise GraphError(f"node {self.name}: two forward visits with the same state {msg.tag}; "
                             "the model must give each visit a distinct state")
        n = nbytes_of(value)
        self._cache[msg.tag] = (value, n)  # its size kept: counting a tuple of arrays twice costs microseconds
        self.held_nbytes += n

    def peek(self, msg: Message) -> Any:
        """The value :meth:`save` cached for ``msg``'s visit, left in place (None if there is none)."""
        entry = self._cache.get(msg.tag)
        return None if entry is None else entry[0]

    def pop(self, msg: Message) -> Any:
        try:
            value, n = self._cache.pop(msg.tag)
        except KeyError:
            raise GraphError(f"node {self.name}: backward for {msg.tag} without a matching forward") from None
        self.held_nbytes -= n
        return value

    def join(self, msg: Message, port: int, n_ports: int, value: Any = None) -> list[Any] | None:
        """Collect one value per port for ``msg.tag``; return them in port order once all have arrived.

        Returning values in *port* order (not arrival order) keeps every sum and concatenation independent
        of message timing, which is what makes executors agree bit for bit.
        """
        pending = self._joins.get(msg.tag)
        if pending is None:
            pending = self._joins[msg.tag] = _Pending([_MISSING] * n_ports, n_ports)
        if pending.parts[port] is not _MISSING:
            raise GraphError(f"node {self.name}: port {port} received {msg.tag} twice")
        part = pending.parts[port] = msg.payload if value is None else value
        pending.missing -= 1
        if pending.missing:
            n = nbytes_of(part)
            pending.nbytes += n
            self.held_nbytes += n
            parts = None
        else:
            del self._joins[msg.tag]
            self.held_nbytes -= pending.nbytes
            parts = pending.parts
        if self.join_observer is not None:
            self.join_observer(self, msg, part, parts is not None)
        return parts

    # -- what executors call -------------------------------------------------------------------------
    def step(self, backward: bool, msg: Message, port: int) -> Step:
        """Process one message; return what to send, what to report, and the work it took."""
        self._work = work = Work(bytes=msg.payload.nbytes)
        emitted = self.backward(msg, port) if backward else self.forward(msg, port)
        sends: list[Send] = []
        reports: list[Report] = []
        for item in emitted:
            if type(item) is Send:
                work.bytes += item.msg.payload.nbytes
                sends.append(item)
            else:
                reports.append(item)
        return Step(sends, reports, work)

    def holds(self, key: int) -> bool:
        """True while this node keeps cached or join-buffered state for instance ``key``.

        Once an instance's last message has been processed this must be False everywhere.
        """
        return any(t[0] == key for t in self._cache) or any(t[0] == key for t in self._joins)

    def has_state(self) -> bool:
        """True while this node keeps any per-instance state (a cache or a join buffer) at all; after a
        run has drained it must be False everywhere."""
        return bool(self._cache) or bool(self._joins)

    def joining(self, key: int) -> bool:
        """True while a join of this node waits for more inputs of instance ``key``. An instance with no
        message in flight that is still joining somewhere is deadlocked: the missing input never comes."""
        return bool(self._joins) and any(t[0] == key for t in self._joins)

    def held_bytes(self) -> int:
        """Bytes of per-instance state held now (caches, join buffers, stashes), for memory accounting."""
        return self.held_nbytes

    def reset(self) -> None:
        """Drop every cache and buffer (an aborted run); parameters are kept."""
        self._cache.clear()
        self._joins.clear()
        self.held_nbytes = 0


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def nbytes_of(obj: Any) -> int:
    """Bytes of the arrays in ``obj`` (an array, or lists and tuples of them, nested; anything else: 0)."""
    if type(obj) is np.ndarray:
        return obj.nbytes
    if isinstance(obj, (list, tuple)):
        n = 0
        for o in obj:
            n += o.nbytes if type(o) is np.ndarray else nbytes_of(o)
        return n
    return obj.nbytes if isinstance(obj, np.ndarray) else 0

"""Control flow and payload plumbing: Cond, Phi, Isu (routing by state) and Concat, Split, Slice (shape).

Control flow reads the message *state* (and the instance's immutable structure), never the payload. The
routing callables are picklable (module-level functions or frozen dataclasses, never lambdas) so a model
runs unchanged in worker processes:

* ``predicate(inst, state) -> port``  (Cond)
* ``update(state) -> state`` and its ``inverse``  (Isu)

Loops are written as in AMPNet::

    init ─► Phi ─► body ─► Isu(t+1) ─► Cond(t < n) ─┬─(0)─► back into Phi
                                                    └─(1)─► out of the loop

Every visit of a loop body carries a distinct state (the Isu makes it so), which is what lets each node
find its cached values under ``(key, state)`` on the way back. Cond is the only node kind with
``exits_loops = True``; graph validation rejects a cycle without one.

Backward contracts (the gradient message always carries the state of the forward message it answers):

========  =======================================================================================
Cond      a gradient arriving on any output port goes back to input 0 (nothing cached)
Phi       the gradient goes back to the input port the forward came in on (cached per tag)
Isu       the gradient's state is mapped through ``inverse`` so upstream caches match
Concat    the gradient is split by ``widths`` and sent back on each input port
Split     output gradients of one tag are joined **in port order** and concatenated
Slice     the gradient is zero-padded back to the input width
========  =======================================================================================

Array operations: Cond, Phi and Isu only route (no array work); splitting and slicing make views. What
allocates is charged: Concat's forward and Split's backward (one concatenate, however many parts) and
Slice's backward (np.zeros and a slice assignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ampsim.errors import GraphError
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Send

__all__ = ["Concat", "Cond", "Increment", "Isu", "LessThanField", "Phi", "Slice", "Split"]

State = tuple[int, ...]
Predicate = Callable[[Instance, State], int]


class Cond(Node):
    """Route a message to output ``predicate(inst, state)`` (0 ≤ port < n_out); payload untouched.

    Backward: a gradient from any output port is sent back to input 0 unchanged.
    """

    exits_loops = True

    def __init__(self, name: str, predicate: Predicate, n_out: int = 2, *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.predicate, self.n_out = predicate, n_out

    def forward(self, msg: Message, port: int) -> list[Send]:
        out = int(self.predicate(msg.inst, msg.state))
        if not 0 <= out < self.n_out:
            raise GraphError(f"node {self.name}: predicate chose port {out} of {self.n_out} for {msg.tag}")
        return [self.out(msg, out)]

    def backward(self, msg: Message, port: int) -> list[Send]:
        return [self.grad(msg, 0)]


class Phi(Node):
    """Merge ``n_in`` inputs into one output; remember (per tag) which input each message came from.

    Backward: the gradient goes back to that input port.
    """

    def __init__(self, name: str, n_in: int = 2, *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.n_in = n_in

    def forward(self, msg: Message, port: int) -> list[Send]:
        self.save(msg, port)
        return [self.out(msg)]

    def backward(self, msg: Message, port: int) -> list[Send]:
        return [self.grad(msg, self.pop(msg))]


class Isu(Node):
    """Invertible state update: forward sends the payload on with state ``update(state)``.

    Backward sends the gradient on with state ``inverse(state)``, i.e. the state the forward message
    arrived with, so the caches upstream are found. ``inverse(update(s)) == s`` must hold.
    """

    def __init__(self, name: str, update: Callable[[State], State], inverse: Callable[[State], State],
                 *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.update, self.inverse = update, inverse

    def forward(self, msg: Message, port: int) -> list[Send]:
        return [self.out(Message(msg.inst, self.update(msg.state), msg.payload))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        return [self.grad(Message(msg.inst, self.inverse(msg.state), msg.payload))]


class Concat(Node):
    """Join the payloads of one tag from all inputs (port order) and concatenate them on the last axis.

    Input ``p`` has width ``widths[p]``; backward splits the gradient by the same widths.
    """

    def __init__(self, name: str, widths: list[int] | tuple[int, ...]) -> None:
        super().__init__(name)
        self.widths = tuple(int(w) for w in widths)
        self.n_in = len(self.widths)
        self._cuts = np.cumsum(self.widths)[:-1].tolist()

    def in_width(self, port: int) -> int:
        return self.widths[port]

    def out_width(self, port: int) -> int:
        return sum(self.widths)

    def forward(self, msg: Message, port: int) -> list[Send]:
        parts = self.join(msg, port, self.n_in)
        if parts is None:
            return []
        self.charge(kernels=1)
        return [self.out(msg.with_payload(np.concatenate(parts, axis=-1)))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        return [self.grad(msg.with_payload(g), p)
                for p, g in enumerate(np.split(msg.payload, self._cuts, axis=-1))]


class Split(Node):
    """Split one payload on its last axis into ``widths``; part ``p`` goes out on port ``p``.

    Backward joins the output gradients of one tag **in port order** and concatenates them (every output
    must send a gradient back; end an unused part in a :class:`~ampsim.ir.nodes.groups.Sink`).
    """

    def __init__(self, name: str, widths: list[int] | tuple[int, ...]) -> None:
        super().__init__(name)
        self.widths = tuple(int(w) for w in widths)
        self.n_out = len(self.widths)
        self._cuts = np.cumsum(self.widths)[:-1].tolist()

    def in_width(self, port: int) -> int:
        return sum(self.widths)

    def out_width(self, port: int) -> int:
        return self.widths[port]

    def forward(self, msg: Message, port: int) -> list[Send]:
        return [self.out(msg.with_payload(x), p)
                for p, x in enumerate(np.split(msg.payload, self._cuts, axis=-1))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        parts = self.join(msg, port, self.n_out)
        if parts is None:
            return []
        self.charge(kernels=1)
        return [self.grad(msg.with_payload(np.concatenate(parts, axis=-1)))]


class Slice(Node):
    """Keep columns ``start:stop`` of a payload of width ``width`` (e.g. h out of an [h, c] state).

    Backward pads the gradient with zeros back to ``width``.
    """

    def __init__(self, name: str, start: int, stop: int, width: int) -> None:
        super().__init__(name)
        if not 0 <= start < stop <= width:
            raise GraphError(f"node {name}: slice {start}:{stop} outside width {width}")
        self.start, self.stop, self.full = start, stop, width

    def in_width(self, port: int) -> int:
        return self.full

    def out_width(self, port: int) -> int:
        return self.stop - self.start

    def forward(self, msg: Message, port: int) -> list[Send]:
        return [self.out(msg.with_payload(msg.payload[..., self.start:self.stop]))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        g = msg.payload
        full = np.zeros(g.shape[:-1] + (self.full,), dtype=g.dtype)
        full[..., self.start:self.stop] = g
        self.charge(kernels=2)
        return [self.grad(msg.with_payload(full))]


# -- picklable routing callables -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Increment:
    """State update ``state[index] += by`` (an Isu's update; ``Increment(i, -by)`` is its inverse)."""

    index: int = 0
    by: int = 1

    def __call__(self, state: State) -> State:
        s = list(state)
        s[self.index] += self.by
        return tuple(s)

    @property
    def inverse(self) -> Increment:
        return Increment(self.index, -self.by)


@dataclass(frozen=True, slots=True)
class LessThanField:
    """Cond predicate: port 0 while ``state[index] < inst.data[field]`` (stay in the loop), else port 1."""

    field: str
    index: int = 0

    def __call__(self, inst: Instance, state: State) -> int:
        return 0 if state[self.index] < inst.data[self.field] else 1

"""Fan-out and fan-in over instance structure: Bcast, Group, Ungroup, Sink.

Graph edges are one-to-one (graph.py), so every fan-out is a node:

* :class:`Bcast` copies a message to ``n_out`` outputs; backward **sums** the output gradients of one
  tag in **port order**.
* :class:`Ungroup` turns one message into a *variable* number of messages (one per child, edge,
  neighbour...) with extended states; backward gathers all member gradients and combines them.
* :class:`Group` collects all the messages of one (sub)key (the children of a tree node, the incoming
  edges of a graph node) and combines them by sum or concat; backward scatters.
* :class:`Sink` ends a branch whose value is not needed and, while training, answers with a zero
  gradient, so a Bcast (or Split) upstream of it can complete its backward.

Structure comes from picklable callables of the (immutable) instance and the state:

* Group: ``by(inst, member_state) -> (group_state, position, count)``. Members are combined in
  **position** order (0..count-1), never arrival order, so sums are bit-identical on every executor.
* Ungroup: ``members(inst, state) -> sequence of member states`` (position = index in the sequence).

Member states must be unique within an instance (they are the tags every downstream node caches by).

Zero members: an Ungroup whose ``members`` is empty sends nothing forward and, while training, at once
sends a zero gradient back, so whatever fed it (typically a Bcast) still completes its backward. A Group
is formed by its members' arrivals, so a group with no members never fires by itself; when a group may be
empty (a graph node with no incoming edges) build it with ``anchor=True``: input port 1 then takes exactly
one *anchor* message per group, carrying the group state (e.g. the node's own state out of a Bcast). The
anchor's payload is not combined (it only announces the group and supplies the leading shape), its
gradient is zero, and the expected member count comes from ``by.count(inst, group_state)``, which may be
0 (the group then emits zeros of width ``width``).

Array operations: copying a message to several ports and splitting a gradient make no array work (shared
payloads and views); sums charge one add per extra part, concatenations one, zero payloads one.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from ampsim.errors import GraphError
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Send

__all__ = ["Bcast", "Group", "Sink", "Ungroup"]

State = tuple[int, ...]


class Bcast(Node):
    """Copy the message to every output port (the payload is shared: nodes never write into payloads).

    Backward joins one gradient per output for the tag and sums them in port order.
    """

    def __init__(self, name: str, n_out: int = 2, *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.n_out = n_out

    def forward(self, msg: Message, port: int) -> list[Send]:
        return [self.out(msg, p) for p in range(self.n_out)]

    def backward(self, msg: Message, port: int) -> list[Send]:
        parts = self.join(msg, port, self.n_out)
        if parts is None:
            return []
        g = parts[0] + parts[1] if self.n_out > 1 else parts[0]
        for p in parts[2:]:
            g += p
        self.charge(flops=(self.n_out - 1) * g.size, kernels=self.n_out - 1)
        return [self.grad(msg.with_payload(g))]


class Sink(Node):
    """Absorb a forward message; while training, send back a zero gradient of the same shape."""

    n_out = 0

    def forward(self, msg: Message, port: int) -> list[Send]:
        if not self.training:
            return []
        self.charge(kernels=1)
        return [self.grad(msg.with_payload(np.zeros_like(msg.payload)))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        raise GraphError(f"node {self.name}: a Sink has no outputs to receive a gradient from")


class GroupBy(Protocol):
    def __call__(self, inst: Instance, state: State) -> tuple[State, int, int]: ...


class Group(Node):
    """Collect the members of a group and combine them in position order.

    ``combine``: ``"sum"``; ``"concat"`` (last axis: [m0, m1, ...]); ``"rows"`` (first axis: stack the
    members' rows into one batch, e.g. every node of a tree into one classifier message, or every atom of
    a molecule into one readout message).

    ``by(inst, member_state) -> (group_state, position, count)`` names the member's group, its position
    (0 ≤ position < count) and the group size. The group's message carries ``group_state``. ``width`` is
    the member width (the output width for sum and rows, ``width * members`` for concat when every group
    has ``members`` members).

    Backward scatters: member ``k`` gets a copy of the gradient (sum), its slice ``k`` (concat) or its
    rows (rows), with its own original state. With ``anchor=True`` see the module docstring (port 1,
    zero gradient).
    """

    def __init__(self, name: str, by: GroupBy, combine: str = "sum", *, width: int | None = None,
                 members: int | None = None, anchor: bool = False) -> None:
        if combine not in ("sum", "concat", "rows"):
            raise GraphError(f"node {name}: combine must be 'sum', 'concat' or 'rows', got {combine!r}")
        if anchor and width is None:
            raise GraphError(f"node {name}: an anchored Group needs its member width (it may be empty)")
        super().__init__(name, width=width)
        self.by, self.combine, self.members, self.anchor = by, combine, members, anchor
        self.n_in = 2 if anchor else 1

    def in_width(self, port: int) -> int | None:
        return self.width if port == 0 else None

    def out_width(self, port: int) -> int | None:
        if self.combine != "concat" or self.width is None:
            return self.width
        return self.width * self.members if self.members else None

    def forward(self, msg: Message, port: int) -> list[Send]:
        if port == 0:
            gstate, pos, count = self.by(msg.inst, msg.state)
            gstate = tuple(gstate)
            if not 0 <= pos < count:
                raise GraphError(f"node {self.name}: member {msg.tag} has position {pos} of {count}")
        else:
            gstate, count = msg.state, int(self.by.count(msg.inst, msg.state))
            pos = count
        gmsg = Message(msg.inst, gstate, msg.payload)
        parts = self.join(gmsg, pos, count + self.anchor, (msg.state, msg.payload))
        if parts is None:
            return []
        states = [s for s, _ in parts[:count]]
        xs = [x for _, x in parts[:count]]
        anchor_shape = parts[count][1].shape if self.anchor else None
        cuts = None
        if not xs:  # an anchored, empty group
            shape = ((0,) + anchor_shape[1:-1] if self.combine == "rows" else anchor_shape[:-1]) + (
                0 if self.combine == "concat" else self.width,)
            y = np.zeros(shape, dtype=parts[count][1].dtype)
            self.charge(kernels=1)
        elif self.combine == "concat":
            y = np.concatenate(xs, axis=-1)
            self.charge(kernels=1)
        elif self.combine == "rows":
            y = np.concatenate(xs, axis=0)
            cuts = np.cumsum([x.shape[0] for x in xs[:-1]]).tolist()
            self.charge(kernels=2)  # concatenate, cumsum of the row counts
        else:
            y = xs[0] + xs[1] if count > 1 else xs[0].copy()
            for x in xs[2:]:
                y += x
            self.charge(flops=(count - 1) * y.size, kernels=max(count - 1, 1))  # adds, or one copy
        self.save(gmsg, (states, anchor_shape, cuts))
        return [self.out(gmsg.with_payload(y))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        states, anchor_shape, cuts = self.pop(msg)
        g = msg.payload
        if self.combine == "concat" and states:
            gs = np.split(g, len(states), axis=-1)
        elif self.combine == "rows" and states:
            gs = np.split(g, cuts, axis=0)
        else:
            gs = [g] * len(states)
        out = [self.grad(Message(msg.inst, s, gk)) for s, gk in zip(states, gs)]
        if self.anchor:
            out.append(self.grad(Message(msg.inst, msg.state, np.zeros(anchor_shape, dtype=g.dtype)), 1))
            self.charge(kernels=1)
        return out


class Ungroup(Node):
    """One message → one message per member state ``members(inst, state)`` (possibly none).

    ``mode``: ``"copy"`` (every member gets the payload), ``"slice"`` (member ``k`` gets slice ``k`` of
    ``n`` equal slices of the last axis) or ``"rows"`` (member ``k`` gets row ``k``, e.g. one batched
    leaf computation fanned out to the leaves).

    Backward gathers the gradients of all members (the count is known from the forward) and combines them
    in position order: sum for ``copy``, concatenation on the last axis for ``slice``, on the first axis
    for ``rows``. With zero members, forward emits nothing and (training) returns a zero gradient at once.
    """

    def __init__(self, name: str, members: Callable[[Instance, State], Sequence[State]], mode: str = "copy",
                 *, width: int | None = None) -> None:
        if mode not in ("copy", "slice", "rows"):
            raise GraphError(f"node {name}: mode must be 'copy', 'slice' or 'rows', got {mode!r}")
        super().__init__(name, width=width)
        self.members, self.mode = members, mode

    def out_width(self, port: int) -> int | None:
        return None if self.mode == "slice" else self.width

    def forward(self, msg: Message, port: int) -> list[Send]:
        states = [tuple(s) for s in self.members(msg.inst, msg.state)]
        n = len(states)
        x = msg.payload
        if n == 0:
            if not self.training:
                return []
            self.charge(kernels=1)
            return [self.grad(msg.with_payload(np.zeros_like(x)))]
        if self.mode == "copy":
            xs = [x] * n
        elif self.mode == "slice":
            if x.shape[-1] % n:
                raise GraphError(f"node {self.name}: width {x.shape[-1]} does not split into {n} members")
            xs = np.split(x, n, axis=-1)
        else:
            if x.shape[0] != n:
                raise GraphError(f"node {self.name}: {x.shape[0]} rows for {n} members at {msg.tag}")
            xs = [x[k:k + 1] for k in range(n)]
        out = []
        for k, (s, xk) in enumerate(zip(states, xs)):
            m = Message(msg.inst, s, xk)
            self.save(m, (msg.state, k, n))
            out.append(self.out(m))
        return out

    def backward(self, msg: Message, port: int) -> list[Send]:
        origin, k, n = self.pop(msg)
        omsg = Message(msg.inst, origin, msg.payload)
        parts = self.join(omsg, k, n)
        if parts is None:
            return []
        if self.mode == "copy":
            g = parts[0] + parts[1] if n > 1 else parts[0]
            for p in parts[2:]:
                g += p
            self.charge(flops=(n - 1) * g.size, kernels=n - 1)
        else:
            g = np.concatenate(parts, axis=-1 if self.mode == "slice" else 0)
            self.charge(kernels=1)
        return [self.grad(omsg.with_payload(g))]

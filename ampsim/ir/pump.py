"""The message pump: one instance's messages processed to completion in the reference order.

The reference order is a FIFO queue: an instance's first messages go in; each message popped is processed
by its node (:meth:`~ampsim.ir.node.Node.step`) and what the node sends is appended, routed along the
graph's edges. Forward and backward messages share the queue. It is the order of the reference executor,
and the one every tool that needs "what does one instance do" uses (placement profiles, calibration
workloads, compare's message counts), so it is written once, here.

    for visit in pump(graph, model.inject(inst)):
        visit.node, visit.backward, visit.step.work   # every call, in order
        visit.targets                                 # where its sends went: (node, port, send)

A pump only moves messages; completing the instance (the muf rule's ``complete``) is the caller's call.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

from ampsim.ir.graph import Graph
from ampsim.ir.message import Message
from ampsim.ir.node import Node, Send, Step

__all__ = ["Visit", "pump"]


@dataclass(frozen=True, slots=True)
class Visit:
    """One processed message: the node, the direction, the message, what the call returned, where its
    sends went, and (with ``timed=True``) the time the ``step`` call took, ``time_s`` (in seconds)."""

    node: Node
    backward: bool
    msg: Message
    step: Step
    targets: list[tuple[Node, int, Send]]
    time_s: float = 0.0


def pump(graph: Graph, first: Iterable[tuple[str, Message]], *, timed: bool = False) -> Iterator[Visit]:
    """Process ``first`` (``(input node name, message)`` pairs) and everything it causes, in FIFO order,
    yielding each :class:`Visit` after its node ran. ``graph`` must be validated (it has routes)."""
    nodes, target = graph.nodes, graph.target
    queue = deque((False, nodes[name], 0, msg) for name, msg in first)
    clock = time.perf_counter
    while queue:
        backward, node, port, msg = queue.popleft()
        if timed:
            t0 = clock()
            step = node.step(backward, msg, port)
            time_s = clock() - t0
        else:
            step, time_s = node.step(backward, msg, port), 0.0
        targets = []
        for s in step.sends:
            dst, dport = target(node.name, s.backward, s.port, s.msg.key)
            targets.append((dst, dport, s))
            queue.append((s.backward, dst, dport, s.msg))
        yield Visit(node, backward, msg, step, targets, time_s)

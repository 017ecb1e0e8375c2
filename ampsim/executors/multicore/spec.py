"""What a worker process of the multicore executor is given (:class:`WorkerSpec`), and its routing table.

Kept apart from :mod:`.worker` (the event loop) so the executor and the calibration can read the tuning
defaults without the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ampsim.executors.multicore import protocol as P
from ampsim.executors.multicore.replicas import CopySpec
from ampsim.executors.multicore.transport import Channel
from ampsim.ir.node import Node

__all__ = ["WorkerSpec", "route_table"]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs; inherited through fork or pickled for forkserver/spawn. Frozen: the
    controller builds one per worker and the worker only reads it."""

    index: int
    names: list[str]  # every node of the graph, by id
    nodes: dict[int, Node]  # the nodes this worker owns, by id
    owner: list[int]  # node id -> worker
    route: dict[tuple[int, bool, int], tuple[int, int]]  # (node, backward, port) -> (node, port)
    spread: dict[tuple[int, bool, int], tuple[tuple[int, ...], int, int]]  # ... -> (copies, port, stride)
    copies: dict[int, CopySpec]  # the synchronized copies this worker owns (replicas)
    controller: Channel
    peers: dict[int, Channel]
    close_fds: list[Channel] = field(default_factory=list)  # inherited ends that belong to others
    current: Any = None  # shared int64 array: what each worker is running now (for crash reports)
    read_s: float = 0.0002  # read the channels at least this often while busy
    flush_s: float = 0.0002  # hand outgoing batches to the kernel at least this often
    flush_bytes: int = 1 << 20  # ... or as soon as this many payload bytes are waiting
    report_s: float = 0.002  # return weights and loss reports at least this often
    report_min_s: float = 0.0003  # ... and this soon after an instance's last message here ended here
    spin_s: float = 0.0  # on running out of work, poll without sleeping this long before blocking
    parent_pid: int = 0  # the controller's pid when it is this process's parent (not forkserver), else 0
    trace: bool = False  # time every node step and update job (``executor.trace``: the run's trace.json)


def route_table(spec: WorkerSpec) -> list[list[list[tuple | None]]]:
    """``routes[node][backward][port]``: ``(node, port, worker, kind)`` for a plain edge, or
    ``(destinations, stride, None, None)`` for an edge into a copy set (the instance key picks
    ``destinations[(key // stride) % len(destinations)]``, each a plain entry)."""
    routes: list[list[list[tuple | None]]] = [[[], []] for _ in spec.names]

    def slot(i: int, backward: bool, port: int, entry: tuple) -> None:
        slots = routes[i][int(backward)]
        slots.extend([None] * (port + 1 - len(slots)))
        slots[port] = entry

    for (i, backward, port), (j, dport) in sorted(spec.route.items()):
        slot(i, backward, port, (j, dport, spec.owner[j], P.BWD if backward else P.FWD))
    for (i, backward, port), (js, dport, stride) in sorted(spec.spread.items()):
        slot(i, backward, port, (tuple((j, dport, spec.owner[j], P.BWD if backward else P.FWD) for j in js),
                                 stride, None, None))
    return routes

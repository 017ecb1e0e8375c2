"""The order in which a sweep hands its points to its workers: grouped by machine where they span more machines
than a worker keeps the routes of.

A worker keeps the routing tables of the :data:`~ampsim.hardware.routing.ROUTING_SLOTS` machines (routing keys:
structure, and latencies where links differ) it used last, and the route ids of as many
(:mod:`~ampsim.executors.sim.linktable`). A sweep whose grid crosses more machines than that with an axis
outside them (bandwidth, say) came back to each machine after the others had pushed it out, and found its
routes anew for every point: 0.16 s a point on 1,024 chips. :func:`by_machine` hands the points of one machine
one after the other, so that a worker finds a machine's routes once. Only the order in which points run changes:
each point's results are its own (the caches are exact), and the table is written in the sweep's order of points
(:func:`~ampsim.sweeps.run.write_sweep_table`), whatever order they ran in.
"""

from __future__ import annotations

from typing import Any, Hashable, Protocol, Sequence, TypeVar

from ampsim.hardware.routing import ROUTING_SLOTS

__all__ = ["by_machine"]


class _OnAMachine(Protocol):
    machine: Any  # its machine's routing key (None off the simulator)


T = TypeVar("T", bound=_OnAMachine)


def by_machine(tasks: Sequence[T], slots: int = ROUTING_SLOTS) -> list[T]:
    """``tasks`` (each with a ``machine``: its routing key) with those of one machine together, the machines in
    the order of their first task and each machine's in the order given; as given where they span ``slots``
    machines or fewer (a worker keeps them all: the order given also keeps together the points that share
    other things, a recording)."""
    groups: dict[Hashable, list[T]] = {}
    for t in tasks:
        groups.setdefault(t.machine, []).append(t)
    if len(groups) <= slots:
        return list(tasks)
    return [t for group in groups.values() for t in group]

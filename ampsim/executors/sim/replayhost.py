"""What a replay needs of the simulated executor it is part of: :class:`ReplayHost`.

The replay (:mod:`~ampsim.executors.sim.replay` and the loops built on it) drives its executor's machine,
counters and controller state; this protocol names exactly those, so the dependency stays one way and
visible (the executor, :class:`~ampsim.executors.sim.executor.SimExecutor`, is the one host).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import simpy

from ampsim.executors.sim.chips import Chip
from ampsim.executors.sim.network import Network

__all__ = ["ReplayHost"]


class ReplayHost(Protocol):
    """The simulated executor as a replay drives it (:class:`~ampsim.executors.sim.executor.SimExecutor`
    is the one): its machine, its counters and the controller state it shares with the numpy path. Every
    member is public: the replay uses its host's admission slots, admission window and receive rule
    through these, never through the executor's private state."""

    model: Any
    system: Any
    graph: Any
    env: simpy.Environment
    network: Network
    chips: list[Chip]
    where: dict[str, Chip]
    trace: Any
    mak: int
    messages: int
    framed_messages: int
    collectives: Any  # Collectives | None (replica synchronization)
    completions: int  # serial of instance completions (orders update jobs against synchronization gates)
    admission_window: Any  # AdmissionWindow | None (staleness-bounded admission)
    admission_slots: simpy.Container | None  # mak slots: one per instance in flight (the SimPy controller)
    on_done: Callable[[int], None] | None  # told of each completed instance (this train call's callback)

    def wait_for_admission(self, in_flight: Callable[[], int]) -> Iterator[simpy.Event]:
        """Wait while the admission window is full (``in_flight()`` instances in flight)."""

    def window_full(self, in_flight: int) -> bool:
        """Whether the admission window holds the next instance back."""

    def admission_completed(self) -> None:
        """A training instance completed: the admission window counts it."""

    def controller_completed(self, messages: int) -> None:
        """An instance that caused ``messages`` completed: the controller's CPU for it."""

    def controller_learns(self, act: Callable[[], None]) -> None:
        """Run ``act`` when the controller learns of a completion (at once, or after its round trip)."""

    def controller_puts(self, chip: Chip, item: Any, nbytes: int) -> None:
        """The controller puts ``item`` (``nbytes`` bytes) on ``chip``'s queue."""

    def admission_wake(self) -> None:
        """A slot was freed: a controller waiting on the admission window re-checks it."""

    def receive(self, chip: Chip, msgs: list, framed: bool = True) -> None:
        """Messages from another chip arrive at ``chip``: it pays for them and queues them."""

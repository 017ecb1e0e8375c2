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
    is the one): its machine, its counters and the controller state it shares with the numpy path. The
    replay is part of that executor, so it may use its admission slots and receive rule."""

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
    _completions: int
    _window: Any  # AdmissionWindow | None (staleness-bounded admission)
    _slots: simpy.Container | None
    _on_done: Callable[[int], None] | None

    def _admission(self, in_flight: Callable[[], int]) -> Iterator[simpy.Event]: ...

    def _window_full(self, in_flight: int) -> bool: ...

    def _admission_completed(self) -> None: ...

    def _controller_completed(self, messages: int) -> None: ...

    def _controller_learns(self, act: Callable[[], None]) -> None: ...

    def _from_controller(self, chip: Chip, item: Any, nbytes: int) -> None: ...

    def _admission_wake(self) -> None: ...

    def _receive(self, chip: Chip, msgs: list, framed: bool = True) -> None: ...

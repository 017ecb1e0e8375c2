"""Chip memory as the placement strategies see it: the bytes each node holds on its chip from the start of a
run, and each chip's room for them.

What is known before the run is what the simulator counts against a chip's ``memory_bytes`` at t=0
(:meth:`ampsim.executors.sim.chips.Chip.account`): a parameterized node's parameters and, where
``train.count_optimizer_state`` counts it, its optimizer's state (:func:`resident_bytes`). What a run adds
later is not: the activations each instance in flight keeps until its backward, the messages queued at a
chip, stashed parameter versions (``train.staleness = "stash"``) and a replica's synchronization buffers
depend on the schedule (``train.mak``, the links, the data) and fail as they happen, as before.

A strategy that respects memory places a node only on a chip whose room holds it (:class:`Room`); where a
placement fits, it is the one the strategy makes without looking at memory: the room only turns a node away
from a chip it would overfill.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ampsim.errors import NoRoom
from ampsim.models.base import Model

__all__ = ["Room", "resident_bytes"]


def resident_bytes(model: Model) -> dict[str, int]:
    """Bytes each parameterized node of ``model`` holds on its chip for the whole run: its parameters and its
    optimizer's state where that is counted (``node.state_bytes``: 0 unless ``train.count_optimizer_state``),
    the amount the simulator charges its chip at t=0. Nodes without parameters hold nothing from the start."""
    return {node.name: node.param_bytes + node.state_bytes for node in model.graph.param_nodes}


class Room:
    """Each chip's memory (``memory_bytes``) less the resident bytes of the nodes placed on it so far.

    Examples
    --------
    >>> from ampsim.hardware.spec import ChipSpec
    >>> small, big = ChipSpec(1e9, 1e9, 0.0, 1, 100), ChipSpec(1e9, 1e9, 0.0, 1, 1000)
    >>> room = Room([small, big], {"w": 400}, "exp.toml", "greedy")
    >>> room.fits("w", 0), room.fits("w", 1), room.fits("relu", 0)
    (False, True, True)
    >>> room.take("w", 1); room.free
    [100, 600]
    """

    def __init__(self, chips: Sequence, resident: dict[str, int], source: str, strategy: str,
                 memory_from: str = "") -> None:
        self.memory = [int(c.memory_bytes) for c in chips]
        self.free = list(self.memory)
        self.resident, self.source, self.strategy = resident, source, strategy
        #: the override that set the chips' memory_bytes (``--set hardware.chip.memory_bytes``), "" for the files':
        #: a line that names the strategy's place names the memory's too where it is not the experiment file
        self.memory_from = memory_from

    def need(self, name: str) -> int:
        """The bytes node ``name`` holds from the start (0 for a node without parameters)."""
        return self.resident.get(name, 0)

    def fits(self, name: str, chip: int) -> bool:
        return self.need(name) <= self.free[chip]

    def take(self, name: str, chip: int) -> None:
        """Node ``name`` is placed on ``chip``."""
        self.free[chip] -= self.need(name)

    def refuse_oversized(self, order: Iterable[str], chips: range) -> None:
        """Refuse, before any is placed, the first node of ``order`` (the order a strategy places them in) that
        holds more than the memory_bytes of every one of ``chips``: placed in turn, a smaller node before it can
        find the chips filled and be the one refused, its line asking for more chips, which cannot help."""
        largest = max(self.memory[c] for c in chips)
        name = next((nm for nm in order if self.need(nm) > largest), None)
        if name is not None:
            raise self.full(name, chips)

    def full(self, name: str, chips: range) -> NoRoom:
        """The one-line error for node ``name``, which fits on none of ``chips`` (a ConfigError; a sweep records
        its point as out of memory, with the chip of the most room: :class:`~ampsim.errors.NoRoom`)."""
        what = (f"{self.source}: placement.strategy: {self.strategy} finds no chip with room for node {name} "
                f"({self.need(name):,} bytes of parameters and optimizer state)")
        best = max(chips, key=lambda c: (self.free[c], -c))
        held = self.memory[best] - self.free[best] + self.need(name)  # (what the chip would hold at t=0 with it)
        where = {"chip": best, "time_s": 0.0, "used_bytes": held, "memory_bytes": self.memory[best],
                 "param_bytes": held, "instance_bytes": 0, "queued_bytes": 0, "node": name}
        largest = max(self.memory[c] for c in chips)
        set_by = f", set by {self.memory_from}" if self.memory_from else ""
        if self.need(name) > largest:
            of = f"chip {chips[0]}" if len(chips) == 1 else f"any of chips {chips[0]}..{chips[-1]}"
            return NoRoom(f"{what}: more than the memory_bytes of {of} (at most {largest:,}{set_by}); give the chips "
                          "more memory", where)
        span = f"chip {chips[0]} has" if len(chips) == 1 else f"chips {chips[0]}..{chips[-1]} have"
        return NoRoom(f"{what}: {span} at most {self.free[best]:,} bytes free (chip {best}: its memory_bytes"
                      f"{set_by + ',' if set_by else ''} less the nodes placed on it before); use more chips, chips "
                      "with more memory, or an explicit placement.map", where)

"""Messages: what flows along the edges of the IR graph.

A message is *(instance, state, payload)*. The payload is a numpy array (activations forward, gradients
backward; its first axis may hold a small batch). The state is a tuple of ints holding the control data
of this message: a time step, a tree position, a graph node or edge id. Control flow reads the state
(and the instance's immutable structure) only, never the payload. A backward message carries the same
state as the forward message it answers, so a node finds what it cached for that visit under
``msg.tag == (instance key, state)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Instance", "Message"]


@dataclass(frozen=True, eq=False, slots=True)
class Instance:
    """One training example (or one small batch), as the controller admits it.

    ``data`` holds the instance's structure and targets (a tree's shape and labels, a list's length, a
    molecule's bonds). Nodes read it to route messages and to find targets; nobody modifies it.
    """

    key: int
    data: Any


@dataclass(frozen=True, slots=True)
class Message:
    inst: Instance
    state: tuple[int, ...]
    payload: np.ndarray

    @property
    def key(self) -> int:
        return self.inst.key

    @property
    def tag(self) -> tuple[int, tuple[int, ...]]:
        """Where a node files what it caches for this visit; also the canonical sort order."""
        return (self.inst.key, self.state)

    def with_payload(self, payload: np.ndarray) -> Message:
        return Message(self.inst, self.state, payload)

    @property
    def nbytes(self) -> int:
        return int(self.payload.nbytes)

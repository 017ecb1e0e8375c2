"""Where messages enter the graph."""

from __future__ import annotations

import numpy as np

from ampsim.ir.message import Message
from ampsim.ir.node import Node, Send

__all__ = ["Input"]


class Input(Node):
    """An entry point: the controller injects an instance's first messages here.

    Forward casts a floating payload to the run's dtype and passes it on. Backward absorbs the gradient
    that arrives back (nothing upstream needs it).
    """

    n_in = 0

    def __init__(self, name: str, *, width: int | None = None, dtype: np.dtype | type = np.float32) -> None:
        super().__init__(name, width=width)
        self.dtype = np.dtype(dtype)

    def forward(self, msg: Message, port: int) -> list[Send]:
        x = msg.payload
        if x.dtype.kind == "f" and x.dtype != self.dtype:
            msg = msg.with_payload(x.astype(self.dtype))
            self.charge(kernels=1)
        return [self.out(msg)]

    def backward(self, msg: Message, port: int) -> list[Send]:
        return []

"""Loss nodes: where forward turns into backward.

A loss node reads the instance's target for the message's state, reports the loss (and counts for the
validation metric) to the controller, and, while training, sends the first gradient straight back.
Targets come from a picklable callable ``target(inst, state) -> array``, so the same model runs in worker
processes. A classification target of -1 marks a row without a label: it gets zero gradient and is not
counted (e.g. neutral nodes in binary sentiment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ampsim.errors import RunError
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Report, Send

Target = Callable[[Instance, tuple[int, ...]], np.ndarray]


@dataclass(frozen=True, slots=True)
class Field:
    """Target read from ``inst.data[name]`` (whole array, e.g. a batch's labels)."""

    name: str

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> Any:
        return inst.data[self.name]


def _check_finite(node: str, msg: Message, loss: float) -> None:
    if not np.isfinite(loss):
        raise RunError(f"loss became {loss} at node {node} on instance {msg.key} state {msg.state}; "
                       "lower train.lr or set train.clip_norm")


class SoftmaxCrossEntropy(Node):
    """Mean (or sum) over rows of -log softmax(logits)[target]; reports loss, n and correct."""

    n_out = 0

    def __init__(self, name: str, n_classes: int, target: Target, *, reduction: str = "mean") -> None:
        super().__init__(name, width=n_classes)
        self.target, self.reduction = target, reduction

    def forward(self, msg: Message, port: int) -> list[Send | Report]:
        z = msg.payload
        t = np.asarray(self.target(msg.inst, msg.state)).reshape(-1)
        valid = t >= 0
        n = int(valid.sum())
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.flatnonzero(valid)
        loss = float(-logp[rows, t[rows]].sum())
        _check_finite(self.name, msg, loss)
        correct = int((logp[rows].argmax(axis=1) == t[rows]).sum())
        # valid (>=, sum), max, -, exp, sum, log, -, flatnonzero, loss (t[rows], gather, sum),
        # correct (logp[rows], argmax, t[rows], ==, sum)
        self.charge(flops=6 * z.size, kernels=17)
        out: list[Send | Report] = [Report(self.name, msg.key, msg.state,
                                           {"loss": loss, "n": n, "correct": correct})]
        if self.training:
            g = np.exp(logp)
            g[rows, t[rows]] -= 1
            g[~valid] = 0
            if self.reduction == "mean" and n:
                g /= n
            # exp; t[rows] and the gather, subtract, scatter; ~valid and the masked store; the scaling
            self.charge(kernels=7 + (self.reduction == "mean" and n > 0))
            out.append(self.grad(msg.with_payload(g)))
        return out


class MeanSquaredError(Node):
    """Mean over rows of the squared error summed over outputs; reports loss, n and absolute error."""

    n_out = 0

    def __init__(self, name: str, width: int, target: Target, *, reduction: str = "mean") -> None:
        super().__init__(name, width=width)
        self.target, self.reduction = target, reduction

    def forward(self, msg: Message, port: int) -> list[Send | Report]:
        y = msg.payload
        raw = self.target(msg.inst, msg.state)
        t = np.asarray(raw, dtype=y.dtype).reshape(y.shape)
        diff = y - t
        n = y.shape[0]
        loss = float(np.sum(diff * diff))
        _check_finite(self.name, msg, loss)
        # -, *, sum, abs, sum; plus a cast when the target is not already an array of the payload's dtype
        cast = not (isinstance(raw, np.ndarray) and raw.dtype == y.dtype)
        self.charge(flops=3 * y.size, kernels=5 + cast)
        out: list[Send | Report] = [Report(self.name, msg.key, msg.state,
                                           {"loss": loss, "n": n, "abs_err": float(np.abs(diff).sum())})]
        if self.training:
            g = 2 * diff
            if self.reduction == "mean":
                g /= n
            self.charge(kernels=1 + (self.reduction == "mean"))
            out.append(self.grad(msg.with_payload(g)))
        return out

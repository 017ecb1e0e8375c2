"""Loss nodes: where forward turns into backward.

A loss node reads the instance's target for the message's state, reports the loss (and counts for the
validation metric) to the controller, and, while training, sends the first gradient straight back.
Targets come from a picklable callable ``target(inst, state) -> array``, so the same model runs in worker
processes. A classification target of -1 marks a row without a label: it gets zero gradient and is not
counted (e.g. neutral nodes in binary sentiment).

Divergence: a loss that is not finite, or whose magnitude per labelled row exceeds the node's ``max_loss``
(``train.max_loss``, set on every loss node by the plan stage with :func:`configure_losses`, so every
executor applies the same rule; 0 = no bound), stops the run with one :class:`~ampsim.errors.Diverged` line
naming the node, the instance and the value. The check is host arithmetic on a number already computed: it
charges no work, so simulated times do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ampsim.errors import Diverged
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Report, Send

__all__ = ["ADVICE", "Field", "LossNode", "MeanSquaredError", "SoftmaxCrossEntropy", "configure_losses"]

Target = Callable[[Instance, tuple[int, ...]], np.ndarray]


@dataclass(frozen=True, slots=True)
class Field:
    """Target read from ``inst.data[name]`` (whole array, e.g. a batch's labels)."""

    name: str

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> Any:
        return inst.data[self.name]


#: what a divergence's line advises where nothing else in its run is suspect (a model's own rate diverged as well:
#: the SST embedding's was blamed on train.lr); the plan stage gives each run's loss nodes its own
#: (:func:`ampsim.divergence.divergence_advice`: a replica averaging or a delay predictor set to extremes)
ADVICE = "lower train.lr (or a rate of the model's own, e.g. model.embedding_lr) or set train.clip_norm"


class LossNode(Node):
    """A node that turns forward into backward and reports its loss (kind ``nppt``, no outputs).

    ``max_loss`` bounds the loss per labelled row (the unit of the ``train_loss`` column); 0 (the default
    of a node built outside the plan stage) checks only that the loss is finite.
    """

    n_out = 0
    max_loss: float = 0.0
    #: what the divergence line advises changing (:func:`configure_losses`)
    advice: str = ADVICE
    #: whether :meth:`check_loss` checks: the recorder (:mod:`ampsim.executors.sim.recording`) turns it off
    #: while it runs batches at weights that never train, then back on
    checks_loss: bool = True

    def check_loss(self, msg: Message, loss: float, n: int) -> None:
        """Raise the one-line :class:`~ampsim.errors.Diverged` if ``loss`` (summed over ``n`` labelled rows of
        ``msg``) is not finite or exceeds ``max_loss`` per row (while :attr:`checks_loss`)."""
        if not self.checks_loss:
            return
        if not np.isfinite(loss):
            raise Diverged(f"loss became {loss} at node {self.name} on instance key {msg.key} state {msg.state}; "
                           f"{self.advice}")
        per_row = abs(loss) / max(n, 1)
        if self.max_loss and per_row > self.max_loss:
            raise Diverged(f"loss became {per_row:.4g} per row at node {self.name} on instance key {msg.key} state "
                           f"{msg.state}, above train.max_loss = {self.max_loss:g}: the run diverged; "
                           f"{self.advice}")


def configure_losses(nodes: Iterable[Node], max_loss: float, advice: str = ADVICE) -> None:
    """Give every loss node among ``nodes`` the divergence bound ``max_loss`` (0: finite check only) and what its
    divergence line advises changing (``advice``)."""
    if max_loss < 0:
        raise ValueError(f"max_loss must be >= 0, got {max_loss}")
    for node in nodes:
        if isinstance(node, LossNode):
            node.max_loss, node.advice = float(max_loss), advice


class SoftmaxCrossEntropy(LossNode):
    """Mean (or sum) over rows of -log softmax(logits)[target]; reports loss, n and correct."""

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
        self.check_loss(msg, loss, n)
        correct = int((logp[rows].argmax(axis=1) == t[rows]).sum())
        # valid (>=, sum), max, -, exp, sum, log, -, flatnonzero, loss (t[rows], gather, sum),
        # correct (logp[rows], argmax, t[rows], ==, sum)
        self.charge(flops=6 * z.size, kernels=17)
        out: list[Send | Report] = [Report(self.origin, msg.key, msg.state,
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


class MeanSquaredError(LossNode):
    """Mean over rows of the squared error summed over outputs; reports loss, n and absolute error."""

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
        self.check_loss(msg, loss, n)
        # -, *, sum, abs, sum; plus a cast when the target is not already an array of the payload's dtype
        cast = not (isinstance(raw, np.ndarray) and raw.dtype == y.dtype)
        self.charge(flops=3 * y.size, kernels=5 + cast)
        out: list[Send | Report] = [Report(self.origin, msg.key, msg.state,
                                           {"loss": loss, "n": n, "abs_err": float(np.abs(diff).sum())})]
        if self.training:
            g = 2 * diff
            if self.reduction == "mean":
                g /= n
            self.charge(kernels=1 + (self.reduction == "mean"))
            out.append(self.grad(msg.with_payload(g)))
        return out

"""Non-parameterized payload transforms (NPPT): elementwise maps and their vector-Jacobian products."""

from __future__ import annotations

import numpy as np

from ampsim.ir.message import Message
from ampsim.ir.node import Node, Send

__all__ = ["Add", "Mul", "ReLU", "Sigmoid", "Tanh"]


class ReLU(Node):
    def forward(self, msg: Message, port: int) -> list[Send]:
        x = msg.payload
        mask = x > 0
        self.save(msg, mask)
        self.charge(flops=x.size, kernels=2)  # compare, multiply
        return [self.out(msg.with_payload(x * mask))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        self.charge(flops=msg.payload.size, kernels=1)
        return [self.grad(msg.with_payload(msg.payload * self.pop(msg)))]


class _OutputMap(Node):
    """y = f(x) elementwise, where f'(x) is a function of y alone (tanh, sigmoid): cache y only."""

    flops_forward, flops_backward = 4, 3
    #: array operations of f, and of dy * df(y) including the multiply (set by each subclass)
    kernels_forward: int
    kernels_backward: int

    def f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def df(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, msg: Message, port: int) -> list[Send]:
        y = self.f(msg.payload)
        self.save(msg, y)
        self.charge(flops=self.flops_forward * y.size, kernels=self.kernels_forward)
        return [self.out(msg.with_payload(y))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        y = self.pop(msg)
        self.charge(flops=self.flops_backward * y.size, kernels=self.kernels_backward)
        return [self.grad(msg.with_payload(msg.payload * self.df(y)))]


class Tanh(_OutputMap):
    kernels_forward, kernels_backward = 1, 3  # tanh; y*y, 1 -, dy *

    def f(self, x):
        return np.tanh(x)

    def df(self, y):
        return 1 - y * y


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (no overflow warnings for large |x|)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(_OutputMap):
    # abs, neg, exp, >=, 1 +, 1 /, 1 +, e /, where (the astype is a no-op); 1 -, y *, dy *
    kernels_forward, kernels_backward = 9, 3

    def f(self, x):
        return sigmoid(x)

    def df(self, y):
        return y * (1 - y)


class Add(Node):
    """y = a + b, joining the two inputs of one tag."""

    n_in = 2

    def forward(self, msg: Message, port: int) -> list[Send]:
        parts = self.join(msg, port, 2)
        if parts is None:
            return []
        self.save(msg, None)
        self.charge(flops=parts[0].size, kernels=1)
        return [self.out(msg.with_payload(parts[0] + parts[1]))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        self.pop(msg)
        return [self.grad(msg, 0), self.grad(msg, 1)]


class Mul(Node):
    """y = a * b (elementwise), joining the two inputs of one tag."""

    n_in = 2

    def forward(self, msg: Message, port: int) -> list[Send]:
        parts = self.join(msg, port, 2)
        if parts is None:
            return []
        a, b = parts
        self.save(msg, (a, b))
        self.charge(flops=a.size, kernels=1)
        return [self.out(msg.with_payload(a * b))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        a, b = self.pop(msg)
        g = msg.payload
        self.charge(flops=2 * g.size, kernels=2)
        return [self.grad(msg.with_payload(g * b), 0), self.grad(msg.with_payload(g * a), 1)]

"""Finite-difference gradient checks for node kinds (for tests, and for users writing new nodes).

:func:`check_node` drives one node directly: it sends forward messages on each input port, then a random
output gradient back on each output port, and compares the gradients the node sends upstream (and, for a
parameterized node, the parameter gradient its update would apply) against central differences of the
scalar ``L = Σ_ports Σ (y_port * r_port)``. Run it in float64.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Send
from ampsim.ir.param import ParamNode


def _forward(node: Node, inst: Instance, xs: Sequence[np.ndarray], state=()) -> dict[int, np.ndarray]:
    outs: dict[int, np.ndarray] = {}
    for port, x in enumerate(xs):
        for item in node.step(False, Message(inst, state, x), port).sends:
            outs[item.port] = item.msg.payload
    return outs


def _loss(node: Node, xs, rs, inst) -> float:
    node.training = False
    try:
        outs = _forward(node, inst, xs)
    finally:
        node.training = True
    return float(sum(np.sum(outs[p] * r) for p, r in rs.items()))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-12)
    return float(np.abs(a - b).max(initial=0.0) / denom)


def check_node(node: Node, xs: Sequence[np.ndarray], *, seed: int = 0, eps: float = 1e-6,
               inst: Instance | None = None, differentiable: Sequence[int] | None = None) -> float:
    """Worst relative error between analytic and numeric gradients of ``node`` at inputs ``xs``.

    ``differentiable`` lists the input ports to check (default: all floating inputs).
    """
    rng = np.random.default_rng(seed)
    inst = inst or Instance(0, {})
    xs = [np.array(x, copy=True) for x in xs]
    outs = _forward(node, inst, xs)
    rs = {p: rng.normal(size=y.shape) for p, y in outs.items()}
    grads: dict[int, np.ndarray] = {}
    for p, r in rs.items():
        for item in node.step(True, Message(inst, (), r), p).sends:
            assert isinstance(item, Send) and item.backward
            grads[item.port] = grads.get(item.port, 0) + item.msg.payload
    worst = 0.0
    ports = differentiable if differentiable is not None else [i for i, x in enumerate(xs) if x.dtype.kind == "f"]
    for port in ports:
        num = np.zeros_like(xs[port])
        it = np.nditer(xs[port], flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = xs[port][i]
            xs[port][i] = old + eps
            up = _loss(node, xs, rs, inst)
            xs[port][i] = old - eps
            down = _loss(node, xs, rs, inst)
            xs[port][i] = old
            num[i] = (up - down) / (2 * eps)
        worst = max(worst, relative_error(grads.get(port, np.zeros_like(num)), num))
    if isinstance(node, ParamNode):
        entries = [e for _, e in node._stash.pop(inst.key, [])]
        node.held_nbytes = 0
        analytic = node.param_grads(entries)
        for name, p in node.params.items():
            g = analytic[name]
            if hasattr(g, "rows"):
                dense = np.zeros_like(p)
                dense[g.rows] = g.values
                g = dense
            num = np.zeros_like(p)
            it = np.nditer(p, flags=["multi_index"])
            for _ in it:
                i = it.multi_index
                old = p[i]
                p[i] = old + eps
                up = _loss(node, xs, rs, inst)
                p[i] = old - eps
                down = _loss(node, xs, rs, inst)
                p[i] = old
                num[i] = (up - down) / (2 * eps)
            worst = max(worst, relative_error(g, num))
    return worst


def loss_gradcheck(node: Node, x: np.ndarray, inst: Instance, *, eps: float = 1e-6) -> float:
    """Relative error of a loss node's gradient against central differences of its reported loss
    (normalized the way the node normalizes its gradient)."""
    node.training = True
    step = node.step(False, Message(inst, (), x.copy()), 0)
    (g,) = [s.msg.payload for s in step.sends]
    scale = step.reports[0].values["n"] if getattr(node, "reduction", "mean") == "mean" else 1

    def f(z: np.ndarray) -> float:
        node.training = False
        try:
            return node.step(False, Message(inst, (), z), 0).reports[0].values["loss"] / scale
        finally:
            node.training = True

    num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        z = x.copy()
        z[i] += eps
        up = f(z)
        z[i] -= 2 * eps
        num[i] = (up - f(z)) / (2 * eps)
    return relative_error(g, num)

"""Finite-difference gradient checks for node kinds (for tests, and for users writing new nodes).

:func:`fd_check` drives one node with a list of forward messages ``(port, state, payload)``, sends a random
gradient back for every output message, and compares the gradients the node sends upstream (and, for a
parameterized node, its parameter gradient) with central differences of ``L = Σ_outputs <y, r>``. The loss
is evaluated in *training* mode with the node's caches cleared after each evaluation, so stateful forwards
(dropout masks keyed by state) see the same randomness. :func:`check_node` is the one-message-per-port
shorthand; :func:`loss_gradcheck` checks a loss node against its reported loss. Run them in float64.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node
from ampsim.ir.param import ParamNode
from ampsim.optim import SparseRows

__all__ = ["backward_all", "check_node", "fd_check", "forward_all", "loss_gradcheck", "numeric_gradient",
           "relative_error"]

Inputs = list[tuple[int, tuple[int, ...], np.ndarray]]


def forward_all(node: Node, inst: Instance, inputs: Inputs):
    """Forward every input; return (outputs {(port, state): payload}, immediate backward sends)."""
    outs, back = {}, {}
    for port, state, x in inputs:
        for s in node.step(False, Message(inst, state, x), port).sends:
            target = back if s.backward else outs
            key = (s.port, s.msg.state)
            assert key not in target, f"two messages with the same port and state {key}"
            target[key] = s.msg.payload
    return outs, back


def backward_all(node: Node, inst: Instance, rs: dict, order=None) -> dict:
    """Send the output gradients ``rs`` (in ``order`` of keys if given); collect what comes back."""
    got = {}
    for key in order or list(rs):
        port, state = key
        for s in node.step(True, Message(inst, state, rs[key]), port).sends:
            assert s.backward
            k = (s.port, s.msg.state)
            got[k] = got.get(k, 0) + s.msg.payload
    return got


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-12)
    return float(np.abs(a - b).max(initial=0.0) / denom)


def fd_check(node: Node, inputs: Inputs, *, inst: Instance | None = None, seed: int = 0,
             eps: float = 1e-6, check_params: bool = True) -> float:
    """Worst relative error of every input (and parameter) gradient against central differences."""
    rng = np.random.default_rng(seed)
    inst = inst or Instance(7, {})
    inputs = [(p, s, np.array(x, copy=True)) for p, s, x in inputs]
    node.training = True
    outs, immediate = forward_all(node, inst, inputs)
    rs = {k: rng.normal(size=y.shape) for k, y in outs.items()}
    grads = backward_all(node, inst, rs)
    for k, g in immediate.items():
        grads[k] = grads.get(k, 0) + g
    assert not node.holds(inst.key), f"{node} still holds state after the backward"

    def loss() -> float:
        saved = node.stash_state() if isinstance(node, ParamNode) else None
        o, _ = forward_all(node, inst, inputs)
        node.reset()
        if saved is not None:
            node.restore_stash(saved)
        return float(sum(np.sum(o[k] * r) for k, r in rs.items()))

    worst = 0.0
    for port, state, x in inputs:
        if x.dtype.kind != "f":
            continue
        num = numeric_gradient(x, loss, eps)
        worst = max(worst, relative_error(grads.get((port, state), np.zeros_like(num)), num))
    if isinstance(node, ParamNode) and check_params:
        entries = node.pop_stash(inst.key)
        node.held_nbytes = 0
        analytic = node.param_grads(entries)
        for name, p in node.params.items():
            num = numeric_gradient(p, loss, eps)
            g = analytic[name]
            if isinstance(g, SparseRows):
                dense = np.zeros_like(p)
                dense[g.rows] = g.values
                g = dense
            worst = max(worst, relative_error(g, num))
    return worst


def numeric_gradient(arr: np.ndarray, f: Callable[[], float], eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f()`` with respect to each element of ``arr`` (perturbed in place and
    restored, so ``f`` reads ``arr`` directly)."""
    num = np.zeros(arr.shape)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + eps
        up = f()
        arr[i] = old - eps
        down = f()
        arr[i] = old
        num[i] = (up - down) / (2 * eps)
    return num


def check_node(node: Node, xs, *, seed: int = 0, eps: float = 1e-6, inst: Instance | None = None) -> float:
    """:func:`fd_check` with one message per input port (``xs[port]``), all with the empty state."""
    return fd_check(node, [(port, (), x) for port, x in enumerate(xs)], inst=inst, seed=seed, eps=eps)


def loss_gradcheck(node: Node, x: np.ndarray, inst: Instance, *, eps: float = 1e-6) -> float:
    """Relative error of a loss node's gradient against central differences of its reported loss
    (normalized the way the node normalizes its gradient)."""
    node.training = True
    step = node.step(False, Message(inst, (), x.copy()), 0)
    (g,) = [s.msg.payload for s in step.sends]
    scale = step.reports[0].values["n"] if getattr(node, "reduction", "mean") == "mean" else 1

    z = x.copy()

    def f() -> float:
        node.training = False
        try:
            return node.step(False, Message(inst, (), z), 0).reports[0].values["loss"] / scale
        finally:
            node.training = True

    return relative_error(g, numeric_gradient(z, f, eps))

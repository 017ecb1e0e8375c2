"""The IR MLP against a directly written numpy MLP, and the reference executor's contracts."""

import copy

import numpy as np
import pytest

from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec


def make(seed=0, hidden=(6, 5, 4), n_in=7, n_classes=3, muf=1, lr=1.0, kind="sgd"):
    model = build_mlp(n_in, list(hidden), n_classes, seed=seed, dtype=np.float64)
    for node in model.graph.param_nodes:
        node.configure(OptimizerSpec(kind=kind, lr=lr), muf=muf)
    return model


def batch(key, n=5, n_in=7, n_classes=3, seed=None):
    r = np.random.default_rng(key if seed is None else seed)
    return Instance(key, {"x": r.normal(size=(n, n_in)), "y": r.integers(0, n_classes, n)})


def numpy_mlp_grads(Ws, bs, X, y):
    """Forward and backward of the same MLP, written directly."""
    hs, h = [X], X
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = h @ W + b
        h = np.maximum(z, 0) if i < len(Ws) - 1 else z
        hs.append(h)
    z = h - h.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    g = p.copy()
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    dWs, dbs = [None] * len(Ws), [None] * len(Ws)
    for i in reversed(range(len(Ws))):
        dWs[i], dbs[i] = hs[i].T @ g, g.sum(axis=0)
        g = (g @ Ws[i].T) * (hs[i] > 0)
    return dWs, dbs


def test_ir_mlp_gradients_equal_direct_numpy_to_1e12():
    model = make()
    nodes = model.graph.param_nodes
    Ws = [n.params["W"].copy() for n in nodes]
    bs = [n.params["b"].copy() for n in nodes]
    inst = batch(1)
    ReferenceExecutor(model).train([inst])  # SGD with lr = 1: the update *is* minus the gradient
    dWs, dbs = numpy_mlp_grads(Ws, bs, inst.data["x"], inst.data["y"])
    for n, W, b, dW, db in zip(nodes, Ws, bs, dWs, dbs):
        np.testing.assert_allclose(W - n.params["W"], dW, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b - n.params["b"], db, rtol=0, atol=1e-12)


def test_muf_k_is_minibatch_sgd_over_k_instances():
    a, b = make(muf=2, lr=0.1), make(muf=1, lr=0.1)
    i1, i2 = batch(1), batch(2)
    ReferenceExecutor(a).train([i1, i2])
    # muf = 2 averages the two instances' gradients: the same as one instance holding both batches
    # with each half weighted equally (equal batch sizes → one batch of 10).
    merged = Instance(3, {"x": np.concatenate([i1.data["x"], i2.data["x"]]),
                          "y": np.concatenate([i1.data["y"], i2.data["y"]])})
    ReferenceExecutor(b).train([merged])
    for na, nb in zip(a.graph.param_nodes, b.graph.param_nodes):
        np.testing.assert_allclose(na.params["W"], nb.params["W"], rtol=0, atol=1e-12)
        assert na.version == nb.version == 1


def test_muf_waits_for_enough_completed_instances():
    model = make(muf=3)
    ex = ReferenceExecutor(model)
    ex.train([batch(1), batch(2)])
    assert all(n.version == 0 for n in model.graph.param_nodes)
    ex.train([batch(3)])
    assert all(n.version == 1 for n in model.graph.param_nodes)


def test_an_instance_key_may_come_again_while_its_first_gradient_waits_for_the_update():
    # muf 2: instance 1 completes in the first call and waits; the second call brings instance 1 again
    # (the same instances trained twice) — both gradients go into the update, as two distinct keys' do
    again, distinct = make(muf=2, lr=0.1), make(muf=2, lr=0.1)
    ex = ReferenceExecutor(again)
    ex.train([batch(1)])
    ex.train([batch(1)])
    ref = ReferenceExecutor(distinct)
    ref.train([batch(1)])
    ref.train([batch(2, seed=1)])  # the same data under another key
    for na, nb in zip(again.graph.param_nodes, distinct.graph.param_nodes):
        assert na.version == nb.version == 1 and na.held_nbytes == nb.held_nbytes == 0
        np.testing.assert_allclose(na.params["W"], nb.params["W"], rtol=0, atol=1e-12)


def test_reference_is_deterministic_and_leaves_no_per_instance_state():
    runs = []
    for _ in range(2):
        model = make(kind="adam", lr=0.01)
        ex = ReferenceExecutor(model)
        ex.train([batch(k) for k in range(20)])
        assert all(not n.holds(k) for n in model.graph.nodes.values() for k in range(20))
        assert all(n.held_nbytes == 0 for n in model.graph.nodes.values())
        runs.append([n.params["W"].copy() for n in model.graph.param_nodes])
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_evaluation_caches_nothing_and_changes_nothing():
    model = make()
    before = copy.deepcopy([n.params for n in model.graph.param_nodes])
    reports = ReferenceExecutor(model).evaluate([batch(k) for k in range(3)])
    assert len(reports) == 3 and all(set(r.values) == {"loss", "n", "correct"} for r in reports)
    assert all(n.held_nbytes == 0 and not n._cache for n in model.graph.nodes.values())
    for p, q in zip(before, [n.params for n in model.graph.param_nodes]):
        assert all(np.array_equal(p[k], q[k]) for k in p)


def test_staleness_is_zero_for_synchronous_training():
    model = make()
    ReferenceExecutor(model).train([batch(k) for k in range(4)])
    for n in model.graph.param_nodes:
        assert dict(n.staleness) == {0: 4}


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam", "adagrad"])
def test_every_optimizer_reduces_the_loss(kind):
    model = make(kind=kind, hidden=(32, 32), lr={"sgd": 0.2, "momentum": 0.05, "adam": 0.01, "adagrad": 0.1}[kind])
    ex = ReferenceExecutor(model)
    fixed = [batch(k, n=16, seed=k % 4) for k in range(4)]

    def loss():
        rs = ex.evaluate(fixed)
        return sum(r.values["loss"] for r in rs) / sum(r.values["n"] for r in rs)

    start = loss()
    for epoch in range(60):
        ex.train([Instance(100 + 4 * epoch + i, f.data) for i, f in enumerate(fixed)])
    assert loss() < 0.5 * start

"""Bcast, Group, Ungroup, Sink: gradients, order independence (bit for bit), zero members, freed state.

The last tests wire them into a GGNN-style message-passing step (node states ungrouped onto edges, a
per-edge transform, grouped back by target node with an anchor for nodes without incoming edges) and
compare against numpy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from ampsim.errors import GraphError
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.groups import Bcast, Group, Sink, Ungroup
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import MeanSquaredError
from ampsim.models.base import Metric, Model
from ampsim.optim import OptimizerSpec
from ampsim.testing import backward_all, fd_check, forward_all

F64 = np.float64
rng = np.random.default_rng(2)


def x(*shape):
    return rng.normal(size=shape)


@dataclass(frozen=True)
class ByFirst:
    """Group (g, k) under (g,) at position k; group g has sizes[g] members; anchors via count()."""

    sizes: tuple[int, ...]

    def __call__(self, inst, state):
        return (state[0],), state[1], self.sizes[state[0]]

    def count(self, inst, gstate):
        return self.sizes[gstate[0]]


@dataclass(frozen=True)
class Fan:
    """Ungroup (g,) into (g, 0..n-1) with n = inst.data['fan'][g]."""

    def __call__(self, inst, state):
        return [(state[0], k) for k in range(inst.data["fan"][state[0]])]


# -- finite differences ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make,inputs", [
    (lambda: Bcast("b", 3), [(0, (0,), x(2, 3)), (0, (1,), x(1, 3))]),
    (lambda: Group("gs", ByFirst((3, 1)), "sum", width=2),
     [(0, (0, 2), x(2, 2)), (0, (1, 0), x(2, 2)), (0, (0, 0), x(2, 2)), (0, (0, 1), x(2, 2))]),
    (lambda: Group("gc", ByFirst((2, 3)), "concat", width=2),
     [(0, (1, 2), x(1, 2)), (0, (0, 1), x(1, 2)), (0, (1, 0), x(1, 2)), (0, (0, 0), x(1, 2)), (0, (1, 1), x(1, 2))]),
    (lambda: Group("gr", ByFirst((3,)), "rows", width=2), [(0, (0, 2), x(1, 2)), (0, (0, 0), x(2, 2)), (0, (0, 1), x(3, 2))]),
    (lambda: Group("ga", ByFirst((2, 0)), "sum", width=2, anchor=True),
     [(1, (1,), x(2, 5)), (0, (0, 1), x(2, 2)), (1, (0,), x(2, 5)), (0, (0, 0), x(2, 2))]),
    (lambda: Ungroup("uc", Fan(), "copy"), [(0, (0,), x(2, 3)), (0, (1,), x(2, 3))]),
    (lambda: Ungroup("us", Fan(), "slice"), [(0, (0,), x(2, 6)), (0, (1,), x(1, 2))]),
    (lambda: Ungroup("ur", Fan(), "rows"), [(0, (0,), x(3, 2)), (0, (1,), x(1, 2))]),
    (lambda: Ungroup("u0", Fan(), "copy"), [(0, (2,), x(2, 3)), (0, (0,), x(2, 3))]),  # group 2: no members
    (lambda: Sink("sink"), [(0, (0,), x(2, 3))]),
], ids=["bcast", "group-sum", "group-concat", "group-rows", "group-anchor", "ungroup-copy", "ungroup-slice",
        "ungroup-rows", "ungroup-empty", "sink"])
def test_gradients_match_finite_differences(make, inputs):
    inst = Instance(7, {"fan": (3, 1, 0)})
    assert fd_check(make(), inputs, inst=inst) < 1e-6


# -- order independence ----------------------------------------------------------------------------------

def test_bcast_sums_in_port_order_whatever_the_arrival_order():
    grads = [x(2, 4).astype(np.float32) * 10 ** k for k in range(4)]  # magnitudes that round differently
    results = []
    for order in itertools.permutations(range(4)):
        node = Bcast("b", 4)
        inst = Instance(0, {})
        forward_all(node, inst, [(0, (0,), x(2, 4).astype(np.float32))])
        got = backward_all(node, inst, {(p, (0,)): grads[p] for p in range(4)},
                           order=[(p, (0,)) for p in order])
        results.append(got[(0, (0,))])
    expected = ((grads[0] + grads[1]) + grads[2]) + grads[3]
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("combine", ["sum", "concat", "rows"])
def test_group_combines_in_position_order_whatever_the_arrival_order(combine):
    members = [(0, (0, k), (x(1, 3) * 10 ** k).astype(np.float32)) for k in range(4)]
    outs = []
    for order in itertools.permutations(range(4)):
        node = Group("g", ByFirst((4,)), combine, width=3)
        got, _ = forward_all(node, Instance(0, {}), [members[k] for k in order])
        (y,) = got.values()
        outs.append(y)
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])
    if combine == "sum":
        np.testing.assert_array_equal(outs[0], ((members[0][2] + members[1][2]) + members[2][2]) + members[3][2])


def test_group_scatters_with_each_members_own_state():
    node = Group("g", ByFirst((2,)), "concat", width=1)
    inst = Instance(0, {})
    outs, _ = forward_all(node, inst, [(0, (0, 1), np.array([[2.0]])), (0, (0, 0), np.array([[1.0]]))])
    assert list(outs) == [(0, (0,))]
    np.testing.assert_array_equal(outs[(0, (0,))], [[1.0, 2.0]])
    got = backward_all(node, inst, {(0, (0,)): np.array([[10.0, 20.0]])})
    assert got == {(0, (0, 0)): pytest.approx(np.array([[10.0]])), (0, (0, 1)): pytest.approx(np.array([[20.0]]))}
    assert not node.holds(0) and node.held_bytes() == 0


def test_ungroup_gathers_in_position_order_whatever_the_arrival_order():
    results = []
    grads = [(x(2, 3) * 10 ** k).astype(np.float32) for k in range(4)]
    for order in itertools.permutations(range(4)):
        node = Ungroup("u", Fan(), "copy")
        inst = Instance(0, {"fan": (4,)})
        outs, _ = forward_all(node, inst, [(0, (0,), x(2, 3).astype(np.float32))])
        assert list(outs) == [(0, (0, k)) for k in range(4)]
        got = backward_all(node, inst, {(0, (0, k)): grads[k] for k in range(4)},
                           order=[(0, (0, k)) for k in order])
        results.append(got[(0, (0,))])
        assert not node.holds(0)
    for r in results:
        np.testing.assert_array_equal(r, ((grads[0] + grads[1]) + grads[2]) + grads[3])


# -- zero members ----------------------------------------------------------------------------------------

def test_ungroup_with_no_members_answers_at_once_with_a_zero_gradient():
    node = Ungroup("u", Fan(), "copy")
    inst = Instance(0, {"fan": (0,)})
    step = node.step(False, Message(inst, (0,), x(2, 3)), 0)
    (s,) = step.sends
    assert s.backward and s.msg.state == (0,) and not s.msg.payload.any()
    node.training = False
    assert node.step(False, Message(inst, (0,), x(2, 3)), 0).sends == []
    assert not node.holds(0)


def test_anchored_group_with_no_members_emits_zeros():
    node = Group("g", ByFirst((0,)), "sum", width=3, anchor=True)
    inst = Instance(0, {})
    outs, _ = forward_all(node, inst, [(1, (0,), x(2, 5))])
    np.testing.assert_array_equal(outs[(0, (0,))], np.zeros((2, 3)))
    got = backward_all(node, inst, {(0, (0,)): np.ones((2, 3))})
    assert list(got) == [(1, (0,))] and not got[(1, (0,))].any() and got[(1, (0,))].shape == (2, 5)
    assert not node.holds(0)


def test_group_errors():
    with pytest.raises(GraphError, match="combine must be"):
        Group("g", ByFirst((1,)), "max")
    with pytest.raises(GraphError, match="needs its member width"):
        Group("g", ByFirst((1,)), anchor=True)
    node = Group("g", ByFirst((2,)), "sum")
    node.step(False, Message(Instance(0, {}), (0, 1), x(1, 2)), 0)
    with pytest.raises(GraphError, match="received .* twice"):
        node.step(False, Message(Instance(0, {}), (0, 1), x(1, 2)), 0)
    with pytest.raises(GraphError, match="position 5 of 2"):
        node.step(False, Message(Instance(0, {}), (0, 5), x(1, 2)), 0)
    with pytest.raises(GraphError, match="mode must be"):
        Ungroup("u", Fan(), "spread")


# -- a message-passing step, end to end ------------------------------------------------------------------

@dataclass(frozen=True)
class OutEdges:
    """Graph node (v,) → its outgoing edges (v, e) for e in edges_from[v]."""

    def __call__(self, inst, state):
        return [(state[0], e) for e in inst.data["edges_from"][state[0]]]


@dataclass(frozen=True)
class ToTarget:
    """Edge message (v, e) → group (dst[e],), position = rank of e among dst's incoming edges."""

    def __call__(self, inst, state):
        e = state[1]
        dst = inst.data["dst"][e]
        return (dst,), inst.data["in_rank"][e], inst.data["in_degree"][dst]

    def count(self, inst, gstate):
        return inst.data["in_degree"][gstate[0]]


@dataclass(frozen=True)
class InjectNodes:
    def __call__(self, inst):
        return [("h", Message(inst, (v,), inst.data["h"][v:v + 1])) for v in range(len(inst.data["h"]))]


@dataclass(frozen=True)
class NodeTarget:
    def __call__(self, inst, state):
        return inst.data["t"][state[0]:state[0] + 1]


def message_passing_model(d: int) -> Model:
    """h_v ─► Bcast ─┬─► Ungroup(out edges) ─► Linear ─► Group-sum by target ─► MSE(t_v)
                     └──────────────── anchor (port 1) ──────────────────────┘"""
    g = Graph("mp")
    h = g.add(Input("h", width=d, dtype=F64))
    fan = g.add(Bcast("fan", 2))
    edges = g.add(Ungroup("edges", OutEdges(), "copy", width=d))
    lin = g.add(Linear("msg", d, d, dtype=F64, seed=3))
    agg = g.add(Group("agg", ToTarget(), "sum", width=d, anchor=True))
    loss = g.add(MeanSquaredError("loss", d, NodeTarget(), reduction="sum"))
    g.chain(h, fan, edges, lin, agg, loss)
    g.connect(fan, agg, 1, 1)
    return Model(g.validate(), InjectNodes(), Metric("mse", "loss", "loss", higher_is_better=False))


def random_graph(key: int, n: int, n_edges: int, d: int) -> Instance:
    r = np.random.default_rng(key)
    src = r.integers(0, n, n_edges).tolist()
    dst = r.integers(0, n - 1, n_edges).tolist()  # node n-1 has no incoming edges, maybe no outgoing
    edges_from = [[e for e in range(n_edges) if src[e] == v] for v in range(n)]
    in_rank, in_degree = [0] * n_edges, [0] * n
    for e in range(n_edges):
        in_rank[e] = in_degree[dst[e]]
        in_degree[dst[e]] += 1
    return Instance(key, {"h": r.normal(size=(n, d)), "t": r.normal(size=(n, d)), "src": src, "dst": dst,
                          "edges_from": edges_from, "in_rank": in_rank, "in_degree": in_degree})


def test_message_passing_step_matches_numpy():
    d = 3
    model = message_passing_model(d)
    lin = model.graph.nodes["msg"]
    lin.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=1)
    ex = ReferenceExecutor(model)
    for key in range(5):
        inst = random_graph(key, n=5, n_edges=[0, 1, 4, 7, 9][key], d=d)
        W, b = lin.params["W"].copy(), lin.params["b"].copy()
        D = inst.data
        m = np.zeros((5, d))
        for s, t in zip(D["src"], D["dst"]):
            m[t] += D["h"][s] @ W + b
        loss = np.sum((m - D["t"]) ** 2)
        dm = 2 * (m - D["t"])
        gW = sum(np.outer(D["h"][s], dm[t]) for s, t in zip(D["src"], D["dst"])) if D["src"] else 0 * W
        gb = sum(dm[t] for t in D["dst"]) if D["dst"] else 0 * b
        reports = ex.train([inst])
        assert sum(r.values["loss"] for r in reports) == pytest.approx(loss, rel=1e-12)
        np.testing.assert_allclose(W - lin.params["W"], gW, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b - lin.params["b"], gb, rtol=1e-10, atol=1e-12)
        assert not any(n.holds(key) for n in model.graph.nodes.values())


def test_message_passing_state_is_freed_and_memory_does_not_grow():
    model = message_passing_model(4)
    ex = ReferenceExecutor(model)
    held = []
    for epoch in range(3):
        insts = [random_graph(100 * epoch + k, n=6, n_edges=8, d=4) for k in range(10)]
        ex.train(insts)
        ex.evaluate(insts)
        for inst in insts:
            assert not any(n.holds(inst.key) for n in model.graph.nodes.values())
        held.append(sum(n.held_bytes() for n in model.graph.nodes.values()))
    assert held == [0, 0, 0]

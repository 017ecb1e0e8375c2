"""Control-flow and cell nodes: finite-difference gradients (float64), routing contracts, cycles, dropout."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pytest

from ampsim.errors import GraphError
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.cells import GRUCell, LSTMCell, TreeLSTMCell, TreeLSTMLeaf
from ampsim.ir.nodes.control import Concat, Cond, Increment, Isu, LessThanField, Phi, Slice, Split
from ampsim.ir.nodes.dropout import Dropout, hash_uniform
from ampsim.ir.nodes.groups import Sink
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import Field, SoftmaxCrossEntropy
from ampsim.ir.nodes.pointwise import Tanh
from ampsim.ir.nodes.tuned import TunedEmbedding
from ampsim.optim import OptimizerSpec
from ampsim.testing import backward_all, fd_check, forward_all

F64 = np.float64
rng = np.random.default_rng(1)


def x(*shape):
    return rng.normal(size=shape)


@dataclass(frozen=True)
class Parity:
    """Cond predicate: port = state[0] mod n."""

    n: int = 2

    def __call__(self, inst, state):
        return state[0] % self.n


# -- finite differences ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make,inputs", [
    (lambda: Cond("cond", Parity(3), 3), [(0, (0,), x(2, 3)), (0, (1,), x(2, 3)), (0, (5,), x(2, 3))]),
    (lambda: Phi("phi", 3), [(0, (0,), x(2, 3)), (2, (1,), x(2, 3)), (1, (2,), x(1, 3))]),
    (lambda: Isu("isu", Increment(0, 1), Increment(0, -1)), [(0, (0, 4), x(2, 3)), (0, (3, 4), x(2, 3))]),
    (lambda: Isu("isu2", Increment(1, 2), Increment(1, 2).inverse), [(0, (0, 4), x(2, 3))]),
    (lambda: Concat("cat", [2, 3, 1]), [(1, (0,), x(2, 3)), (0, (0,), x(2, 2)), (2, (0,), x(2, 1)),
                                        (0, (1,), x(1, 2)), (2, (1,), x(1, 1)), (1, (1,), x(1, 3))]),
    (lambda: Split("split", [2, 1, 3]), [(0, (0,), x(2, 6)), (0, (1,), x(3, 6))]),
    (lambda: Slice("slice", 1, 3, 5), [(0, (0,), x(2, 5))]),
    (lambda: Dropout("drop", 0.4, seed=3), [(0, (0,), x(3, 5)), (0, (1,), x(3, 5))]),
    (lambda: LSTMCell("lstm", 3, 4, dtype=F64), [(0, (0,), x(2, 3 + 8)), (0, (1,), x(1, 11))]),
    (lambda: GRUCell("gru", 3, 4, dtype=F64), [(0, (0,), x(2, 3 + 4)), (0, (1,), x(1, 7))]),
    (lambda: TreeLSTMLeaf("leaf", 3, 4, dtype=F64), [(0, (0,), x(2, 3)), (0, (1,), x(1, 3))]),
    (lambda: TreeLSTMCell("tree", 4, dtype=F64, forget_bias=0.5), [(0, (0,), x(2, 16)), (0, (1,), x(1, 16))]),
], ids=["cond", "phi", "isu", "isu2", "concat", "split", "slice", "dropout", "lstm", "gru", "treeleaf",
        "treecell"])
def test_gradients_match_finite_differences(make, inputs):
    node = make()
    if hasattr(node, "params"):  # bigger weights than the init, so the gates are not all near 0.5
        for p in node.params.values():
            p += rng.normal(scale=0.5, size=p.shape)
    assert fd_check(node, inputs) < 1e-6


# -- routing contracts -----------------------------------------------------------------------------------

def test_cond_routes_by_state_and_sends_gradients_to_input_0():
    node = Cond("c", Parity(2))
    inst = Instance(1, {})
    outs, _ = forward_all(node, inst, [(0, (3,), x(1, 2)), (0, (4,), x(1, 2))])
    assert set(outs) == {(1, (3,)), (0, (4,))}
    got = backward_all(node, inst, {k: np.ones((1, 2)) for k in outs})
    assert set(got) == {(0, (3,)), (0, (4,))}


def test_cond_rejects_a_port_out_of_range():
    node = Cond("c", Parity(5), n_out=2)
    with pytest.raises(GraphError, match="predicate chose port 3"):
        node.step(False, Message(Instance(0, {}), (3,), x(1, 2)), 0)


def test_phi_sends_the_gradient_to_the_port_it_came_from():
    node = Phi("phi", 2)
    inst = Instance(0, {})
    forward_all(node, inst, [(1, (5,), x(1, 2)), (0, (6,), x(1, 2))])
    got = backward_all(node, inst, {(0, (6,)): np.ones((1, 2)), (0, (5,)): np.ones((1, 2))})
    assert set(got) == {(1, (5,)), (0, (6,))}
    assert not node.holds(0)


def test_isu_maps_the_state_and_back():
    node = Isu("isu", Increment(0, 1), Increment(0, -1))
    inst = Instance(0, {})
    outs, _ = forward_all(node, inst, [(0, (2, 9), x(1, 2))])
    assert list(outs) == [(0, (3, 9))]
    assert list(backward_all(node, inst, {(0, (3, 9)): np.ones((1, 2))})) == [(0, (2, 9))]


def test_less_than_field_and_pickling():
    pred = LessThanField("n_steps")
    inst = Instance(0, {"n_steps": 3})
    assert [pred(inst, (t,)) for t in range(5)] == [0, 0, 0, 1, 1]
    for obj in (pred, Increment(0, 1), Parity(2)):
        assert pickle.loads(pickle.dumps(obj)) == obj


def test_concat_waits_for_every_port_and_orders_by_port():
    node = Concat("cat", [1, 2])
    inst = Instance(0, {})
    assert node.step(False, Message(inst, (0,), np.array([[5.0, 6.0]])), 1).sends == []
    assert node.holds(0)
    (s,) = node.step(False, Message(inst, (0,), np.array([[4.0]])), 0).sends
    np.testing.assert_array_equal(s.msg.payload, [[4.0, 5.0, 6.0]])
    assert not node.holds(0)


def test_sink_absorbs_and_answers_with_zeros_only_while_training():
    node = Sink("sink")
    inst = Instance(0, {})
    (s,) = node.step(False, Message(inst, (1,), x(2, 3)), 0).sends
    assert s.backward and s.port == 0 and s.msg.state == (1,) and not s.msg.payload.any()
    node.training = False
    assert node.step(False, Message(inst, (1,), x(2, 3)), 0).sends == []


# -- cycles ----------------------------------------------------------------------------------------------

def _loop(exit_node: bool) -> Graph:
    g = Graph("loop")
    inp = g.add(Input("in", width=2))
    phi = g.add(Phi("phi", 2, width=2))
    body = g.add(Tanh("body"))
    nxt = g.add(Isu("next", Increment(), Increment().inverse))
    g.connect(inp, phi, 0, 0)
    g.chain(phi, body, nxt)
    if exit_node:
        more = g.add(Cond("more", LessThanField("n")))
        lin = g.add(Linear("out", 2, 2, dtype=F64))
        loss = g.add(SoftmaxCrossEntropy("loss", 2, Field("y")))
        g.chain(nxt, more)
        g.connect(more, phi, 0, 1)
        g.connect(more, lin, 1, 0)
        g.chain(lin, loss)
    else:
        g.connect(nxt, phi, 0, 1)
    return g


def test_a_cycle_without_a_cond_is_rejected():
    with pytest.raises(GraphError, match="cycle through .* has no Cond that can leave it"):
        _loop(exit_node=False).validate()


def test_a_cycle_whose_cond_cannot_leave_it_is_rejected():
    g = Graph("trap")
    inp = g.add(Input("in"))
    phi = g.add(Phi("phi", 3))
    cond = g.add(Cond("c", Parity(2)))
    g.connect(inp, phi, 0, 0)
    g.chain(phi, cond)
    g.connect(cond, phi, 0, 1)
    g.connect(cond, phi, 1, 2)  # both exits lead back into the loop
    with pytest.raises(GraphError, match="no Cond that can leave it"):
        g.validate()


def test_a_loop_runs_and_frees_its_state():
    from ampsim.executors.reference import ReferenceExecutor
    from ampsim.models.base import Metric, Model

    g = _loop(exit_node=True).validate()

    @dataclass(frozen=True)
    class Inject:
        def __call__(self, inst):
            return [("in", Message(inst, (0,), inst.data["x"]))]

    model = Model(g, Inject(), Metric("acc", "loss", "correct"))
    ex = ReferenceExecutor(model)
    insts = [Instance(k, {"x": x(1, 2), "y": np.array([k % 2]), "n": 1 + k % 4}) for k in range(6)]
    reports = ex.train(insts)
    assert len(reports) == 6
    assert not any(n.holds(k) for n in g.nodes.values() for k in range(6))
    assert all(n.held_bytes() == 0 for n in g.nodes.values())


# -- dropout ---------------------------------------------------------------------------------------------

def test_dropout_mask_is_a_function_of_key_and_state_only():
    a, b = Dropout("d", 0.5, seed=1), Dropout("d", 0.5, seed=1)
    inst = Instance(3, {})
    msgs = [Message(inst, (t,), np.ones((4, 50))) for t in range(5)]
    fa = [a.step(False, m, 0).sends[0].msg.payload for m in msgs]
    fb = [b.step(False, m, 0).sends[0].msg.payload for m in reversed(msgs)][::-1]
    for u, v in zip(fa, fb):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(fa[0], fa[1])
    kept = np.mean([(f != 0).mean() for f in fa])
    assert 0.4 < kept < 0.6
    assert set(np.unique(fa[0])) <= {0.0, 2.0}
    other = Dropout("d", 0.5, seed=2).step(False, msgs[0], 0).sends[0].msg.payload
    assert not np.array_equal(other, fa[0])


def test_dropout_is_the_identity_in_evaluation():
    d = Dropout("d", 0.5)
    d.training = False
    m = Message(Instance(0, {}), (0,), x(2, 3))
    assert d.step(False, m, 0).sends[0].msg.payload is m.payload
    assert not d.holds(0)


def test_hash_uniform_is_uniform_and_deterministic():
    u = hash_uniform((1, 2, 3), 100000)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(u, hash_uniform((1, 2, 3), 100000))
    assert not np.array_equal(u[:10], hash_uniform((1, 2, 4), 10))
    assert hash_uniform((-(10**9), 5), 3).shape == (3,)


# -- per-node optimizer overrides ------------------------------------------------------------------------

def test_optimizer_overrides_apply_to_that_node_only():
    emb = TunedEmbedding("emb", 5, 2).override_optimizer(kind="sgd", lr=0.1, weight_decay=0.0)
    emb.configure(OptimizerSpec(kind="adagrad", lr=0.05, weight_decay=1e-4), muf=3)
    assert emb.optimizer.spec == OptimizerSpec(kind="sgd", lr=0.1, weight_decay=0.0)
    assert emb.muf == 3
    with pytest.raises(ValueError, match="unknown optimizer fields"):
        emb.override_optimizer(learning_rate=1)
    assert pickle.loads(pickle.dumps(emb)).optimizer_overrides == {"kind": "sgd", "lr": 0.1, "weight_decay": 0.0}

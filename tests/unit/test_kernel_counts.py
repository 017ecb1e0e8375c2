"""Work.kernels: the array operations each node kind and each optimizer update reports.

The counts are read off the code (see the comments next to each ``charge``); these tests pin them per
node kind, check that every node kind under ampsim/ir/nodes is covered, and check the formulas that
depend on the input: joins and concatenations over n parts, sums over n members, updates over k arrays.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Send, Work
from ampsim.ir.nodes import cells, control, dropout, graphnet, groups, io, linear, losses, pointwise, tuned
from ampsim.ir.nodes.cells import GRUCell, LSTMCell, TreeLSTMCell, TreeLSTMLeaf
from ampsim.ir.nodes.control import Concat, Cond, Increment, Isu, LessThanField, Phi, Slice, Split
from ampsim.ir.nodes.dropout import Dropout
from ampsim.ir.nodes.graphnet import EdgeSum, GatedReadout
from ampsim.ir.nodes.groups import Bcast, Group, Sink, Ungroup
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.ir.nodes.losses import Field, MeanSquaredError, SoftmaxCrossEntropy
from ampsim.ir.nodes.pointwise import Add, Mul, ReLU, Sigmoid, Tanh
from ampsim.ir.nodes.tuned import TunedEmbedding, TunedLinear
from ampsim.ir.param import ParamNode
from ampsim.optim import OptimizerSpec

rng = np.random.default_rng(0)
INST = Instance(1, {"y": np.array([1, 0]), "t": rng.normal(size=(2, 3)), "n": 5})
Inputs = list[tuple[int, tuple[int, ...], np.ndarray]]  # (port, state, payload) per forward message


def x(*shape: int, dtype=np.float64) -> np.ndarray:
    return rng.normal(size=shape).astype(dtype)


def kernels(node: Node, inputs: Inputs) -> tuple[float, float]:
    """Kernels of all forward steps of one instance, then of the backward of every forward output."""
    fwd, outs = 0.0, []
    for port, state, payload in inputs:
        step = node.step(False, Message(INST, state, payload), port)
        fwd += step.work.kernels
        outs += [s for s in step.sends if not s.backward]
    bwd = 0.0
    for s in outs:
        bwd += node.step(True, s.msg.with_payload(np.ones_like(s.msg.payload)), s.port).work.kernels
    return fwd, bwd


@dataclass(frozen=True)
class ByFirst:
    """Group (g, k) under (g,) at position k of n."""

    n: int

    def __call__(self, inst, state):
        return (state[0],), state[1], self.n

    def count(self, inst, gstate):
        return self.n


@dataclass(frozen=True)
class Fan:
    """Ungroup (g,) into (g, 0..n-1)."""

    n: int

    def __call__(self, inst, state):
        return [(state[0], k) for k in range(self.n)]


def ring(inst, state):
    return np.array([0, 1, 2]), np.array([1, 2, 0])


def two_graphs(inst, state):
    return np.array([0, 0, 1]), 2


# name -> (node factory, forward inputs, expected (forward, backward) kernels)
CASES: dict[str, tuple[Callable[[], Node], Inputs, tuple[float, float]]] = {
    "Input cast": (lambda: Input("i"), [(0, (0,), x(2, 3))], (1, 0)),
    "Input": (lambda: Input("i"), [(0, (0,), x(2, 3, dtype=np.float32))], (0, 0)),
    "ReLU": (lambda: ReLU("r"), [(0, (0,), x(2, 3))], (2, 1)),
    "Tanh": (lambda: Tanh("t"), [(0, (0,), x(2, 3))], (1, 3)),
    "Sigmoid": (lambda: Sigmoid("s"), [(0, (0,), x(2, 3))], (9, 3)),
    "Add": (lambda: Add("a"), [(0, (0,), x(2, 3)), (1, (0,), x(2, 3))], (1, 0)),
    "Mul": (lambda: Mul("m"), [(0, (0,), x(2, 3)), (1, (0,), x(2, 3))], (1, 2)),
    "SoftmaxCrossEntropy": (lambda: SoftmaxCrossEntropy("l", 3, Field("y")), [(0, (0,), x(2, 3))], (17 + 8, 0)),
    "MeanSquaredError": (lambda: MeanSquaredError("l", 3, Field("t")), [(0, (0,), x(2, 3))], (5 + 2, 0)),
    "MeanSquaredError cast": (lambda: MeanSquaredError("l", 3, Field("t")),
                              [(0, (0,), x(2, 3, dtype=np.float32))], (6 + 2, 0)),
    "Cond": (lambda: Cond("c", LessThanField("n")), [(0, (0,), x(2, 3))], (0, 0)),
    "Phi": (lambda: Phi("p"), [(1, (0,), x(2, 3))], (0, 0)),
    "Isu": (lambda: Isu("u", Increment(), Increment().inverse), [(0, (0,), x(2, 3))], (0, 0)),
    "Concat": (lambda: Concat("c", [2, 1, 3]), [(p, (0,), x(2, w)) for p, w in enumerate([2, 1, 3])], (1, 0)),
    "Split": (lambda: Split("s", [2, 1, 3]), [(0, (0,), x(2, 6))], (0, 1)),
    "Slice": (lambda: Slice("s", 1, 3, 4), [(0, (0,), x(2, 4))], (0, 2)),
    "Bcast": (lambda: Bcast("b", 3), [(0, (0,), x(2, 3))], (0, 2)),
    "Sink": (lambda: Sink("s"), [(0, (0,), x(2, 3))], (1, 0)),
    "Group sum": (lambda: Group("g", ByFirst(3)), [(0, (0, k), x(1, 3)) for k in range(3)], (2, 0)),
    "Group concat": (lambda: Group("g", ByFirst(3), "concat"), [(0, (0, k), x(1, 3)) for k in range(3)], (1, 0)),
    "Group rows": (lambda: Group("g", ByFirst(3), "rows"), [(0, (0, k), x(1, 3)) for k in range(3)], (2, 0)),
    "Group empty": (lambda: Group("g", ByFirst(0), width=3, anchor=True), [(1, (0,), x(1, 3))], (1, 1)),
    "Ungroup copy": (lambda: Ungroup("u", Fan(3)), [(0, (0,), x(1, 3))], (0, 2)),
    "Ungroup slice": (lambda: Ungroup("u", Fan(3), "slice"), [(0, (0,), x(1, 6))], (0, 1)),
    "Ungroup rows": (lambda: Ungroup("u", Fan(3), "rows"), [(0, (0,), x(3, 2))], (0, 1)),
    "Ungroup empty": (lambda: Ungroup("u", Fan(0)), [(0, (0,), x(1, 3))], (1, 0)),
    "Dropout": (lambda: Dropout("d", 0.5), [(0, (0,), x(2, 3))], (18, 1)),
    "Dropout p=0": (lambda: Dropout("d", 0.0), [(0, (0,), x(2, 3))], (0, 0)),
    "Linear": (lambda: Linear("l", 3, 2), [(0, (0,), x(2, 3))], (2, 1)),
    "Linear no bias, no input grad": (lambda: Linear("l", 3, 2, bias=False, input_grad=False),
                                      [(0, (0,), x(2, 3))], (1, 0)),
    "TunedLinear": (lambda: TunedLinear("l", 3, 2), [(0, (0,), x(2, 3))], (2, 1)),
    "Embedding": (lambda: Embedding("e", 5, 3), [(0, (0,), np.array([1, 4]))], (1, 0)),
    "TunedEmbedding": (lambda: TunedEmbedding("e", 5, 3), [(0, (0,), np.array([1, 4]))], (1, 0)),
    "LSTMCell": (lambda: LSTMCell("c", 2, 3), [(0, (0,), x(2, 2 + 6))], (13, 23)),
    "GRUCell": (lambda: GRUCell("c", 2, 3), [(0, (0,), x(2, 2 + 3))], (15, 20)),
    "TreeLSTMLeaf": (lambda: TreeLSTMLeaf("c", 2, 3), [(0, (0,), x(2, 2))], (11, 19)),
    "TreeLSTMCell": (lambda: TreeLSTMCell("c", 3), [(0, (0,), x(2, 12))], (16, 26)),
    "EdgeSum": (lambda: EdgeSum("e", ring), [(0, (0,), x(3, 2))], (3, 3)),
    "GatedReadout": (lambda: GatedReadout("r", 2, 1, 4), [(0, (0,), x(3, 3))], (10, 8)),
    "GatedReadout segments": (lambda: GatedReadout("r", 2, 1, 4, segments=two_graphs),
                              [(0, (0,), x(3, 3))], (11, 9)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_and_backward_kernels_per_node_kind(case):
    make, inputs, expected = CASES[case]
    assert kernels(make(), inputs) == expected


def test_every_node_kind_has_a_count():
    """A new node kind must get a case above (and counts in its code)."""
    kinds = {cls.__name__
             for mod in (cells, control, dropout, graphnet, groups, io, linear, losses, pointwise, tuned)
             for _, cls in inspect.getmembers(mod, inspect.isclass)
             if issubclass(cls, Node) and cls.__module__ == mod.__name__ and not cls.__name__.startswith("_")}
    kinds -= {"GatedCell", "LossNode"}  # abstract bases: of the LSTM-style cells, of the loss nodes
    assert kinds == {type(make()).__name__ for make, _, _ in CASES.values()}


def test_pure_routing_does_no_array_work_and_every_computing_kind_does():
    routing = {"Cond", "Phi", "Isu", "Input", "Dropout p=0"}
    for case, (_, _, (fwd, bwd)) in CASES.items():
        assert (fwd + bwd == 0) == (case in routing), case


def test_a_cell_costs_more_kernels_than_a_relu():
    relu, _ = kernels(ReLU("r"), [(0, (0,), x(1, 1))])
    tree, _ = kernels(TreeLSTMCell("c", 3), [(0, (0,), x(1, 12))])
    lstm, _ = kernels(LSTMCell("c", 2, 3), [(0, (0,), x(1, 8))])
    assert tree > 5 * relu and lstm > 5 * relu


def test_evaluation_forward_of_a_loss_skips_the_gradient_ops():
    node = SoftmaxCrossEntropy("l", 3, Field("y"))
    node.training = False
    assert kernels(node, [(0, (0,), x(2, 3))]) == (17, 0)


@pytest.mark.parametrize("n", [2, 5])
def test_joins_and_sums_scale_with_the_number_of_parts(n):
    widths = [2] * n
    assert kernels(Concat("c", widths), [(p, (0,), x(1, 2)) for p in range(n)]) == (1, 0)
    assert kernels(Split("s", widths), [(0, (0,), x(1, 2 * n))]) == (0, 1)
    assert kernels(Bcast("b", n), [(0, (0,), x(1, 2))]) == (0, n - 1)
    assert kernels(Group("g", ByFirst(n)), [(0, (0, k), x(1, 2)) for k in range(n)]) == (n - 1, 0)
    assert kernels(Ungroup("u", Fan(n)), [(0, (0,), x(1, 2))]) == (0, n - 1)


# -- updates -----------------------------------------------------------------------------------------------

#: array operations of Optimizer.update on one array: (dense, sparse rows), without weight decay
PER_ARRAY = {"sgd": (2, 4), "momentum": (4, 9), "adam": (14, 32), "adagrad": (7, 12)}


def update_kernels(node: ParamNode, payload: np.ndarray, spec: OptimizerSpec, *, instances: int = 1,
                   clip_norm: float = 0.0) -> float:
    node.configure(spec, muf=instances, clip_norm=clip_norm)
    work = None
    for key in range(instances):
        msg = Message(Instance(key, {}), (0,), payload)
        y = node.step(False, msg, 0).sends[0].msg.payload
        node.step(True, msg.with_payload(np.ones_like(y)), 0)
        work = node.complete(key)
    assert work is not None
    return work.kernels


@pytest.mark.parametrize("kind", sorted(PER_ARRAY))
def test_dense_update_is_param_grads_plus_k_arrays_times_the_per_array_count(kind):
    dense, _ = PER_ARRAY[kind]
    spec = OptimizerSpec(kind=kind)
    # Linear: W and b; param_grads = 2 concatenates + GEMM + bias sum; per array: the 1/n scaling + update
    assert update_kernels(Linear("l", 3, 2), x(2, 3), spec) == 4 + 2 * (1 + dense)
    assert update_kernels(Linear("l", 3, 2, bias=False), x(2, 3), spec) == 3 + 1 * (1 + dense)
    # GRU: Wx, Wh, bx, bh; param_grads = 4 concatenates + 2 GEMMs + 2 sums
    assert update_kernels(GRUCell("g", 2, 3), x(2, 5), spec) == 8 + 4 * (1 + dense)
    # weight decay adds a scale and an add per array
    wd = OptimizerSpec(kind=kind, weight_decay=1e-4)
    assert update_kernels(Linear("l", 3, 2), x(2, 3), wd) == 4 + 2 * (3 + dense)


@pytest.mark.parametrize("kind", sorted(PER_ARRAY))
def test_sparse_update_of_an_embedding(kind):
    _, sparse = PER_ARRAY[kind]
    ids = np.array([3, 1, 3])
    # param_grads: 2 concatenates, np.unique (12 inside), np.zeros, np.add.at
    assert update_kernels(Embedding("e", 5, 2), ids, OptimizerSpec(kind=kind)) == 16 + 1 + sparse
    # weight decay on rows: gather, scale, add
    wd = OptimizerSpec(kind=kind, weight_decay=1e-4)
    assert update_kernels(Embedding("e", 5, 2), ids, wd) == 16 + 1 + sparse + 3


def test_update_over_many_instances_concatenates_once_and_clipping_costs_two_per_array():
    spec = OptimizerSpec(kind="adam")
    one = update_kernels(Linear("l", 3, 2), x(2, 3), spec)
    assert update_kernels(Linear("l", 3, 2), x(2, 3), spec, instances=4) == one
    assert update_kernels(Linear("l", 3, 2), x(2, 3), spec, clip_norm=1e-3) == one + 2 * 2


# -- Work and charge ---------------------------------------------------------------------------------------

class Twice(Node):
    def forward(self, msg: Message, port: int) -> list[Send]:
        self.charge(flops=1.0, kernels=2)
        self.charge(bytes=3.0, kernels=0.5)
        return [self.out(msg)]


def test_work_defaults_and_charge_accumulates():
    assert Work() == Work(0.0, 0.0, 0.0) and Work().kernels == 0.0
    assert Work(1.0, 2.0).kernels == 0.0
    payload = x(2, 2)
    work = Twice("t").step(False, Message(INST, (0,), payload), 0).work
    assert work == Work(flops=1.0, bytes=3.0 + 2 * payload.nbytes, kernels=2.5)
    # a fresh Work per step: nothing carries over
    assert Twice("t").step(False, Message(INST, (0,), payload), 0).work.kernels == 2.5

"""Finite-difference checks (float64) of every node kind and loss of the engine core."""

import numpy as np
import pytest

from ampsim.ir.message import Instance
from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.ir.nodes.losses import Field, MeanSquaredError, SoftmaxCrossEntropy
from ampsim.ir.nodes.pointwise import Add, Mul, ReLU, Sigmoid, Tanh
from ampsim.testing import check_node, loss_gradcheck

rng = np.random.default_rng(0)
F64 = np.float64


def x(*shape):
    return rng.normal(size=shape)


@pytest.mark.parametrize("node,inputs", [
    (Linear("lin", 5, 3, dtype=F64), [x(4, 5)]),
    (Linear("lin_nobias", 3, 2, bias=False, dtype=F64), [x(2, 3)]),
    (ReLU("relu"), [x(3, 6) + 0.05]),
    (Tanh("tanh"), [x(3, 6)]),
    (Sigmoid("sig"), [x(3, 6)]),
    (Add("add"), [x(2, 4), x(2, 4)]),
    (Mul("mul"), [x(2, 4), x(2, 4)]),
])
def test_node_gradients_match_finite_differences(node, inputs):
    assert check_node(node, inputs) < 1e-6


def test_embedding_gradient_including_repeated_rows():
    emb = Embedding("emb", 7, 3, dtype=F64)
    ids = np.array([1, 4, 1, 6])
    assert check_node(emb, [ids]) < 1e-6


def test_softmax_cross_entropy_gradient():
    inst = Instance(0, {"y": np.array([0, 2, 1, -1])})  # -1: an unlabelled row
    node = SoftmaxCrossEntropy("ce", 3, Field("y"))
    assert loss_gradcheck(node, x(4, 3), inst) < 1e-6


def test_mse_gradient():
    inst = Instance(0, {"t": x(3, 2)})
    assert loss_gradcheck(MeanSquaredError("mse", 2, Field("t")), x(3, 2), inst) < 1e-6


def test_summed_losses_gradients():
    """reduction="sum" (SST's per-node loss): the gradient of the summed loss, the unlabelled row still zero."""
    inst = Instance(0, {"y": np.array([2, -1, 0, 2, 1]), "t": x(3, 2)})
    assert loss_gradcheck(SoftmaxCrossEntropy("ce", 3, Field("y"), reduction="sum"), x(5, 3), inst) < 1e-6
    assert loss_gradcheck(MeanSquaredError("mse", 2, Field("t"), reduction="sum"), x(3, 2), inst) < 1e-6


def test_cross_entropy_reports_loss_and_correct_counts():
    inst = Instance(0, {"y": np.array([1, 0, -1])})
    node = SoftmaxCrossEntropy("ce", 2, Field("y"))
    logits = np.array([[0.0, 5.0], [0.0, 5.0], [9.0, 0.0]])
    step = node.step(False, __import__("ampsim.ir.message", fromlist=["Message"]).Message(inst, (), logits), 0)
    r = step.reports[0].values
    assert r["n"] == 2 and r["correct"] == 1
    assert r["loss"] == pytest.approx(-np.log(1 / (1 + np.exp(-5))) - np.log(1 / (1 + np.exp(5))))
    assert np.all(step.sends[0].msg.payload[2] == 0)  # the unlabelled row gets no gradient

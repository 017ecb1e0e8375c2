"""The update rules, step by step against their written-out formulas (SGD, heavy-ball momentum, Adam with bias
correction, Adagrad; weight decay added to the gradient), dense and on sparse rows (lazy: a row's state moves
only when the row is updated), and what a parameterized node hands its optimizer: the gradient averaged over
the muf instances of an update, clipped as an average."""

from __future__ import annotations

import numpy as np
import pytest

from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.optim import OPTIMIZERS, OptimizerSpec, SparseRows, make_optimizer

rng = np.random.default_rng(3)
LR, M, B1, B2, EPS = 0.1, 0.8, 0.85, 0.99, 1e-6


def written_out(kind: str, p: np.ndarray, grads: list[np.ndarray], wd: float) -> np.ndarray:
    """The textbook rules (Kingma & Ba 2015 for Adam, Duchi et al. 2011 for Adagrad), float64."""
    p, v, m, s, h = p.copy(), 0 * p, 0 * p, 0 * p, 0 * p
    for t, g in enumerate(grads, 1):
        g = g + wd * p
        if kind == "sgd":
            p = p - LR * g
        elif kind == "momentum":
            v = M * v + g
            p = p - LR * v
        elif kind == "adam":
            m, s = B1 * m + (1 - B1) * g, B2 * s + (1 - B2) * g**2
            p = p - LR * (m / (1 - B1**t)) / (np.sqrt(s / (1 - B2**t)) + EPS)
        else:
            h = h + g**2
            p = p - LR * g / (np.sqrt(h) + EPS)
    return p


def spec(kind: str, wd: float = 0.0) -> OptimizerSpec:
    return OptimizerSpec(kind=kind, lr=LR, momentum=M, beta1=B1, beta2=B2, eps=EPS, weight_decay=wd)


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_dense_steps_follow_the_written_out_rule(kind, wd):
    p0, grads = rng.normal(size=(4, 3)), [rng.normal(size=(4, 3)) for _ in range(6)]
    opt, p = make_optimizer(spec(kind, wd)), p0.copy()
    for g in grads:
        assert opt.update("W", p, g) == p.size
    np.testing.assert_allclose(p, written_out(kind, p0, grads, wd), rtol=0, atol=1e-13)


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_sparse_rows_step_each_row_by_its_own_updates_only(kind, wd):
    """Row r of the table follows the dense rule over the gradients of the updates that touched r (its own step
    count, for Adam), and the rows no update touched do not move."""
    p0 = rng.normal(size=(5, 2))
    updates = [np.array([0, 2]), np.array([2, 3]), np.array([0, 2, 3]), np.array([3])]
    grads = [rng.normal(size=(len(rows), 2)) for rows in updates]
    opt, p = make_optimizer(spec(kind, wd)), p0.copy()
    for rows, g in zip(updates, grads):
        assert opt.update("E", p, SparseRows(rows, g)) == g.size
    for r in range(5):
        mine = [g[list(rows).index(r)] for rows, g in zip(updates, grads) if r in rows]
        np.testing.assert_allclose(p[r], written_out(kind, p0[r], mine, wd), rtol=0, atol=1e-13)
    np.testing.assert_array_equal(p[[1, 4]], p0[[1, 4]])


def visit(node, key: int, x: np.ndarray, dy: np.ndarray) -> None:
    inst = Instance(key, {})
    node.step(False, Message(inst, (), x), 0)
    node.step(True, Message(inst, (), dy), 0)


@pytest.mark.parametrize("clip", [0.0, 0.5, 1e3])
def test_an_update_averages_its_muf_instances_and_clips_the_average(clip):
    """muf 3: one step of the mean of the three instances' gradients (instances of different sizes weigh the
    same), scaled to norm ``clip`` over all of the node's arrays where it is longer."""
    lin = Linear("l", 3, 2, dtype=np.float64)
    lin.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=3, clip_norm=clip)
    W0, b0 = lin.params["W"].copy(), lin.params["b"].copy()
    gW, gb = 0.0, 0.0
    for key, rows in enumerate((1, 2, 5)):
        x, dy = rng.normal(size=(rows, 3)), rng.normal(size=(rows, 2))
        visit(lin, key, x, dy)
        gW, gb = gW + x.T @ dy / 3, gb + dy.sum(axis=0) / 3
    assert lin.complete(0) is None and lin.complete(1) is None and lin.version == 0
    assert lin.complete(2) is not None and lin.version == 1
    norm = np.sqrt(np.sum(gW**2) + np.sum(gb**2))
    s = min(1.0, clip / norm) if clip else 1.0
    assert clip != 0.5 or s < 1  # the clip does clip
    np.testing.assert_allclose(W0 - lin.params["W"], s * gW, rtol=0, atol=1e-14)
    np.testing.assert_allclose(b0 - lin.params["b"], s * gb, rtol=0, atol=1e-14)


def test_a_sparse_update_averages_the_rows_of_its_instances():
    emb = Embedding("e", 6, 2, dtype=np.float64)
    emb.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=2)
    W0 = emb.params["W"].copy()
    d1, d2 = rng.normal(size=(3, 2)), rng.normal(size=(2, 2))
    visit(emb, 0, np.array([1, 4, 1]), d1)
    visit(emb, 1, np.array([4, 5]), d2)
    emb.complete(1)
    emb.complete(0)
    want = np.zeros_like(W0)
    np.add.at(want, [1, 4, 1, 4, 5], np.concatenate([d1, d2]) / 2)
    np.testing.assert_allclose(W0 - emb.params["W"], want, rtol=0, atol=1e-14)

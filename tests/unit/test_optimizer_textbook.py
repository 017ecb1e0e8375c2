"""The training numerics against textbook formulas, written out here again in float64 numpy, independently of
``ampsim/optim.py`` and ``ampsim/ir/param.py``: each optimizer step by step (float32 and float64, with and without
weight decay, which is L2: ``wd * p`` added to the gradient), lazy sparse rows (parameters and state), the muf
average and the per-node clip, the reference executor at mak 1, muf 1 against a hand-written MLP, and the
``scale_lr`` and ``predict`` staleness rules. Hypothesis runs derandomized and small (the file takes seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.ir.nodes.tuned import TunedEmbedding
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec, SparseRows, make_optimizer

KINDS = ("sgd", "momentum", "adagrad", "adam")
DTYPES = (np.float32, np.float64)
#: per dtype, the tolerance relative to 1 + |value| (float32 rounds each of a few steps' operations)
TOL = {np.float32: 2e-5, np.float64: 1e-12}
SMALL = settings(max_examples=20, deadline=None, derandomize=True)


class Textbook:
    """One optimizer as the papers write it, float64 state (Kingma & Ba 2015 for Adam with bias correction;
    Duchi et al. 2011 for Adagrad, eps outside the root; heavy-ball momentum ``v = mu v + g, p -= lr v``)."""

    def __init__(self, spec: OptimizerSpec) -> None:
        self.s, self.t, self.m, self.v = spec, 0, 0.0, 0.0

    def step(self, p: np.ndarray, g: np.ndarray, lr_scale: float = 1.0) -> np.ndarray:
        """The new parameters after gradient ``g`` (L2 weight decay folded into the gradient), at the learning
        rate times ``lr_scale``."""
        s, g = self.s, np.asarray(g, np.float64) + self.s.weight_decay * np.asarray(p, np.float64)
        lr = s.lr * lr_scale
        self.t += 1
        if s.kind == "sgd":
            d = lr * g
        elif s.kind == "momentum":
            self.v = s.momentum * self.v + g
            d = lr * self.v
        elif s.kind == "adagrad":
            self.v = self.v + g * g
            d = lr * g / (np.sqrt(self.v) + s.eps)
        else:
            self.m = s.beta1 * self.m + (1 - s.beta1) * g
            self.v = s.beta2 * self.v + (1 - s.beta2) * g * g
            m_hat, v_hat = self.m / (1 - s.beta1**self.t), self.v / (1 - s.beta2**self.t)
            d = lr * m_hat / (np.sqrt(v_hat) + s.eps)
        return np.asarray(p, np.float64) - d


def close(got: np.ndarray, want: np.ndarray, dtype) -> None:
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


specs = st.builds(OptimizerSpec, kind=st.sampled_from(KINDS), lr=st.sampled_from([0.01, 0.3]),
                  momentum=st.sampled_from([0.0, 0.5, 0.9]), beta1=st.sampled_from([0.0, 0.9]),
                  beta2=st.sampled_from([0.9, 0.999]), eps=st.sampled_from([1e-8, 1e-3]),
                  weight_decay=st.sampled_from([0.0, 0.05]))


@SMALL
@given(spec=specs, dtype=st.sampled_from(DTYPES), steps=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_dense_updates_follow_the_textbook_step_by_step(spec, dtype, steps, seed):
    r = np.random.default_rng(seed)
    p = r.normal(size=(3, 4)).astype(dtype)
    want, book, opt = p.astype(np.float64), Textbook(spec), make_optimizer(spec)
    for _ in range(steps):
        g = r.normal(size=p.shape).astype(dtype)
        opt.update("W", p, g)
        want = book.step(want, g)
        assert p.dtype == dtype
        close(p, want, dtype)


@SMALL
@given(spec=specs, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_sparse_rows_are_lazy_textbook_updates_of_the_rows_used_state_included(spec, dtype, seed):
    """Each row follows the textbook rule over the updates that touched it (its own step count for Adam's bias
    correction); rows no update touched keep their values and zero state; an update of every row equals the dense
    update, state included."""
    r = np.random.default_rng(seed)
    n, dim = 6, 2
    p = r.normal(size=(n, dim)).astype(dtype)
    dense_p, dense = p.copy(), make_optimizer(spec)
    opt = make_optimizer(spec)
    books, want = [Textbook(spec) for _ in range(n)], p.astype(np.float64)
    updates = [np.arange(n), np.array([0, 3]), np.array([1, 3, 4]), np.array([3])]
    for k, rows in enumerate(updates):
        if k == 1:
            p1, state1 = p.copy(), {slot: arr.copy() for slot, arr in opt.state.get("E", {}).items()}
        g = r.normal(size=(rows.size, dim)).astype(dtype)
        opt.update("E", p, SparseRows(rows, g))
        for i, row in enumerate(rows):
            want[row] = books[row].step(want[row], g[i])
        close(p, want, dtype)
        if k == 0:  # every row: the dense rule, parameters and state
            dense.update("E", dense_p, g)
            close(p, dense_p, dtype)
            for slot, arr in dense.state.get("E", {}).items():
                if isinstance(arr, np.ndarray):
                    close(opt.state["E"][slot], arr, dtype)
    untouched = [2, 5]  # (after the first update)
    np.testing.assert_array_equal(p[untouched], p1[untouched])
    for slot, arr in opt.state.get("E", {}).items():
        np.testing.assert_array_equal(arr[untouched], state1[slot][untouched])
    slot = {"momentum": "v", "adagrad": "h", "adam": "v"}.get(spec.kind)
    if slot:  # the state of row 3 (four updates) is the textbook's
        close(opt.state["E"][slot][3], books[3].v, dtype)


def visit(node, key: int, x: np.ndarray, dy: np.ndarray) -> None:
    inst = Instance(key, {})
    node.step(False, Message(inst, (), x), 0)
    node.step(True, Message(inst, (), dy), 0)


@SMALL
@given(dtype=st.sampled_from(DTYPES), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       clip=st.sampled_from([0.0, 0.05, 1e6]), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**16))
def test_an_update_is_the_optimizer_step_of_the_clipped_mean_of_its_muf_instances(dtype, sizes, clip, kind, seed):
    """muf = len(sizes): the node's gradient is the mean over instances of each instance's summed gradient
    (instances of any size weigh the same); the clip scales all the node's arrays together to norm ``clip``."""
    r = np.random.default_rng(seed)
    spec = OptimizerSpec(kind=kind, lr=0.1, weight_decay=0.01)
    lin = Linear("l", 3, 2, seed=seed, dtype=dtype)
    lin.configure(spec, muf=len(sizes), clip_norm=clip)
    W0, b0 = lin.params["W"].astype(np.float64), lin.params["b"].astype(np.float64)
    gW, gb = np.zeros_like(W0), np.zeros_like(b0)
    for key, rows in enumerate(sizes):
        x, dy = r.normal(size=(rows, 3)).astype(dtype), r.normal(size=(rows, 2)).astype(dtype)
        visit(lin, key, x, dy)
        gW, gb = gW + x.T.astype(np.float64) @ dy / len(sizes), gb + dy.sum(axis=0, dtype=np.float64) / len(sizes)
    for key in range(len(sizes)):
        lin.complete(key)
    assert lin.version == 1
    norm = np.sqrt(np.sum(gW**2) + np.sum(gb**2))
    s = clip / norm if clip and norm > clip else 1.0
    close(lin.params["W"], Textbook(spec).step(W0, s * gW), dtype)
    close(lin.params["b"], Textbook(spec).step(b0, s * gb), dtype)


@SMALL
@given(dtype=st.sampled_from(DTYPES), kind=st.sampled_from(KINDS), clip=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 2**16))
def test_an_embedding_update_touches_only_the_rows_used_and_equals_the_dense_update_there(dtype, kind, clip, seed):
    """Two instances (muf 2) with repeated ids: the rows used move as the dense gradient (scatter-added, averaged,
    clipped by its true norm) says; every other row and its state stay as they were."""
    r = np.random.default_rng(seed)
    spec = OptimizerSpec(kind=kind, lr=0.1)
    emb = Embedding("e", 7, 3, seed=seed, dtype=dtype)
    emb.configure(spec, muf=2, clip_norm=clip)
    W0 = emb.params["W"].copy()
    ids = [np.array([1, 4, 1]), np.array([4, 6])]
    dys = [r.normal(size=(i.size, 3)).astype(dtype) for i in ids]
    for key in (0, 1):
        visit(emb, key, ids[key], dys[key])
    emb.complete(1)
    emb.complete(0)
    dense = np.zeros(W0.shape)
    np.add.at(dense, np.concatenate(ids), np.concatenate(dys).astype(np.float64) / 2)
    norm = np.sqrt(np.sum(dense**2))
    if clip and norm > clip:
        dense *= clip / norm
    used, unused = [1, 4, 6], [0, 2, 3, 5]
    close(emb.params["W"][used], Textbook(spec).step(W0[used], dense[used]), dtype)
    np.testing.assert_array_equal(emb.params["W"][unused], W0[unused])
    for arr in emb.optimizer.state.get("W", {}).values():
        assert not np.any(arr[unused])


def mlp_grads(Ws: list, x: np.ndarray, y: np.ndarray) -> list:
    """Hand-written backpropagation through the MLP (ReLU hidden layers, softmax cross-entropy averaged over the
    instance's rows): the gradient of each layer's (W, b)."""
    acts, h = [x], x
    for i, (W, b) in enumerate(Ws):
        h = h @ W + b
        if i < len(Ws) - 1:
            h = np.maximum(h, 0)
        acts.append(h)
    z = h - h.max(axis=1, keepdims=True)
    dz = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1
    dz /= len(y)
    grads = []
    for i in reversed(range(len(Ws))):
        grads.append((acts[i].T @ dz, dz.sum(axis=0)))
        dz = (dz @ Ws[i][0].T) * (acts[i] > 0)
    return grads[::-1]


@pytest.mark.parametrize("muf", [1, 3])
def test_the_reference_executor_is_sgd_on_the_mean_of_muf_instances_of_a_hand_written_mlp(muf):
    """Six instances: at muf 1 (mak 1), plain SGD, a step per instance; at muf 3, a step on the mean gradient of
    three instances, all taken at the same parameters."""
    model = build_mlp(5, [6, 4], 3, seed=2, dtype=np.float64)
    lr = 0.2
    for node in model.graph.param_nodes:
        node.configure(OptimizerSpec(kind="sgd", lr=lr), muf=muf)
    layers = [model.graph.nodes[f"fc{i}"] for i in range(3)]
    Ws = [(n.params["W"].copy(), n.params["b"].copy()) for n in layers]
    ex, r = ReferenceExecutor(model), np.random.default_rng(9)
    pending = []
    for key in range(6):
        x, y = r.normal(size=(2 + key % 3, 5)), r.integers(0, 3, 2 + key % 3)
        ex.train([Instance(key, {"x": x, "y": y})])
        pending.append(mlp_grads(Ws, x, y))
        if len(pending) == muf:
            Ws = [(W - lr * sum(g[i][0] for g in pending) / muf, b - lr * sum(g[i][1] for g in pending) / muf)
                  for i, (W, b) in enumerate(Ws)]
            pending = []
        for n, (W, b) in zip(layers, Ws):
            np.testing.assert_allclose(n.params["W"], W, rtol=0, atol=1e-13)
            np.testing.assert_allclose(n.params["b"], b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_scale_lr_scales_the_rate_by_the_mean_of_one_over_one_plus_staleness(kind, dtype):
    """Instance 1 is applied with staleness 1 (its forward preceded instance 0's update), instance 2 with 0, in
    one update (muf 2): the optimizer steps on (g1 + g2) / 2 at the rate lr * (1/2 + 1) / 2, weight decay's
    share of the step scaled with the rest."""
    spec = OptimizerSpec(kind=kind, lr=0.1, weight_decay=0.05)
    lin = Linear("lin", 3, 2, seed=1, dtype=dtype)
    lin.configure(spec, muf=1)
    lin.configure_staleness("scale_lr")
    r = np.random.default_rng(0)
    xs = [r.normal(size=(2, 3)).astype(dtype) for _ in range(3)]
    dys = [r.normal(size=(2, 2)).astype(dtype) for _ in range(3)]
    insts = [Instance(k, None) for k in range(3)]
    book, W = Textbook(spec), lin.params["W"].astype(np.float64)
    for k in (0, 1):
        lin.step(False, Message(insts[k], (), xs[k]), 0)
    lin.step(True, Message(insts[0], (), dys[0]), 0)
    lin.complete(0)
    W = book.step(W, xs[0].T.astype(np.float64) @ dys[0])
    lin.step(False, Message(insts[2], (), xs[2]), 0)
    lin.muf = 2
    for k in (1, 2):
        lin.step(True, Message(insts[k], (), dys[k]), 0)
        lin.complete(k)
    assert lin.version == 2 and lin.update_staleness == {0: 2, 1: 1}
    g = sum(xs[k].T.astype(np.float64) @ dys[k] for k in (1, 2)) / 2
    close(lin.params["W"], book.step(W, g, (1 / 2 + 1) / 2), dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_scale_lr_halves_a_step_at_staleness_one_whatever_the_optimizer(kind):
    """Two instances' forwards, then their updates one after the other (muf 1): the second applies with
    staleness 1. Its step under scale_lr is half the step without a rule, for every optimizer (the optimizer's
    state sees the same gradients either way; dividing the gradient instead, as until 2026-12-07, Adam's
    normalization gave about 0.99x of the step and Adagrad's about 0.7x: the rule all but gone)."""
    steps = []
    for mode in ("none", "scale_lr"):
        lin = Linear("lin", 3, 2, seed=1, dtype=np.float64)
        lin.configure(OptimizerSpec(kind=kind, lr=0.1), muf=1)
        lin.configure_staleness(mode)
        r = np.random.default_rng(0)
        insts = [Instance(k, None) for k in (0, 1)]
        for k in (0, 1):
            lin.step(False, Message(insts[k], (), r.normal(size=(2, 3))), 0)
        for k in (0, 1):
            lin.step(True, Message(insts[k], (), r.normal(size=(2, 2))), 0)
            before = lin.params["W"].copy()
            lin.complete(k)
        assert lin.update_staleness == {0: 1, 1: 1}
        steps.append(before - lin.params["W"])
    np.testing.assert_allclose(steps[1], steps[0] / 2, rtol=1e-12)


@pytest.mark.parametrize("delay", [2.5, -1.0])
@pytest.mark.parametrize("kind", KINDS)
def test_predict_extrapolates_the_forward_along_the_last_step(kind, delay):
    """predict: a training forward uses p - D * (the last step the optimizer took); D = -1 is the mean staleness
    measured so far (here 0 and 1: 0.5)."""
    spec = OptimizerSpec(kind=kind, lr=0.1, momentum=0.7, weight_decay=0.02)
    lin = Linear("lin", 3, 2, seed=4, dtype=np.float64)
    lin.configure(spec, muf=1)
    lin.configure_staleness("predict", delay)
    r = np.random.default_rng(1)
    xs, dys = r.normal(size=(3, 2, 3)), r.normal(size=(3, 2, 2))
    insts = [Instance(k, None) for k in range(3)]
    books = {n: Textbook(spec) for n in lin.params}
    live = {n: p.copy() for n, p in lin.params.items()}
    for k in (0, 1):
        lin.step(False, Message(insts[k], (), xs[k]), 0)  # no step yet: both forwards use the live parameters
    last = {}
    for k in (0, 1):
        lin.step(True, Message(insts[k], (), dys[k]), 0)
        lin.complete(k)
        grads = {"W": xs[k].T @ dys[k], "b": dys[k].sum(axis=0)}
        for n in live:
            new = books[n].step(live[n], grads[n])
            last[n], live[n] = live[n] - new, new
    D = 0.5 if delay == -1 else delay
    assert lin.expected_delay() == D
    y = lin.step(False, Message(insts[2], (), xs[2]), 0).sends[0].msg.payload
    want = xs[2] @ (live["W"] - D * last["W"]) + (live["b"] - D * last["b"])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lin.params["W"], live["W"], rtol=1e-12, atol=1e-12)  # the live ones are kept


def test_an_embedding_of_its_own_takes_kind_rate_and_decay_from_the_model_and_the_rest_from_train():
    train = OptimizerSpec(kind="adam", lr=0.05, momentum=0.6, beta1=0.8, beta2=0.95, eps=1e-5, weight_decay=0.1)
    emb = TunedEmbedding("e", 4, 2).override_optimizer(kind="momentum", lr=0.3, weight_decay=0.0)
    emb.configure(train, muf=3, clip_norm=2.0)
    assert emb.optimizer.spec == OptimizerSpec(kind="momentum", lr=0.3, momentum=0.6, beta1=0.8, beta2=0.95,
                                               eps=1e-5, weight_decay=0.0)
    assert (emb.muf, emb.clip_norm, type(emb.optimizer).__name__) == (3, 2.0, "Momentum")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_clip_scales_a_gradient_whose_squares_overflow_to_the_clip_norm(dtype):
    """The textbook clip ``g * c / |g|`` of a gradient with finite entries whose squares overflow the dtype: the
    step has norm c (the sum of squares overflowed, the norm came out inf and the update was zero)."""
    big = np.sqrt(np.finfo(dtype).max)  # x.T @ dy: entries near the largest finite value, squares overflow
    lin = Linear("l", 2, 2, dtype=dtype)
    lin.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=1, clip_norm=1.0)
    W0, b0 = lin.params["W"].astype(np.float64), lin.params["b"].astype(np.float64)
    x, dy = np.array([[0.5, -0.25]], dtype), np.array([[big, big / 2]], dtype)
    with np.errstate(over="raise"):  # (no overflow warning on the way either)
        visit(lin, 0, x, dy)
        lin.complete(0)
    gW, gb = x.T.astype(np.float64) @ dy.astype(np.float64), dy[0].astype(np.float64)
    norm = np.sqrt(np.sum((gW / big) ** 2) + np.sum((gb / big) ** 2)) * big
    close(W0 - lin.params["W"], gW / norm, dtype)
    close(b0 - lin.params["b"], gb / norm, dtype)


@SMALL
@given(visits=st.lists(st.integers(0, 9), max_size=80))
def test_the_admission_signal_is_the_mean_staleness_of_the_last_32_backward_visits(visits):
    lin = Linear("l", 2, 2)
    for s in visits:
        lin.note_staleness(s)
    last = visits[-32:]
    assert lin.recent_staleness() == pytest.approx(sum(last) / len(last) if last else 0.0, abs=1e-12)
    assert sum(lin.staleness.values()) == len(visits)


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_an_embedding_extrapolates_only_the_rows_the_last_update_touched(kind):
    spec = OptimizerSpec(kind=kind, lr=0.1, momentum=0.7)
    emb = Embedding("e", 5, 2, seed=3, dtype=np.float64)
    emb.configure(spec, muf=1)
    emb.configure_staleness("predict", 3.0)
    r = np.random.default_rng(2)
    books, live = [Textbook(spec) for _ in range(5)], emb.params["W"].copy()
    for key, ids in enumerate((np.array([0, 2, 2]), np.array([2, 4]))):
        dy = r.normal(size=(ids.size, 2))
        visit(emb, key, ids, dy)
        emb.complete(key)
        g = np.zeros((5, 2))
        np.add.at(g, ids, dy)
        last = np.zeros((5, 2))
        for row in np.unique(ids):
            new = books[row].step(live[row], g[row])
            last[row], live[row] = live[row] - new, new
    y = emb.step(False, Message(Instance(9, {}), (), np.arange(5)), 0).sends[0].msg.payload
    np.testing.assert_allclose(y, live - 3.0 * last, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(y[[0, 1, 3]], live[[0, 1, 3]])  # rows the last update did not touch


def test_an_instances_visits_are_summed_and_its_instances_averaged():
    """A node visited twice by instance 0 (a tree's two positions) and once by instance 1, muf 2: the step is
    lr * (g0a + g0b + g1) / 2: an instance's gradient is the sum over its visits, an update the mean over
    instances."""
    lin = Linear("l", 3, 2, dtype=np.float64)
    lin.configure(OptimizerSpec(kind="sgd", lr=0.5), muf=2)
    W0, r, total = lin.params["W"].copy(), np.random.default_rng(5), 0.0
    for key, states in ((0, [(0,), (1,)]), (1, [(0,)])):
        inst = Instance(key, {})
        for state in states:
            x, dy = r.normal(size=(2, 3)), r.normal(size=(2, 2))
            lin.step(False, Message(inst, state, x), 0)
            lin.step(True, Message(inst, state, dy), 0)
            total = total + x.T @ dy
    lin.complete(0)
    lin.complete(1)
    np.testing.assert_allclose(W0 - lin.params["W"], 0.5 * total / 2, rtol=0, atol=1e-13)

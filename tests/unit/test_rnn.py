"""The list-reduction data and the IR-loop RNN: gradients against a hand-written numpy BPTT, freed state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config, parse_override
from ampsim.data.list_reduction import OP_BASE, OPS, VOCAB_SIZE, generate, make_splits, reduce_list
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance
from ampsim.models import build_task
from ampsim.models.rnn import bucket, build_rnn
from ampsim.optim import OptimizerSpec
from ampsim.planning import configure_params

F64 = np.float64
ROOT = Path(__file__).resolve().parents[2]


# -- data ------------------------------------------------------------------------------------------------

def test_reduce_list_operations():
    d = [3, 9, 4]
    assert [reduce_list(op, d) for op in OPS] == [6, 9, 3, 3, 4]
    with pytest.raises(ValueError, match="unknown operation"):
        reduce_list("median", d)
    with pytest.raises(ValueError, match="at least one digit"):
        reduce_list("sum", [])


def test_generate_is_seeded_and_labels_are_right():
    a, b = generate(300, 6, 5), generate(300, 6, 5)
    assert all(np.array_equal(s, t) for s, t in zip(a.sequences, b.sequences))
    np.testing.assert_array_equal(a.labels, b.labels)
    c = generate(300, 6, 6)
    assert not all(np.array_equal(s, t) for s, t in zip(a.sequences, c.sequences))
    for seq, y, op in zip(a.sequences, a.labels, a.ops):
        assert seq[0] == OP_BASE + op and 1 <= len(seq) - 1 <= 6
        assert np.all(seq[1:] < 10) and y == reduce_list(OPS[op], seq[1:])
    assert set(a.ops.tolist()) == set(range(len(OPS)))
    assert {len(s) - 1 for s in a.sequences} == set(range(1, 7))
    only = generate(50, 3, 0, min_len=2, ops=("max", "last"))
    assert set(only.ops.tolist()) <= {1, 4} and min(len(s) for s in only.sequences) == 3
    with pytest.raises(ValueError):
        generate(5, 3, 0, ops=("mean",))
    train, test = make_splits(100, 100, 5, seed=0)
    assert not all(np.array_equal(s, t) for s, t in zip(train.sequences, test.sequences))


def test_bucketing_keeps_equal_lengths_together():
    data = generate(200, 5, 1)
    insts = bucket(data, 8, np.arange(200), 100, np.random.default_rng(0))
    assert sorted(i.key for i in insts) == list(range(100, 100 + len(insts)))
    seen = []
    for inst in insts:
        tok = inst.data["tokens"]
        assert tok.shape[0] <= 8 and tok.shape[1] == inst.data["n_steps"]
        seen.extend(inst.data["y"].tolist())
    assert sorted(seen) == sorted(data.labels.tolist())


# -- gradients against numpy BPTT ------------------------------------------------------------------------

def sig(z):
    return 1 / (1 + np.exp(-z))


def softmax_ce(logits, y):
    """Mean softmax cross-entropy over the batch and its gradient with respect to the logits."""
    B = len(y)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    dlog = np.exp(logp)
    dlog[np.arange(B), y] -= 1
    return -logp[np.arange(B), y].mean(), dlog / B


def numpy_lstm(p, tokens, y):
    """Loss and gradients of the LSTM task, written out directly (forward, then backward through time)."""
    E, W, b, Wo, bo = p["emb"], p["W"], p["b"], p["Wo"], p["bo"]
    B, T = tokens.shape
    H = Wo.shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    tape = []
    for t in range(T):
        xh = np.concatenate([E[tokens[:, t]], h], axis=1)
        z = xh @ W + b
        i, f, o, u = sig(z[:, :H]), sig(z[:, H:2 * H]), sig(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
        c_prev, c = c, i * u + f * c
        h = o * np.tanh(c)
        tape.append((xh, c_prev, c, i, f, o, u))
    loss, dlog = softmax_ce(h @ Wo + bo, y)
    g = {"Wo": h.T @ dlog, "bo": dlog.sum(0), "W": np.zeros_like(W), "b": np.zeros_like(b),
         "emb": np.zeros_like(E)}
    dh, dc = dlog @ Wo.T, np.zeros((B, H))
    n_x = E.shape[1]
    for t in reversed(range(T)):
        xh, c_prev, c, i, f, o, u = tape[t]
        tc = np.tanh(c)
        dc = dc + dh * o * (1 - tc ** 2)
        dz = np.concatenate([dc * u * i * (1 - i), dc * c_prev * f * (1 - f), dh * tc * o * (1 - o),
                             dc * i * (1 - u ** 2)], axis=1)
        g["W"] += xh.T @ dz
        g["b"] += dz.sum(0)
        dxh = dz @ W.T
        np.add.at(g["emb"], tokens[:, t], dxh[:, :n_x])
        dh, dc = dxh[:, n_x:], dc * f
    return loss, g


def numpy_gru(p, tokens, y):
    E, Wx, Wh, bx, bh, Wo, bo = (p[k] for k in ("emb", "Wx", "Wh", "bx", "bh", "Wo", "bo"))
    B, T = tokens.shape
    H = Wo.shape[0]
    h = np.zeros((B, H))
    tape = []
    for t in range(T):
        x = E[tokens[:, t]]
        gx, gh = x @ Wx + bx, h @ Wh + bh
        r, z = sig(gx[:, :H] + gh[:, :H]), sig(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        tape.append((x, h, r, z, n, gh[:, 2 * H:]))
        h = (1 - z) * n + z * h
    loss, dlog = softmax_ce(h @ Wo + bo, y)
    g = {"Wo": h.T @ dlog, "bo": dlog.sum(0), "emb": np.zeros_like(E)}
    for k in ("Wx", "Wh", "bx", "bh"):
        g[k] = np.zeros_like(p[k])
    dh = dlog @ Wo.T
    for t in reversed(range(T)):
        x, h_prev, r, z, n, hn = tape[t]
        dn = dh * (1 - z) * (1 - n ** 2)
        dzp = dh * (h_prev - n) * z * (1 - z)
        drp = dn * hn * r * (1 - r)
        dgx = np.concatenate([drp, dzp, dn], axis=1)
        dgh = np.concatenate([drp, dzp, dn * r], axis=1)
        g["Wx"] += x.T @ dgx
        g["Wh"] += h_prev.T @ dgh
        g["bx"] += dgx.sum(0)
        g["bh"] += dgh.sum(0)
        np.add.at(g["emb"], tokens[:, t], dgx @ Wx.T)
        dh = dgh @ Wh.T + dh * z
    return loss, g


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_ir_rnn_gradients_match_numpy_bptt(cell):
    H, e = 5, 4
    model = build_rnn(cell, H, e, seed=3, dtype=F64, forget_bias=0.5)
    nodes = model.graph.nodes
    for n in model.graph.param_nodes:
        for v in n.params.values():  # move off the initialization so every path matters
            v += np.random.default_rng(len(n.name)).normal(scale=0.3, size=v.shape)
        n.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=1)
    ex = ReferenceExecutor(model)
    r = np.random.default_rng(0)
    for key, (B, T) in enumerate([(1, 1), (3, 2), (2, 7), (4, 11)]):
        tokens = np.concatenate([r.integers(OP_BASE, VOCAB_SIZE, (B, 1)), r.integers(0, 10, (B, T - 1))], 1)
        y = r.integers(0, 10, B)
        names = {"emb": ("emb", "W"), "Wo": ("out", "W"), "bo": ("out", "b")}
        names.update({k: ("cell", k) for k in (("W", "b") if cell == "lstm" else ("Wx", "Wh", "bx", "bh"))})
        before = {k: nodes[a].params[b].copy() for k, (a, b) in names.items()}
        loss, grads = (numpy_lstm if cell == "lstm" else numpy_gru)(before, tokens, y)
        reports = ex.train([Instance(key, {"tokens": tokens, "y": y, "n_steps": T})])
        assert sum(rep.values["loss"] for rep in reports) / B == pytest.approx(loss, rel=1e-12)
        for k, (a, b) in names.items():
            delta = before[k] - nodes[a].params[b]
            assert np.abs(delta - grads[k]).max() <= 1e-10 * max(1.0, np.abs(grads[k]).max()), k
        assert not any(n.holds(key) for n in nodes.values())


# -- the task --------------------------------------------------------------------------------------------

def small_config(*sets):
    sets = ["data.n_train=600", "data.n_test=200", "data.max_len=4", "data.batch=8", "model.hidden=16",
            "model.embed=8", *sets]
    return load_config(ROOT / "experiments/list_reduction.toml", [parse_override(s) for s in sets])


def test_state_is_freed_and_memory_does_not_grow_across_epochs():
    cfg = small_config()
    task = build_task(cfg)
    configure_params(cfg, task)
    ex = ReferenceExecutor(task.model)
    nodes = task.model.graph.nodes.values()
    held = []
    for epoch in (1, 2, 3):
        insts = task.train_instances(epoch)
        ex.train(insts)
        ex.evaluate(task.eval_instances())
        assert not any(n.holds(i.key) for n in nodes for i in insts)
        held.append(sum(n.held_bytes() for n in nodes))
    assert held == [0, 0, 0]


def test_training_learns_the_easy_operations():
    cfg = small_config('data.ops=["first", "last"]', "train.epochs=4", "train.lr=0.01")
    task = build_task(cfg)
    configure_params(cfg, task)
    ex = ReferenceExecutor(task.model)
    from ampsim.metrics import metric_value

    before = metric_value(ex.evaluate(task.eval_instances()), task.model.metric)
    for epoch in range(1, 5):
        ex.train(task.train_instances(epoch))
    after = metric_value(ex.evaluate(task.eval_instances()), task.model.metric)
    assert before < 0.3 and after > 0.6


def test_config_errors_name_the_field():
    from ampsim.errors import ConfigError

    with pytest.raises(ConfigError, match="data.min_len: must be <= data.max_len"):
        build_task(small_config("data.min_len=9"))
    with pytest.raises(ConfigError, match="data.ops: unknown operations"):
        build_task(small_config('data.ops=["mean"]'))
    with pytest.raises(ConfigError, match=r"data.ops: no operation given \(known: "):  # it said "unknown operations []"
        build_task(small_config("data.ops=[]"))

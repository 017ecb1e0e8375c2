"""The IR Tree-LSTM: gradients on random trees against a directly written recursive numpy Tree-LSTM,
leaf batching, binary labels, freed state, config files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.config import load_config
from ampsim.data import sst
from ampsim.errors import DataError
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance, Message
from ampsim.models.treelstm import build_treelstm, tree_data
from ampsim.optim import OptimizerSpec

F64 = np.float64
ROOT = Path(__file__).resolve().parents[2]
WORDS = ["a", "good", "bad", "film", "not", "very", "plot", "fun"]


def random_tree_text(r: np.random.Generator, n_leaves: int) -> str:
    label = int(r.integers(0, 5))
    if n_leaves == 1:
        return f"({label} {WORDS[r.integers(0, len(WORDS))]})"
    k = int(r.integers(1, n_leaves))
    return f"({label} {random_tree_text(r, k)} {random_tree_text(r, n_leaves - k)})"


def random_trees(seed: int, sizes) -> list[sst.Tree]:
    r = np.random.default_rng(seed)
    return [sst.parse_tree(random_tree_text(r, n)) for n in sizes]


def sig(z):
    return 1 / (1 + np.exp(-z))


def numpy_treelstm(p, tree: sst.Tree, ids, labels, masks):
    """Loss and gradients of one tree, written out directly: bottom-up forward, top-down backward."""
    E, Wl, bl, Wc, bc, Wo, bo = (p[k] for k in ("emb", "Wl", "bl", "Wc", "bc", "Wo", "bo"))
    H = Wo.shape[0]
    n = tree.n_nodes
    h, c, tape = np.zeros((n, H)), np.zeros((n, H)), {}
    for i in range(n):  # post-order: children first
        if tree.is_leaf(i):
            x = E[ids[i]]
            z = x @ Wl + bl
            gi, go, u = sig(z[:H]), sig(z[H:2 * H]), np.tanh(z[2 * H:])
            c[i] = gi * u
            tape[i] = (x, gi, go, u)
        else:
            lft, rgt = tree.left[i], tree.right[i]
            xh = np.concatenate([h[lft], h[rgt]])
            z = xh @ Wc + bc
            gi, fl, fr, go = (sig(z[k * H:(k + 1) * H]) for k in range(4))
            u = np.tanh(z[4 * H:])
            c[i] = gi * u + fl * c[lft] + fr * c[rgt]
            tape[i] = (xh, gi, fl, fr, go, u)
        h[i] = tape[i][-2] * np.tanh(c[i])
    hd = h * masks
    logits = hd @ Wo + bo
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    lab = labels >= 0
    rows = np.flatnonzero(lab)
    loss = -logp[rows, labels[rows]].sum()
    dlog = np.exp(logp)
    dlog[rows, labels[rows]] -= 1
    dlog[~lab] = 0
    g = {"Wo": hd.T @ dlog, "bo": dlog.sum(0)}
    for k in ("emb", "Wl", "bl", "Wc", "bc"):
        g[k] = np.zeros_like(p[k])
    dh, dc = (dlog @ Wo.T) * masks, np.zeros((n, H))
    for i in reversed(range(n)):  # parents first
        tc = np.tanh(c[i])
        if tree.is_leaf(i):
            x, gi, go, u = tape[i]
            dct = dc[i] + dh[i] * go * (1 - tc ** 2)
            dz = np.concatenate([dct * u * gi * (1 - gi), dh[i] * tc * go * (1 - go), dct * gi * (1 - u ** 2)])
            g["Wl"] += np.outer(x, dz)
            g["bl"] += dz
            g["emb"][ids[i]] += dz @ Wl.T
        else:
            xh, gi, fl, fr, go, u = tape[i]
            lft, rgt = tree.left[i], tree.right[i]
            dct = dc[i] + dh[i] * go * (1 - tc ** 2)
            dz = np.concatenate([dct * u * gi * (1 - gi), dct * c[lft] * fl * (1 - fl),
                                 dct * c[rgt] * fr * (1 - fr), dh[i] * tc * go * (1 - go), dct * gi * (1 - u ** 2)])
            g["Wc"] += np.outer(xh, dz)
            g["bc"] += dz
            dxh = dz @ Wc.T
            dh[lft] += dxh[:H]
            dh[rgt] += dxh[H:]
            dc[lft] += dct * fl
            dc[rgt] += dct * fr
    return loss, g


NAMES = {"emb": ("emb", "W"), "Wl": ("leafcell", "W"), "bl": ("leafcell", "b"), "Wc": ("compose", "W"),
         "bc": ("compose", "b"), "Wo": ("cls", "W"), "bo": ("cls", "b")}


def make_model(vocab, classes=5, batch_leaves=True, dropout=0.3, H=4, E=3):
    model = build_treelstm(len(vocab), classes, hidden=H, embed=E, dropout=dropout, seed=5, dtype=F64,
                           forget_bias=0.3, batch_leaves=batch_leaves)
    for n in model.graph.param_nodes:
        for v in n.params.values():
            v += np.random.default_rng(len(n.name)).normal(scale=0.4, size=v.shape)
        n.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=1)
    return model


def dropout_masks(model, inst, n, H):
    drop = model.graph.nodes["drop"]
    m = np.ones((n, H))
    if drop.p:
        if n > 1:
            m[:-1] = drop.mask(Message(inst, (-1,), np.ones((n - 1, H))))
        m[-1] = drop.mask(Message(inst, (n - 1,), np.ones((1, H))))[0]
    return m


@pytest.mark.parametrize("batch_leaves", [True, False])
@pytest.mark.parametrize("classes", [5, 2])
def test_ir_treelstm_gradients_match_recursive_numpy(batch_leaves, classes):
    trees = random_trees(1, [1, 2, 3, 6, 11])
    vocab = sst.Vocab.build(trees)
    model = make_model(vocab, classes, batch_leaves)
    nodes = model.graph.nodes
    ex = ReferenceExecutor(model)
    for key, tree in enumerate(trees):
        inst = Instance(key, tree_data(tree, vocab, classes))
        before = {k: nodes[a].params[b].copy() for k, (a, b) in NAMES.items()}
        masks = dropout_masks(model, inst, tree.n_nodes, 4)
        loss, grads = numpy_treelstm(before, tree, vocab.encode(tree), inst.data["labels"], masks)
        reports = ex.train([inst])
        assert sum(r.values["loss"] for r in reports) == pytest.approx(loss, rel=1e-12, abs=1e-14)
        for k, (a, b) in NAMES.items():
            delta = before[k] - nodes[a].params[b]
            assert np.abs(delta - grads[k]).max() <= 1e-10 * max(1.0, np.abs(grads[k]).max()), k
        assert not any(n.holds(key) for n in nodes.values())


def test_root_and_node_losses_are_reported_separately():
    trees = random_trees(2, [5, 1])
    vocab = sst.Vocab.build(trees)
    model = make_model(vocab)
    reports = ReferenceExecutor(model).evaluate([Instance(k, tree_data(t, vocab, 5)) for k, t in enumerate(trees)])
    root = [r for r in reports if r.node == "root_loss"]
    other = [r for r in reports if r.node == "node_loss"]
    assert [r.values["n"] for r in root] == [1, 1]
    assert [r.values["n"] for r in other] == [8]  # 9 nodes, one root; the single-leaf tree has none


def test_binary_targets_leave_neutral_nodes_out():
    tree = sst.parse_tree("(3 (2 a) (1 (4 good) (2 film)))")
    vocab = sst.Vocab.build([tree])
    d = tree_data(tree, vocab, 2)
    assert d["labels"].tolist() == [-1, 1, -1, 0, 1]
    reports = ReferenceExecutor(make_model(vocab, classes=2)).evaluate([Instance(0, d)])
    assert sum(r.values["n"] for r in reports) == 3


def test_state_is_freed_and_memory_does_not_grow_across_epochs():
    trees = random_trees(3, [1, 4, 9, 2, 7])
    vocab = sst.Vocab.build(trees)
    for batch_leaves in (True, False):
        model = make_model(vocab, batch_leaves=batch_leaves)
        ex = ReferenceExecutor(model)
        held = []
        for epoch in range(3):
            insts = [Instance(100 * epoch + k, tree_data(t, vocab, 5)) for k, t in enumerate(trees)]
            ex.train(insts)
            ex.evaluate(insts)
            assert not any(n.holds(i.key) for n in model.graph.nodes.values() for i in insts)
            held.append(sum(n.held_bytes() for n in model.graph.nodes.values()))
        assert held == [0, 0, 0]


def test_experiment_files_load():
    fine = load_config(ROOT / "experiments/sst_treelstm.toml")
    binary = load_config(ROOT / "experiments/sst_treelstm_binary.toml")
    assert (fine.data.classes, binary.data.classes) == (5, 2)
    assert fine.model.hidden == 150 and fine.train.optimizer == "adagrad"


def test_a_malformed_tree_file_is_a_one_line_error(tmp_path, monkeypatch):
    from ampsim.models import build_task

    (tmp_path / "sst").mkdir()
    for split in ("train", "dev", "test"):
        (tmp_path / "sst" / f"{split}.txt").write_text("(2 ok)\n(3 (2 a) (2 b)\n", encoding="utf-8")
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")
    cfg = load_config(ROOT / "experiments/sst_treelstm.toml")
    with pytest.raises(DataError) as err:
        build_task(cfg)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "sst" / "train.txt") in msg


def test_a_sweep_builds_the_same_trees_encoding_once(tmp_path, monkeypatch):
    # every point of a sweep builds its task: the vocabulary and encoded trees of the kept trees are kept too
    from ampsim.data import memo
    from ampsim.models import build_task, treelstm

    (tmp_path / "sst").mkdir()
    for split in ("train", "dev", "test"):
        (tmp_path / "sst" / f"{split}.txt").write_text("(3 (2 a) (4 b))\n(1 c)\n", encoding="utf-8")
    load = sst.load_sst
    monkeypatch.setattr(sst, "load_sst", lambda split, limit=None: load(split, limit=limit, root=tmp_path,
                                                                          verify=False))  # files of our own
    monkeypatch.setattr(memo, "enabled", True)
    real, calls = treelstm.encode_splits, []
    monkeypatch.setattr(treelstm, "encode_splits", lambda *a: calls.append(a[2:]) or real(*a))
    cfg = load_config(ROOT / "experiments/sst_treelstm.toml")
    first, second = build_task(cfg), build_task(cfg)
    assert len(calls) == 1 and first.model is not second.model  # the parameters are the task's own
    assert [i.data for i in first.train_instances(1)] == [i.data for i in second.train_instances(1)]
    assert all(a.data is b.data for a, b in zip(first.train_instances(1), second.train_instances(1)))
    (tmp_path / "sst" / "train.txt").write_text("(3 (2 a) (4 b))\n(0 d)\n", encoding="utf-8")
    third = build_task(cfg)  # a changed file: parsed and encoded again
    assert len(calls) == 2 and third.train_instances(1)[-1].data["n_nodes"] == 1

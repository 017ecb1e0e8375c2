"""Binary constituency Tree-LSTM (Tai et al. 2015, N-ary with N = 2) on the Stanford Sentiment Treebank.

One instance is one tree. A message is one tree node with state ``(i,)``, its post-order index (see
:class:`ampsim.data.sst.Tree`: children before parents, the root last), or a batch of nodes with state
``(-1,)``. The IR graph::

    leaves ─► emb ─► leafcell ─► spread ─► node (Phi) ◄── compose (TreeLSTMCell) ◄── group (by parent)
    (one msg)  (Embedding)  (TreeLSTMLeaf)  (Ungroup rows)  │                                   ▲
                                                    up (Cond root?) ─(0)─► fan (Bcast) ─(1)──────┘
                                                         │(1)                │(0)
                                                         │          gather (Group rows, all non-root)
                                                         └──► clsin (Phi) ◄──┘
                          clsin ─► h (Slice) ─► drop (Dropout) ─► cls (Linear) ─► which (Cond root?)
                                                                   (0) node_loss ◄──┘    └──► (1) root_loss

* Leaves: all leaves of a tree are injected as one message (token ids, state ``(-1,)``); the embedding
  lookup and the leaf cell run on that batch, then ``spread`` (Ungroup, rows) fans it out to one message
  per leaf. With ``model.batch_leaves = false`` each leaf is injected on its own instead (``leaf`` →
  ``emb`` → ``leafcell`` → ``node``): more messages, more parallelism for a simulated machine.
* ``group`` (Group by parent, concat) waits for both children of a node: left at position 0, right at
  1, so the composition sees [h_l, c_l, h_r, c_r] whatever order they arrived in.
* Every non-root node goes up to its parent's group and into ``gather``, which stacks all non-root
  nodes of the tree into one classifier batch (state ``(-1,)``); the root goes straight to the
  classifier. ``node_loss`` sums the cross-entropy over the labelled non-root nodes, ``root_loss`` is the
  root's (its accuracy is the metric ``test_root_accuracy``): a loss at every labelled node. A node's
  backward needs its parent's gradient anyway, so batching the classifier per tree delays nothing.
* Fine-grained (``data.classes = 5``) or binary (``2``: trees with a neutral root dropped, neutral nodes
  unlabelled, target -1, no gradient).

Training follows Tai et al.: Adagrad (lr 0.05, set in ``[train]``) with weight decay for the cells and the
classifier, plain SGD at lr 0.1 without weight decay for the embedding table (``model.embedding_*``, a
per-node optimizer override), dropout 0.5 before the classifier, minibatches through ``train.muf``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import numpy as np

from ampsim.data import memo, sst, store
from ampsim.ir.graph import Graph
from ampsim.ir.hostmem import param_values
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.cells import TreeLSTMCell, TreeLSTMLeaf
from ampsim.ir.nodes.control import Cond, Phi, Slice
from ampsim.ir.nodes.dropout import Dropout
from ampsim.ir.nodes.groups import Bcast, Group, Ungroup
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import SoftmaxCrossEntropy
from ampsim.ir.nodes.tuned import TunedEmbedding
from ampsim.models.base import DataSpec, Metric, Model, Task

__all__ = ["TRAIN_WORDS", "build", "build_treelstm", "encode_splits", "epoch_instances", "read_example_counts",
           "read_widths", "skeleton", "tree_data", "width_bounds"]

log = logging.getLogger(__name__)


# -- picklable structure callables ------------------------------------------------------------------------

BATCH = (-1,)  # the state of a message holding several nodes of a tree (all leaves, all non-root nodes)


@dataclass(frozen=True, slots=True)
class ByParent:
    """Group a tree node under its parent: ``(i,) -> ((parent,), 0 if left child else 1, 2)``."""

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> tuple[tuple[int, ...], int, int]:
        i = state[0]
        return (inst.data["parent"][i],), inst.data["is_right"][i], 2


@dataclass(frozen=True, slots=True)
class AllNonRoot:
    """Gather every non-root node into one batch: ``(i,) -> ((-1,), i, n_nodes - 1)`` (root is last)."""

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> tuple[tuple[int, ...], int, int]:
        return BATCH, state[0], inst.data["n_nodes"] - 1


@dataclass(frozen=True, slots=True)
class LeafStates:
    """Ungroup members of the batched leaves: ``(i,)`` for each leaf, left to right."""

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> list[tuple[int, ...]]:
        return inst.data["leaf_states"]


@dataclass(frozen=True, slots=True)
class IsRoot:
    """Cond predicate: port 1 at the root, port 0 elsewhere (including the batch state (-1,))."""

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> int:
        return int(state[0] == inst.data["root"])


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """Labels of the message's nodes: node ``i``'s as shape [1]; all non-root nodes' for (-1,)."""

    def __call__(self, inst: Instance, state: tuple[int, ...]) -> np.ndarray:
        i = state[0]
        labels = inst.data["labels"]
        return labels[:-1] if i < 0 else labels[i:i + 1]


@dataclass(frozen=True, slots=True)
class InjectLeaves:
    """All leaves' token ids as one message at ``leaves`` (state (-1,)), or, with ``batched`` false,
    one message per leaf at ``leaf`` (state ``(i,)``, ids of shape [1])."""

    batched: bool = True

    def __call__(self, inst: Instance) -> list[tuple[str, Message]]:
        ids = inst.data["ids"]
        if self.batched:
            return [("leaves", Message(inst, BATCH, inst.data["leaf_ids"]))]
        return [("leaf", Message(inst, (i,), ids[i:i + 1])) for i in inst.data["leaves"]]


# -- model ------------------------------------------------------------------------------------------------

def build_treelstm(vocab_size: int, n_classes: int, *, hidden: int = 150, embed: int = 300,
                   dropout: float = 0.5, seed: int = 0, dtype=np.float32, forget_bias: float = 0.0,
                   table: np.ndarray | None = None, embedding_scale: float = 0.05,
                   embedding_optimizer: dict | None = None, batch_leaves: bool = True) -> Model:
    H = hidden
    g = Graph("treelstm")
    leaf = g.add(Input("leaves" if batch_leaves else "leaf"))
    emb = g.add(TunedEmbedding("emb", vocab_size, embed, seed=seed, dtype=dtype, table=table,
                               scale=embedding_scale))
    if embedding_optimizer:
        emb.override_optimizer(**embedding_optimizer)
    leafcell = g.add(TreeLSTMLeaf("leafcell", embed, H, seed=seed, dtype=dtype))
    group = g.add(Group("group", ByParent(), "concat", width=2 * H, members=2))
    compose = g.add(TreeLSTMCell("compose", H, seed=seed, dtype=dtype, forget_bias=forget_bias))
    node = g.add(Phi("node", 2, width=2 * H))
    up = g.add(Cond("up", IsRoot(), width=2 * H))
    fan = g.add(Bcast("fan", 2, width=2 * H))
    gather = g.add(Group("gather", AllNonRoot(), "rows", width=2 * H))
    clsin = g.add(Phi("clsin", 2, width=2 * H))
    h = g.add(Slice("h", 0, H, 2 * H))
    drop = g.add(Dropout("drop", dropout, seed=seed, width=H))
    cls = g.add(Linear("cls", H, n_classes, seed=seed, dtype=dtype))
    which = g.add(Cond("which", IsRoot(), width=n_classes))
    node_loss = g.add(SoftmaxCrossEntropy("node_loss", n_classes, NodeTarget(), reduction="sum"))
    root_loss = g.add(SoftmaxCrossEntropy("root_loss", n_classes, NodeTarget()))
    g.chain(leaf, emb, leafcell)
    if batch_leaves:
        spread = g.add(Ungroup("spread", LeafStates(), "rows", width=2 * H))
        g.chain(leafcell, spread)
        g.connect(spread, node, 0, 0)
    else:
        g.connect(leafcell, node, 0, 0)
    g.chain(group, compose)
    g.connect(compose, node, 0, 1)
    g.chain(node, up)
    g.connect(up, fan, 0, 0)
    g.connect(up, clsin, 1, 1)
    g.connect(fan, gather, 0, 0)
    g.connect(fan, group, 1, 0)
    g.connect(gather, clsin, 0, 0)
    g.chain(clsin, h, drop, cls, which)
    g.connect(which, node_loss, 0, 0)
    g.connect(which, root_loss, 1, 0)
    return Model(g.validate(), InjectLeaves(batch_leaves), Metric("test_root_accuracy", "root_loss", "correct"),
                 fields=TREE_FIELDS, data_specs=(DataSpec("ids", "int64", bound=vocab_size),))  # (another vocabulary's)


#: what :func:`tree_data` holds
TREE_FIELDS = ("parent", "is_right", "root", "n_nodes", "labels", "ids", "leaves", "leaf_ids", "leaf_states")


def tree_data(tree: sst.Tree, vocab: sst.Vocab, classes: int) -> dict:
    """What the graph's callables read from an instance: structure, token ids and per-node labels."""
    labels = sst.binary_targets(tree)[0] if classes == 2 else tree.labels
    left = tree.left.tolist()
    parent = tree.parent.tolist()
    ids = vocab.encode(tree)
    leaves = tree.leaves.tolist()
    return {"parent": parent, "is_right": [0 if p < 0 or left[p] == i else 1 for i, p in enumerate(parent)],
            "root": tree.root, "n_nodes": tree.n_nodes, "labels": np.asarray(labels, dtype=np.int64),
            "ids": ids, "leaves": leaves, "leaf_ids": ids[leaves], "leaf_states": [(i,) for i in leaves]}


def encode_splits(train: list[sst.Tree], test: list[sst.Tree], min_count: int, lowercase: bool,
                  classes: int) -> tuple[sst.Vocab, list[dict], list[dict]]:
    """The vocabulary of ``train`` and every tree of both splits as :func:`tree_data`."""
    vocab = sst.Vocab.build(train, min_count=min_count, lowercase=lowercase)
    return vocab, [tree_data(t, vocab, classes) for t in train], [tree_data(t, vocab, classes) for t in test]


def load_split(split: str, limit: int, classes: int) -> list[sst.Tree]:
    """The first ``limit`` trees of ``split`` (0: all) of those the task keeps: with two classes, neutral roots
    are dropped first (counted before, a limit of 1 could leave no test tree: a metric of nothing, exit 0)."""
    if classes != 2:
        return sst.load_sst(split, limit=limit or None)
    return sst.drop_neutral_roots(sst.load_sst(split))[: limit or None]


def epoch_instances(cfg) -> int:
    """Training instances of an epoch (one a tree), as :func:`build` makes them, counted from the file's lines
    (:func:`ampsim.data.sst.count_sst`): a sweep checks ``train.muf`` against it before any point runs."""
    return _trees(cfg, "train", cfg.data.limit_train)


def read_example_counts(cfg) -> tuple[int, int]:
    """The training and test trees :func:`build` gives (as :func:`load_split` keeps them), counted from the files'
    lines without parsing them (:func:`ampsim.data.sst.count_sst`, about 10 ms for the training split's 8,544):
    ``sweep --check`` sizes a point's activations with them, as the run does with the trees it parsed."""
    return _trees(cfg, "train", cfg.data.limit_train), _trees(cfg, cfg.data.eval_split, cfg.data.limit_test)


def _trees(cfg, split: str, limit: int) -> int:
    return sst.count_sst(split, limit or None, drop_neutral=cfg.data.classes == 2)


def _model(cfg, vocab_size: int, table: np.ndarray | None) -> Model:
    m = cfg.model
    overrides = {}
    if m.embedding_optimizer != "same":
        overrides = {"kind": m.embedding_optimizer, "lr": m.embedding_lr, "weight_decay": m.embedding_weight_decay}
    return build_treelstm(vocab_size, cfg.data.classes, hidden=m.hidden, embed=m.embed, dropout=m.dropout,
                          seed=cfg.experiment.seed, dtype=np.dtype(cfg.experiment.dtype), forget_bias=m.forget_bias,
                          table=table, embedding_scale=m.embedding_scale, embedding_optimizer=overrides,
                          batch_leaves=m.batch_leaves)


#: the registered training split (``sst/train.txt``, by its sha256) -> its vocabulary at its largest: every tree,
#: ``min_count`` 1, case kept, ``<unk>`` counted. No ``[data]`` gives more words (a limit and dropping neutral roots
#: keep fewer trees, ``min_count`` drops words, ``lowercase`` merges them), and a run reads that file only after its
#: digest is checked (:func:`ampsim.data.store.fetch`); another digest has no bound here (then it is read)
TRAIN_WORDS = {"e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7": 18281}


def width_bounds(cfg) -> tuple[int] | None:
    """At most the vocabulary any run has (:data:`TRAIN_WORDS`), without reading the trees: ``sweep --check`` sizes
    the embedding table with it, and builds the vocabulary (:func:`read_widths`) only where that does not fit."""
    words = TRAIN_WORDS.get(store.REGISTRY["sst/train.txt"].sha256)
    return None if words is None else (words,)


def read_widths(cfg) -> tuple[int]:
    """The vocabulary's size, built as :func:`build` builds it (of the trees it trains on; ``model.vectors`` fill
    the table's rows, they add none): the embedding table's rows, for ``sweep --check``."""
    d = cfg.data
    return (len(sst.Vocab.build(load_split("train", d.limit_train, d.classes), d.min_count, d.lowercase)),)


def skeleton(cfg, widths: tuple[int] = (1,)) -> Model:
    """The model with the run's nodes, without the trees: a vocabulary of one word, or of ``widths[0]``
    (:func:`width_bounds`, :func:`read_widths`), no word vectors (the node names do not depend on them)."""
    return _model(cfg, widths[0], None)


def build(cfg) -> Task:
    d, m, seed = cfg.data, cfg.model, cfg.experiment.seed
    train = load_split("train", d.limit_train, d.classes)
    test = load_split(d.eval_split, d.limit_test, d.classes)
    # once per process for the same trees (the parsed ones are kept): a sweep's every point builds its task
    vocab, train_data, test_data = memo.derived((train, test), encode_splits, d.min_count, d.lowercase, d.classes)
    table = None
    if m.vectors:  # checked as the table made without them is, before a row is drawn or the file read (its node's)
        shape = (len(vocab), m.embed)
        table = param_values("emb", shape, np.dtype(cfg.experiment.dtype), lambda: sst.load_vectors(
            m.vectors, vocab, m.embed,
            init=np.random.default_rng([seed, 1]).uniform(-m.embedding_scale, m.embedding_scale, shape)))
    model = _model(cfg, len(vocab), table)
    n = len(train_data)
    log.info("sst_treelstm: %d train trees, %d %s trees, vocabulary %d", n, len(test_data), d.eval_split,
             len(vocab))
    # (module-level functions, not closures: a plan pickles, sent to a process pool or Ray)
    return Task(model, partial(_train_trees, train_data, seed), partial(_eval_trees, test_data),
                info={"train_examples": n, "test_examples": len(test_data), "instances_per_epoch": n,
                      "eval_split": d.eval_split, "vocab": len(vocab), "classes": d.classes})


def _train_trees(trees: list, seed: int, epoch: int) -> list[Instance]:
    """Epoch ``epoch``'s instances, one per tree (a task's ``train_instances``), shuffled from the seed and epoch."""
    n = len(trees)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [Instance(epoch * n + k, trees[i]) for k, i in enumerate(order)]


def _eval_trees(trees: list) -> list[Instance]:
    return [Instance(-(10**9) + k, t) for k, t in enumerate(trees)]

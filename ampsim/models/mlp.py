"""A multilayer perceptron on flat feature vectors (MNIST, or a synthetic offline dataset).

Each Linear is its own PPT node, so under AMP every layer updates on its own schedule. An instance is a
small batch of examples (one message carries the batch), as in the paper's MNIST experiment; batches are
reshuffled every epoch from the run's seed.

    x ─► Linear ─► ReLU ─► Linear ─► ReLU ─► … ─► Linear ─► SoftmaxCrossEntropy
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ampsim.ir.graph import Graph
from ampsim.ir.hostmem import check_data_memory
from ampsim.ir.message import Instance
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import Field, SoftmaxCrossEntropy
from ampsim.ir.nodes.pointwise import ReLU
from ampsim.models.base import DataSpec, InjectFields, Metric, Model, Task
from ampsim.schemas.mlp import DataConfig

__all__ = ["build", "build_mlp", "check_memory", "epoch_instances", "skeleton"]


def build_mlp(n_in: int, hidden: list[int], n_classes: int, *, seed: int, dtype=np.float32,
              init: str = "he") -> Model:
    g = Graph("mlp")
    prev = g.add(Input("x", width=n_in, dtype=dtype))
    widths = [n_in, *hidden, n_classes]
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        lin = g.add(Linear(f"fc{i}", a, b, seed=seed, init=init, input_grad=i > 0, dtype=dtype))
        g.connect(prev, lin)
        prev = lin
        if i < len(hidden):
            act = g.add(ReLU(f"relu{i}"))
            g.connect(prev, act)
            prev = act
    loss = g.add(SoftmaxCrossEntropy("loss", n_classes, Field("y")))
    g.connect(prev, loss)
    return Model(g.validate(), InjectFields((("x", "x"),)), Metric("test_accuracy", "loss", "correct"),
                 fields=("x", "y"), data_specs=(DataSpec("x", np.dtype(dtype).name, n_in),
                                                DataSpec("y", "int64", bound=n_classes)))


def batches(X: np.ndarray, y: np.ndarray, batch: int, order: np.ndarray, first_key: int) -> list[Instance]:
    return [Instance(first_key + i, {"x": X[idx], "y": y[idx]})
            for i, idx in enumerate(np.array_split(order, range(batch, len(order), batch)))]


def load_arrays(d: DataConfig, seed: int, source: str):
    if d.dataset == "mnist":
        from ampsim.data.mnist import load_mnist

        Xtr, ytr = load_mnist("train", limit=d.limit_train or None)
        Xte, yte = load_mnist("test", limit=d.limit_test or None)
        return Xtr, ytr, Xte, yte, 10
    from ampsim.data.synthetic import make_blobs_dataset

    _check_blobs(d, source)
    n = d.n_train + d.n_test
    X, y = make_blobs_dataset(n, n_features=d.n_features, n_classes=d.n_classes, seed=seed)
    # the limits as for MNIST: the first N of each split (they were ignored here without a word)
    tr, te = slice(0, _examples(d, "train")), slice(d.n_train, d.n_train + _examples(d, "test"))
    return X[tr], y[tr], X[te], y[te], d.n_classes


def _check_blobs(d: DataConfig, source: str) -> None:
    n = d.n_train + d.n_test  # at the generator's peak: three float64 copies and the float32 result, labels; and
    # the class centres, float64 [n_classes, n_features] (data.n_classes = 1e9 was numpy's MemoryError, uncounted)
    check_data_memory(source, f"blobs of {n:,} x {d.n_features} features around {d.n_classes:,} class centres",
                      n * (28.0 * d.n_features + 24) + 8.0 * d.n_classes * d.n_features,
                      "data.n_train, data.n_test, data.n_features or data.n_classes")


def check_memory(cfg) -> None:
    """Refuse, from the config alone, blobs this host cannot generate, as :func:`build` does before it draws them
    (a sweep's --check: :func:`ampsim.models.check_model_memory`); MNIST is read, not generated."""
    if cfg.data.dataset != "mnist":
        _check_blobs(cfg.data, cfg.path)


def example_counts(cfg) -> tuple[int, int]:
    """The training and test examples :func:`build` gives, without the data (blobs: the config's; MNIST: its labels
    files' counts): ``sweep --check`` sizes a point's activations with them, as the run does."""
    return _examples(cfg.data, "train"), _examples(cfg.data, "test")


def _examples(d: DataConfig, split: str) -> int:
    """The examples of ``split`` ("train" or "test") the run has: MNIST's (from its labels file) or the blobs', within
    ``data.limit_<split>``."""
    limit = d.limit_train if split == "train" else d.limit_test
    if d.dataset == "mnist":
        from ampsim.data.mnist import count_mnist

        return count_mnist(split, limit or None)
    n = d.n_train if split == "train" else d.n_test
    return min(n, limit or n)


def epoch_instances(cfg) -> int:
    """Training instances of an epoch, as :func:`build` makes them, without building the model (MNIST's count is
    read from its labels file): a sweep checks ``train.muf`` against it before any point runs."""
    return -(-_examples(cfg.data, "train") // cfg.data.batch)


def _model(cfg, n_in: int, n_classes: int) -> Model:
    m = cfg.model
    return build_mlp(n_in, m.hidden, n_classes, seed=cfg.experiment.seed, dtype=np.dtype(cfg.experiment.dtype),
                     init=m.init)


def skeleton(cfg) -> Model:
    """The model with the run's nodes (their names depend on ``model.hidden``'s length alone) and its widths: the
    data's features and classes are the config's (blobs) or MNIST's, so a sized skeleton's parameters are the
    run's (:func:`ampsim.models.check_model_memory`)."""
    if cfg.data.dataset == "mnist":
        from ampsim.data.mnist import IMAGE_SIDE, N_CLASSES

        return _model(cfg, IMAGE_SIDE * IMAGE_SIDE, N_CLASSES)
    return _model(cfg, cfg.data.n_features, cfg.data.n_classes)


def build(cfg) -> Task:
    d, seed = cfg.data, cfg.experiment.seed
    dtype = np.dtype(cfg.experiment.dtype)
    Xtr, ytr, Xte, yte, n_classes = load_arrays(d, seed, cfg.path)
    Xtr, Xte = Xtr.astype(dtype, copy=False), Xte.astype(dtype, copy=False)
    model = _model(cfg, Xtr.shape[1], n_classes)
    n_batches = -(-len(Xtr) // d.batch)
    # (module-level functions, not closures: a plan pickles, sent to a process pool or Ray)
    return Task(model, partial(_train_batches, Xtr, ytr, d.batch, seed, n_batches), partial(_eval_batches, Xte, yte),
                info={"train_examples": len(Xtr), "test_examples": len(Xte), "instances_per_epoch": n_batches})


def _train_batches(X: np.ndarray, y: np.ndarray, batch: int, seed: int, n_batches: int, epoch: int) -> list[Instance]:
    """Epoch ``epoch``'s batches of ``X``, ``y`` (a task's ``train_instances``), shuffled from the seed and epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(len(X))
    return batches(X, y, batch, order, first_key=epoch * n_batches)


def _eval_batches(X: np.ndarray, y: np.ndarray) -> list[Instance]:
    return batches(X, y, 256, np.arange(len(X)), first_key=-(10**9))

"""An RNN over variable-length lists as an IR loop: the synthetic list-reduction task.

The recurrent cell is ONE PPT node (:class:`~ampsim.ir.nodes.cells.LSTMCell` or ``GRUCell``) inside an
AMPNet loop; the loop state ``[h, c]`` (LSTM) or ``h`` (GRU) travels with state ``(t,)``::

    h0 ──────────────────────► loop (Phi) ─────────────┐
    tok ─► emb (Embedding) ─► cat (Concat [x_t, state]) ◄┘
                              cat ─► cell ─► next (Isu t+1) ─► more (Cond t < n_steps)
                                                                 ├─(0)─► loop (port 1)
                                                                 └─(1)─► h (Slice) ─► out (Linear) ─► loss

How the input enters: a sequence is ``[op token, d1, ..., dL]`` (see :mod:`ampsim.data.list_reduction`),
so step 0 reads the operation and steps 1..L the digits. The controller injects the initial state (zeros,
state ``(0,)``) at ``h0`` and *every* step's token ids at once at ``tok``, each with state ``(t,)``; the
embeddings are looked up right away and wait in ``cat``'s join buffer until the loop reaches step ``t``.
After the last step the Cond routes the state out to the classifier.

An instance is a small batch of lists of the same length (one message carries the batch, as in the MLP
task); lists are bucketed by length and reshuffled every epoch from the run seed. ``data.batch = 1`` is
one list per instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ampsim.data.list_reduction import N_CLASSES, VOCAB_SIZE, ListData, make_splits
from ampsim.ir.graph import Graph
from ampsim.ir.hostmem import check_data_memory
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.cells import GRUCell, LSTMCell
from ampsim.ir.nodes.control import Concat, Cond, Increment, Isu, LessThanField, Phi, Slice
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.ir.nodes.losses import Field, SoftmaxCrossEntropy
from ampsim.models.base import DataSpec, Metric, Model, Task

__all__ = ["bucket", "build", "build_rnn", "check_memory", "epoch_instances", "skeleton"]


@dataclass(frozen=True, slots=True)
class InjectSequence:
    """Initial state at ``h0`` with state (0,), and each step's token ids at ``tok`` with state (t,)."""

    state_width: int
    dtype: str = "float32"

    def __call__(self, inst: Instance) -> list[tuple[str, Message]]:
        tokens = inst.data["tokens"]
        h0 = np.zeros((tokens.shape[0], self.state_width), dtype=self.dtype)
        return [("h0", Message(inst, (0,), h0))] + [
            ("tok", Message(inst, (t,), tokens[:, t])) for t in range(tokens.shape[1])]


def build_rnn(cell: str, hidden: int, embed: int, *, seed: int, dtype=np.float32,
              forget_bias: float = 1.0, vocab: int = VOCAB_SIZE, n_classes: int = N_CLASSES) -> Model:
    H = hidden
    sw = 2 * H if cell == "lstm" else H  # loop state width: [h, c] or h
    g = Graph("rnn")
    h0 = g.add(Input("h0", width=sw, dtype=dtype))
    tok = g.add(Input("tok"))
    emb = g.add(Embedding("emb", vocab, embed, seed=seed, dtype=dtype))
    loop = g.add(Phi("loop", 2, width=sw))
    cat = g.add(Concat("cat", [embed, sw]))
    if cell == "lstm":
        body = g.add(LSTMCell("cell", embed, H, seed=seed, dtype=dtype, forget_bias=forget_bias))
    else:
        body = g.add(GRUCell("cell", embed, H, seed=seed, dtype=dtype))
    nxt = g.add(Isu("next", Increment(0, 1), Increment(0, -1), width=sw))
    more = g.add(Cond("more", LessThanField("n_steps"), width=sw))
    out = g.add(Linear("out", H, n_classes, seed=seed, dtype=dtype))
    loss = g.add(SoftmaxCrossEntropy("loss", n_classes, Field("y")))
    g.connect(h0, loop, 0, 0)
    g.chain(tok, emb)
    g.connect(emb, cat, 0, 0)
    g.connect(loop, cat, 0, 1)
    g.chain(cat, body, nxt, more)
    g.connect(more, loop, 0, 1)
    if cell == "lstm":
        h = g.add(Slice("h", 0, H, sw))
        g.connect(more, h, 1, 0)
        g.chain(h, out)
    else:
        g.connect(more, out, 1, 0)
    g.chain(out, loss)
    return Model(g.validate(), InjectSequence(sw, np.dtype(dtype).name), Metric("test_accuracy", "loss", "correct"),
                 fields=("tokens", "y", "n_steps"),
                 data_specs=(DataSpec("tokens", "int64", bound=vocab), DataSpec("y", "int64", bound=n_classes)))


def batch_groups(data: ListData, batch: int, order: np.ndarray) -> list[list[int]]:
    """The lists :func:`bucket` puts in each instance: up to ``batch`` of equal length, in ``order`` within each
    length, in length order."""
    by_len: dict[int, list[int]] = {}
    for i in order:
        by_len.setdefault(len(data.sequences[i]), []).append(int(i))
    return [idx[j:j + batch] for n in sorted(by_len) for idx in [by_len[n]] for j in range(0, len(idx), batch)]


def bucket(data: ListData, batch: int, order: np.ndarray, first_key: int,
           rng: np.random.Generator | None = None) -> list[Instance]:
    """Instances of up to ``batch`` lists of equal length, taken in ``order`` within each length;
    the batches are shuffled with ``rng`` (kept in length order when None)."""
    groups = batch_groups(data, batch, order)
    if rng is not None:
        groups = [groups[k] for k in rng.permutation(len(groups))]
    return [Instance(first_key + k, {"tokens": np.stack([data.sequences[i] for i in idx]),
                                     "y": data.labels[idx], "n_steps": len(data.sequences[idx[0]])})
            for k, idx in enumerate(groups)]


def check_memory(cfg) -> None:
    """Refuse, from the config alone, lists this host cannot generate, before they are drawn (by :func:`build`,
    :func:`epoch_instances` and a sweep's --check: :func:`ampsim.models.check_model_memory`)."""
    d = cfg.data
    n = d.n_train + d.n_test  # each list its own int64 array (~112 bytes of object), its label and slot
    check_data_memory(cfg.path, f"{n:,} lists of up to {d.max_len} digits", n * (136.0 + 8 * (d.max_len + 1)),
                      "data.n_train, data.n_test or data.max_len")


def example_counts(cfg) -> tuple[int, int]:
    """The training and test lists :func:`build` generates, without generating them: ``sweep --check`` sizes a
    point's activations with them, as the run does."""
    return cfg.data.n_train, cfg.data.n_test


def epoch_instances(cfg) -> int:
    """Training instances of an epoch, as :func:`build` makes them (a batch per length, up to ``data.batch``
    lists each), from the generated training lists alone: a sweep checks ``train.muf`` against it."""
    d = cfg.data
    check_memory(cfg)
    train, _ = make_splits(d.n_train, 0, d.max_len, cfg.experiment.seed, min_len=d.min_len, ops=tuple(d.ops))
    return len(batch_groups(train, d.batch, np.arange(len(train))))


def skeleton(cfg) -> Model:
    """The model as the run builds it (it depends on the config alone), without the lists."""
    m = cfg.model
    return build_rnn(m.cell, m.hidden, m.embed, seed=cfg.experiment.seed, dtype=np.dtype(cfg.experiment.dtype),
                     forget_bias=m.forget_bias)


def build(cfg) -> Task:
    d, seed = cfg.data, cfg.experiment.seed
    check_memory(cfg)
    train, test = make_splits(d.n_train, d.n_test, d.max_len, seed, min_len=d.min_len, ops=tuple(d.ops))
    model = skeleton(cfg)
    n_batches = len(batch_groups(train, d.batch, np.arange(len(train))))
    # (module-level functions, not closures: a plan pickles, sent to a process pool or Ray)
    return Task(model, partial(_train_buckets, train, d.batch, seed, n_batches), partial(_eval_buckets, test),
                info={"train_examples": len(train), "test_examples": len(test), "instances_per_epoch": n_batches})


def _train_buckets(train: ListData, batch: int, seed: int, n_batches: int, epoch: int) -> list[Instance]:
    """Epoch ``epoch``'s batches of ``train`` (a task's ``train_instances``), shuffled from the seed and epoch."""
    rng = np.random.default_rng([seed, epoch])
    return bucket(train, batch, rng.permutation(len(train)), epoch * n_batches, rng)


def _eval_buckets(test: ListData) -> list[Instance]:
    return bucket(test, 256, np.arange(len(test)), -(10**9))

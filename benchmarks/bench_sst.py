"""Tree-LSTM training throughput on SST: the reference executor vs PyTorch eager, side by side in one run.

Both train the same binary Tree-LSTM (hidden 150, 300-d embeddings learned from scratch, dropout 0.5, a
loss at every labelled node, Adagrad lr 0.05 for the cells and classifier and SGD lr 0.1 for the
embeddings, an update every 25 trees) one tree at a time on the first ``FULL.trees`` (300) training trees
of SST (fine-grained). PyTorch runs the natural eager program: the leaves of a tree in one batch, then the
internal nodes one by one in post-order, then the classifier on all nodes at once (the same work the IR
graph does with its batched leaves and classifier). Rows: trees per second for

* ``ampsim reference`` (batched leaves, the default IR) and ``ampsim reference, one message per leaf``;
* ``pytorch eager`` with one intra-op thread per core and with 1 thread (when torch is installed).

The reference executor runs with ampsim's default single-threaded BLAS (see ``ampsim/__init__.py``).

Writes results/bench/sst.csv. Needs the SST files (``AMPSIM_DATA``): without them it fails, leaving the
committed CSV as it was, except a quick run, whose one row then says why (unless ``AMPSIM_REQUIRE_DATA=1``,
as in CI). Without torch the PyTorch row says so.
``python -m benchmarks.bench_sst [--quick --out DIR]``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ampsim.errors import DataError
from benchmarks.common import NO_TORCH, OUT, ROOT, data_missing, load, machine, run_one, torch_installed, write_csv


@dataclass(frozen=True)
class Size:
    """How much each system trains: ``warmup`` trees untimed, then ``repeats`` timed passes over ``trees``."""

    trees: int
    warmup: int
    repeats: int  # the fastest pass counts


FULL = Size(trees=300, warmup=25, repeats=3)
QUICK = Size(trees=4, warmup=2, repeats=1)
HIDDEN = 150
EMBED = 300
COLUMNS = ("system", "threads", "trees", "seconds", "trees_per_s", "hidden", "embed", "note", "machine", "load")


def _threads() -> str:
    return os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"


def bench_reference(batch_leaves: bool, size: Size = FULL) -> dict:
    """Trees per second of the reference executor on the first ``size.trees`` SST training trees."""
    from ampsim.config import load_config, parse_override
    from ampsim.executors.reference import ReferenceExecutor
    from ampsim.planning import plan

    sets = ['executor.kind="reference"', f"data.limit_train={size.trees}", "data.limit_test=1",
            f"model.batch_leaves={str(batch_leaves).lower()}", f"model.hidden={HIDDEN}", f"model.embed={EMBED}"]
    cfg = load_config(ROOT / "experiments/sst_treelstm.toml", [parse_override(s) for s in sets])
    task = plan(cfg).task
    ex = ReferenceExecutor(task.model)
    ex.train(task.train_instances(1)[:size.warmup])
    dt = float("inf")
    for epoch in range(2, 2 + size.repeats):
        insts = task.train_instances(epoch)
        t0 = time.perf_counter()
        ex.train(insts)
        for node in task.model.graph.param_nodes:  # apply a last partial minibatch, as PyTorch does
            node.update()
        dt = min(dt, time.perf_counter() - t0)
    name = "ampsim reference" + ("" if batch_leaves else ", one message per leaf")
    return {"system": name, "threads": f"numpy BLAS: {_threads()}", "trees": len(insts), "seconds": dt,
            "trees_per_s": len(insts) / dt}


def bench_torch(threads: int, size: Size = FULL) -> dict:
    """Trees per second of the eager PyTorch Tree-LSTM with ``threads`` intra-op threads (needs torch)."""
    import numpy as np
    import torch
    from torch import nn

    from ampsim.data import sst

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    trees = sst.load_sst("train", limit=size.trees)
    vocab = sst.Vocab.build(trees)
    data = []
    for t in trees:
        ids = vocab.encode(t)
        data.append((t.left.tolist(), t.right.tolist(), torch.as_tensor(ids[t.leaves]),
                     t.leaves.tolist(), torch.as_tensor(t.labels.copy())))
    H, E = HIDDEN, EMBED

    class TreeLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(len(vocab), E)
            nn.init.uniform_(self.emb.weight, -0.05, 0.05)
            self.leaf = nn.Linear(E, 3 * H)
            self.compose = nn.Linear(2 * H, 5 * H)
            self.cls = nn.Linear(H, 5)
            self.drop = nn.Dropout(0.5)

        def forward(self, left, right, leaf_ids, leaves, labels):
            n = len(left)
            z = self.leaf(self.emb(leaf_ids))
            io, u = torch.sigmoid(z[:, :2 * H]), torch.tanh(z[:, 2 * H:])
            c_leaf = io[:, :H] * u
            h_leaf = io[:, H:] * torch.tanh(c_leaf)
            h: list = [None] * n
            c: list = [None] * n
            for k, i in enumerate(leaves):
                h[i], c[i] = h_leaf[k], c_leaf[k]
            for i in range(n):
                if h[i] is None:
                    lft, rgt = left[i], right[i]
                    z = self.compose(torch.cat([h[lft], h[rgt]]))
                    s, u = torch.sigmoid(z[:4 * H]), torch.tanh(z[4 * H:])
                    c[i] = s[:H] * u + s[H:2 * H] * c[lft] + s[2 * H:3 * H] * c[rgt]
                    h[i] = s[3 * H:] * torch.tanh(c[i])
            logits = self.cls(self.drop(torch.stack(h)))
            return nn.functional.cross_entropy(logits, labels, reduction="sum")

    model = TreeLSTM()
    emb_params = [model.emb.weight]
    other = [p for name, p in model.named_parameters() if not name.startswith("emb")]
    opt = torch.optim.Adagrad(other, lr=0.05, weight_decay=1e-4)
    emb_opt = torch.optim.SGD(emb_params, lr=0.1)

    def train(items) -> None:
        for k, item in enumerate(items, 1):
            (model(*item) / 25).backward()
            if k % 25 == 0 or k == len(items):
                opt.step()
                emb_opt.step()
                opt.zero_grad()
                emb_opt.zero_grad()

    order = np.random.default_rng(0).permutation(len(data))
    train([data[i] for i in order[:size.warmup]])
    dt = float("inf")
    for _ in range(size.repeats):
        t0 = time.perf_counter()
        train([data[i] for i in order])
        dt = min(dt, time.perf_counter() - t0)
    used = torch.get_num_threads()
    torch.set_num_threads(old)
    return {"system": "pytorch eager", "threads": f"torch: {used}", "trees": len(data), "seconds": dt,
            "trees_per_s": len(data) / dt}


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Measure every system, write ``out/sst.csv`` and return its rows."""
    size = QUICK if quick else FULL
    try:
        rows = [bench_reference(True, size), bench_reference(False, size)]
    except DataError as e:
        rows = [{"system": "ampsim reference", "note": data_missing(e, "SST", quick)}]
    else:
        if torch_installed():
            rows += [bench_torch(os.cpu_count() or 1, size), bench_torch(1, size)]
        else:
            # said in the CSV, not only on the terminal: a missing row must not read as a slow PyTorch
            rows.append({"system": "pytorch eager", "note": NO_TORCH})
    for r in rows:
        r.update(hidden=HIDDEN, embed=EMBED, machine=machine(), load=load())
        if "trees_per_s" in r:
            print(f"{r['system']:45s} {r['threads']:20s} {r['trees_per_s']:8.1f} trees/s")
        else:
            print(f"{r['system']:45s} {r['note']}")
    path = write_csv(out, "sst.csv", COLUMNS, rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

"""Tree-LSTM training throughput on SST: the reference executor vs PyTorch eager, side by side in one run.

Both train the same binary Tree-LSTM (hidden 150, 300-d embeddings learned from scratch, dropout 0.5, a
loss at every labelled node, Adagrad lr 0.05 for the cells and classifier and SGD lr 0.1 for the
embeddings, an update every 25 trees) one tree at a time on the first ``N_TREES`` training trees of SST
(fine-grained). PyTorch runs the natural eager program: the leaves of a tree in one batch, then the
internal nodes one by one in post-order, then the classifier on all nodes at once (the same work the IR
graph does with its batched leaves and classifier). Rows: trees per second for

* ``ampsim reference`` (batched leaves, the default IR) and ``ampsim reference, one message per leaf``;
* ``pytorch eager`` with one intra-op thread per core and with 1 thread (when torch is installed).

The reference executor runs with ampsim's default single-threaded BLAS (see ``ampsim/__init__.py``).

Writes results/bench/sst.csv. Needs the SST files (``AMPSIM_DATA``); without them it prints why and
writes nothing. ``python -m benchmarks.bench_sst``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.common import machine, write_csv

N_TREES = 300
WARMUP = 25
REPEATS = 3  # each system trains REPEATS passes over the trees; the fastest pass counts
HIDDEN = 150
EMBED = 300
ROOT = Path(__file__).resolve().parents[1]


def _threads() -> str:
    return os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"


def bench_reference(batch_leaves: bool) -> dict:
    from ampsim.config import load_config, parse_override
    from ampsim.executors.reference import ReferenceExecutor
    from ampsim.models import build_task
    from ampsim.training import configure_params

    sets = [f"data.limit_train={N_TREES}", "data.limit_test=1", f"model.batch_leaves={str(batch_leaves).lower()}",
            f"model.hidden={HIDDEN}", f"model.embed={EMBED}"]
    cfg = load_config(ROOT / "experiments/sst_treelstm.toml", [parse_override(s) for s in sets])
    task = build_task(cfg)
    configure_params(cfg, task)
    ex = ReferenceExecutor(task.model)
    ex.train(task.train_instances(1)[:WARMUP])
    dt = float("inf")
    for epoch in range(2, 2 + REPEATS):
        insts = task.train_instances(epoch)
        t0 = time.perf_counter()
        ex.train(insts)
        for node in task.model.graph.param_nodes:  # apply a last partial minibatch, as PyTorch does
            node.update()
        dt = min(dt, time.perf_counter() - t0)
    name = "ampsim reference" + ("" if batch_leaves else ", one message per leaf")
    return {"system": name, "threads": f"numpy BLAS: {_threads()}", "trees": len(insts), "seconds": dt,
            "trees_per_s": len(insts) / dt}


def bench_torch(threads: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from ampsim.data import sst

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    trees = sst.load_sst("train", limit=N_TREES)
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
    train([data[i] for i in order[:WARMUP]])
    dt = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        train([data[i] for i in order])
        dt = min(dt, time.perf_counter() - t0)
    used = torch.get_num_threads()
    torch.set_num_threads(old)
    return {"system": "pytorch eager", "threads": f"torch: {used}", "trees": len(data), "seconds": dt,
            "trees_per_s": len(data) / dt}


def main() -> list[dict]:
    from ampsim.errors import DataError

    try:
        rows = [bench_reference(True), bench_reference(False)]
    except DataError as e:
        print(f"bench_sst: skipped, SST not available ({e})")
        return []
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        print("bench_sst: torch not installed (pip install -e '.[bench]'); PyTorch rows skipped")
    else:
        rows += [bench_torch(os.cpu_count() or 1), bench_torch(1)]
    for r in rows:
        r.update(hidden=HIDDEN, embed=EMBED, machine=machine())
        print(f"{r['system']:45s} {r['threads']:20s} {r['trees_per_s']:8.1f} trees/s")
    path = write_csv("sst.csv", rows)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()

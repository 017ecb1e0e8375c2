"""Calibration workloads: small synthetic versions of our three model families, run on ONE multicore worker.

The roofline a simulated chip uses, ``max(flops/F, bytes/B) + o`` per message, cannot match every numpy
operation on a CPU (a GEMM runs near its FLOP rate, an unfused numpy Adam update moves ~10x the bytes its
node reports, a tiny control-flow node costs only Python overhead). ``ampsim calibrate`` therefore fits
F, B and o so that the simulator reproduces the *time per instance* of three representative workloads
run by a real one-worker multicore executor (mak = 1, so admission, the worker loop and the controller
round trip are included), and stays close to the individual node-step times (a weak regularizer):

* ``mlp``  — 784-256-256-256-10 MLP, batches of 32, Adam (the shapes of mnist_mlp), random data;
* ``rnn``  — LSTM (hidden 64, embedding 32) over synthetic lists, batches of 16, Adam (list_reduction);
* ``tree`` — Tree-LSTM (hidden 150, embedding 300) over random binary trees of 5-35 leaves, Adagrad,
  muf = 25 (the shapes of sst_treelstm), with no dataset needed.

The experiments ``ampsim compare`` checks use these shapes but their own data; the workloads only pin down
what one message and one update cost in this engine on this machine.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import deque

import numpy as np

from ampsim.ir.message import Instance
from ampsim.models.base import Model
from ampsim.optim import OptimizerSpec

log = logging.getLogger(__name__)


def _configure(model: Model, kind: str, lr: float, muf: int = 1, weight_decay: float = 0.0) -> Model:
    for node in model.graph.param_nodes:
        node.configure(OptimizerSpec(kind=kind, lr=lr, weight_decay=weight_decay), muf=muf)
    return model


def mlp_workload(n: int, seed: int = 0) -> tuple[Model, list[Instance]]:
    from ampsim.models.mlp import build_mlp

    rng = np.random.default_rng(seed)
    model = _configure(build_mlp(784, [256, 256, 256], 10, seed=seed), "adam", 5e-4)
    return model, [Instance(k, {"x": rng.random((32, 784), dtype=np.float32), "y": rng.integers(0, 10, 32)})
                   for k in range(n)]


def rnn_workload(n: int, seed: int = 0) -> tuple[Model, list[Instance]]:
    from ampsim.data.list_reduction import make_splits
    from ampsim.models.rnn import bucket, build_rnn

    train, _ = make_splits(16 * n * 2, 16, 10, seed)
    model = _configure(build_rnn("lstm", 64, 32, seed=seed), "adam", 3e-3)
    insts = bucket(train, 16, np.arange(len(train)), 0, np.random.default_rng(seed))
    return model, insts[:n]


def random_tree_text(rng: np.random.Generator, n_leaves: int, vocab: int) -> str:
    """A random binary tree in PTB notation with labels 0-4 and words w0..w{vocab-1}."""
    parts = [f"({rng.integers(5)} w{rng.integers(vocab)})" for _ in range(n_leaves)]
    while len(parts) > 1:
        i = int(rng.integers(len(parts) - 1))
        parts[i:i + 2] = [f"({rng.integers(5)} {parts[i]} {parts[i + 1]})"]
    return parts[0]


def tree_workload(n: int, seed: int = 0) -> tuple[Model, list[Instance]]:
    from ampsim.data import sst
    from ampsim.models.treelstm import build_treelstm, tree_data

    rng = np.random.default_rng(seed)
    trees = [sst.parse_tree(random_tree_text(rng, int(rng.integers(5, 36)), 2000)) for _ in range(n)]
    vocab = sst.Vocab.build(trees)
    model = build_treelstm(len(vocab), 5, hidden=150, embed=300, dropout=0.5, seed=seed,
                           embedding_optimizer={"kind": "sgd", "lr": 0.1, "weight_decay": 0.0})
    _configure(model, "adagrad", 0.05, muf=25, weight_decay=1e-4)
    return model, [Instance(k, tree_data(t, vocab, 5)) for k, t in enumerate(trees)]


WORKLOADS = {"mlp": (mlp_workload, 80), "rnn": (rnn_workload, 80), "tree": (tree_workload, 100)}


def work_items(model: Model, instances: list[Instance]) -> tuple[np.ndarray, np.ndarray]:
    """Unique (flops, bytes) pairs of every message and update over ``instances`` and their counts,
    run through the reference order on a copy of ``model``."""
    m = copy.deepcopy(model)
    graph = m.graph.validate()
    pairs: list[tuple[float, float]] = []
    for inst in instances:
        queue = deque((False, graph.nodes[name], 0, msg) for name, msg in m.inject(inst))
        while queue:
            backward, node, port, msg = queue.popleft()
            step = node.step(backward, msg, port)
            pairs.append((step.work.flops, step.work.bytes))
            for s in step.sends:
                dst, dport = graph.route[(node.name, s.backward, s.port)]
                queue.append((s.backward, dst, dport, s.msg))
        for node in graph.param_nodes:
            work = node.complete(inst.key)
            if work is not None:
                pairs.append((work.flops, work.bytes))
    uniq, counts = np.unique(np.array(pairs, dtype=np.float64), axis=0, return_counts=True)
    return uniq, counts


def measure_workload(name: str, *, repeat: int = 3, scale: float = 1.0) -> dict:
    """Seconds per instance on one multicore worker with a core of its own (median of ``repeat`` passes
    after a warm-up; a pass on a busy machine counts the worker's CPU time instead of its stretched busy
    time), the share of a core it got, the reference executor's seconds per instance, and the work items
    for the fit."""
    from ampsim.executors.multicore import MulticoreExecutor
    from ampsim.executors.reference import ReferenceExecutor

    build, n = WORKLOADS[name]
    model, insts = build(max(8, int(n * scale)))
    items, counts = work_items(model, insts)
    ref_model = copy.deepcopy(model)
    ref = ReferenceExecutor(ref_model)
    ref.train(insts[:5])
    t0 = time.perf_counter()
    ref.train(insts)
    t_ref = (time.perf_counter() - t0) / len(insts)
    times, shares = [], []
    with MulticoreExecutor(model, {nm: 0 for nm in model.graph.nodes}, 1, mak=1) as ex:
        ex.train(insts[:5])
        for _ in range(repeat):
            t0, b0, c0 = ex.time_s, ex.summary()["worker_busy_s"][0], ex.worker_cpu_s[0]
            ex.train(insts)
            wall, busy, cpu = ex.time_s - t0, ex.summary()["worker_busy_s"][0] - b0, ex.worker_cpu_s[0] - c0
            # on a shared machine the worker got only cpu/busy of a core while it had work: count the CPU
            # it used instead of that stretched busy time (what a core of its own would have taken)
            times.append((wall - max(busy - cpu, 0.0)) / len(insts))
            shares.append(min(1.0, cpu / busy) if busy > 0 else 1.0)
    return {"name": name, "instances": len(insts), "seconds_per_instance": float(np.median(times)),
            "core_share": float(np.median(shares)),
            "reference_seconds_per_instance": t_ref, "messages_per_instance": float(counts.sum()) / len(insts),
            "items": items.tolist(), "counts": (counts / len(insts)).tolist()}


def predict(work: dict, F: float, B: float, o: float) -> float:
    """Simulated seconds per instance of a measured workload on one chip with these rates."""
    items = np.asarray(work["items"])
    return float(np.sum((np.maximum(items[:, 0] / F, items[:, 1] / B) + o) * np.asarray(work["counts"])))


def fit(workloads: list[dict], steps: list[dict], reg: float = 0.2) -> dict:
    """F, B, o minimizing the squared log error of every workload's time per instance plus ``reg`` times
    the time-weighted squared log error of the node-step samples (grid search)."""
    Fs = np.logspace(9.5, 12, 51)
    Bs = np.logspace(9, 12, 61)
    os_ = np.linspace(0.0, 20e-6, 81)
    obj = np.zeros((len(Fs), len(Bs), len(os_)))
    F, B, O = Fs[:, None, None, None], Bs[None, :, None, None], os_[None, None, :, None]
    for w in workloads:
        items, counts = np.asarray(w["items"]), np.asarray(w["counts"])
        pred = np.sum((np.maximum(items[:, 0] / F, items[:, 1] / B) + O) * counts, axis=-1)
        obj += (np.log(pred) - np.log(w["seconds_per_instance"])) ** 2
    if steps and reg:
        f = np.array([s["flops"] for s in steps])
        b = np.array([s["bytes"] for s in steps])
        t = np.array([s["seconds"] for s in steps])
        pred = np.maximum(f / F, b / B) + O
        obj += reg * np.sum((np.log(pred) - np.log(t)) ** 2 * (t / t.sum()), axis=-1)
    i, j, k = np.unravel_index(np.argmin(obj), obj.shape)
    best = {"flops_per_s": float(Fs[i]), "mem_bandwidth_bytes_per_s": float(Bs[j]), "overhead_s": float(os_[k])}
    best["workload_errors"] = {w["name"]: predict(w, best["flops_per_s"], best["mem_bandwidth_bytes_per_s"],
                                                  best["overhead_s"]) / w["seconds_per_instance"] - 1.0
                               for w in workloads}
    return best


def speed_index(n: int = 12, repeat: int = 3) -> float:
    """Seconds the reference executor takes for ``n`` instances of each workload (median of ``repeat``):
    how fast this machine runs our code right now. Calibration records it; ``ampsim compare`` measures it
    again before each run, so the simulated chips follow the machine's speed when it drifts (other
    virtual machines on the host, clock frequency)."""
    from ampsim.executors.reference import ReferenceExecutor

    sets = [build(n) for build, _ in WORKLOADS.values()]
    execs = [(ReferenceExecutor(model), insts) for model, insts in sets]
    for ex, insts in execs:
        ex.train(insts[:2])
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for ex, insts in execs:
            ex.train(insts)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))

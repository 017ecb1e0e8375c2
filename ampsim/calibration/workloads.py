"""Calibration workloads: small synthetic versions of our three model families, run on ONE multicore worker.

The cost a simulated chip charges per message, ``max(flops/F, bytes/B) + o + kernels * k``, cannot match
every numpy operation on a CPU exactly (a GEMM runs near its FLOP rate, an unfused numpy Adam update moves
~10x the bytes its node reports). ``ampsim calibrate`` therefore fits F, B, o and k so that the simulator
reproduces three representative workloads run by a real one-worker multicore executor (mak = 1, so
admission, the worker loop and the controller round trip are included): their time per instance, and how
that time splits among their node calls, each timed (:func:`fit`). k, the cost of one numpy call, is what
sets a Tree-LSTM cell (dozens of small operations) apart from a ReLU of the same size:

* ``mlp``  — 784-256-256-256-10 MLP, batches of 32, Adam (the shapes of mnist_mlp), random data;
* ``rnn``  — LSTM (hidden 64, embedding 32) over synthetic lists, batches of 16, Adam (list_reduction);
* ``tree`` — Tree-LSTM (hidden 150, embedding 300, a table of :data:`SST_VOCAB_ROWS` words) over random
  binary trees of 5-35 leaves, Adagrad, muf = 25 (the shapes of sst_treelstm), with no dataset needed.

The experiments ``ampsim compare`` checks use these shapes but their own data; the workloads only pin down
what one message and one update cost in this engine on this machine.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import time

import numpy as np

from ampsim.ir.message import Instance
from ampsim.ir.pump import pump
from ampsim.models.base import Model
from ampsim.optim import OptimizerSpec

__all__ = ["SST_VOCAB_ROWS", "WORKLOADS", "WORKLOAD_OF_TASK", "fit", "measure_workload", "nonneg_lstsq", "predict",
           "rates", "speed_index", "timed_calls", "tree_workload", "work_items"]

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


#: rows of sst_treelstm's embedding table (its training vocabulary, ``<unk>`` included). The table's size
#: is one of the shapes the tree workload must share: an embedding update's work counts the whole table's
#: bytes (:meth:`ampsim.ir.param.ParamNode.update`), so with a smaller table the update SST meets lay far
#: outside the calibrated rows and was extrapolated to 7x its measured time.
SST_VOCAB_ROWS = 18_281


def tree_workload(n: int, seed: int = 0) -> tuple[Model, list[Instance]]:
    from ampsim.data import sst
    from ampsim.models.treelstm import build_treelstm, tree_data

    rng = np.random.default_rng(seed)
    # words drawn from 2,000 of the table's rows: an update of 25 trees touches a few hundred rows, as SST's
    trees = [sst.parse_tree(random_tree_text(rng, int(rng.integers(5, 36)), 2000)) for _ in range(n)]
    vocab = sst.Vocab((sst.UNK, *(f"w{i}" for i in range(SST_VOCAB_ROWS - 1))))
    model = build_treelstm(len(vocab), 5, hidden=150, embed=300, dropout=0.5, seed=seed,
                           embedding_optimizer={"kind": "sgd", "lr": 0.1, "weight_decay": 0.0})
    _configure(model, "adagrad", 0.05, muf=25, weight_decay=1e-4)
    return model, [Instance(k, tree_data(t, vocab, 5)) for k, t in enumerate(trees)]


WORKLOADS = {"mlp": (mlp_workload, 80), "rnn": (rnn_workload, 80), "tree": (tree_workload, 100)}
#: the workload whose shapes an experiment's task shares (its speed is the one ``ampsim compare`` follows)
WORKLOAD_OF_TASK = {"mlp": "mlp", "list_reduction": "rnn", "sst_treelstm": "tree"}


def timed_calls(model: Model, instances: list[Instance]) -> tuple[list[tuple[float, float, float]], list[float],
                                                                    list[str]]:
    """Every message's and update's work ``(flops, bytes, kernels)``, the seconds its call took and a label
    (node kind, name, direction, payload shape: ``"linear fc0 fwd 32x784"``), over ``instances`` run through
    the reference order on a copy of ``model`` (after one untimed pass over the first instances, so
    first-call costs are not counted). On a machine shared with other jobs the calls' wall times are scaled
    by the share of a core the pass got (its CPU time / its wall time): what a core of its own would take,
    as :func:`measure_workload` counts."""
    m = copy.deepcopy(model)
    graph = m.graph.validate()
    perf = time.perf_counter
    rows: list[tuple[float, float, float]] = []
    secs: list[float] = []
    labels: list[str] = []
    # the collector's pauses land on whichever call allocates at the time: off while calls are timed, they
    # count per message in the worker loop's share (:func:`fit`) instead of in one call's time
    collecting = gc.isenabled()
    try:
        for timed, batch in ((False, instances[:3]), (True, instances)):
            if timed:
                gc.collect()
                gc.disable()
            wall0, cpu0 = perf(), time.process_time()
            for inst in batch:
                for visit in pump(graph, m.inject(inst), timed=True):
                    work = visit.step.work
                    secs.append(visit.time_s)
                    rows.append((work.flops, work.bytes, work.kernels))
                    shape = "x".join(map(str, getattr(visit.msg.payload, "shape", ()))) or "-"
                    labels.append(f"{type(visit.node).__name__.lower()} {visit.node.name} "
                                  f"{'bwd' if visit.backward else 'fwd'} {shape}")
                for node in graph.param_nodes:
                    t0 = perf()
                    work = node.complete(inst.key)
                    if work is not None:
                        secs.append(perf() - t0)
                        rows.append((work.flops, work.bytes, work.kernels))
                        labels.append(f"{type(node).__name__.lower()} {node.name} update")
            if not timed:
                rows.clear()
                secs.clear()
                labels.clear()
        share = min(1.0, (time.process_time() - cpu0) / max(perf() - wall0, 1e-9))
    finally:
        if collecting:
            gc.enable()
    return rows, [s * share for s in secs], labels


def work_items(model: Model, instances: list[Instance], *,
               labels: bool = False) -> tuple[np.ndarray, ...]:
    """Unique (flops, bytes, kernels) triples of every message and update over ``instances``, their counts
    and the seconds their calls took in total (:func:`timed_calls`); with ``labels``, also each triple's
    label (its first call's, with how many other calls of other nodes share the triple)."""
    rows, secs, names = timed_calls(model, instances)
    uniq, inverse, counts = np.unique(np.array(rows, dtype=np.float64), axis=0, return_inverse=True,
                                      return_counts=True)
    inverse = inverse.ravel()
    total = np.bincount(inverse, weights=secs, minlength=len(uniq))
    if not labels:
        return uniq, counts, total
    seen: list[dict[str, None]] = [{} for _ in uniq]
    for i, name in zip(inverse.tolist(), names):
        seen[i][name] = None
    text = [next(iter(d)) + (f" (+{len(d) - 1} more)" if len(d) > 1 else "") for d in seen]
    return uniq, counts, total, np.array(text, dtype=object)


def measure_workload(name: str, *, repeat: int = 3, scale: float = 1.0) -> dict:
    """Seconds per instance on one multicore worker with a core of its own (median of ``repeat`` passes
    after a warm-up; a pass on a busy machine counts the worker's CPU time instead of its stretched busy
    time), the share of a core it got, the reference executor's seconds per instance, and the work items
    for the fit."""
    from ampsim.executors.multicore import MulticoreExecutor
    from ampsim.executors.reference import ReferenceExecutor

    build, n = WORKLOADS[name]
    model, insts = build(max(8, int(n * scale)))
    items, counts, item_s = work_items(model, insts)
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
            "items": items.tolist(), "counts": (counts / len(insts)).tolist(),
            "item_seconds": (item_s / len(insts)).tolist()}


def predict(work: dict, F: float, B: float, o: float, k: float = 0.0) -> float:
    """Simulated seconds per instance of a measured workload on one chip with these rates."""
    items = np.asarray(work["items"])
    per_item = np.maximum(items[:, 0] / F, items[:, 1] / B) + o + k * items[:, 2]
    return float(np.sum(per_item * np.asarray(work["counts"])))


#: the (FLOP/s, bytes/s) grid :func:`fit` searches; o and k are solved for exactly at every point
GRID = {"F": np.logspace(9.5, 12, 101), "B": np.logspace(9, 12, 121)}


def fit(workloads: list[dict], total_weight: float = 3.0) -> dict:
    """F, B, o and k that best reproduce the measured workloads, item by item and in total.

    Every workload contributes one residual per work item, its share of an instance's time as predicted
    minus as measured (``count * (max(f/F, b/B) + o + k * kernels - target)``, the target being the item's
    measured call time plus the workload's *loop overhead* per message: the multicore time per instance
    not spent in node calls, spread over its messages), and ``total_weight`` times the error of the whole
    instance, all divided by the workload's time per instance so every workload weighs the same. Items
    tie each kind of call to its FLOPs, bytes and operations, so the model splits a workload's time
    among nodes as the machine does (what matters once nodes are placed on different chips).

    For fixed F and B the residuals are linear in o and k: least squares solves for them (clamped at 0)
    at every grid point (:data:`GRID`), and the point with the smallest sum of squares wins.
    """
    coef, roof_rows, target = [], [], []  # residual = coef·(o, k) + roofline rows - target
    for w in workloads:
        items, counts = np.asarray(w["items"], float), np.asarray(w["counts"], float)
        T = w["seconds_per_instance"]
        item_s = np.asarray(w.get("item_seconds") or np.zeros(len(counts)), float)
        loop = max(T - item_s.sum(), 0.0) / counts.sum() if item_s.any() else 0.0
        if item_s.any():
            for (f, b, k), c, t in zip(items, counts, item_s):
                coef.append((c / T, c * k / T))
                roof_rows.append({(f, b): c / T})
                target.append((t + loop * c) / T)
        coef.append((total_weight * counts.sum() / T, total_weight * float(items[:, 2] @ counts) / T))
        roof_rows.append({(f, b): total_weight * c / T for (f, b, _), c in zip(items, counts)})
        target.append(total_weight)
    A = np.array(coef)  # n x 2, independent of F and B
    keys = sorted({fb for r in roof_rows for fb in r})
    col = {fb: i for i, fb in enumerate(keys)}
    M = np.zeros((len(roof_rows), len(keys)))  # residual rows x distinct (flops, bytes) pairs
    for i, r in enumerate(roof_rows):
        for fb, c in r.items():
            M[i, col[fb]] += c
    fl, by = np.array([k[0] for k in keys]), np.array([k[1] for k in keys])
    F, B = np.meshgrid(GRID["F"], GRID["B"], indexing="ij")
    roof = np.maximum(fl / F[..., None], by / B[..., None])  # (nF, nB, pairs)
    Y = np.array(target) - roof @ M.T  # what o and k must explain, (nF, nB, rows)
    ok = nonneg_lstsq(A, Y)  # (nF, nB, 2)
    sse = ((ok @ A.T - Y) ** 2).sum(axis=-1)
    i, j = np.unravel_index(np.argmin(sse), sse.shape)
    best = {"flops_per_s": float(F[i, j]), "mem_bandwidth_bytes_per_s": float(B[i, j]),
            "overhead_s": float(ok[i, j, 0]), "kernel_overhead_s": float(ok[i, j, 1])}
    best["workload_errors"] = {w["name"]: predict(w, *rates(best)) / w["seconds_per_instance"] - 1.0
                               for w in workloads}
    return best


def nonneg_lstsq(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """argmin over x >= 0 of |A x - y| for a two-column ``A`` and every row ``y`` of ``Y`` (``...`` x n)."""
    x = Y @ np.linalg.pinv(A).T
    for keep in (0, 1):  # where a coefficient came out negative, set it to 0 and refit the other
        a = A[:, keep]
        alone = np.zeros_like(x)
        alone[..., keep] = np.maximum(Y @ a / (a @ a), 0.0)
        x = np.where((x[..., 1 - keep] < 0)[..., None], alone, x)
    return np.maximum(x, 0.0)


def rates(fit: dict) -> tuple[float, float, float, float]:
    return fit["flops_per_s"], fit["mem_bandwidth_bytes_per_s"], fit["overhead_s"], fit["kernel_overhead_s"]


def speed_index(n: int = 12, repeat: int = 7) -> dict[str, float]:
    """Seconds the reference executor takes for ``n`` instances of each workload (median of ``repeat``),
    in a freshly started process: how fast this machine runs our code right now. Calibration records it;
    ``ampsim compare`` measures it again around its runs, so the simulated chips follow the machine's
    speed when it drifts (other virtual machines on the host, clock frequency). A fresh process, because
    the same code runs up to 15 % slower or faster in a process whose heap holds a different dataset.

    Returns ``{"all": ..., "mlp": ..., "rnn": ..., "tree": ...}``: the three together (median of the
    passes' totals), and each workload alone (median of its own times), because a shared host does not slow
    every kind of work alike: seen here, the memory-bound MLP and LSTM workloads 20-40 % slower or faster
    within minutes while the Tree-LSTM moved 2 %. ``ampsim compare`` follows the workload of its
    experiment's family (:data:`WORKLOAD_OF_TASK`)."""
    import subprocess
    import sys

    # a plain child process (no multiprocessing: its resource tracker would outlive the call)
    code = f"from ampsim.calibration.workloads import _speed_index_here as f; print(f({int(n)}, {int(repeat)}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(f"speed index child failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _speed_index_here(n: int, repeat: int) -> str:
    from ampsim.executors.multicore.procs import limit_blas_threads
    from ampsim.executors.reference import ReferenceExecutor

    limit_blas_threads()
    sets = [build(n) for build, _ in WORKLOADS.values()]
    execs = [(ReferenceExecutor(model), insts) for model, insts in sets]
    for ex, insts in execs:
        ex.train(insts[:2])
    times = np.zeros((repeat, len(execs)))
    for r in range(repeat):
        for i, (ex, insts) in enumerate(execs):
            t0 = time.perf_counter()
            ex.train(insts)
            times[r, i] = time.perf_counter() - t0
    alone = dict(zip(WORKLOADS, np.median(times, axis=0).tolist()))
    return json.dumps({"all": float(np.median(times.sum(axis=1))), **alone})

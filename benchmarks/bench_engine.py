"""Engine overhead: one 1×256 → 256 Linear node, forward + backward + SGD update, through the engine vs
the same numpy maths written directly, side by side in one run. Writes results/bench/engine.csv.

``python -m benchmarks.bench_engine [--quick --out DIR]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import Field, MeanSquaredError
from ampsim.models.base import InjectFields, Metric, Model
from ampsim.optim import OptimizerSpec
from benchmarks.common import OUT, best_of, load, machine, run_one, write_csv

D = 256
LR = 1e-3
N = 2000  # instances per timed pass
REPEATS = 5  # timed passes per system; the fastest counts
QUICK_N, QUICK_REPEATS = 20, 1
COLUMNS = ("case", "engine_us", "direct_numpy_us", "ratio", "goal_ratio", "machine", "load")


def main(out: Path = OUT, quick: bool = False) -> list[dict]:
    """Time both cases, write ``out/engine.csv`` and return its rows."""
    n, repeats = (QUICK_N, QUICK_REPEATS) if quick else (N, REPEATS)
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(n, 1, D)).astype(np.float32)
    dys = rng.normal(size=(n, 1, D)).astype(np.float32)
    ts = rng.normal(size=(n, 1, D)).astype(np.float32)

    # -- one node: step forward, step backward, complete (muf = 1 → update) ------------------------
    lin = Linear("fc", D, D, input_grad=True)
    lin.configure(OptimizerSpec("sgd", lr=LR), muf=1)
    insts = [Instance(k, None) for k in range(n)]

    def engine_node():
        for k in range(n):
            inst = insts[k]
            lin.step(False, Message(inst, (), xs[k]), 0)
            lin.step(True, Message(inst, (), dys[k]), 0)
            lin.complete(k)

    W = lin.params["W"].copy()
    b = lin.params["b"].copy()

    def direct_node():
        for k in range(n):
            x, dy = xs[k], dys[k]
            y = x @ W + b  # noqa: F841  (forward output, as the node computes it)
            dx = dy @ W.T  # noqa: F841
            W[...] -= LR * (x.T @ dy)
            b[...] -= LR * dy.sum(axis=0)

    # -- a whole graph through the reference executor: Input → Linear → MSE -----------------------
    g = Graph("bench")
    g.add(Input("x"))
    g.add(Linear("fc", D, D, input_grad=False))
    g.add(MeanSquaredError("loss", D, Field("t")))
    g.chain("x", "fc", "loss")
    model = Model(g.validate(), InjectFields((("x", "x"),)), Metric("mse", "loss", "loss"))
    model.graph.nodes["fc"].configure(OptimizerSpec("sgd", lr=LR), muf=1)
    ex = ReferenceExecutor(model)
    batch = [Instance(k, {"x": xs[k], "t": ts[k]}) for k in range(n)]
    W2, b2 = model.graph.nodes["fc"].params["W"].copy(), model.graph.nodes["fc"].params["b"].copy()

    def direct_graph():
        for k in range(n):
            x, t = xs[k], ts[k]
            y = x @ W2 + b2
            diff = y - t
            float(np.sum(diff * diff))
            g_ = 2 * diff / x.shape[0]
            W2[...] -= LR * (x.T @ g_)
            b2[...] -= LR * g_.sum(axis=0)

    rows = []
    for name, engine, direct in [("linear_node_fwd_bwd_update", engine_node, direct_node),
                                 ("graph_input_linear_mse", lambda: ex.train(batch), direct_graph)]:
        te = best_of(engine, repeats=repeats) / n
        td = best_of(direct, repeats=repeats) / n
        rows.append({"case": name, "engine_us": round(te * 1e6, 2), "direct_numpy_us": round(td * 1e6, 2),
                     "ratio": round(te / td, 3), "goal_ratio": 2.0, "machine": machine(), "load": load()})
    path = write_csv(out, "engine.csv", COLUMNS, rows)
    for r in rows:
        print(f"{r['case']}: engine {r['engine_us']} µs, direct numpy {r['direct_numpy_us']} µs, ratio {r['ratio']}×")
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    run_one(main, __doc__)

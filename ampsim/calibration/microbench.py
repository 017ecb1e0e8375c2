"""Micro-benchmarks of this machine and of the engine, for ``ampsim calibrate``.

Every function runs in a few seconds at most and returns plain data. Timings are *medians* of repeated
runs, not minima: the calibrated model should describe the machine as it behaves now (other jobs
included), because the measured runs it is compared with see the same conditions.

* :func:`matmul_rates` — single-threaded GEMM FLOP/s at the shapes our nodes use.
* :func:`copy_bandwidth` — bytes moved per second by ``np.copyto`` at several working-set sizes.
* :func:`node_step_samples` — (flops, bytes, seconds) of real ``Node.step`` calls and optimizer
  updates: the data the roofline model is fitted to (:func:`fit_roofline`).
* :func:`dispatch_overhead_s` — per-message cost of the multicore worker loop around a trivial node.
* :func:`transport` — one-way latency and bandwidth of the multicore executor's channels.
* :func:`parallel_rate`, :func:`cores_available` — what n processes running at once get (how many cores
  are really free).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

__all__ = ["chain_model", "copy_bandwidth", "copy_model", "cores_available", "dispatch_overhead_s", "fit_roofline",
           "matmul_rates", "node_step_samples", "parallel_rate", "transport"]

log = logging.getLogger(__name__)

#: (rows, n_in, n_out) of the GEMMs our nodes run: MNIST MLP layers at batch 32 (forward, and the
#: transposed parameter-gradient product), list-reduction LSTM at batch 16, Tree-LSTM cells at one node
GEMM_SHAPES = [(32, 784, 256), (784, 32, 256), (32, 256, 256), (256, 32, 256), (32, 256, 10),
               (16, 96, 256), (1, 300, 450), (1, 300, 750), (35, 300, 750), (300, 35, 750)]


def median_time(fn: Callable[[], object], *, min_time_s: float = 0.05, repeat: int = 7) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` batches of about ``min_time_s`` each."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time_s / one))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def matmul_rates(dtype=np.float32, shapes=GEMM_SHAPES, min_time_s: float = 0.02) -> list[dict]:
    """GFLOP/s of ``a @ b`` for each (m, k, n) in ``shapes``."""
    rng = np.random.default_rng(0)
    out = []
    for m, k, n in shapes:
        a, b = rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)
        t = median_time(lambda a=a, b=b: a @ b, min_time_s=min_time_s, repeat=5)  # bound: this shape's arrays
        out.append({"m": m, "k": k, "n": n, "seconds": t, "flops_per_s": 2.0 * m * k * n / t})
    return out


def copy_bandwidth(sizes=(64 << 10, 1 << 20, 4 << 20, 64 << 20), min_time_s: float = 0.02) -> list[dict]:
    """Bytes moved (read + write) per second by ``np.copyto`` at each working-set size in bytes."""
    out = []
    for size in sizes:
        src = np.ones(size // 8)
        dst = np.empty_like(src)
        t = median_time(lambda dst=dst, src=src: np.copyto(dst, src), min_time_s=min_time_s, repeat=5)
        out.append({"bytes": size, "seconds": t, "bytes_per_s": 2.0 * size / t})
    return out


def node_step_samples(dtype=np.float32, seconds_per_op: float = 0.15) -> list[dict]:
    """Time and reported work of real node steps (Linear, cells, ReLU) and Adam/SGD updates."""
    from ampsim.ir.message import Instance, Message
    from ampsim.ir.nodes.cells import LSTMCell, TreeLSTMCell
    from ampsim.ir.nodes.linear import Linear
    from ampsim.ir.nodes.pointwise import ReLU
    from ampsim.optim import OptimizerSpec

    rng = np.random.default_rng(1)
    samples: list[dict] = []

    def bench(name, node, x, *, update=None):
        """Median seconds of single forward, backward and update calls, each timed on its own."""
        if update:
            node.configure(OptimizerSpec(kind=update, lr=1e-6), muf=1)
        times: dict[str, list[float]] = {"fwd": [], "bwd": [], "update": []}
        works: dict[str, object] = {}
        perf = time.perf_counter
        t_end = perf() + seconds_per_op
        key = 0
        while perf() < t_end or len(times["fwd"]) < 5:
            key += 1
            msg = Message(Instance(key, {}), (0,), x)
            t0 = perf()
            step = node.step(False, msg, 0)
            t1 = perf()
            back = node.step(True, msg.with_payload(np.ones_like(step.sends[0].msg.payload)), 0)
            t2 = perf()
            work = node.complete(key) if update else None
            t3 = perf()
            times["fwd"].append(t1 - t0)
            times["bwd"].append(t2 - t1)
            times["update"].append(t3 - t2)
            works.update(fwd=step.work, bwd=back.work, update=work)
            node.reset()
        for kind in ("fwd", "bwd", "update"):
            w = works[kind]
            if w is not None:
                samples.append({"op": f"{name} {kind}" + (f" ({update})" if kind == "update" else ""),
                                "flops": w.flops, "bytes": w.bytes, "kernels": w.kernels,
                                "seconds": float(np.median(times[kind]))})

    for rows, a, b, opt in ((32, 784, 256, "adam"), (32, 256, 256, "adam"), (32, 256, 10, "adam"),
                            (32, 256, 256, "sgd"), (16, 64, 10, "adam"), (1, 150, 5, "adagrad")):
        x = rng.random((rows, a)).astype(dtype)
        bench(f"linear {rows}x{a}x{b}", Linear("l", a, b, dtype=dtype), x, update=opt)
    bench("lstm cell 16x(32+64)", LSTMCell("c", 32, 64, dtype=dtype), rng.random((16, 32 + 128)).astype(dtype),
          update="adam")
    bench("tree-lstm cell 1x150", TreeLSTMCell("t", 150, dtype=dtype), rng.random((1, 600)).astype(dtype),
          update="adagrad")
    bench("relu 32x256", ReLU("r"), rng.random((32, 256)).astype(dtype))
    bench("relu 1x1", ReLU("r1"), rng.random((1, 1)).astype(dtype))
    return samples


def fit_roofline(samples: list[dict]) -> dict:
    """Fit ``seconds ≈ max(flops / F, bytes / B) + o`` to ``samples``.

    Criterion: squared error of log time, each sample weighted by its share of the total time, so the
    operations that dominate a run's time (large GEMMs, optimizer updates) are predicted best, while
    the many tiny ones are covered by ``o``. A grid search: F and B over decades of FLOP/s and B/s, o
    between 0 and the fastest sample. Returns F, B, o and the fit's median and worst relative error.
    """
    f = np.array([s["flops"] for s in samples])
    b = np.array([s["bytes"] for s in samples])
    t = np.array([s["seconds"] for s in samples])
    F = np.logspace(9, 12.5, 71)[:, None, None, None]
    B = np.logspace(9, 12.5, 71)[None, :, None, None]
    o = np.linspace(0.0, float(t.min()), 41)[None, None, :, None]
    pred = np.maximum(f / F, b / B) + o
    err = (np.log(np.maximum(pred, 1e-12)) - np.log(t)) ** 2 * (t / t.sum())
    i, j, k = np.unravel_index(np.argmin(err.sum(axis=-1)), err.shape[:3])
    best = (float(F.ravel()[i]), float(B.ravel()[j]), float(o.ravel()[k]))
    rel = np.abs((np.maximum(f / best[0], b / best[1]) + best[2]) / t - 1.0)
    return {"flops_per_s": best[0], "mem_bandwidth_bytes_per_s": best[1], "overhead_s": best[2],
            "median_rel_error": float(np.median(rel)), "max_rel_error": float(rel.max())}


def dispatch_overhead_s(n_messages: int = 4000) -> dict:
    """Seconds per message of one multicore worker processing a chain of trivial nodes, and the
    node steps' own share of it (so that ``per_message - step`` is the worker loop's overhead)."""
    from ampsim.executors.multicore import MulticoreExecutor

    model, insts, per = chain_model(n_messages)
    with MulticoreExecutor(copy_model(model), {n: 0 for n in model.graph.nodes}, 1, mak=4) as ex:
        ex.train(insts[:5])
        t0 = ex.time_s
        ex.train(insts)
        wall = ex.time_s - t0
    from ampsim.executors.reference import ReferenceExecutor

    ref = ReferenceExecutor(model)
    t_ref = median_time(lambda: ref.train(insts[:20]), min_time_s=0.05, repeat=5) / (20 * per)
    return {"per_message_s": wall / (len(insts) * per), "reference_per_message_s": t_ref}


def transport(duration_s: float = 1.0) -> dict:
    """One-way latency (half a small-message round trip) and bandwidth (4 MB frames) between two
    processes over the multicore executor's channels."""
    import multiprocessing as mp

    from ampsim.executors.multicore.procs import parent_pid_of_children, start_method, start_process
    from ampsim.executors.multicore.transport import channel_pair

    ctx = mp.get_context(start_method())
    a, b = channel_pair("calibrate", "echo")
    p = ctx.Process(target=_echo, args=(b, a, parent_pid_of_children()), daemon=True)
    start_process(p)
    b.close()
    a.configure()
    try:
        small = ([(1, False, 0, 7, (3,), 0, np.ones((1, 150), np.float32))],)
        rtts = []
        t_end = time.perf_counter() + duration_s / 2
        while time.perf_counter() < t_end or len(rtts) < 50:
            t0 = time.perf_counter()
            _roundtrip(a, small)
            rtts.append(time.perf_counter() - t0)
        big = np.ones(1 << 20, np.float32)  # 4 MB
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < duration_s / 2 or n < 5:
            _roundtrip(a, ("sink", big))
            n += 1
        t_big = (time.perf_counter() - t0) / n - float(np.median(rtts))
        a.put(None)
        a.flush_blocking(2.0)
    finally:
        p.join(2.0)
        if p.exitcode is None:
            p.kill()
            p.join()
        a.close()
    return {"latency_s": float(np.median(rtts)) / 2, "round_trips": len(rtts),
            "bandwidth_bytes_per_s": big.nbytes / max(t_big, 1e-9)}


def _roundtrip(ch, obj) -> None:
    from select import POLLIN, poll

    ch.put(obj)
    ch.flush_blocking(5.0)
    poller = poll()
    poller.register(ch.fd, POLLIN)
    while True:
        if ch.recv():
            return
        poller.poll(5000)


def _echo(ch, other, parent_pid: int) -> None:
    """Answer every frame: echo small ones, acknowledge ('sink') large ones."""
    from select import POLLIN, poll

    from ampsim.executors.multicore.procs import setup_worker_process

    setup_worker_process(parent_pid)
    other.close()
    ch.configure()
    poller = poll()
    poller.register(ch.fd, POLLIN)
    while True:
        poller.poll(5000)
        for frame in ch.recv():
            if frame is None:
                return
            ch.put(True if isinstance(frame, tuple) and frame and frame[0] == "sink" else frame)
            ch.flush_blocking(5.0)


def copy_model(model):
    import copy

    return copy.deepcopy(model)


def chain_model(n_messages: int, width: int = 1):
    """Input → 18 ReLUs → Sink (a zero gradient back): 39 messages per instance, payload [1, width]."""
    from ampsim.ir.graph import Graph
    from ampsim.ir.message import Instance
    from ampsim.ir.nodes.groups import Sink
    from ampsim.ir.nodes.io import Input
    from ampsim.ir.nodes.pointwise import ReLU
    from ampsim.models.base import InjectFields, Metric, Model

    g = Graph("chain")
    nodes = [g.add(Input("x", width=1))] + [g.add(ReLU(f"r{i}")) for i in range(18)] + [g.add(Sink("end"))]
    g.chain(*nodes)
    model = Model(g.validate(), InjectFields((("x", "x"),)), Metric("none", "end", "n"))
    per = 2 * len(nodes) - 1
    insts = [Instance(k, {"x": np.ones((1, width), np.float32)}) for k in range(max(1, n_messages // per))]
    return model, insts, per


def parallel_rate(n: int, duration_s: float = 0.3) -> float:
    """Iterations per second of a fixed numpy kernel (a 32x256x256 GEMM and a tanh), summed over ``n``
    processes running at once: what this machine gives ``n`` busy workers right now."""
    return _spin_all(n, duration_s)[0] / duration_s


def cores_available(n: int, duration_s: float = 0.3) -> float:
    """CPU seconds per second that ``n`` busy processes get right now: ``n`` on an idle machine, less
    when other jobs share it (Linux also groups a session's processes: ``n`` processes of one session
    may get one core's worth between them while another session is busy)."""
    return _spin_all(n, duration_s)[1] / duration_s


def _spin_all(n: int, duration_s: float) -> tuple[float, float]:
    import multiprocessing as mp

    from ampsim.executors.multicore.procs import parent_pid_of_children, start_method, start_process

    ctx = mp.get_context(start_method())
    out = ctx.RawArray("d", 2 * n)
    parent = parent_pid_of_children()
    procs = [ctx.Process(target=_spin, args=(out, i, duration_s, parent), daemon=True) for i in range(n)]
    for p in procs:
        start_process(p)
    for p in procs:
        p.join(duration_s + 10)
    return float(sum(out[0::2])), float(sum(out[1::2]))


def _spin(out, i: int, duration_s: float, parent_pid: int) -> None:
    from ampsim.executors.multicore.procs import setup_worker_process

    setup_worker_process(parent_pid)
    rng = np.random.default_rng(i)
    a, b = rng.random((32, 256), dtype=np.float32), rng.random((256, 256), dtype=np.float32)
    n, c0, t_end = 0, time.process_time(), time.perf_counter() + duration_s
    while time.perf_counter() < t_end:
        np.tanh(a @ b)
        n += 1
    out[2 * i], out[2 * i + 1] = n, time.process_time() - c0

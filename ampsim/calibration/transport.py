"""Calibrating the transport: what a message costs when it crosses between two multicore workers.

The simulator models a software transport with ten chip fields and the link latency (see
:class:`ampsim.hardware.spec.ChipSpec`). Measured: per *frame* (one ``sendmsg`` / ``recv``)
``frame_send_overhead_s`` on the sender and ``frame_receive_overhead_s`` on the receiver; per *message*
``remote_send_overhead_s + remote_send_s_per_byte * bytes`` on the sender (packing; the bytes' cost at
both ends is charged here) and ``remote_receive_overhead_s`` on the receiver (unpacking, queueing);
``wake_overhead_s``, what resuming after a sleep costs; ``contention_slowdown``, how much slower the
workers run while both are busy; and ``link.latency_s``, the time in which neither process is busy. Copied
from the workers' own rules (:func:`worker_policy`): ``coalesce_window_s``, ``spin_s`` and
``poll_interval_s``.

How they are measured: the calibration workloads (:mod:`ampsim.calibration.workloads`: MLP, LSTM and Tree-LSTM
shapes) run on two workers, their nodes placed by the greedy strategy with the fitted chip, at mak 1 and 16,
and so do chains of trivial nodes alternating between two workers at mak 1, 4 and 16 with tiny and 8 kB
payloads (one to fifteen messages per frame); every run is repeated on one worker for comparison. The
workloads bring realistic messages, the chains the variety that separates per-frame from per-message costs.
Each worker times its transport code (:attr:`ampsim.executors.multicore.worker.Worker.sent` / ``received``:
seconds, frames, messages, bytes) and counts its sleeps; least squares over those runs splits the transport
time into per-frame, per-message and per-byte parts, and the rest of the extra busy time over the one-worker
run, less what the controller took from them (:func:`controller_steal_s`), into a cost per sleep and a
slowdown while both workers are busy (:func:`split_rest`: the time both were
busy at once is what their busy times add up to beyond the run's wall time; workers that take turns at mak 1
have none, at mak 16 they overlap most of the run), and the controller's CPU time over the instances and
messages of the same runs into a cost per instance and per message (:func:`fit_controller`: the ``[host]``
table). The latency is the median idle gap per frame of the tiny-payload chain at mak 1 (one process busy at a
time) beyond the same chain's on one worker; what the 8 kB chain's gap adds to it, per byte, is the link's own
time per byte (``link_s_per_byte``: the bytes' cost at the ends is CPU time, already in
``remote_send_s_per_byte``; over Unix sockets the gap grows little if at all with the bytes, and the link's
bandwidth is at most the machine's memory copy bandwidth, see
:func:`link_bandwidth`).
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["calibrate_transport", "describe_controller_fit", "fit", "fit_controller", "link_bandwidth"]

log = logging.getLogger(__name__)


def _run(model, insts, placement: dict[str, int], workers: int, mak: int, sync_sets=(), warmup=None) -> dict:
    """Wall time, per-worker busy time and transport counters of one multicore pass (after a warm-up on
    ``warmup``, default the first five of ``insts``). With ``sync_sets`` (a replicated model, run as it is:
    its sets name its nodes) also the bytes the synchronizations moved."""
    from ampsim.calibration.microbench import copy_model
    from ampsim.executors.multicore import MulticoreExecutor

    with MulticoreExecutor(model if sync_sets else copy_model(model), placement, workers, mak=mak,
                           sync_sets=sync_sets) as ex:
        ex.train(insts[:5] if warmup is None else warmup)
        s0, t0 = ex.summary(), ex.time_s
        ex.train(insts)
        s1 = ex.summary()
    out = {"wall_s": ex.time_s - t0, "busy_s": [b - a for a, b in zip(s0["worker_busy_s"], s1["worker_busy_s"])],
           "sleeps": [b - a for a, b in zip(s0["worker_sleeps"], s1["worker_sleeps"])],
           "instances": len(insts), "messages": s1["messages_processed"] - s0["messages_processed"],
           "controller_cpu_s": s1["controller_cpu_s"] - s0["controller_cpu_s"],
           "sync_bytes": s1.get("sync_bytes", 0) - s0.get("sync_bytes", 0)}
    for side in ("sent", "received"):
        k = f"worker_transport_{side}"
        out[side] = [[y - x for x, y in zip(a, b)] for a, b in zip(s0[k], s1[k])]
    return out


def measure_workloads(chip, scale: float = 1.0) -> list[dict]:
    """One record per (workload, mak): its run on two workers (``remote``) and on one (``local``)."""
    from ampsim.calibration import workloads as cw
    from ampsim.placement import place, profile

    runs = []
    for name, (build, n) in cw.WORKLOADS.items():
        model, insts = build(max(8, int(n * scale)))
        split = place("greedy", model, [chip, chip], prof=profile(model, insts[:4]))
        for mak in (1, 16):
            runs.append({"name": name, "mak": mak, "placement": split,
                         "local": _run(model, insts, dict.fromkeys(split, 0), 1, mak),
                         "remote": _run(model, insts, split, 2, mak)})
    return runs


def measure_chains(n_messages: int = 3000) -> list[dict]:
    """Chains of trivial nodes alternating between two workers (every message crosses), tiny payloads at mak
    1 (three times), 4 and 16 and 8 kB payloads at mak 1 and 16, and the same chains on one worker: records
    like :func:`measure_workloads`'."""
    from ampsim.calibration.microbench import chain_model

    runs = []
    for width in (1, 2048):
        model, insts, _ = chain_model(n_messages, width=width)
        names = list(model.graph.nodes)
        for mak in (1, 1, 1, 4, 16) if width == 1 else (1, 16):  # three lone-frame runs: the latency's median
            runs.append({"name": f"chain{width}", "mak": mak,
                         "local": _run(model, insts, dict.fromkeys(names, 0), 1, mak),
                         "remote": _run(model, insts, {nm: i % 2 for i, nm in enumerate(names)}, 2, mak)})
    return runs


def fit(runs: list[dict], policy: dict[str, float]) -> dict:
    """The chip and link fields from the records of :func:`measure_workloads` and :func:`measure_chains`
    (see the module docstring), all >= 0, and the executor's ``policy`` (:func:`worker_policy`)."""
    def lstsq(side: str) -> np.ndarray:
        rows = [r["remote"][side][w] for r in runs for w in (0, 1)]
        X = np.array([row[1:] for row in rows], float)  # frames, messages, bytes
        return np.maximum(np.linalg.lstsq(X, np.array([row[0] for row in rows]), rcond=None)[0], 0.0)

    send, recv = lstsq("sent"), lstsq("received")  # (per frame, per message, per byte)
    sleeps = np.array([sum(r["remote"]["sleeps"]) - sum(r["local"]["sleeps"]) for r in runs], float)
    rest = np.array([sum(r["remote"]["busy_s"]) - sum(r["local"]["busy_s"])
                     - sum(x[0] for side in ("sent", "received") for x in r["remote"][side])
                     - controller_steal_s(r["remote"]) for r in runs])
    wake, contention = split_rest(rest, sleeps, np.array([both_busy_s(r["remote"]) for r in runs]))
    tiny, wide = _idle_gaps(runs, "chain1"), _idle_gaps(runs, "chain2048")
    latency = max(float(np.median(tiny[:, 0])), 1e-7)
    # idle time that grows with the bytes (neither end busy): the link's own per-byte time, if any
    link_s_per_byte = 0.0
    if len(wide):
        extra_bytes = max(float(np.median(wide[:, 1]) - np.median(tiny[:, 1])), 1.0)
        link_s_per_byte = max((float(np.median(wide[:, 0])) - latency) / extra_bytes, 0.0)
    return {"frame_send_overhead_s": float(send[0]), "frame_receive_overhead_s": float(recv[0]),
            "wake_overhead_s": wake, "contention_slowdown": contention, **policy,
            "remote_send_overhead_s": float(send[1]), "remote_receive_overhead_s": float(recv[1]),
            "remote_send_s_per_byte": float(send[2] + recv[2]),
            "latency_s": latency, "link_s_per_byte": link_s_per_byte,
            "parts": {"frame_send_s": float(send[0]), "frame_receive_s": float(recv[0]), "wake_s": wake,
                      "message_send_s": float(send[1]), "message_receive_s": float(recv[1]),
                      "byte_send_s": float(send[2]), "byte_receive_s": float(recv[2])}}


def both_busy_s(run: dict) -> float:
    """Seconds in which both workers of a two-worker run were busy at once, at least: their busy times add
    up to more than the run's wall time only by time they overlapped (inclusion-exclusion; 0 for workers
    that took turns).

    >>> round(both_busy_s({"busy_s": [0.66, 0.66], "wall_s": 0.71}), 3)
    0.61
    >>> both_busy_s({"busy_s": [0.1, 0.1], "wall_s": 0.21})
    0.0
    """
    return max(sum(run["busy_s"]) - run["wall_s"], 0.0)


def controller_steal_s(run: dict) -> float:
    """Busy time the controller took from the two workers of a run: three processes on two cores while
    both workers were busy, the controller's CPU spread evenly over the run (``controller_cpu_s`` times the
    share of the wall time both were busy; in those periods each of the three ran at 2/3 of a core, so the
    workers' busy time grew by what the controller used). The simulated host charges exactly that (the
    ``[host]`` rule in :mod:`ampsim.executors.sim.contention`), so :func:`fit` takes it out of the rest
    before :func:`split_rest`: left in, the contention would count it a second time (measured on this
    machine: 40 % of the Tree-LSTM workload's rest at mak 16).

    >>> round(controller_steal_s({"busy_s": [0.66, 0.66], "wall_s": 0.71, "controller_cpu_s": 0.071}), 6)
    0.061
    >>> controller_steal_s({"busy_s": [0.1, 0.1], "wall_s": 0.21, "controller_cpu_s": 0.02})  # took turns
    0.0
    """
    return run["controller_cpu_s"] * both_busy_s(run) / run["wall_s"] if run["wall_s"] > 0 else 0.0


def split_rest(rest: np.ndarray, sleeps: np.ndarray, both_busy: np.ndarray) -> tuple[float, float]:
    """``(wake_overhead_s, contention_slowdown)``, both >= 0, from the busy time two-worker runs take beyond
    the same runs on one worker and their transport code (``rest``, seconds per run): a cost per extra sleep
    (``sleeps``), and work slowed by ``1 + s`` while both workers were busy (``both_busy`` seconds: each of
    the two then did ``both_busy / (1 + s)`` of work in ``both_busy``, so ``rest`` grows by
    ``2 s / (1 + s)`` per second of it). Least squares over the runs; where one coefficient comes out
    negative, the other alone.

    >>> sleeps, both = np.array([800.0, 100.0, 3000.0, 200.0]), np.array([0.04, 0.09, 0.0, 0.6])
    >>> rest = 20e-6 * sleeps + 2 * 0.1 / 1.1 * both
    >>> [round(v, 9) for v in split_rest(rest, sleeps, both)]
    [2e-05, 0.1]
    >>> split_rest(20e-6 * sleeps, sleeps, both)[1]  # no extra work while both are busy: no contention
    0.0
    """
    coef = _nonneg_lstsq2(np.c_[sleeps, both_busy], rest)
    c = min(float(coef[1]), 1.9)  # 2 s / (1 + s) < 2 for every finite s
    return float(coef[0]), c / (2.0 - c) if c > 1e-12 else 0.0


def describe_controller_fit(runs: list[dict]) -> str:
    """:func:`fit_controller`'s result over ``runs`` in words: per instance and per message, or, where every run
    has the same messages per instance (one experiment's compare: the two cannot be told apart), per instance
    alone, saying why, rather than a per-message cost of 0 that reads as measured.

    >>> runs = [{"instances": n, "messages": n * m, "controller_cpu_s": n * (2e-4 + 1e-6 * m)}
    ...         for n, m in ((100, 20), (50, 450))]
    >>> describe_controller_fit(runs)
    '200.0 us per instance + 1.00 us per message'
    >>> describe_controller_fit(runs[:1] * 2)
    '220.0 us per instance (every run has 20 messages per instance: no per-message share can be told apart)'
    """
    host = fit_controller(runs)
    per_instance = f"{host['controller_s_per_instance'] * 1e6:.1f} us per instance"
    ratios = {r["messages"] / r["instances"] for r in runs if r["instances"]}
    if len(ratios) <= 1:
        same = f"{ratios.pop():g} messages per instance" if ratios else "no instances"
        return f"{per_instance} (every run has {same}: no per-message share can be told apart)"
    return f"{per_instance} + {host['controller_s_per_message'] * 1e6:.2f} us per message"


def fit_controller(runs: list[dict]) -> dict[str, float]:
    """The controller's CPU per instance and per message (``[host]``), >= 0: least squares over runs, each
    a dict of ``instances``, ``messages`` and ``controller_cpu_s`` (:func:`measure_workloads` and
    :func:`measure_chains` give both sides of theirs, on one worker and on two). Runs that all have the same
    messages per instance cannot split the two: then it is all per instance.

    >>> runs = [{"instances": n, "messages": n * m, "controller_cpu_s": n * (2e-4 + 1e-6 * m)}
    ...         for n, m in ((100, 20), (50, 450), (80, 39))]
    >>> {k: round(v, 9) for k, v in fit_controller(runs).items()}
    {'controller_s_per_instance': 0.0002, 'controller_s_per_message': 1e-06}
    >>> {k: round(v, 9) for k, v in fit_controller(runs[:1]).items()}
    {'controller_s_per_instance': 0.00022, 'controller_s_per_message': 0.0}
    """
    X = np.array([[r["instances"], r["messages"]] for r in runs], float)
    coef = _nonneg_lstsq2(X, np.array([r["controller_cpu_s"] for r in runs], float))
    return {"controller_s_per_instance": float(coef[0]), "controller_s_per_message": float(coef[1])}


def link_bandwidth(link_s_per_byte: float, copy: list[dict]) -> float:
    """The link's bandwidth: the inverse of its own idle time per byte, at most the fastest memory copy
    measured (a transfer between processes is at least a copy).

    The bytes' CPU cost at both ends is the chip's ``remote_send_s_per_byte``, so the link must not charge
    for them again: end to end, a 4 MB transfer between two processes runs at well under a GB/s, yet the
    time in which neither process is busy grows little if at all with the bytes.

    >>> link_bandwidth(0.0, [{"bytes_per_s": 4e10}, {"bytes_per_s": 9e9}])
    40000000000.0
    >>> link_bandwidth(2**-30, [{"bytes_per_s": 4e10}])  # 1 GiB/s of idle time per byte
    1073741824.0
    """
    fastest = max(c["bytes_per_s"] for c in copy)
    return min(1.0 / link_s_per_byte, fastest) if link_s_per_byte > 0 else fastest


def _nonneg_lstsq2(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin over c >= 0 of ``|X c - y|`` for a two-column ``X``
    (:func:`ampsim.calibration.workloads.nonneg_lstsq`); columns that cannot be told apart (rank < 2) all go
    to the first."""
    from ampsim.calibration.workloads import nonneg_lstsq

    if np.linalg.matrix_rank(X) >= 2:
        return nonneg_lstsq(X, y)
    a = X[:, 0]
    return np.array([max(float(a @ y / max(a @ a, 1e-300)), 0.0), 0.0])


def _idle_gaps(runs: list[dict], name: str) -> np.ndarray:
    """Per mak-1 run of chain ``name``: [idle seconds per frame beyond its one-worker run, bytes per frame]."""
    def idle(side: dict) -> float:
        return side["wall_s"] - sum(side["busy_s"])

    rows = []
    for r in (r for r in runs if r["name"] == name and r["mak"] == 1):
        frames = max(sum(x[1] for x in r["remote"]["sent"]), 1)
        rows.append(((idle(r["remote"]) - idle(r["local"])) / frames, sum(x[3] for x in r["remote"]["sent"]) / frames))
    return np.array(rows, dtype=float).reshape(-1, 2)


def measure_sync(scale: float = 1.0) -> list[dict]:
    """The MLP and Tree-LSTM workloads in two replica groups, group g on worker g, their copies averaged
    through the controller after every update (mak 16): records of :func:`_run` with ``sync_bytes``, for
    :func:`fit_sync`."""
    from ampsim.calibration import workloads as cw
    from ampsim.replicas import ReplicaSpec, replicate

    runs = []
    for name in ("mlp", "tree"):
        build, n = cw.WORKLOADS[name]
        model, insts = build(max(8, int(n * scale)) + 5)
        rep = replicate(model, ReplicaSpec(groups=2), "<calibration>")
        placement = {p: g for g, members in enumerate(rep.group_members) for p in members}
        # warm up on instances of their own, so the measured pass trains each tree once
        runs.append({"name": name, **_run(rep.model, insts[5:], placement, 2, 16, rep.sync_sets, insts[:5])})
    return runs


def fit_sync(runs: list[dict], controller: dict[str, float]) -> float:
    """The controller's CPU per synchronized byte (``host.controller_s_per_sync_byte``), >= 0: what the
    replicated ``runs`` (:func:`measure_sync`) cost it beyond ``controller`` (:func:`fit_controller`'s costs
    per instance and message), over the bytes they synchronized (snapshots in, averages out).

    >>> ctrl = {"controller_s_per_instance": 1e-4, "controller_s_per_message": 1e-6}
    >>> runs = [{"instances": 100, "messages": 2000, "sync_bytes": 1e8, "controller_cpu_s": 0.012 + 0.1}]
    >>> round(fit_sync(runs, ctrl) * 1e9, 6)  # ns per byte
    1.0
    """
    base = sum(controller["controller_s_per_instance"] * r["instances"]
               + controller["controller_s_per_message"] * r["messages"] for r in runs)
    synced = sum(r["sync_bytes"] for r in runs)
    return max(sum(r["controller_cpu_s"] for r in runs) - base, 0.0) / synced if synced else 0.0


def worker_policy() -> dict[str, float]:
    """The multicore workers' own timing rules, as chip fields: how long a busy worker holds outgoing
    messages (``flush_s``), how long an idle one spins before sleeping, how often a busy one reads."""
    from ampsim.executors.multicore.executor import SPIN_S
    from ampsim.executors.multicore.spec import WorkerSpec

    return {"coalesce_window_s": WorkerSpec.flush_s, "spin_s": SPIN_S, "poll_interval_s": WorkerSpec.read_s}


def calibrate_transport(chip, scale: float = 1.0) -> dict:
    """Measure and fit (``chip``: the fitted compute model, for the placements); also returns the raw runs."""
    runs = measure_workloads(chip, scale) + measure_chains(int(3000 * scale))
    out = fit(runs, worker_policy())
    out["controller"] = fit_controller([r[side] for r in runs for side in ("local", "remote")])
    out["sync_runs"] = sync = measure_sync(scale)
    out["controller"]["controller_s_per_sync_byte"] = fit_sync(sync, out["controller"])
    out["runs"] = runs
    return out

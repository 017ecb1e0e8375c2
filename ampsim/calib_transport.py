"""Calibrating the transport: what a message costs when it crosses between two multicore workers.

The simulator models a software transport with five chip fields and the link latency (see
:class:`ampsim.hardware.spec.ChipSpec`): per *frame* (one ``sendmsg``/``recv`` and a wake-up of the peer)
``frame_send_overhead_s`` on the sender and ``frame_receive_overhead_s`` on the receiver, per *message*
``remote_send_overhead_s + remote_send_s_per_byte * bytes`` (packing and unpacking, charged to the
sender), ``coalesce_window_s`` (how long a busy worker holds outgoing messages to batch them: the
executor's ``flush_s``) and ``link.latency_s`` (the time in which neither process is busy).

How they are measured: a chain of trivial nodes alternating between two workers (every message crosses)
runs at mak 1, 4 and 16 (one to about fifteen messages per frame) with tiny and 8 kB payloads. Each worker
times its transport code (:attr:`ampsim.executors.multicore.worker.Worker.sent` / ``received``: seconds,
frames, messages, bytes); least squares over those runs splits the time into per-frame, per-message and
per-byte parts. The rest of the extra busy time over the same chain on ONE worker (waking up after
``poll``, cold caches) is charged per frame received. The latency is the idle gap per frame at mak 1 (one
process busy at a time) beyond the one-worker run's.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

MAKS = (1, 4, 16)
BIG_WIDTH = 2048  # floats: 8 kB payloads


def measure(n_messages: int = 6000) -> list[dict]:
    """One record per (payload width, mak): the two-worker run's wall time, per-worker busy time and
    transport counters, and the one-worker run's wall and busy time, over the same instances."""
    from ampsim.executors.multicore import MulticoreExecutor
    from ampsim.microbench import _chain_model, copy_model

    runs = []
    for width in (1, BIG_WIDTH):
        model, insts, per = _chain_model(n_messages if width == 1 else n_messages // 2, width=width)
        names = list(model.graph.nodes)
        for mak in MAKS:
            rec: dict = {"width": width, "mak": mak, "messages": len(insts) * per}
            for label, workers, mapping in (("local", 1, {n: 0 for n in names}),
                                            ("remote", 2, {n: i % 2 for i, n in enumerate(names)})):
                with MulticoreExecutor(copy_model(model), mapping, workers, mak=mak) as ex:
                    ex.train(insts[:5])  # warm-up
                    s0, t0 = ex.summary(), ex.time_s
                    ex.train(insts)
                    s1 = ex.summary()
                rec[f"{label}_wall_s"] = ex.time_s - t0
                rec[f"{label}_busy_s"] = [b - a for a, b in zip(s0["worker_busy_s"], s1["worker_busy_s"])]
                if label == "remote":
                    for side in ("sent", "received"):
                        k = f"worker_transport_{side}"
                        rec[side] = [[y - x for x, y in zip(a, b)] for a, b in zip(s0[k], s1[k])]
            runs.append(rec)
    return runs


def fit(runs: list[dict], coalesce_window_s: float) -> dict:
    """The chip and link fields from :func:`measure`'s records (see the module docstring); all >= 0."""
    def lstsq(side: str) -> np.ndarray:
        rows = [(r[side][w][1], r[side][w][2], r[side][w][3]) for r in runs for w in (0, 1)]
        y = [r[side][w][0] for r in runs for w in (0, 1)]
        return np.maximum(np.linalg.lstsq(np.array(rows, float), np.array(y, float), rcond=None)[0], 0.0)

    send, recv = lstsq("sent"), lstsq("received")  # (per frame, per message, per byte)
    frames_in = np.array([sum(r["received"][w][1] for w in (0, 1)) for r in runs], float)
    rest = np.array([sum(r["remote_busy_s"]) - sum(r["local_busy_s"]) - sum(r["sent"][w][0] + r["received"][w][0]
                                                                             for w in (0, 1)) for r in runs])
    wake = max(float(frames_in @ rest / (frames_in @ frames_in)), 0.0)
    lone = [r for r in runs if r["mak"] == 1 and r["width"] == 1][0]
    gap = (lone["remote_wall_s"] - sum(lone["remote_busy_s"])) - (lone["local_wall_s"] - sum(lone["local_busy_s"]))
    latency = max(gap / max(sum(lone["sent"][w][1] for w in (0, 1)), 1), 1e-7)
    return {"frame_send_overhead_s": float(send[0]), "frame_receive_overhead_s": float(recv[0]) + wake,
            "remote_send_overhead_s": float(send[1] + recv[1]), "remote_send_s_per_byte": float(send[2] + recv[2]),
            "coalesce_window_s": coalesce_window_s, "latency_s": latency,
            "parts": {"frame_send_s": float(send[0]), "frame_receive_s": float(recv[0]), "wake_s": wake,
                      "message_send_s": float(send[1]), "message_receive_s": float(recv[1]),
                      "byte_send_s": float(send[2]), "byte_receive_s": float(recv[2])}}


def calibrate_transport(n_messages: int = 6000) -> dict:
    """Measure and fit; the result also holds the raw ``runs``."""
    from ampsim.executors.multicore.worker import WorkerSpec

    runs = measure(n_messages)
    out = fit(runs, WorkerSpec.flush_s)
    out["runs"] = runs
    return out

"""Shared helpers of the multicore tests: small models, parameter comparison, leftover-process checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from procs_kit import alive, none_with_env, pids_with_env  # noqa: F401 - the multicore tests take them from here

from ampsim.ir.message import Instance
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec

ROOT = Path(__file__).resolve().parents[2]


def mlp(dtype=np.float64, kind: str = "adam", muf: int = 1):
    model = build_mlp(12, [16, 16, 8], 4, seed=3, dtype=dtype)
    for n in model.graph.param_nodes:
        n.configure(OptimizerSpec(kind=kind, lr=0.01), muf=muf)
    return model


def batches(n: int, seed: int = 0, dtype=np.float64) -> list[Instance]:
    r = np.random.default_rng(seed)
    return [Instance(k, {"x": r.normal(size=(8, 12)).astype(dtype), "y": r.integers(0, 4, 8)})
            for k in range(n)]


def max_param_diff(a, b) -> float:
    """Largest absolute difference between the parameters of two models with the same graph."""
    worst = 0.0
    for na, nb in zip(a.graph.param_nodes, b.graph.param_nodes):
        assert na.name == nb.name
        for key in na.params:
            worst = max(worst, float(np.max(np.abs(na.params[key].astype(np.float64)
                                                   - nb.params[key].astype(np.float64)))))
    return worst


def started_workers(p, n: int = 2, timeout_s: float = 60.0) -> list[int]:
    """The pids of ``n`` worker processes the command ``p`` (a ``subprocess.Popen``) started, once it has (asserted
    within ``timeout_s``; the command's stderr in the message if it ended first)."""
    deadline = time.monotonic() + timeout_s
    workers: list[int] = []
    while len(workers) < n and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        workers = child_pids(p.pid)
    assert len(workers) == n, p.communicate(timeout=10)[1] if p.poll() is not None else "no workers started"
    return workers


def child_pids(pid: int | None = None) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid`` (default: this process), from /proc."""
    pid = os.getpid() if pid is None else pid
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == pid and state != "Z":
            out.append(int(entry))
    return out


def gone(pids, within_s: float) -> bool:
    """Whether every one of ``pids`` has ended (or is a zombie) within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(alive(p) for p in pids)

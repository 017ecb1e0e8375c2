"""The compiled replay loop brought into numba's on-disk cache ahead of the processes that replay.

numba compiles :func:`~ampsim.executors.sim.jitkernel.run` on its first call in a process and files it in its
cache (:mod:`~ampsim.executors.sim.jitcache`); a process that starts while nothing is filed compiles it too.
A sweep's workers start together, so with a cold cache (a fresh checkout, an edit to the kernel) every one
of them compiled it at once: one warning and a minute or more of CPU each (``ampsim sweep`` of four replayed
points on two workers, 2026-12-06: two warnings, 3 min 19 s). :func:`compile_kernel` replays 32 instances
of a two-layer MLP on a four-chip machine (mak 16), on whole-message and on packet-switched links, with
event stores that must grow (the queue too: fewer instances grew only the FIFO). That calls every function
of the kernel a replay calls from Python, with the argument types a replay's calls have (they depend on no
size or setting: arrays of int64, float64 and bool, fixed tuples; an SST replay on a 1,024-chip hypercube
loaded what it filed), so once it returned a process that replays loads them from the cache.
"""

from __future__ import annotations

import os

import numpy as np

from ampsim.executors.sim.executor import SimExecutor
from ampsim.executors.sim.jitreplay import JitReplay, load_kernel
from ampsim.hardware.parse import system_from_dict
from ampsim.ir.message import Instance
from ampsim.models.mlp import build_mlp
from ampsim.optim import OptimizerSpec
from ampsim.placement import place

__all__ = ["compile_kernel"]


def compile_kernel() -> bool:
    """Compile the replay loop into numba's cache (or load it from there): False where a replay would not run
    it (numba is not installed, ``AMPSIM_COMPILED=0``). Run it in a process of its own (a sweep's parent
    forks one): it sets the process's recordings to memory only (``AMPSIM_RECORDINGS=off``: its instances'
    recording is of use to no one) and its replay's first event stores to their smallest."""
    if not (JitReplay.compiled and load_kernel()):
        return False
    os.environ["AMPSIM_RECORDINGS"] = "off"
    # no room to start with: the stores grow (js.grown_stores, _pool_grown), compiled from Python as in a replay
    JitReplay.first_capacity, JitReplay.set_aside_room, JitReplay.first_room = 0, False, 0
    rng = np.random.default_rng(0)
    data = [Instance(k, {"x": rng.random((1, 4), dtype=np.float32), "y": rng.integers(0, 2, 1)}) for k in range(32)]
    for packet_bytes in (0, 64):
        system = system_from_dict({
            "system": {"name": "compile", "description": "the replay loop's compilation", "source": __name__,
                       "switching": "store_and_forward"},
            "chip": {"flops_per_s": 1e9, "mem_bandwidth_bytes_per_s": 1e9, "overhead_s": 0.0, "compute_units": 1,
                     "memory_bytes": 1e9},
            "link": {"latency_s": 1e-6, "bandwidth_bytes_per_s": 1e9, "packet_bytes": packet_bytes},
            "topology": {"kind": "fully_connected", "n": 4}}, __name__)
        model = build_mlp(4, [4], 2, seed=0)
        for node in model.graph.param_nodes:
            node.configure(OptimizerSpec("sgd", lr=0.01), muf=1)
        SimExecutor(model, system, place("round_robin", model, system.chips), mak=16, numerics=False).train(data)
    return True

"""ampsim: asynchronous model-parallel (AMPNet) training on simulated and real multi-chip hardware.

The package is laid out along the data flow: datasets (``data/``) → what experiment files hold
(``schemas/``, ``config``) → the IR (``ir/``) → task builders (``models/``) → hardware models
(``hardware/``) → ``placement`` → executors (``executors/``) → the ``plan`` stage that resolves an
experiment for them → ``training`` (run folders: ``results``) → ``calibration/`` (this machine, simulated
vs measured) → ``sweeps/`` → ``figures/``; ``api``, ``cli``
and ``demo`` sit on top. The public API::

    import ampsim
    run = ampsim.train("experiments/blobs_mlp.toml", overrides={"train.epochs": 2})
    run.metrics, run.summary                      # a pandas DataFrame per epoch, the summary dict
    old = ampsim.read_run("results/mnist_mlp")    # a finished run folder, read back as a Run
    cfg = ampsim.load_experiment("experiments/mnist_mlp.toml", {"executor.kind": "sim",
                                 "executor.hardware": "hardware_models/ring4.toml"})
    p = ampsim.plan(cfg)                          # the task, hardware, placement an executor gets
    table = ampsim.sweep("experiments/sweeps/mak_mnist.toml", quick=True)

BLAS threads: unless the environment already says otherwise, ampsim asks for a single-threaded BLAS
(:mod:`ampsim.blas`), also when numpy was imported first: its matrix products are small and its
parallelism is model-parallel, and a multithreaded float32 GEMM sums in another order, so results would
depend on the thread count. Set ``OPENBLAS_NUM_THREADS`` (etc.) to override. Kernels: ampsim also pins
OpenBLAS's and numpy's SIMD kernels to the AVX2 ones on x86-64 (:func:`ampsim.blas.pin_kernels`), so a
run repeats bit for bit on another machine; import ampsim before numpy for that to take effect.
Memory: ampsim fixes glibc malloc's thresholds (:mod:`ampsim.allocator`), so a node costs the same in a
fresh process as in one that has run for a while (the MLP's 800 KB arrays were 35 % slower in a fresh one).
"""

import os as _os

from ampsim.allocator import steady_allocator as _steady_allocator
from ampsim.blas import BLAS_VARS as _BLAS_VARS
from ampsim.blas import limit_blas_threads as _limit_blas_threads
from ampsim.blas import pin_kernels as _pin_kernels

_pin_kernels()  # before numpy loads: the same kernels, so the same bits, on every x86-64 machine
if not any(_var in _os.environ for _var in _BLAS_VARS):  # the user's setting wins
    _limit_blas_threads()
_steady_allocator()  # arrays from the heap, not fresh pages: a fresh process runs at a warmed one's speed

#: the public API, imported on first use (PEP 562): ``import ampsim`` stays light (no numpy), so the command
#: line's entry point (:mod:`ampsim.__main__`) is running, and turns a Ctrl-C into one line, while the
#: heavy modules load
_PUBLIC = {"train": "ampsim.api", "sweep": "ampsim.api", "load_experiment": "ampsim.api", "plan": "ampsim.api",
           "make_executor": "ampsim.api", "read_run": "ampsim.api", "Run": "ampsim.api", "Plan": "ampsim.planning",
           "Config": "ampsim.config",
           **{name: "ampsim.errors" for name in ("AmpsimError", "ConfigError", "DataError", "Diverged", "GraphError",
                                                 "OutOfMemory", "RunError")}}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ampsim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


__version__ = "0.1.0"

__all__ = ["train", "sweep", "load_experiment", "plan", "make_executor", "read_run", "Run", "Plan", "Config",
           "AmpsimError", "ConfigError", "DataError", "Diverged", "GraphError", "OutOfMemory", "RunError",
           "__version__"]

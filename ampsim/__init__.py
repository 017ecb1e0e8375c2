"""ampsim: asynchronous model-parallel (AMPNet) training on simulated and real multi-chip hardware.

The package is laid out along the data flow: datasets (``data/``) → the IR (``ir/``) → task builders
(``models/``) → hardware models (``hardware/``) → ``placement`` → executors (``executors/``) → the
``plan`` stage that resolves an experiment for them → ``training`` (run folders: ``results``) →
``calibration/`` (this machine, simulated vs measured) → ``sweeps/`` → ``figures/``; ``api``, ``cli``
and ``demo`` sit on top. The public API::

    import ampsim
    run = ampsim.train("experiments/blobs_mlp.toml", overrides={"train.epochs": 2})
    run.metrics, run.summary                      # a pandas DataFrame per epoch, the summary dict
    cfg = ampsim.load_experiment("experiments/mnist_mlp.toml", {"executor.kind": "sim",
                                 "executor.hardware": "hardware_models/ring4.toml"})
    p = ampsim.plan(cfg)                          # the task, hardware, placement an executor gets
    table = ampsim.sweep("experiments/sweeps/mak_mnist.toml", quick=True)

BLAS threads: unless the environment already says otherwise, ampsim asks for a single-threaded BLAS
(``OPENBLAS_NUM_THREADS`` etc. default to 1). Its matrix products are small (one instance's rows) and its
parallelism is model-parallel (executors, worker processes); on a busy machine a multithreaded BLAS
spins threads that turned a [100, 64]ᵀ·[100, 192] product from ~10 µs into 4-60 ms. This only takes
effect when ampsim is imported before numpy; set the variables to override.
"""

import os as _os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

from ampsim.api import Run, load_experiment, sweep, train  # noqa: E402 - after the BLAS settings
from ampsim.config import Config  # noqa: E402
from ampsim.errors import AmpsimError, ConfigError, DataError, GraphError, RunError  # noqa: E402
from ampsim.executors import make_executor  # noqa: E402
from ampsim.planning import Plan, plan  # noqa: E402

__version__ = "0.1.0"

__all__ = ["train", "sweep", "load_experiment", "plan", "make_executor", "Run", "Plan", "Config",
           "AmpsimError", "ConfigError", "DataError", "GraphError", "RunError", "__version__"]

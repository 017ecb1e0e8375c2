"""ampsim: asynchronous model-parallel (AMPNet) training on simulated and real multi-chip hardware.

The package is laid out along the data flow:
dataset (data/) -> IR (ir/, models/) -> placement -> executor (executors/) -> metrics -> results -> plots.

BLAS threads: unless the environment already says otherwise, ampsim asks for a single-threaded BLAS
(``OPENBLAS_NUM_THREADS`` etc. default to 1). Its matrix products are small (one instance's rows) and its
parallelism is model-parallel (executors, worker processes); on a busy machine a multithreaded BLAS
spins threads that turned a [100, 64]ᵀ·[100, 192] product from ~10 µs into 4-60 ms. This only takes
effect when ampsim is imported before numpy (the ``ampsim`` command); set the variables to override.
"""

import os as _os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

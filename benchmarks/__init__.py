"""ampsim's benchmarks: ``python -m benchmarks.run_all`` (``make bench``), or one module at a time.

``ampsim`` is imported here, before any benchmark module imports numpy, because ``ampsim/__init__.py``
only sets its single-threaded BLAS default when it is loaded before numpy: without this, a benchmark that
happens to import numpy first would measure numpy with a multithreaded BLAS and the engine without.
"""

import ampsim  # noqa: F401  (imported for its BLAS-thread default; see above)

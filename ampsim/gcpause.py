"""Pausing Python's cyclic garbage collector around work that builds many short-lived containers and no
cycles worth collecting: a replay's lists and events, a big machine's graph and chips, a run's results.

Why: the collector runs a pass whenever enough new containers have been made, and now and then a full pass
that walks every object of the process (a model, a dataset, numba's compiled code: hundreds of thousands):
such passes doubled a first replay's wall time. Building a 16,384-chip machine made enough of them for such
passes to take 60 % of the time (2026-12-05: ``make_executor`` 420–480 ms with the collector, 150–200
without), and writing its results a third to three quarters (120–350 ms against 80). Paused, the containers
are counted as ever and the next pass after the block looks at them; what the block left unreachable in cycles
is collected then.

    with gc_paused():
        build()
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (nested blocks: the outermost resumes it; one that
    found it off leaves it off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

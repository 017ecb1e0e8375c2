"""The simulated executor: SimPy chips and links (see :mod:`ampsim.executors.sim.executor`)."""

from __future__ import annotations

from ampsim.executors.sim.executor import SimExecutor

__all__ = ["SimExecutor"]

"""The multicore executor: worker processes on this machine's cores (see :mod:`.executor`).

Built from a plan (:func:`ampsim.executors.make_executor`): ``plan.workers`` processes, nodes placed by
the experiment's ``[placement]`` strategy over one pseudo-chip per worker (:mod:`ampsim.planning` says where
the pseudo-chips come from).
"""

from __future__ import annotations

from ampsim.executors.multicore.executor import MulticoreExecutor
from ampsim.hardware.local import default_workers, local_model_path

__all__ = ["MulticoreExecutor", "default_workers", "local_model_path"]

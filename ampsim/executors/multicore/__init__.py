"""The multicore executor: worker processes on this machine's cores (see :mod:`.executor`).

``make_multicore_executor(cfg, task)`` builds it from an experiment: ``executor.workers`` processes
(0 = one per core), nodes placed by the experiment's ``[placement]`` strategy over one pseudo-chip per
worker. The pseudo-chips come from ``executor.hardware`` when it names a model with that many chips,
else from the calibrated model of this machine (``hardware_models/local_cpu.toml``, written by
``ampsim calibrate``) if there is one, else from uniform placeholder rates (only the ratios matter to
the placement strategies).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ampsim.executors.multicore.executor import MulticoreExecutor, default_workers
from ampsim.hardware.spec import ChipSpec

log = logging.getLogger(__name__)

#: where ``ampsim calibrate`` writes by default (relative to the working directory)
LOCAL_MODEL = Path("hardware_models") / "local_cpu.toml"
_PLACEHOLDER = ChipSpec(flops_per_s=1e10, mem_bandwidth_bytes_per_s=1e10, overhead_s=1e-5, compute_units=1,
                        memory_bytes=1 << 32)


def local_model_path() -> Path | None:
    """The calibrated model of this machine: in the working directory, else next to the package."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / LOCAL_MODEL).is_file():
            return base / LOCAL_MODEL
    return None


def worker_chips(cfg, n: int) -> list[ChipSpec]:
    """One chip spec per worker, for the placement strategies (see the module docstring)."""
    if cfg.executor.hardware:
        from ampsim.executors.sim import load_hardware

        system = load_hardware(cfg)
        if system.n_chips == n:
            return list(system.chips)
        log.warning("%s: executor.hardware has %d chips but there are %d workers; using its first chip's "
                    "spec for every worker", cfg.path, system.n_chips, n)
        return [system.chips[0]] * n
    path = local_model_path()
    if path is not None:
        from ampsim.hardware.parse import load_system

        return [load_system(path).chip_default] * n
    return [_PLACEHOLDER] * n


def multicore_placement(cfg, task, n: int, chips: list[ChipSpec] | None = None) -> tuple[dict[str, int], list | None]:
    """The experiment's placement over ``n`` workers, and the estimated load per worker (or None).
    ``chips`` (one spec per worker) defaults to :func:`worker_chips`."""
    from ampsim.placement import estimated_load, place, profile

    chips = chips or worker_chips(cfg, n)
    strategy = cfg.placement.strategy
    prof = None
    if strategy in ("greedy", "min_cut"):
        prof = profile(task.model, list(task.train_instances(1))[:4])
    mapping = place(strategy, task.model, chips, explicit=cfg.placement.map, prof=prof, source=cfg.path,
                    seed=cfg.experiment.seed)
    return mapping, (estimated_load(mapping, chips, prof) if prof is not None else None)


def make_multicore_executor(cfg, task, placement: dict[str, int] | None = None) -> MulticoreExecutor:
    """The multicore executor for experiment ``cfg`` (``placement`` overrides the strategy's choice)."""
    n = cfg.executor.workers or default_workers()
    load = None
    if placement is None:
        placement, load = multicore_placement(cfg, task, n)
    ex = MulticoreExecutor(task.model, placement, n, mak=cfg.train.mak, source=cfg.path)
    if load is not None:
        ex.estimated_load = load
    return ex


__all__ = ["MulticoreExecutor", "make_multicore_executor", "multicore_placement", "worker_chips",
           "default_workers", "local_model_path"]

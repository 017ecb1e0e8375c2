"""Executors decide *when* and *where* each message is processed; the node code is shared.

Every executor offers the same interface:

* ``train(instances, on_done) -> list[Report]`` — train on these instances (admitting at most mak at a
  time where the executor is asynchronous); ``on_done(n)`` is called as instances complete.
* ``evaluate(instances) -> list[Report]`` — forward only, nothing cached, parameters untouched.
* ``time_s`` — the executor's clock: wall seconds, or simulated seconds for the simulator.
* ``summary() -> dict`` — executor-specific results (utilization, staleness, memory, placement).
* ``close()`` — release processes or other resources (idempotent).
"""

from __future__ import annotations

from ampsim.errors import ConfigError


def make_executor(cfg, task):
    kind = cfg.executor.kind
    if kind == "reference":
        from ampsim.executors.reference import ReferenceExecutor

        return ReferenceExecutor(task.model)
    if kind == "sim":
        try:
            from ampsim.executors.sim import make_sim_executor
        except ModuleNotFoundError:
            raise ConfigError(f"{cfg.path}: executor.kind: 'sim' is not available in this build") from None
        return make_sim_executor(cfg, task)
    if kind == "multicore":
        try:
            from ampsim.executors.multicore import make_multicore_executor
        except ModuleNotFoundError:
            raise ConfigError(f"{cfg.path}: executor.kind: 'multicore' is not available in this build") from None
        return make_multicore_executor(cfg, task)
    raise ConfigError(f"{cfg.path}: executor.kind: unknown executor {kind!r}")

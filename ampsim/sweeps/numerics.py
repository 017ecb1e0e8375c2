"""Which points of a sweep replay recordings (``executor.numerics = false``: times only, no loss or metric).

A sweep sets ``executor.numerics`` like any key (``[fixed]``, ``[grid]``, ``[[points]]``), or lets the
sweep choose per point with ``numerics = "auto"`` in ``[sweep]``::

    [sweep]
    experiment = "../sst_treelstm.toml"
    hardware = "../../hardware_models/torus8x8.toml"
    numerics = "auto"

``auto`` replays every point that can be replayed and whose results nobody looks at for a loss, a
metric or the replicas' drift: when no ``[[figure]]`` needs one on an axis, in its ``hue`` or in its
``where`` (:func:`figure_needs`), each point that runs on the simulated
executor (``executor.kind = "sim"``) with a staleness mode a replay reproduces (not ``stash`` or
``predict``, globally or for any node pattern), replicas included, and does not set ``executor.numerics``
itself replays; the others keep the numerics. Without the option nothing changes (a committed sweep keeps
its point ids and results). :func:`check_figures` refuses, at ``sweep --check`` time, a figure that needs
a loss or a metric when any point replays.

A replaying point runs the compiled replay loop, which numba compiles on its first call in a process where its
on-disk cache has none (a minute or more): before workers start that will run it (:func:`runs_compiled_loop`),
:func:`compile_replay_loop` has one process of its own fill the cache, which each worker then loads (with a cold
cache, every worker compiled it at once, each with its warning).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from ampsim.config import Config
from ampsim.errors import ConfigError
from ampsim.hardware.spec import SystemSpec
from ampsim.sweeps.figspec import FigureSpec

__all__ = ["MEASURED_COLUMNS", "numerics_mode", "figure_needs", "replayable", "check_figures", "compile_replay_loop",
           "runs_compiled_loop", "check_recordings_setting"]

log = logging.getLogger(__name__)

#: table columns that only a run with numerics measures (losses, metrics, and how far replica copies drift
#: apart: a replay never trains the copies, so its ``replica_drift`` is null)
MEASURED_COLUMNS = ("final_metric", "best_metric", "time_to_target_s", "epochs_to_target", "metric", "train_loss",
                    "replica_drift")
#: the values of ``[sweep] numerics``
MODES = ("auto",)
#: staleness mitigations that change work and memory: a replay refuses them
_NOT_REPLAYABLE = ("stash", "predict")


def numerics_mode(source: str, head: dict) -> str | None:
    """``[sweep] numerics``: ``"auto"``, or None when the sweep does not set it."""
    value: Any = head.get("numerics")
    if value is None:
        return None
    if value not in MODES:
        raise ConfigError(f'{source}: sweep.numerics: must be "auto" (replay every simulated point whose figures '
                          f"need no loss or metric), got {value!r}")
    return value


def figure_needs(f: FigureSpec) -> str | None:
    """What figure ``f`` needs that only a run with numerics measures (None: times only): its axes, and the
    columns its ``hue`` groups by and its ``where`` selects on, of any kind (a replayed table's null column
    drew one legend entry "n/a", or kept no row and failed at plot time, after the sweep)."""
    if f.kind == "curves":
        return "curves of " + f.y
    axes = (f.x, f.y) if f.kind in ("xy", "bar") else ()
    parts = [(c, "") for c in axes] + [(c, " (its hue)") for c in f.hue or ()] + \
        [(c, " (its where)") for c in f.where]
    return next((c + role for c, role in parts if c in MEASURED_COLUMNS), None)


def replayable(cfg: Config) -> bool:
    """Whether a point with this resolved experiment can replay: the simulated executor and no staleness
    mode that changes work or memory (the plan refuses those with replay, :mod:`ampsim.planning`).
    Replicas replay too (their synchronization's time, bytes and memory are the full run's; their drift
    is not measured)."""
    modes = {cfg.train.staleness, *cfg.train.staleness_nodes.values()}
    return cfg.executor.kind == "sim" and not modes & set(_NOT_REPLAYABLE)


def check_figures(source: str, figures: list[FigureSpec], replayed: list[int], traced: bool = True) -> None:
    """Refuse a figure that needs a loss or a metric when a point replays (``replayed``: their indices), and
    a timeline when no point writes a trace (``traced``): each failed only at plot time, after the sweep."""
    for i, f in enumerate(figures):
        if f.kind == "timeline" and not traced:
            raise ConfigError(f"{source}: figure[{i}] ({f.name}): a timeline draws a run's trace, which no point "
                              "writes (set executor.trace = true in [fixed])")
    if not replayed:
        return
    for i, f in enumerate(figures):
        needs = figure_needs(f)
        if needs:
            raise ConfigError(f"{source}: figure[{i}] ({f.name}): needs {needs}, which point {replayed[0]} "
                              "does not measure (executor.numerics = false replays times only)")


def runs_compiled_loop(cfg: Config, system: SystemSpec | None) -> bool:
    """Whether a point of ``cfg`` on ``system`` replays on the compiled loop: not where its replicas (groups, or
    node copies inside a group) synchronize (the replay's Python loop hosts the collectives,
    :mod:`~ampsim.executors.sim.fastsync`), nor where the replay's own loop does not model the machine or the run
    is traced (the SimPy replay). Compiling the loop ahead for points that never call it kept every one of them
    waiting for it (with the cache cold, a minute or more: every point of ``whatif_sst_collectives``
    synchronizes)."""
    from ampsim.executors.sim.fastloop import supports
    from ampsim.replicas import replica_spec

    if cfg.executor.numerics or system is None or not supports(system, cfg.executor.trace):
        return False
    # copies inside one group synchronize too (a node copied in the only group has a sync set); a pattern
    # naming only nodes without parameters copies nothing to synchronize, and its points would compile the
    # loop in each worker, as they did before this warm-up
    return replica_spec(cfg).trivial or cfg.replicas.sync == "none"


def check_recordings_setting(replays: Sequence[bool]) -> None:
    """Where any point replays, read ``$AMPSIM_RECORDINGS`` and ``$AMPSIM_RECORDINGS_MAX_BYTES`` as its run will
    (:mod:`~ampsim.executors.sim.recording_cache`), so that a bad value is one line before any point runs: each
    point failed with it, and ``sweep --check`` passed. (This process's environment: a Ray cluster's workers
    have their own.)"""
    if not any(replays):
        return
    from ampsim.executors.sim.recording_cache import cache_folder, max_bytes

    if cache_folder() is not None:  # (off: the size is never read)
        max_bytes()


def compile_replay_loop(replays: Sequence[bool], jobs: int) -> None:
    """Before ``jobs`` workers start on points of which ``replays`` says which run the compiled replay loop
    (:func:`runs_compiled_loop`): where two or more workers would run it, one process first compiles it into
    numba's on-disk cache (or finds it there, in about a second), so that they load it rather than each
    compiling it alongside the others. A process of its own (a one-task pool: interrupted as the points are),
    whose replay leaves nothing in this one; should it fail, the points run as they did without it (and fail
    there, if they do, with their own error)."""
    if min(jobs, sum(map(bool, replays))) < 2:  # (one worker compiles it once anyway)
        return
    from ampsim.sweeps.pool import run_pool

    for _, err in run_pool(["compile"], 1, _compile):  # (a task of None tells a pool's worker to exit)
        if err is not None:
            log.info("compiling the replay loop ahead of the workers failed: %s", err)


def _compile(_task: str) -> None:
    """In the pool's process: :func:`~ampsim.executors.sim.jitwarm.compile_kernel`."""
    from ampsim.executors.sim.jitwarm import compile_kernel

    compile_kernel()

"""The plan stage: an experiment resolved once, before anything runs.

``plan(cfg)`` turns a validated experiment (:class:`~ampsim.config.Config`) into a :class:`Plan`: the
task built from its data with every parameterized node configured (optimizer, muf, clipping), the
hardware model loaded once with the experiment's ``[hardware]`` overrides applied, every node placed on a
chip (or worker) and the placement's estimated load. Executors are built from a plan
(:func:`ampsim.executors.make_executor`) and never see the raw config; ``compare``, ``calibrate``,
sweeps, the CLI and the Python API all come through here. The :class:`Plan` itself, and how it pickles, is
:mod:`ampsim.plans`.

    experiment file ──load_config──► Config ──plan──► Plan ──make_executor──► Executor ──run_training──► run folder
                                                 │
                         task + params, hardware (one reader), placement + estimated load

The plan stage sits just above the executors: it checks ``executor.kind`` against their registry, and
executors read a plan through the :class:`~ampsim.executors.base.ExecutorPlan` protocol without
importing this module, so dependencies run one way.

What each executor kind needs from the plan:

* ``reference`` — the task alone. It has no machine: ``[hardware]`` and ``executor.hardware`` are
  ignored, and the plan says so in a warning.
* ``sim`` — the hardware model (``executor.hardware``, relative to the experiment file if not found as
  given, with ``[hardware]`` merged in) and a placement over its chips.
* ``multicore`` — ``executor.workers`` worker processes (0 = one per core) and a placement over one
  pseudo-chip per worker: the chips of ``executor.hardware`` when it has that many, else, for a strategy
  that weighs them (greedy, min_cut, groups), this machine's calibrated model (``ampsim calibrate``'s, in
  the working folder or beside the package: :func:`~ampsim.hardware.local.local_model_path`), else uniform
  placeholder rates (only their ratios matter to the placement strategies).
"""

from __future__ import annotations

import dataclasses
import logging
from types import MappingProxyType
from typing import Mapping, Sequence

from ampsim.blame import blaming, override_of
from ampsim.config import Config
from ampsim.divergence import advise_divergence
from ampsim.errors import ConfigError
from ampsim.executors import check_kind
from ampsim.executors.base import check_placement
from ampsim.executors.multicore.transport import check_open_files
from ampsim.hardware.local import default_workers, local_model_path
from ampsim.hardware.parse import load_system
from ampsim.hardware.source import hardware_path
from ampsim.hardware.spec import ChipSpec, SystemSpec
from ampsim.ir.hostmem import model_build
from ampsim.ir.nodes.losses import configure_losses
from ampsim.ir.param import STALENESS_MODES
from ampsim.models import build_task, check_activations, param_node_names
from ampsim.models.base import Task
from ampsim.muf import check_muf, copies_share, instances_per_epoch
from ampsim.optim import OptimizerSpec
from ampsim.patterns import first_matches
from ampsim.placement import check_estimated, check_names, estimated_load, expand_profile, frozen_load, place, profile
from ampsim.placement.memory import resident_bytes
from ampsim.plans import Plan, recording_context
from ampsim.replicas import Replicated, no_host_cores, node_copies, odd_copies, replica_spec, replicate
from ampsim.unread import warn_unread, warn_unread_host, warn_unread_roofline, warn_unread_switching, warn_unused_sync

log = logging.getLogger(__name__)

__all__ = ["Plan", "plan", "check_executor", "check_numerics", "configure_params", "resolve_system", "place_task",
           "replicate_task"]

#: pseudo-chip for placement over workers when this machine has no calibrated model
PLACEHOLDER_CHIP = ChipSpec(flops_per_s=1e10, mem_bandwidth_bytes_per_s=1e10, overhead_s=1e-5, compute_units=1,
                            memory_bytes=1 << 32)
#: profiled instances behind the greedy and min-cut placements (and their estimated load)
PROFILE_INSTANCES = 4
#: the placement strategies that weigh nodes by the chips' rates (the others place by name)
PROFILED = ("greedy", "min_cut", "groups")


def check_numerics(cfg: Config) -> None:
    """``executor.numerics = false`` (replay) exists only for the simulated executor, and reproduces no ``stash`` or
    ``predict`` (:func:`staleness_modes`, whose ``train.staleness_nodes`` patterns are checked here too, on the
    model built from the config alone: before the data, in a sweep's --check as in a run); staleness-bounded
    admission only in the full simulator (it reads the staleness the numerics measure); predict_delay >= 0 or -1."""
    if not cfg.executor.numerics and cfg.executor.kind != "sim":
        raise ConfigError(f"{cfg.path}: executor.numerics: false replays recordings on the simulated executor "
                          f"only; executor.kind is {cfg.executor.kind!r} (set executor.kind = \"sim\")")
    if cfg.train.max_staleness and cfg.executor.kind != "sim":
        raise ConfigError(f"{cfg.path}: train.max_staleness: staleness-bounded admission runs on the simulated "
                          "executor (executor.kind = \"sim\"; a replay too)")
    for key, what, default in (("admission_start", "the first size of", 1),
                               ("admission_slow_start", "how it grows", True)):
        if getattr(cfg.train, key) != default and not cfg.train.max_staleness:
            raise ConfigError(f"{cfg.path}: train.{key}: sets {what} the staleness-bounded admission window; "
                              "it needs train.max_staleness > 0")
    if cfg.train.staleness_nodes or (not cfg.executor.numerics and cfg.train.staleness in ("stash", "predict")):
        staleness_modes(cfg, param_node_names(cfg))
    if (delay := cfg.train.predict_delay) < 0 and delay != -1:  # (not after the data, as the nodes are configured)
        raise ConfigError(f"{cfg.path}: train.predict_delay: must be >= 0 or -1 (measured), got {delay!r}")


def configure_params(cfg: Config, task: Task) -> None:
    """Give every parameterized node the ``[train]`` optimizer, muf, clipping and staleness mitigation
    (``train.staleness``, per node ``train.staleness_nodes``; ``stash`` and ``predict`` change work and
    memory, so replay refuses them), and every loss node the divergence bound ``train.max_loss`` (every
    executor trains the same way because the nodes carry it)."""
    t = cfg.train
    opt = OptimizerSpec(kind=t.optimizer, lr=t.lr, momentum=t.momentum, beta1=t.beta1, beta2=t.beta2,
                        eps=t.eps, weight_decay=t.weight_decay, count_state=t.count_optimizer_state)
    nodes = task.model.graph.param_nodes
    modes = staleness_modes(cfg, [node.name for node in nodes])
    for node in nodes:
        node.configure(opt, muf=t.muf, clip_norm=t.clip_norm)
        node.configure_staleness(modes[node.name], t.predict_delay)
    configure_losses(task.model.graph.nodes.values(), t.max_loss)


def staleness_modes(cfg: Config, names: Sequence[str]) -> dict[str, str]:
    """Each parameterized node's staleness mitigation (``train.staleness``, or its first matching ``train.staleness_
    nodes`` pattern); refused: a pattern naming none of ``names`` or only nodes an earlier one took, an unknown mode,
    a mode a replay cannot reproduce. ``names``: a sweep --check's from the config alone (models.param_node_names)."""
    t = cfg.train
    matches = first_matches(names, t.staleness_nodes)
    for pattern, mode in t.staleness_nodes.items():
        if mode not in STALENESS_MODES:
            raise ConfigError(f"{cfg.path}: train.staleness_nodes.{pattern}: must be one of "
                              f"{', '.join(STALENESS_MODES)}, got {mode!r}")
        if not matches.named[pattern]:
            raise ConfigError(f"{cfg.path}: train.staleness_nodes.{pattern}: names no parameterized node")
    modes: dict[str, str] = {}
    for name, pattern in matches.winner.items():
        mode = modes[name] = t.staleness if pattern is None else t.staleness_nodes[pattern]
        key = "staleness" if pattern is None else f"staleness_nodes.{pattern}"
        if mode in ("stash", "predict") and not cfg.executor.numerics:  # they change work and memory
            raise ConfigError(f"{cfg.path}: train.{key}: {mode!r} cannot be replayed (executor.numerics = false)")
    matches.refuse_shadowed(f"{cfg.path}: train.staleness_nodes", "sets", "mode")  # (first match wins: it was ignored)
    return modes


def resolve_system(cfg: Config) -> SystemSpec:
    """The experiment's hardware model, with its ``[hardware]`` overrides applied, validated once."""
    return load_system(hardware_path(cfg), cfg.hardware, overridden_by=cfg.hardware_from or cfg.path)


def worker_chips(cfg: Config, n: int) -> tuple[ChipSpec, ...]:
    """One chip spec per multicore worker, for the placement strategies (see the module docstring)."""
    if cfg.executor.hardware:
        system = resolve_system(cfg)
        if system.n_chips == n:
            return tuple(system.chips)
        log.warning("%s: executor.hardware has %d chips but there are %d workers; using its first chip's "
                    "spec for every worker", cfg.path, system.n_chips, n)
        return (system.chips[0],) * n
    # (only a strategy that weighs the rates reads this machine's model: a broken local_cpu.toml in the working
    # folder failed a round-robin run, naming a file it never needed)
    path = local_model_path() if cfg.placement.strategy in PROFILED else None
    if path is not None:
        return (load_system(path).chip_default,) * n
    return (PLACEHOLDER_CHIP,) * n


def replicate_task(cfg: Config, task: Task) -> tuple[Task, Replicated | None]:
    """The task with its model replicated as ``[replicas]`` asks (unchanged, and None, by default). The
    copies are made after :func:`configure_params`, so they carry its settings, and after ``train.muf`` is checked
    against the instances each copy would see (groups and copies beyond the run's instances were made first)."""
    spec = replica_spec(cfg)
    if not spec.trivial and (per_epoch := instances_per_epoch(cfg, task)):
        counts = node_copies(list(task.model.graph.nodes), spec, cfg.path)
        check_muf(cfg, per_epoch, copies_share((counts[n.name] for n in task.model.graph.param_nodes), spec.groups),
                  warn=False)
    rep = replicate(task.model, spec, cfg.path)
    warn_unused_sync(cfg, rep.spec.trivial)
    if rep.spec.trivial:
        return task, None
    if cfg.replicas.overlap and cfg.executor.kind != "sim":
        log.warning("%s: replicas.overlap applies to the simulator only; the %s executor synchronizes without it",
                    cfg.path, cfg.executor.kind)
    if cfg.replicas.collective == "halving_doubling":
        odd = next((s for s in rep.sync_sets if len(s.copies) & (len(s.copies) - 1)), None)
        if odd is not None:
            raise odd_copies(cfg.path, odd.name, len(odd.copies))
        if cfg.executor.kind != "sim":
            log.warning("%s: replicas.collective applies to the simulator only; the %s executor averages the "
                        "copies the same way without simulating links", cfg.path, cfg.executor.kind)
    task = dataclasses.replace(task, model=rep.model)
    return task, rep


def place_task(cfg: Config, task: Task, chips: Sequence[ChipSpec],
               rep: Replicated | None = None) -> tuple[dict[str, int], list[dict] | None]:
    """The ``[placement]`` strategy's node → chip map over ``chips``, and its estimated load per chip
    (None unless the strategy profiles the model: greedy, min_cut, groups). With replicas the model
    profiled is the one before copying, and each copy is given its share of its node's load. On the simulator
    the strategies keep each chip's parameters (and counted optimizer state) within its memory; no memory is
    accounted on the multicore executor's workers (:mod:`ampsim.placement.memory`)."""
    strategy = cfg.placement.strategy
    prof = None
    if strategy in PROFILED:
        logical = rep.logical if rep is not None else task.model
        instances = list(task.train_instances(1))[:PROFILE_INSTANCES]
        if cfg.executor.kind == "sim" and not cfg.executor.numerics:  # a replay: no numpy, the recording's numbers
            from ampsim.executors.sim.profiled import recorded_profile  # the simulator loads only for a replay

            prof = recorded_profile(logical, instances, recording_context(cfg, False))
        else:
            prof = profile(logical, instances)
        if rep is not None:
            prof = expand_profile(prof, rep.copies)
    groups = rep.group_members if rep is not None else None
    unit = "worker" if cfg.executor.kind == "multicore" else "chip"
    resident = resident_bytes(task.model) if cfg.executor.kind == "sim" else None
    mapping = place(strategy, task.model, chips, explicit=cfg.placement.map, prof=prof, source=cfg.path,
                    seed=cfg.experiment.seed, groups=groups, unit=unit, resident=resident,
                    memory_from=override_of(cfg, "hardware.chip.memory_bytes") or "")
    return mapping, (estimated_load(mapping, chips, prof) if prof is not None else None)


#: the shortest ``executor.watchdog_s``: the watchdog tells a computing worker by its CPU time, which Linux
#: counts in 10 ms ticks, so a shorter period saw busy workers make "no progress" (0.001 s stopped healthy runs)
MIN_WATCHDOG_S = 0.1


def check_executor(cfg: Config) -> int:
    """Refuse what :func:`plan` refuses of the executor before any data is read (its kind, ``numerics``, more
    multicore workers than the process can open sockets for, a watchdog too short to tell a busy worker from a
    stuck one; ``sweep --check`` makes the same checks); returns the multicore workers (0: not multicore)."""
    check_kind(cfg.executor.kind, cfg.path)
    check_numerics(cfg)
    workers = (cfg.executor.workers or default_workers()) if cfg.executor.kind == "multicore" else 0
    if workers:
        check_open_files(workers, cfg.path)
        if 0 < cfg.executor.watchdog_s < MIN_WATCHDOG_S:  # (a worker's CPU time, which it reads, counts in ticks)
            raise ConfigError(f"{cfg.path}: executor.watchdog_s: {cfg.executor.watchdog_s:g} s is shorter than the "
                              f"watchdog can tell a busy worker from a stuck one; give at least {MIN_WATCHDOG_S:g} "
                              "s, or 0 (off)")
    return workers


def plan(cfg: Config, *, system: SystemSpec | None = None, placement: Mapping[str, int] | None = None,
         estimated: Sequence[Mapping] | None = None) -> Plan:
    """Resolve ``cfg`` into a :class:`Plan` (builds the task: loads its data, initializes parameters).

    ``system`` replaces the experiment's hardware model and ``placement`` (with its ``estimated`` load)
    the strategy's choice: ``compare`` runs one placement on both the simulator and the workers. An error about
    a value that an override set names the override (``--set replicas.groups: ...``), not the file.
    """
    with blaming(cfg):
        return _plan(cfg, system, placement, estimated)


def _plan(cfg: Config, system: SystemSpec | None, placement: Mapping[str, int] | None,
          estimated: Sequence[Mapping] | None) -> Plan:
    kind, resolved_by_caller = cfg.executor.kind, system is not None or placement is not None
    if estimated is not None and placement is None:  # (it was kept, describing the strategy's own placement)
        raise ConfigError("plan: estimated: the load of a given placement; give the placement too")
    workers = check_executor(cfg)
    if workers and system is not None and system.n_chips != workers:  # (its placement put nodes on workers not there)
        raise ConfigError(f"plan: system: {system.name} has {system.n_chips} chips, but the multicore executor runs "
                          f"{workers} workers (executor.workers): give a machine of one chip per worker")
    if kind == "sim":
        system = system or resolve_system(cfg)
    units = workers or (system.n_chips if kind == "sim" else 0)
    # a typo in a node name, more groups or copies than units: before the copies are made and the data read
    check_names(cfg, units or None, placing=placement is None)
    with model_build():  # its parameters checked together against host memory
        task = build_task(cfg)
    check_activations(cfg, task.model.graph, (task.info.get("train_examples", 0), task.info.get("test_examples", 0)))
    configure_params(cfg, task)
    task, rep = replicate_task(cfg, task)
    warn_unread(cfg, kind, by_kind=not resolved_by_caller,  # (compare keeps its workers' keys on its sim side)
                predicting=any(n.staleness_mode == "predict" for n in task.model.graph.param_nodes))
    advise_divergence(cfg, task.model.graph.nodes.values(), rep.sync_sets if rep is not None else ())
    if kind == "reference":
        return Plan(cfg, task, kind, replicas=rep)
    if kind == "multicore":
        if system is not None:
            chips = tuple(system.chips)
        else:  # the workers' pseudo-chips matter only to a placement strategy
            chips = worker_chips(cfg, workers) if placement is None else ()
        system = None
    else:
        system = system or resolve_system(cfg)
        warn_unread_host(system, cfg.path)
        warn_unread_switching(cfg, system)
        warn_unread_roofline(cfg, system)
        chips = tuple(system.chips)
        if rep is not None and rep.sync_sets and cfg.replicas.collective == "host" and not system.host.shares_cores:
            raise no_host_cores(cfg.path, system)
    n, unit = (workers, "worker") if kind == "multicore" else (len(chips), "chip")  # (copies beyond n: check_names)
    if placement is None:
        placement, estimated = place_task(cfg, task, chips, rep)
    else:  # a caller's (compare's, the API's): checked here, where it is given, not by the executor, which blamed cfg
        check_placement(placement, task.model.graph.nodes, n, "plan", unit=unit)
        if estimated is not None:
            check_estimated(estimated, placement, n, "plan: estimated")
    return Plan(cfg, task, kind, system, chips, MappingProxyType(dict(placement)), frozen_load(estimated), workers, rep)

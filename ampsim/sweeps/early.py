"""The checks ``sweep --check`` makes of every point that its run makes only once its data is read or its model
built: an explicit map's chips against the point's machine, ``train.muf`` against its instances, and its
generated data, parameters, activations (where the task counts its examples without its data) and replica copies
against host memory. Each refuses in one
:class:`~ampsim.errors.ConfigError` line, which the sweep prefixes with the point
(:func:`ampsim.sweeps.spec.load_sweep`)."""

from __future__ import annotations

import dataclasses
import json

from ampsim.config import Config
from ampsim.errors import ConfigError, RunError
from ampsim.hardware.spec import SystemSpec
from ampsim.models import check_activations, check_model_memory, example_counts
from ampsim.placement import check_map
from ampsim.replicas import check_copies_fit, node_copies, replica_spec

__all__ = ["check_memory_early", "check_muf_early", "check_placement_chips"]


def check_memory_early(cfg: Config) -> None:
    """Refuse a point whose generated data, model parameters, activations (where :func:`ampsim.models.example_counts`
    tells its examples) or replica copies the host cannot hold, as its run
    refuses them once its data is read, from its config alone and without making them
    (:func:`ampsim.models.check_model_memory`, :func:`ampsim.replicas.check_copies_fit` on the sized model):
    ``--check`` passed such points, and the sweep ran the points before one and then failed it."""
    try:
        graph = check_model_memory(cfg).graph
    except RunError as e:  # (the parameters' line names a node: the point's experiment is what --check refuses)
        raise ConfigError(f"{cfg.path}: {e}") from None
    if (counts := example_counts(cfg)) is not None:  # (SST's and QM9's are known once read: checked as they run)
        check_activations(cfg, graph, counts)
    spec = replica_spec(cfg)
    if not spec.trivial:
        check_copies_fit(graph, node_copies(list(graph.nodes), spec, cfg.path), spec.groups, cfg.path)


def check_placement_chips(cfg: Config, system: SystemSpec | None) -> None:
    """Refuse an explicit ``placement.map`` naming a chip the point's machine does not have: the hardware
    model's chips (sim), or the workers when ``executor.workers`` gives their number (multicore), so that
    ``sweep --check`` catches it rather than the point when it runs (its node names: :func:`check_names`)."""
    if cfg.placement.strategy != "explicit":
        return
    if system is not None:
        check_map(cfg.placement.map, system.n_chips, cfg.path, f"hardware model {system.name!r}")
    elif cfg.executor.kind == "multicore" and cfg.executor.workers:
        check_map(cfg.placement.map, cfg.executor.workers, cfg.path, f"executor.workers = {cfg.executor.workers}",
                  "worker")


def check_muf_early(cfg: Config, counts: dict) -> None:
    """Refuse a ``train.muf`` above the instances the point's run has (its parameters would never update), as
    its run would, but before any point runs. The count needs the task's data (MNIST, SST, QM9 are read, about a
    second each, then kept for the process), so it is read only for a muf above 1 (every epoch has an
    instance) and once per distinct ``[data]`` and seed in ``counts``; the model is not built. A copy of every
    parameterized node sees 1 in ``replicas.groups`` of them; copies inside a group (``replicas.nodes``, whose
    patterns need the model) only lower that, and are checked when the point runs."""
    if cfg.train.muf <= 1:
        return
    from ampsim.models import epoch_instances
    from ampsim.training import check_muf

    key = (cfg.experiment.task, cfg.experiment.seed, json.dumps(dataclasses.asdict(cfg.data), sort_keys=True,
                                                                default=str))
    if key not in counts:
        counts[key] = epoch_instances(cfg)
    per_epoch = min(counts[key], cfg.train.max_instances or counts[key])
    check_muf(cfg, per_epoch, cfg.replicas.groups, warn=False)

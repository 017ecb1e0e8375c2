"""The checks ``sweep --check`` makes of every point that its run makes only once its data is read or its model
built: an explicit map's chips against the point's machine, ``train.muf`` against its instances, and its
generated data, parameters, activations and replica copies against host memory. Each refuses in one
:class:`~ampsim.errors.ConfigError` line, which the sweep prefixes with the point
(:func:`ampsim.sweeps.spec.load_sweep`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ampsim.config import Config
from ampsim.errors import ConfigError, RunError
from ampsim.hardware.spec import SystemSpec
from ampsim.ir.graph import Graph
from ampsim.models import check_activations, check_model_memory, data_key, data_widths, example_counts
from ampsim.placement import check_map
from ampsim.replicas import check_copies_fit, node_copies, replica_spec

__all__ = ["check_memory_early", "check_muf_early", "check_placement_chips"]


def check_memory_early(cfg: Config, kept: dict | None = None) -> None:
    """Refuse a point whose generated data, model parameters, activations or replica copies the host cannot hold,
    as its run refuses them once its data is read, without making them (:func:`ampsim.models.check_model_memory`,
    :func:`ampsim.models.check_activations`, :func:`ampsim.replicas.check_copies_fit` on the sized model): ``--check``
    passed such points, and the sweep ran the points before one and then failed it.

    What the data decides is read only where it can change the answer, once per task and ``[data]`` in ``kept`` (a
    sweep's, shared by its points; None: not kept), and a refusal is then the run's own line. The model is sized
    with the widths the data decides (:func:`ampsim.models.data_widths`: SST's vocabulary, QM9's atom features) at
    their bounds, which only enlarge its parameters, activations and copies: where they fit so, the run's fit, and
    nothing is read (a usual sweep's points); elsewhere with the run's (SST's vocabulary built as the run builds
    it, about 2 s; QM9's files parsed). The activations are capped at the data's examples. Where the config tells
    them (blobs, MNIST's labels files, generated lists) they are its; SST's trees and QM9's molecules are counted
    from their data where the uncapped activations would not fit."""
    kept = kept if kept is not None else {}
    graph, exact = _sized_graph(cfg, kept)

    def judged(check: Callable[[Graph], None]) -> None:
        """``check`` the model, and where the bounds' model fails it, the run's, which says the run's line."""
        nonlocal graph, exact
        try:
            check(graph)
        except ConfigError:
            if exact:
                raise
            graph, exact = _run_graph(cfg, kept), True
            check(graph)

    if (counts := example_counts(cfg)) is None:
        try:  # uncapped: the examples only lower what it sizes, so where this fits, counting them changes nothing
            check_activations(cfg, graph, (0, 0))
        except ConfigError:  # (None: a task that cannot count them; the run checks)
            counts = _kept(kept, "examples", cfg, lambda: example_counts(cfg, read=True))
    if counts is not None:
        judged(lambda g: check_activations(cfg, g, counts))
    spec = replica_spec(cfg)
    if not spec.trivial:
        copies = node_copies(list(graph.nodes), spec, cfg.path)  # (the names: the same at any widths)
        judged(lambda g: check_copies_fit(g, copies, spec.groups, cfg.path))


def _sized_graph(cfg: Config, kept: dict) -> tuple[Graph, bool]:
    """The point's model sized, its parameters checked as its run checks them, and whether its parameters are the
    run's: sized with the bounds on the widths its data decides where they fit (false), else with the run's."""
    if (bounds := data_widths(cfg)) is not None:
        try:
            return check_model_memory(cfg, bounds).graph, False
        except RunError:  # (the bounds are no run's: the run's widths tell whether, and where, it is refused)
            pass
    return _run_graph(cfg, kept), True


def _run_graph(cfg: Config, kept: dict) -> Graph:
    """The point's model sized with the run's widths (read where its data decides them, kept per task and
    ``[data]``; the skeleton's where it does not), its parameters checked in the run's words."""
    try:
        return check_model_memory(cfg, _kept(kept, "widths", cfg, lambda: data_widths(cfg, read=True))).graph
    except RunError as e:  # (the parameters' line names a node: the point's experiment is what --check refuses)
        raise ConfigError(f"{cfg.path}: {e}") from None


def _kept(kept: dict, what: str, cfg: Config, read: Callable[[], Any]) -> Any:
    """``read()``, or what it gave for the same ``what``, task and ``[data]`` earlier in the sweep."""
    if (key := (what, *data_key(cfg))) not in kept:
        kept[key] = read()
    return kept[key]


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
    second each, then kept for the process), so it is read only for a muf above 1 or replica groups (every epoch
    has an instance, but more groups than the run's instances leave a copy none) and once per distinct ``[data]`` and
    seed in ``counts``; the model is not built. A copy of every parameterized node sees 1 in ``replicas.groups`` of
    them; copies inside a group (``replicas.nodes``, whose patterns need the model) only lower that, and are checked
    when the point runs."""
    if cfg.train.muf <= 1 and cfg.replicas.groups <= 1:
        return
    from ampsim.models import epoch_instances
    from ampsim.muf import check_muf

    key = (*data_key(cfg), cfg.experiment.seed)  # (the seed: the generated lists' batches)
    if key not in counts:
        counts[key] = epoch_instances(cfg)
    per_epoch = min(counts[key], cfg.train.max_instances or counts[key])
    check_muf(cfg, per_epoch, cfg.replicas.groups, warn=False)

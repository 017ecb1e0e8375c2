"""Replicas: copies of the whole model (groups) and of single nodes inside each group.

``[replicas]`` in an experiment file::

    groups = 8                # whole-model copies: data-parallel AMP groups (default 1)
    nodes = { compose = 4 }   # node name or fnmatch pattern (first match wins) -> copies in each group
    sync = "average"          # "average": copies of a parameterized node average their parameters every
                              # sync_every local updates (ampsim/ir/sync.py); "none": never (ablation)
    sync_every = 4            # local updates of each copy between synchronizations (default 1)
    outer_lr = 1.0            # a round's result: anchor + outer_lr * (average - anchor); 1 = the average
    sparse_sync = false       # true: tables updated by rows (embeddings) synchronize the rows copies changed
    overlap = false           # simulator: true lets copies train on while a synchronization runs

:func:`replicate` turns a model into the model the executors run: every copy is a node of its own,
named ``g<group>/<node>`` when there are several groups and ``<node>#<copy>`` for a node's copies inside
a group (``g1/compose#2``), usable in ``placement.map``. Copies start with equal parameters.

Routing (deterministic, by instance key alone, so a backward finds its forward's copy and runs repeat):
instance ``key`` runs in group ``key % groups`` and, inside it, on copy ``(key // groups) % copies`` of
each replicated node. Instances are admitted in key order, so consecutive instances go to different
groups and copies, and each copy sees every ``groups * copies``-th instance.

With the defaults (one group, no node copies) the model is returned unchanged: same objects, same names.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

from ampsim.config import Config
from ampsim.errors import ConfigError, listed
from ampsim.hardware.spec import HostSpec, SystemSpec
from ampsim.ir.graph import Graph
from ampsim.ir.hostmem import check_copies_memory
from ampsim.ir.message import Instance, Message
from ampsim.ir.sync import SYNC_MODES, SyncSet
from ampsim.models import node_names, param_node_names
from ampsim.models.base import Model
from ampsim.patterns import first_matches

__all__ = ["ReplicaSpec", "Replicated", "replicate", "replica_spec", "copy_name", "copy_names", "MAX_COPIES",
           "MAX_CONNECTIONS", "check_collective", "check_copies_fit", "odd_copies", "no_host_cores",
           "node_copies"]

#: more copies of one node (groups x node copies) than this is a typo, not a machine
MAX_COPIES = 1 << 16
#: the most connections a replicated model may have: inside a group, every copy of a node is connected to every copy
#: of the next (any instance's message may go from any copy to any copy), and the model's checks and placement
#: count each; copies of 500 by 500 took 4 s, and 65,536 copies of every node (each within MAX_COPIES) took memory
#: without end before any check refused them (12 GB in a minute)
MAX_CONNECTIONS = 4_000_000


@dataclass(frozen=True)
class ReplicaSpec:
    """What ``[replicas]`` asks for (see the module docstring)."""

    groups: int = 1
    nodes: tuple[tuple[str, int], ...] = ()
    sync: str = "average"
    sync_every: int = 1
    overlap: bool = False
    outer_lr: float = 1.0
    sparse_sync: bool = False

    @property
    def trivial(self) -> bool:
        """True when nothing is copied: the model runs as built."""
        return self.groups == 1 and all(c == 1 for _, c in self.nodes)


def replica_spec(cfg: Config) -> ReplicaSpec:
    """What an experiment's ``[replicas]`` asks for."""
    r = cfg.replicas
    return ReplicaSpec(groups=r.groups, nodes=tuple(r.nodes.items()), sync=r.sync, sync_every=r.sync_every,
                       overlap=r.overlap, outer_lr=r.outer_lr, sparse_sync=r.sparse_sync)


@dataclass
class Replicated:
    """The model the executors run, the sync sets of its copied parameterized nodes, and the copies of
    each model node (``copies[name][group]``: that node's copies in the group, by physical name)."""

    model: Model
    spec: ReplicaSpec
    sync_sets: list[SyncSet]
    copies: dict[str, list[list[str]]]
    #: the model as built, before copying (placement profiles it)
    logical: Model

    @property
    def group_members(self) -> list[list[str]]:
        """The physical node names of each group, group by group (for the ``groups`` placement)."""
        return [[p for per_group in self.copies.values() for p in per_group[g]] for g in range(self.spec.groups)]

    def origin(self, name: str) -> str:
        """The model node a physical node is a copy of."""
        return self.model.graph.nodes[name].origin


def copy_name(name: str, group: int, index: int, groups: int, copies: int) -> str:
    """The physical name of copy ``index`` of node ``name`` in ``group`` (see the module docstring).

    >>> copy_name("compose", 1, 2, groups=4, copies=3), copy_name("cls", 0, 0, groups=1, copies=1)
    ('g1/compose#2', 'cls')
    """
    base = f"{name}#{index}" if copies > 1 else name
    return f"g{group}/{base}" if groups > 1 else base


def node_copies(names: Sequence[str], spec: ReplicaSpec, source: str) -> dict[str, int]:
    """Copies inside each group of every model node, by name (1 unless a ``replicas.nodes`` pattern matches)."""
    matches = first_matches(names, [pattern for pattern, _ in spec.nodes])
    for pattern, n in spec.nodes:
        where = f"{source}: replicas.nodes.{pattern}"
        if not isinstance(n, int) or isinstance(n, bool):
            raise ConfigError(f"{where}: expected a number of copies, got {n!r}")
        if not 1 <= n <= MAX_COPIES:
            raise ConfigError(f"{where}: copies must be 1..{MAX_COPIES}, got {n}")
        if not matches.named[pattern]:
            raise ConfigError(f"{where}: names no node of the model (nodes: {listed(names)})")
    copies, out = dict(reversed(spec.nodes)), {}  # (a pattern given twice: its first entry's, the one that wins)
    for nm, pattern in matches.winner.items():
        out[nm] = 1 if pattern is None else copies[pattern]
        if out[nm] * spec.groups > MAX_COPIES:  # (by the pattern: the line names where it was set)
            where = "replicas.groups" if pattern is None else f"replicas.nodes.{pattern}"
            raise ConfigError(f"{source}: {where}: {spec.groups} groups x {out[nm]} copies of {nm} is more than "
                              f"{MAX_COPIES:,} copies")
    # (first match wins: a pattern whose every node an earlier one took would be taken and ignored, without a word)
    matches.refuse_shadowed(f"{source}: replicas.nodes", "copies", "copies")
    return out


def odd_copies(source: str, name: str, k: int) -> ConfigError:
    """The refusal of ``replicas.collective = "halving_doubling"`` for node ``name``'s ``k`` copies."""
    return ConfigError(f"{source}: replicas.collective: halving_doubling pairs copies by index bits and needs a "
                       f"power-of-two number of copies; node {name} has {k} (use collective = \"ring\")")


def no_host_cores(source: str, system: SystemSpec) -> ConfigError:
    """The refusal of ``replicas.collective = "host"`` on a simulated machine whose ``[host]`` shares no cores."""
    # (a [host] of defaults only is no different from none: the spec cannot tell them apart)
    which = "no [host] table (or cores = 0 in it)" if system.host == HostSpec() else "[host] cores = 0"
    return ConfigError(f"{source}: replicas.collective: \"host\" synchronizes through the controller of a measured "
                       f"machine, which shares [host] cores; the model {system.name} has {which} (set host.cores > 0, "
                       "or use \"ring\")")


def check_collective(cfg: Config, system: SystemSpec | None) -> None:
    """Refuse, from the config alone (no data, no copies: a sweep's --check), the ``replicas.collective`` a run
    refuses once its model is copied: ``halving_doubling`` where a parameterized node's copies (its sync set) are
    not a power of two, ``host`` on a simulated ``system`` whose ``[host]`` shares no cores."""
    collective = cfg.replicas.collective
    if cfg.replicas.sync == "none" or collective == "ring" or (
            collective == "host" and (system is None or system.host.shares_cores)):
        return
    spec = replica_spec(cfg)
    counts = node_copies(node_names(cfg), spec, cfg.path)
    sizes = [(p, spec.groups * counts[p]) for p in param_node_names(cfg) if spec.groups * counts[p] > 1]
    odd = next(((p, k) for p, k in sizes if k & (k - 1)), None)
    if collective == "halving_doubling" and odd is not None:
        raise odd_copies(cfg.path, *odd)
    if collective == "host" and sizes:
        raise no_host_cores(cfg.path, system)


def copy_names(counts: dict[str, int], groups: int) -> dict[tuple[int, str], tuple[str, ...]]:
    """The physical names of the copies of every node of ``counts`` (:func:`node_copies`) in each group,
    ``[(group, node)]``, group by group in ``counts``' order: the replicated graph's order."""
    return {(g, name): tuple(copy_name(name, g, i, groups, c) for i in range(c))
            for g in range(groups) for name, c in counts.items()}


@dataclass(frozen=True)
class ReplicaInject:
    """The replicated model's first messages: the model's, sent to the instance's group and copies
    (picklable, for the multicore workers)."""

    base: object
    groups: int
    names: dict[tuple[int, str], tuple[str, ...]]

    def __call__(self, inst: Instance) -> list[tuple[str, Message]]:
        g, j = inst.key % self.groups, inst.key // self.groups
        out = []
        for name, msg in self.base(inst):
            copies = self.names[(g, name)]
            out.append((copies[j % len(copies)], msg))
        return out


def check_copies_fit(graph: Graph, counts: dict[str, int], groups: int, source: str) -> None:
    """Refuse, before any copy is made, copies of ``graph``'s parameterized nodes (``counts`` of each in every one of
    ``groups``: :func:`node_copies`) this host cannot train (:func:`~ampsim.ir.hostmem.check_copies_memory`), or
    whose connections, copy to copy, are more than :data:`MAX_CONNECTIONS`; a sweep's --check asks it of each point's
    sized model."""
    check_copies_memory(source, sum((groups * counts[n.name] - 1) * n.param_bytes for n in graph.param_nodes),
                        sum(n.param_bytes for n in graph.param_nodes))
    pairs = [(counts[s] * counts[d], s, d) for (s, _), (d, _) in graph.edges.items()]
    if pairs and (connections := groups * sum(n for n, _, _ in pairs)) > MAX_CONNECTIONS:
        _, s, d = max(pairs, key=lambda p: p[0])  # (the first of the largest, in the model's order)
        raise ConfigError(f"{source}: replicas: {connections:,} connections between copies, more than the limit of "
                          f"{MAX_CONNECTIONS:,} (in each of {groups} group(s), every copy of a node is connected to "
                          f"every copy of the next: {counts[s]} of {s} to {counts[d]} of {d} make "
                          f"{counts[s] * counts[d]:,}); give fewer copies")


def replicate(model: Model, spec: ReplicaSpec, source: str = "<config>") -> Replicated:
    """The model with its groups and node copies (unchanged when ``spec`` copies nothing). Copies are deep
    copies of the configured nodes (parameters, optimizer, staleness mode and all), so call this after the
    nodes are configured and before anything trains."""
    if spec.sync not in SYNC_MODES:
        raise ConfigError(f"{source}: replicas.sync: must be one of {', '.join(SYNC_MODES)}, got {spec.sync!r}")
    base = model.graph.validate()
    counts = node_copies(list(base.nodes), spec, source)
    if spec.trivial:
        return Replicated(model, spec, [], {n: [[n]] for n in base.nodes}, model)
    G = spec.groups
    check_copies_fit(base, counts, G, source)
    graph = Graph(base.name)
    names = copy_names(counts, G)
    for (_, name), physical in names.items():
        for phys in physical:
            twin = copy.deepcopy(base.nodes[name])
            twin.name = phys
            graph.add(twin)
    for g in range(G):
        for (s, sp), (d, dp) in base.edges.items():
            graph.connect_copies(list(names[(g, s)]), list(names[(g, d)]), sp, dp, stride=G)
    graph.validate()
    sync_sets = []
    if spec.sync != "none":
        for node in base.param_nodes:
            copies = [graph.nodes[p] for g in range(G) for p in names[(g, node.name)]]
            if len(copies) > 1:
                sync_sets.append(SyncSet(node.name, copies, spec.sync_every, overlap=spec.overlap,
                                             outer_lr=spec.outer_lr, sparse=spec.sparse_sync))
    out = Model(graph, ReplicaInject(model.inject, G, names), model.metric, model.fields, model.data_specs)
    return Replicated(out, spec, sync_sets, {n: [list(names[(g, n)]) for g in range(G)] for n in base.nodes}, model)

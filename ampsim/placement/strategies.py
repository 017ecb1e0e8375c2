"""Placement strategies: which chip (or worker) each IR node lives on.

Strategies (``[placement] strategy``):

* ``explicit`` — ``[placement.map]`` maps node names (or fnmatch patterns, first match wins: one whose every node
  an earlier one took is refused) to chips.
* ``round_robin`` — nodes in graph order, dealt to chips in turn.
* ``greedy`` — longest-processing-time first: nodes sorted by estimated time per epoch, each to the chip
  that would finish it earliest (a chip's speed is taken into account, so stragglers get less).
* ``min_cut`` — recursive Kernighan–Lin bisection of the IR graph with edges weighted by the bytes of
  the messages they carry, so that heavy traffic stays on one chip (networkx).
* ``groups`` — replicas (:mod:`ampsim.replicas`): each group of copies gets its own run of consecutive
  chips (a compact region when chips are numbered along the topology: a sub-cube of a hypercube, rows of
  a torus, an arc of a ring), and its nodes are placed greedily inside it.
* ``single`` — everything on chip 0.

The estimates ``greedy``, ``min_cut`` and ``groups`` weigh come from a load profile
(:mod:`ampsim.placement.load`).

Memory (``resident``, the simulator's runs): ``round_robin``, ``greedy``, ``min_cut`` and ``groups`` keep the
bytes each chip holds from the start (parameters and counted optimizer state,
:func:`~ampsim.placement.memory.resident_bytes`) within its ``memory_bytes``. A node the strategy would put on a
chip without room for it goes elsewhere: ``round_robin`` deals it to the next chip in turn with room,
``greedy`` to the chip with room that would finish it earliest, ``min_cut`` puts a part on the first chip not
yet given one with room for the whole part, else on the first chip with room for it, else its nodes one by one
on the first chip with room for each. Where ``greedy`` (and ``groups`` inside a group) so leaves a node no chip,
the nodes that hold memory are packed first-fit decreasing instead (largest first, each on the first chip with
room), or where that fails too by a search for any packing that fits (:mod:`ampsim.placement.packing`), the
others placed longest first around them; a warning says so. Where everything fits, the placement is the one
made without memory; where a node fits nowhere (for ``greedy``: nor packed), a one-line ConfigError names it
and the chips (:mod:`ampsim.placement.memory`), and says so where the search gave up before it knew. A node
larger than every chip's memory is the one named, before any is placed (a smaller node placed before it could
find the chips filled, and its line ask for more chips, which cannot help).
``explicit`` and ``single`` place as told.
"""

from __future__ import annotations

import collections
import logging
from typing import Sequence

import networkx as nx
import numpy as np

from ampsim.config import Config
from ampsim.errors import ConfigError, NoRoom, listed
from ampsim.hardware.cost import spec_kinds
from ampsim.models import node_names
from ampsim.models.base import Model
from ampsim.patterns import first_matches
from ampsim.placement.load import Profile, node_time_s
from ampsim.placement.memory import Room
from ampsim.placement.packing import first_fit_decreasing, search
from ampsim.replicas import copy_names, node_copies, replica_spec

__all__ = ["check_map", "check_names", "place", "placed_names"]

log = logging.getLogger(__name__)


def place(strategy: str, model: Model, chips: Sequence, *, explicit: dict | None = None,
          prof: Profile | None = None, source: str = "<config>", seed: int = 0,
          groups: list[list[str]] | None = None, unit: str = "chip",
          resident: dict[str, int] | None = None, memory_from: str = "") -> dict[str, int]:
    """Map every node of ``model.graph`` to a chip index (``chips``: the chips' specs). ``groups``: the
    node names of each replica group (``groups`` strategy; default: one group of every node); ``unit``: what
    the chips are, in messages (``"worker"`` for the multicore executor's); ``resident``: the bytes each node
    holds from the start (:func:`~ampsim.placement.memory.resident_bytes`), to keep within the chips' memory
    (None: memory is not looked at, as for the multicore executor's workers, whose memory nothing accounts).

    Parameters
    ----------
    strategy : str
        One of the module docstring's: ``explicit``, ``round_robin``, ``greedy``, ``min_cut``, ``groups``,
        ``single``.
    model : Model
        The model whose graph's nodes are placed.
    chips : sequence of ChipSpec
        The chips, by index (``greedy`` and ``groups`` weigh their speeds).
    explicit : dict, optional
        ``explicit``: node name or fnmatch pattern -> chip index (first match wins).
    prof : Profile, optional
        The estimates ``greedy``, ``min_cut`` and ``groups`` need (:func:`profile`).
    source : str
        The experiment file, for error messages.
    seed : int
        ``min_cut``'s bisection seed.
    resident : dict, optional
        Node name -> bytes it holds from the start; given, every strategy but ``explicit`` and ``single`` keeps
        each chip's sum within its ``memory_bytes`` (see the module docstring).
    memory_from : str
        The override that set the chips' ``memory_bytes``, for a refusal's line ("": the hardware file's).

    Returns
    -------
    dict
        Node name -> chip index, in graph order.

    Raises
    ------
    ConfigError
        An unknown strategy, an explicit map that misses a node, names a chip or node that does not exist or
        has a pattern whose every node an earlier one took, or (``resident``) a node that fits on no chip.
    ValueError
        A strategy that needs estimates, without ``prof``.

    Examples
    --------
    >>> from ampsim.hardware.spec import ChipSpec
    >>> from ampsim.models.mlp import build_mlp
    >>> m = build_mlp(4, [8, 8], 2, seed=0)
    >>> list(m.graph.nodes)
    ['x', 'fc0', 'relu0', 'fc1', 'relu1', 'fc2', 'loss']
    >>> chip = ChipSpec(flops_per_s=1e9, mem_bandwidth_bytes_per_s=1e9, overhead_s=0.0, compute_units=1,
    ...                 memory_bytes=10**9)
    >>> place("round_robin", m, [chip, chip])
    {'x': 0, 'fc0': 1, 'relu0': 0, 'fc1': 1, 'relu1': 0, 'fc2': 1, 'loss': 0}
    >>> place("explicit", m, [chip, chip], explicit={"fc*": 1, "*": 0})
    {'x': 0, 'fc0': 1, 'relu0': 0, 'fc1': 1, 'relu1': 0, 'fc2': 1, 'loss': 0}

    ``greedy`` gives a chip four times as fast most of the (here equal) work:

    >>> fast = ChipSpec(4e9, 4e9, 0.0, 1, 10**9)
    >>> place("greedy", m, [fast, chip], prof=Profile.uniform(m.graph.nodes))
    {'x': 0, 'fc0': 0, 'relu0': 0, 'fc1': 0, 'relu1': 1, 'fc2': 0, 'loss': 0}

    ... unless the fast chip's memory cannot hold the parameters ``resident`` gives:

    >>> small = ChipSpec(4e9, 4e9, 0.0, 1, 500)
    >>> place("greedy", m, [small, chip], prof=Profile.uniform(m.graph.nodes), resident={"fc0": 400, "fc1": 400})
    {'x': 0, 'fc0': 0, 'relu0': 0, 'fc1': 1, 'relu1': 0, 'fc2': 0, 'loss': 0}
    """
    names = list(model.graph.nodes)
    n = len(chips)
    room = Room(chips, resident, source, strategy, memory_from) if resident is not None else None
    if strategy == "single":
        return {name: 0 for name in names}
    if strategy == "round_robin":
        return _round_robin(names, n, room)
    if strategy == "explicit":
        return _explicit(names, explicit or {}, n, source, unit)
    if strategy not in ("greedy", "min_cut", "groups"):  # (before the profile: an unknown name needs none)
        raise ConfigError(f"{source}: placement.strategy: unknown strategy {strategy!r}")
    if prof is None:
        raise ValueError(f"placement {strategy} needs a profile")
    if strategy == "greedy":
        return _greedy(names, chips, prof, room)
    if strategy == "min_cut":
        return _min_cut(model, n, prof, seed, room)
    return _groups(names, groups or [names], chips, prof, room)


def check_map(mapping: dict, n: int | None, source: str, machine: str = "the hardware", unit: str = "chip") -> None:
    """Refuse, in one line, an explicit ``placement.map`` value that is not the index of one of the ``n``
    chips (workers: ``unit``) of ``machine`` (any index when ``n`` is None: not known yet)."""
    for pattern, chip in mapping.items():
        if not isinstance(chip, int) or isinstance(chip, bool):
            raise ConfigError(f"{source}: placement.map.{pattern}: expected a {unit} index, got {chip!r}")
        if n is not None and not 0 <= chip < n:
            raise ConfigError(f"{source}: placement.map.{pattern}: {unit} {chip} does not exist "
                              f"({machine} has {unit}s 0..{n - 1})")


def check_names(cfg: Config, units: int | None = None, *, placing: bool = True) -> None:
    """Refuse, in one line and before any data is read, a ``replicas.nodes`` pattern or an explicit
    ``placement.map`` that names no node, or only nodes an earlier pattern took (first match wins), a map that
    leaves a node without a chip, and (given the ``units`` the run has: chips, or workers) a chip beyond them, and
    more replica groups, or copies of one node, than there are units to hold them. The run's own checks say the
    same, but only once its data is loaded and its model built (a sweep's --check never did): the names here are
    those of the task's model built from the config alone (:func:`ampsim.models.node_names`), copied as
    ``[replicas]`` asks.
    ``placing``: False where a caller's placement replaces the map; the reference executor does not read it."""
    unit = "worker" if cfg.executor.kind == "multicore" else "chip"
    if units and cfg.replicas.groups > units:  # before the copies are made (a group holds one of every node)
        raise ConfigError(f"{cfg.path}: replicas.groups: {cfg.replicas.groups} groups but only {units} {unit}(s) to "
                          "hold them")
    explicit = placing and cfg.placement.strategy == "explicit" and cfg.executor.kind != "reference"
    if not explicit and not cfg.replicas.nodes:
        return  # (no name to check: no model built)
    spec = replica_spec(cfg)
    counts = node_copies(node_names(cfg), spec, cfg.path)
    most = max(counts, key=counts.__getitem__)  # (the first of the most copied, in the model's order, as the run)
    if units and counts[most] * spec.groups > units:
        # (named by the pattern that copies it: the line names where that was set, an override or the file)
        pattern = first_matches([most], [p for p, _ in spec.nodes]).winner[most]
        raise ConfigError(f"{cfg.path}: replicas.nodes.{pattern}: {counts[most] * spec.groups} copies of node {most} "
                          f"({spec.groups} group(s)) but only {units} {unit}(s) to hold them")
    if explicit:
        _explicit(_copied(counts, spec.groups), cfg.placement.map, units, cfg.path, unit)


def placed_names(cfg: Config) -> list[str]:
    """The names of the nodes a placement of ``cfg``'s model places, in the model's order: its nodes, copied as
    ``[replicas]`` asks (those of the model built from the config alone, as :func:`check_names` checks a map's)."""
    spec = replica_spec(cfg)
    return _copied(node_copies(node_names(cfg), spec, cfg.path), spec.groups)


def _copied(counts: dict[str, int], groups: int) -> list[str]:
    return [name for copies in copy_names(counts, groups).values() for name in copies]


def _explicit(names: list[str], mapping: dict, n: int | None, source: str, unit: str) -> dict[str, int]:
    check_map(mapping, n, source, "the hardware" if unit == "chip" else "the run", unit)
    matches = first_matches(names, mapping)
    for pattern in matches.unmatched:
        raise ConfigError(f"{source}: placement.map.{pattern}: names no node of the model (nodes: {listed(names)})")
    # (first match wins: a pattern whose every node an earlier one took would be ignored without a word; refused as
    # replicas.nodes' and train.staleness_nodes' are, and before the nodes left without a chip: {"fc*" = 0,
    # "fc0" = 1} lacks the rest too, but its fc0 entry is the mistake)
    matches.refuse_shadowed(f"{source}: placement.map", "places", unit)
    missing = [name for name, pattern in matches.winner.items() if pattern is None]
    if missing:
        raise ConfigError(f"{source}: placement.map: no {unit} for node(s) {listed(missing)} "
                          "(add them or a pattern such as \"*\" = 0)")
    return {name: mapping[pattern] for name, pattern in matches.winner.items()}


def _round_robin(names: list[str], n: int, room: Room | None) -> dict[str, int]:
    """Node i on chip i mod n; with ``room``, on the first chip from there on (cyclically) with room for it,
    the next node's turn starting after it."""
    if room is None:
        return {name: i % n for i, name in enumerate(names)}
    room.refuse_oversized(names, range(n))
    out, turn = {}, 0
    for name in names:
        chip = next((c % n for c in range(turn, turn + n) if room.fits(name, c % n)), None)
        if chip is None:
            raise room.full(name, range(n))
        room.take(name, chip)
        out[name], turn = chip, chip + 1
    return out


def _greedy(names: list[str], chips: Sequence, prof: Profile, room: Room | None = None,
            first: int = 0) -> dict[str, int]:
    """Longest first, each node to the chip that would finish it earliest (with ``room``: of those with room
    for it; ``chips`` are the room's chips ``first``, ``first + 1``, ...). Where that leaves a node no chip
    with room, the nodes that hold memory are packed and the rest placed around them (:func:`_packed`);
    where no packing is found either, the first refusal stands (saying so where the search gave up)."""
    kind_of, specs = spec_kinds(chips)  # chips that share a spec object share its estimates
    pos = {nm: i for i, nm in enumerate(names)}
    # a chip of k units runs k messages at once, each unit at 1/k of its rate: its work is done in 1/k of the time
    # one unit takes (the profile's many messages; a chip of 4 units was loaded as one of a quarter the speed)
    times = {nm: np.array([node_time_s(prof, nm, c) / c.compute_units for c in specs])[kind_of] for nm in names}
    order = sorted(names, key=lambda nm: (-times[nm][0], pos[nm]))
    if room is None:
        return _fastest(order, names, times, len(chips))
    room.refuse_oversized(order, range(first, first + len(chips)))
    before = list(room.free)  # (a group's chips may hold an earlier group's nodes: they stay)
    try:
        return _fastest(order, names, times, len(chips), room, first)
    except NoRoom as refused:
        room.free[:] = before
        packed, how = _packed(order, len(chips), room, first)
        if packed is None:  # (the room as it was: a failed packing takes none of it)
            if how:  # (its line, with the search's word: a packing may exist)
                raise NoRoom(f"{refused}; {how}", refused.where) from None
            raise refused from None  # (its line: the node longest first found no room for)
        log.warning("%s: placement.strategy: %s, longest first, leaves node %s no room on chips %d..%d; their "
                    "parameters are packed %s instead, the other nodes placed around them",
                    room.source, room.strategy, refused.where["node"], first, first + len(chips) - 1, how)
        return _fastest(order, names, times, len(chips), room, first, packed)


def _fastest(order: list[str], names: list[str], times: dict[str, np.ndarray], n: int, room: Room | None = None,
             first: int = 0, fixed: dict[str, int] | None = None) -> dict[str, int]:
    """Nodes in ``order``, each to the chip of the ``n`` that would finish it earliest (with ``room``: of those
    with room for it), or to its chip in ``fixed``; in ``names``' order."""
    load = np.zeros(n)
    out: dict[str, int] = {}
    for name in order:
        finish = load + times[name]
        if fixed is not None and name in fixed:
            finish = np.where(np.arange(n) == fixed[name], finish, np.inf)
        elif room is not None and room.need(name):  # (a node without parameters fits anywhere)
            fits = np.array(room.free[first:first + n]) >= room.need(name)
            if not fits.any():
                raise room.full(name, range(first, first + n))
            finish = np.where(fits, finish, np.inf)  # (finite where it fits: a chip without room never wins)
        best = int(np.argmin(finish))  # the first of equals: the lowest chip index
        out[name] = best
        load[best] += times[name][best]
        if room is not None and (fixed is None or name not in fixed):
            room.take(name, first + best)
    return {name: out[name] for name in names}


def _packed(order: list[str], n: int, room: Room, first: int) -> tuple[dict[str, int] | None, str]:
    """The nodes of ``order`` that hold memory packed on the ``n`` chips from ``first`` (taken from ``room``),
    and how: first-fit decreasing (largest first, equals in ``order``, each on the first chip with room left),
    else the first packing :func:`~ampsim.placement.packing.search` finds. None where there is none (how: "")
    or where the search gave up (how: what it tried). Spreading the longest first evens the chips' work but can
    leave every chip's room too small for a node that a tighter packing fits (two chips of 100 bytes, nodes of
    60, 40, 40, 30, 30 longest first); first-fit decreasing, quick, can too (of 10 bytes, nodes of 5, 4, 4, 3,
    2, 2)."""
    held = [nm for nm in order if room.need(nm)]
    needs, free = [room.need(nm) for nm in held], room.free[first:first + n]
    chips, how = first_fit_decreasing(needs, free), "largest first"
    if chips is None:
        found = search(needs, free)
        if found.chips is None:
            return None, (f"a search for a packing that fits gave up after {found.steps:,} steps, before it "
                          "found one or proved there is none" if found.cut else "")
        chips, how = list(found.chips), f"as a search found ({found.steps:,} steps; largest first fails too)"
    for name, chip in zip(held, chips):
        room.take(name, first + chip)
    return dict(zip(held, chips)), how


def _groups(names: list[str], groups: list[list[str]], chips: Sequence, prof: Profile,
            room: Room | None = None) -> dict[str, int]:
    """Group g on chips ``[floor(g n / G), floor((g + 1) n / G))`` (or on chip ``floor(g n / G)`` when
    there are fewer chips than groups), greedy inside."""
    n, G, out = len(chips), len(groups), {}
    counted = collections.Counter(name for members in groups for name in members)
    if set(counted) != set(names) or any(k > 1 for k in counted.values()):  # (a caller's: the plan's cover the model)
        raise ValueError(f"placement groups: each of the model's {len(names)} nodes in exactly one group, got "
                         f"{sum(counted.values())} names, {len(counted.keys() & set(names))} of them the model's")
    for g, members in enumerate(groups):
        lo = g * n // G
        hi = max((g + 1) * n // G, lo + 1)
        for name, c in _greedy(members, chips[lo:hi], prof, room, lo).items():
            out[name] = lo + c
    return {name: out[name] for name in names}


def _min_cut(model: Model, n: int, prof: Profile, seed: int, room: Room | None = None) -> dict[str, int]:
    g = nx.Graph()
    g.add_nodes_from(model.graph.nodes)
    for (a, b), w in prof.edge_bytes.items():
        if a != b:
            g.add_edge(a, b, weight=w + (g.edges[a, b]["weight"] if g.has_edge(a, b) else 0.0))
    parts: list[set[str]] = [set(g.nodes)]
    while len(parts) < n:
        parts.sort(key=lambda p: (-len(p), min(p)))
        big = parts.pop(0)
        if len(big) < 2:
            parts.append(big)
            break
        a, b = nx.algorithms.community.kernighan_lin_bisection(_induced(g, big), weight="weight", seed=seed)
        parts += [set(a), set(b)]
    order = list(model.graph.nodes)
    parts.sort(key=lambda p: min(order.index(x) for x in p))  # parts in graph order → chips in order
    if room is None:
        chip = {name: i for i, p in enumerate(parts) for name in p}
    else:
        part_of = {name: i for i, p in enumerate(parts) for name in p}
        ordered: list[list[str]] = [[] for _ in parts]
        for name in order:
            ordered[part_of[name]].append(name)
        chip = _parts_in_room(ordered, n, room)
    # in graph order, as every strategy returns it: a set's order follows the string hash, which changes
    # from one process to the next, and placement.json lists each chip's nodes in the mapping's order
    return {name: chip[name] for name in order}


def _parts_in_room(parts: list[list[str]], n: int, room: Room) -> dict[str, int]:
    """Part i on the first chip not yet given a part with room for all of it (chip i where everything fits),
    else on the first chip with room for it, else its nodes each on the first chip with room for it."""
    room.refuse_oversized((x for part in parts for x in part), range(n))
    chip: dict[str, int] = {}
    taken = [False] * n
    lowest = 0  # every chip below it is taken
    for part in parts:
        need = sum(room.need(x) for x in part)
        while lowest < n and taken[lowest]:
            lowest += 1
        where = next((c for c in range(lowest, n) if not taken[c] and room.free[c] >= need), None)
        if where is None:
            where = next((c for c in range(n) if room.free[c] >= need), None)
        for x in part:
            c = where if where is not None else next((c for c in range(n) if room.fits(x, c)), None)
            if c is None:
                raise room.full(x, range(n))
            chip[x] = c
            room.take(x, c)
            taken[c] = True
    return chip


def _induced(g: nx.Graph, nodes: set[str]) -> nx.Graph:
    """The subgraph of ``g`` on ``nodes``, its nodes and edges in ``g``'s order. (``g.subgraph`` iterates a
    small node set in the set's order, which follows the string hash and so changes from one process to the
    next; Kernighan–Lin's seeded shuffle of that order would then cut differently in every process.)"""
    h = nx.Graph()
    h.add_nodes_from(n for n in g if n in nodes)
    h.add_edges_from((a, b, w) for a in h for b, w in g.adj[a].items() if b in nodes)
    return h

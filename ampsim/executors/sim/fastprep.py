"""What the replay's own loops look up per message, built once per recording and placement with numpy, so
a loop indexes flat arrays and does no cost arithmetic.

Two layers, indexed by message ``m``:

* per recording (:func:`recording_arrays`, cached on the recording's replay view and shared by every
  executor replaying it): ``join[m]`` (the group of a join's input; for a group of one message, which
  always runs its step, -2 if it saves or pops a parameter version, else -1; then -3 for each stash's
  update job), ``stale[m]`` (the group saves or pops one), ``kid[m]`` (the one child of ``m``'s group, or
  -1 if it has none or several: then ``kids[m]`` lists them) and ``dh0[m]``, ``dh1[m]`` (the change in its
  chip's memory in use when it is taken off the queue and buffered or run: held bytes less its payload);
  ``ukind[j]`` (stash ``j``'s update: equal ids, equal node and profile, so equal cost on one placement);
  and the distinct (sender node, receiver node) pairs of the children, so a placement routes each pair
  once instead of sorting every message's chips;
* per placement and machine (:func:`placement_arrays`, a :class:`Placed` of numpy arrays): the step
  durations in seconds on the chip of ``m`` (``buffered_s`` buffered by a join, ``run_s`` running the step,
  ``run_send_s`` = ``run_s`` plus the remote-send cost of the group's sends, ``send_s`` that cost alone),
  ``route_id[m]`` (its route among the placement's distinct chip-to-chip routes, -1 for a message that
  stays on its chip or is a root), the routes' hops flat (:class:`Hops`: per hop its link id, latency,
  bandwidth, whether the link's occupancy delays what comes next, what comes next (HOP or ARRIVE), the
  next hop's index or the destination chip) and ``occupancy_s[m]`` (how long it occupies each link:
  ``wire / min bandwidth`` for cut-through, ``wire / bandwidth`` where every link has the same); per
  stash the chip of its update job;
  the hops of all messages together. The compiled loop (:mod:`~ampsim.executors.sim.jitkernel`) reads
  the arrays; :meth:`Placed.lists` turns them into the Python loop's lists (a route as a tuple of hop
  tuples, shared by its messages) on first use.

Link ids are dense over the machine's directed links (:class:`~ampsim.executors.sim.linktable.LinkTable`).

Every float is computed with the IEEE operations the SimPy path uses, in the same order (numpy's
element-wise ``+ * /`` are those of Python floats; a sum over several sends is accumulated in Python), so
the replay stays bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from ampsim.executors.sim.recording import Recording
from ampsim.hardware.cost import duration_key, spec_kinds

__all__ = ["ARRIVE", "HOP", "Hops", "JOIN_UPDATE_JOB", "Placed", "placement_arrays", "recording_arrays"]

#: the event codes a route's hops schedule (:mod:`ampsim.executors.sim.fastloop`): the next hop, the arrival
HOP, ARRIVE = 6, 7
#: ``join`` of an update job (after the messages' groups, -2 and -1), read by both replay loops; the compiled
#: kernel's copy is jitstate's (its on-disk cache is stamped by the ``jit*.py`` files; a test keeps them equal)
JOIN_UPDATE_JOB = -3


def recording_arrays(rec: Recording, view: dict) -> dict:
    """The placement-independent per-message lists (cached in ``view``, the recording's replay view)."""
    got = view.get("fast")
    if got is not None:
        return got
    size, group = rec.size.astype(np.int64), rec.group.astype(np.int64)
    stale = (rec.saves | (rec.pop_ref >= 0))[group]
    join = np.where(size[group] > 1, group, np.where(stale, -2, -1))
    # children: the one child of a group that has one; a list for the others (none, or several)
    n_kids = np.diff(rec.child_ptr)
    one = n_kids == 1
    kid = np.full(len(size), -1, dtype=np.int64)
    kid[one] = rec.children[rec.child_ptr[:-1][one]]
    kids = np.full(len(size), None, dtype=object)
    ch, cp = rec.children.tolist(), rec.child_ptr.tolist()
    for g in np.flatnonzero(~one).tolist():
        kids[g] = ch[cp[g]:cp[g + 1]]
    # the (sender node, receiver node) pair of every child, deduplicated: sorting the messages' pairs is
    # the costly part, and it does not depend on the placement
    n_nodes, n_groups = len(rec.names), len(size)
    group_node = np.zeros(n_groups, dtype=np.int64)
    group_node[group] = rec.node
    kid_group = np.repeat(np.arange(n_groups), n_kids)
    pairs, pair_of_kid = np.unique(group_node[kid_group] * n_nodes + rec.node[rec.children].astype(np.int64),
                                   return_inverse=True)
    kinds: dict[tuple, int] = {}
    got = view["fast"] = {
        "join": join.tolist() + [JOIN_UPDATE_JOB] * len(rec.stash_node), "stale": stale.tolist(),
        "kid": kid[group].tolist(), "kids": kids[group].tolist(),
        "dh0": (rec.h0 - rec.nbytes).tolist(), "dh1": (rec.h1 - rec.nbytes).tolist(),
        "ukind": [kinds.setdefault(k, len(kinds)) for k in zip(view["stash_node"], view["prof_key"])],
        "kid_group": kid_group, "pair_of_kid": pair_of_kid.reshape(-1),
        "pair_src": pairs // n_nodes, "pair_dst": pairs % n_nodes,
    }
    # each update kind's first stash (kinds are numbered as first seen): where a call costs each kind
    got["ukind_first"] = np.unique(np.asarray(got["ukind"], dtype=np.int64), return_index=True)[1].tolist()
    return got


class Hops(NamedTuple):
    """The hops of distinct routes, flat: route ``r``'s are ``ptr[r]:ptr[r + 1]``, each a link id, its
    latency and bandwidth, whether the link's occupancy delays what comes next (``add``), what comes next
    (``then``: HOP or ARRIVE) and the next hop's index in its route or the destination chip (``x``)."""

    ptr: np.ndarray
    lid: np.ndarray
    latency_s: np.ndarray
    bandwidth_bytes_per_s: np.ndarray
    add: np.ndarray
    then: np.ndarray
    x: np.ndarray

    @classmethod
    def of(cls, pairs: np.ndarray, paths: tuple[np.ndarray, ...], cut_through: bool) -> Hops:
        """The routes of chip ``pairs`` (a row each: source, destination) from their ``paths``
        (:meth:`LinkTable.hops`: hops per route, and per hop its link's id, latency and bandwidth)."""
        lengths, lid, lat, bw = paths
        ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        pos = np.arange(len(lid)) - np.repeat(ptr[:-1], lengths)
        last = pos == np.repeat(lengths - 1, lengths)  # the last hop's link leads to the destination
        dst = np.repeat(pairs[:, 1], lengths)
        return cls(ptr, lid, lat, bw, last | (not cut_through), np.where(last, ARRIVE, HOP).astype(np.int64),
                   np.where(last, dst, pos + 1))

    def tuples(self) -> list[tuple]:
        """The routes as tuples of hop tuples ``(lid, latency, bandwidth, add, then, x)`` (the Python loop's).
        A hop's tuple depends only on its link and place: routes share them, so a big machine's replay
        reads a few thousand small objects per message stream instead of one set per chip pair."""
        shared: dict[tuple, tuple] = {}
        hops = [shared.setdefault(h, h) for h in zip(self.lid.tolist(), self.latency_s.tolist(),
                                                      self.bandwidth_bytes_per_s.tolist(), self.add.tolist(),
                                                      self.then.tolist(), self.x.tolist())]
        ptr = self.ptr.tolist()
        return [tuple(hops[a:b]) for a, b in zip(ptr, ptr[1:])]


class Lists(NamedTuple):
    """A placement's per-message values as the Python loop indexes them (lists; :class:`Placed`'s fields)."""

    buffered_s: list[float]
    run_s: list[float]
    run_send_s: list[float]
    send_s: list[float]
    route: list  # per message, its route (a tuple of hops) or None
    occupancy_s: list[float] | None
    stash_chip: list[int]  # per stash, the chip of its update job


@dataclass
class Placed:
    """The per-placement arrays (see the module docstring) and the links they use; the compiled loop reads
    the arrays, the Python loop the lists :meth:`lists` builds on first use."""

    buffered_s: np.ndarray  # per message, its step's duration on its chip when a join buffers it
    run_s: np.ndarray  # ... when it runs the step
    run_send_s: np.ndarray  # ``run_s`` plus ``send_s`` (the same array where no send costs)
    send_s: np.ndarray  # the remote-send cost of the message's group's sends
    #: per message, how long it occupies each link it crosses; None: store-and-forward over links of
    #: different bandwidths (divide per hop)
    occupancy_s: np.ndarray | None
    route_id: np.ndarray  # per message, its route's index in ``hops_of`` (-1: none)
    hops_of: Hops  # the distinct routes' hops
    per_chip: list[int]  # messages per chip
    stash_chip: np.ndarray  # the chip of each stash's update job (as a list in :meth:`lists`)
    hops: int  # links crossed by all the messages together (each hop is one link reservation)
    #: ``buffered_s``, ``run_s`` as the recording's cached lists, where every message's chip has the same spec
    d_lists: tuple[list[float], list[float]] | None = None
    _lists: Lists | None = field(default=None, repr=False)

    def lists(self) -> Lists:
        if self._lists is None:
            d0, d1 = self.d_lists or (self.buffered_s.tolist(), self.run_s.tolist())
            routes = self.hops_of.tuples()
            by_id = np.empty(len(routes) + 1, dtype=object)  # route id -1 (none) is the last: None
            for i, route in enumerate(routes):  # (one by one: numpy would unpack equal-length tuples)
                by_id[i] = route
            self._lists = Lists(d0, d1, d1 if self.run_send_s is self.run_s else self.run_send_s.tolist(),
                                self.send_s.tolist(), by_id[self.route_id].tolist(),
                                None if self.occupancy_s is None else self.occupancy_s.tolist(),
                                self.stash_chip.tolist())
        return self._lists


def placement_arrays(rec: Recording, fast: dict, chip_of_node: list[int], specs: Sequence, durations, duration_arrays,
                     paths: Callable[[np.ndarray], tuple[np.ndarray, ...]],
                     cut_through: bool) -> Placed:
    """The per-message lists for one placement (``chip_of_node``: node index → chip index), on chips of
    ``specs``; ``fast``: the recording's :func:`recording_arrays`. ``durations(spec)`` and
    ``duration_arrays(spec)`` give the (buffered, running) step durations of every message on a chip of
    ``spec`` (lists, arrays: cached per recording); ``paths(pairs)`` the hops from chip ``src`` to chip
    ``dst`` of each pair (a row ``src, dst`` each) (:meth:`~ampsim.executors.sim.linktable.LinkTable.hops`)."""
    n = rec.n_messages
    n_chips = len(specs)
    chip_node = np.asarray(chip_of_node, dtype=np.int64)
    chip = chip_node[rec.node] if n else np.zeros(0, np.int64)

    # a machine's chips mostly share a few spec objects: each distinct one is read once (``spec_of``: a
    # chip's among them, numbered as first seen)
    spec_of, distinct = spec_kinds(specs)

    # step durations on each message's own chip (one numpy pass per distinct chip spec, cached)
    kinds: dict[tuple, int] = {}
    kind_of = [kinds.setdefault(duration_key(s), len(kinds)) for s in distinct]
    spec_kind = np.asarray(kind_of, dtype=np.int64)[spec_of]
    first_of_kind: dict[int, Any] = {}  # each kind's first chip's spec
    for k, s in zip(kind_of, distinct):
        first_of_kind.setdefault(k, s)
    used_kinds = np.unique(spec_kind[chip_node]).tolist() if n else [0]
    d_lists = None
    if len(used_kinds) == 1:
        d0, d1 = duration_arrays(first_of_kind[used_kinds[0]])
        d_lists = durations(first_of_kind[used_kinds[0]])
    else:
        per_kind = [duration_arrays(first_of_kind[k]) for k in range(len(kinds))]
        sel, rows = spec_kind[chip], np.arange(n)
        d0 = np.stack([p[0] for p in per_kind])[sel, rows]
        d1 = np.stack([p[1] for p in per_kind])[sel, rows]

    # the sender's chip of every child (its group's chip) and its own, from the distinct node pairs
    n_groups = len(rec.size)
    kids, kid_group, pair_of_kid = rec.children, fast["kid_group"], fast["pair_of_kid"]
    pair_src, pair_dst = chip_node[fast["pair_src"]], chip_node[fast["pair_dst"]]
    pair_remote = pair_src != pair_dst
    src = pair_src[pair_of_kid]
    remote = pair_remote[pair_of_kid]

    # remote-send cost per group: sum over its sends to other chips of overhead + s_per_byte * wire
    o = np.array([s.remote_send_overhead_s for s in distinct], dtype=np.float64)[spec_of]
    spb = np.array([s.remote_send_s_per_byte for s in distinct], dtype=np.float64)[spec_of]
    pay = remote & ((o != 0) | (spb != 0))[src]
    if pay.any():
        t_group = np.zeros(n_groups)
        g, s = kid_group[pay], src[pay]
        terms = o[s] + spb[s] * rec.wire[kids[pay]]
        counts = np.bincount(g, minlength=n_groups)
        single = counts[g] == 1
        t_group[g[single]] = terms[single]  # 0.0 + term
        acc: dict[int, float] = {}
        for gg, term in zip(g[~single].tolist(), terms[~single].tolist()):  # in send order, as the loop adds
            acc[gg] = acc.get(gg, 0.0) + term
        for gg, v in acc.items():
            t_group[gg] = v
        t = t_group[rec.group]
        d1t = d1 + t  # d + 0.0 == d where there is nothing to pay
    else:
        t, d1t = np.zeros(n), d1

    # routes of the node pairs that cross chips, one per (sender chip, chip) pair
    route_id = np.full(n, -1, dtype=np.int64)
    min_bw = np.ones(n)
    pair_min, pair_hops = np.ones(len(pair_src)), np.zeros(len(pair_src), dtype=np.int64)
    chip_pairs, inverse = np.unique(pair_src[pair_remote] * n_chips + pair_dst[pair_remote], return_inverse=True)
    pairs = np.stack(np.divmod(chip_pairs, n_chips), axis=1)
    hops = Hops.of(pairs, paths(pairs), cut_through)
    if len(pairs):
        inverse = inverse.reshape(-1)
        pair_min[pair_remote] = np.minimum.reduceat(hops.bandwidth_bytes_per_s, hops.ptr[:-1])[inverse]
        pair_hops[pair_remote] = np.diff(hops.ptr)[inverse]
        min_bw[kids] = pair_min[pair_of_kid]
        pair_id = np.full(len(pair_src), -1, dtype=np.int64)
        pair_id[pair_remote] = inverse
        route_id[kids] = pair_id[pair_of_kid]
    occ = None
    if cut_through or len(np.unique(hops.bandwidth_bytes_per_s)) <= 1:
        occ = rec.wire / min_bw
    return Placed(buffered_s=d0, run_s=d1, run_send_s=d1t, send_s=t, occupancy_s=occ, route_id=route_id,
                  hops_of=hops, per_chip=np.bincount(chip, minlength=n_chips).tolist(),
                  stash_chip=chip_node[rec.stash_node], hops=int(pair_hops[pair_of_kid].sum()),
                  d_lists=d_lists)

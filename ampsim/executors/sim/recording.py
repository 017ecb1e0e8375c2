"""Recordings: the message graph each instance causes, captured once with the real numpy code.

In AMP the timing of a run does not depend on the numbers in the payloads: control flow follows message
*states*, the work of a node call depends on shapes, and the muf rule counts instances. :func:`record`
runs a batch of instances through the one message pump (:mod:`ampsim.ir.pump`, the reference order)
and keeps, for every message, everything the simulator's timing reads, in flat numpy arrays (one row
per message, per *step group*, per instance). :mod:`ampsim.executors.sim.replay` replays them on any
hardware, placement, mak and muf with exactly the simulated times of a full run.

Life cycle: ``record(model, instances, training)`` → :class:`Recording` → ``save(path, key)`` (one
``.npz``) → ``load(path, key)`` (checks the key and a checksum) → a replay reads its arrays.

Contents (``m`` a message, ``g`` a step group, ``i`` an instance, all numbered in reference order):

* a message ``m`` is processed by node ``node[m]`` (an index into ``names``) on input (forward) or output
  (``bwd[m]``) port ``port[m]``; its
  payload has ``nbytes[m]`` bytes and ``wire[m]`` bytes on a link (payload + header + state);
  its state is ``states[state_ptr[m]:state_ptr[m+1]]`` (traces only).
* a *step group* is what one node call can emit: one message, or all the messages one join (Concat,
  Split, Bcast's backward, Group, Ungroup's backward, Add, Mul) collects for one tag. Its messages may
  arrive in any order; the last one to arrive runs the join (its outcome ``w1``/``h1``: FLOPs, bytes and
  operations, and the change in the node's held bytes) and sends the group's children
  ``children[child_ptr[g]:child_ptr[g+1]]``; the others are buffered (``w0``/``h0``). The recorder checks
  that a buffered arrival does nothing but buffer, so either outcome is known for every arrival order.
* staleness: group ``g`` at a parameterized node saves the parameter version (``saves[g]``) or pops the
  one saved by group ``pop_ref[g]`` (-1: neither).
* instance ``i`` (key ``keys[i]``) starts with messages ``roots[root_ptr[i]:root_ptr[i+1]]`` and owns
  messages ``msg_ptr[i]:msg_ptr[i+1]`` and groups ``group_ptr[i]:group_ptr[i+1]``; when it completes,
  parameterized nodes ``stash_node[stash_ptr[i]:stash_ptr[i+1]]`` (in the graph's ``param_nodes``
  order) hold a stash, whose :meth:`~ampsim.ir.param.ParamNode.stash_profile` is
  ``profiles[prof_ptr[j]:prof_ptr[j+1]]``; the node's ``update_work`` turns profiles into an update's cost.
* changed rows (sparse synchronization): stash ``j`` of a node with ``row_params`` has one segment per
  row parameter (in ``row_params`` order), ``seg_ptr[j]:seg_ptr[j+1]``; segment ``s`` holds the row ids
  ``row_ids[row_ptr[s]:row_ptr[s+1]]`` an update over that stash alone changes
  (:meth:`~ampsim.ir.param.ParamNode.stash_rows`: the rows of its sparse gradient; none for a dense one).
  An update over several stashes changes the union of theirs (a row gradient is sparse over the rows its
  instances used), which is all a synchronization reads (``ampsim/ir/sync.py`` unions them).

What a recording depends on, the cache and the file format: :mod:`ampsim.executors.sim.recording_cache`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable

import numpy as np

from ampsim.errors import AmpsimError, GraphError
from ampsim.hardware.cost import message_bytes
from ampsim.ir.message import Instance
from ampsim.ir.node import Node, nbytes_of
from ampsim.ir.nodes.losses import LossNode
from ampsim.ir.param import ParamNode
from ampsim.ir.pump import pump
from ampsim.models.base import Model
from ampsim.recent import Recent

__all__ = ["DURATION_SLOTS", "FORMAT", "Recording", "RecordingError", "graph_fingerprint", "hand_built_fingerprint",
           "record", "replay_lists"]

FORMAT = 2  # 2: the changed rows (seg_ptr, row_ptr, row_ids)


class RecordingError(AmpsimError):
    """A recording file that cannot be used (missing, truncated, corrupt, or recorded for another key)."""


@dataclass
class Recording:
    names: np.ndarray        # node names (str), indexed by node
    node: np.ndarray         # [m] int32
    bwd: np.ndarray          # [m] bool
    port: np.ndarray         # [m] int16
    nbytes: np.ndarray       # [m] int64 payload bytes
    wire: np.ndarray         # [m] int64 bytes on a link
    state_ptr: np.ndarray    # [m+1] int64
    states: np.ndarray       # int64
    group: np.ndarray        # [m] int32
    w0: np.ndarray           # [m, 3] float64 flops, bytes, kernels when buffered by a join
    h0: np.ndarray           # [m] int64
    w1: np.ndarray           # [m, 3] float64 when it runs the step
    h1: np.ndarray           # [m] int64
    size: np.ndarray         # [g] int32 messages in the group
    child_ptr: np.ndarray    # [g+1] int64
    children: np.ndarray     # int64 message indices
    saves: np.ndarray        # [g] bool
    pop_ref: np.ndarray      # [g] int64
    keys: np.ndarray         # [i] int64
    root_ptr: np.ndarray     # [i+1] int64
    roots: np.ndarray        # int64
    msg_ptr: np.ndarray      # [i+1] int64
    group_ptr: np.ndarray    # [i+1] int64
    stash_ptr: np.ndarray    # [i+1] int64
    stash_node: np.ndarray   # int32 node index
    prof_ptr: np.ndarray     # int64
    profiles: np.ndarray     # int64
    seg_ptr: np.ndarray      # [stashes+1] int64 into the row segments
    row_ptr: np.ndarray      # [segments+1] int64 into row_ids
    row_ids: np.ndarray      # int64 changed row ids

    @property
    def n_messages(self) -> int:
        return int(self.node.size)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Joins:
    """Every node's :attr:`~ampsim.ir.node.Node.join_observer` during recording: per node, what its last
    join call buffered (tag, bytes) and whether it completed, until the recorder takes it."""

    def __init__(self) -> None:
        self.last: dict[str, tuple] = {}

    def __call__(self, node: Node, msg, part, complete: bool) -> None:
        self.last[node.name] = (msg.tag, nbytes_of(part), complete)


def record(model: Model, instances: Iterable[Instance], *, training: bool = True) -> Recording:
    """Run ``instances`` one at a time through the message pump and record their message graphs.

    The model's parameters are not updated and its staleness record (histogram and the recent window that
    staleness-bounded admission reads) is restored; its per-instance
    state (caches, stashes, muf remainders) is dropped, so record on a model that is not mid-run. The loss
    nodes' divergence check (``train.max_loss``, a finite loss) is off meanwhile: with weights that never
    train, the losses computed here are not the run's, and a replay measures none, so they must not stop it
    (a later epoch's batch at the initial weights stopped a replay whose full run trained). The check only
    raises, so what is recorded is unchanged."""
    graph = model.graph
    names = sorted(graph.nodes)
    index = {n: i for i, n in enumerate(names)}
    param_nodes = list(graph.param_nodes)
    joins = _Joins()
    losses = [n for n in graph.nodes.values() if isinstance(n, LossNode)]
    checks = [n.checks_loss for n in losses]
    saved_staleness = {n.name: n.staleness_state() for n in param_nodes}  # histogram and recent window
    b = _Builder()
    try:
        for node in graph.nodes.values():
            node.training = training
            node.join_observer = joins
        for node in losses:
            node.checks_loss = False
        for inst in instances:
            _record_one(b, model, inst, index, joins, param_nodes)
    finally:
        for node in graph.nodes.values():
            node.join_observer = None
            node.training = True
        for node, check in zip(losses, checks):
            node.checks_loss = check
        for n in param_nodes:
            n.restore_staleness(saved_staleness[n.name])
            n.reset()
    return b.build(names)


class _Builder:
    def __init__(self) -> None:
        self.node, self.bwd, self.port, self.nbytes, self.wire = [], [], [], [], []
        self.states, self.state_ptr = [], [0]
        self.group, self.w0, self.h0, self.w1, self.h1 = [], [], [], [], []
        self.size, self.child_ptr, self.children, self.saves, self.pop_ref = [], [0], [], [], []
        self.keys, self.root_ptr, self.roots, self.msg_ptr, self.group_ptr = [], [0], [], [0], [0]
        self.stash_ptr, self.stash_node, self.prof_ptr, self.profiles = [0], [], [0], []
        self.seg_ptr, self.row_ptr, self.row_ids = [0], [0], []

    def message(self, node: int, bwd: bool, port: int, msg) -> int:
        self.node.append(node)
        self.bwd.append(bwd)
        self.port.append(port)
        self.nbytes.append(msg.payload.nbytes)
        self.wire.append(message_bytes(msg.payload.nbytes, len(msg.state)))
        self.states.extend(msg.state)
        self.state_ptr.append(len(self.states))
        self.group.append(-1)
        self.w0.append((0.0, 0.0, 0.0))
        self.h0.append(0)
        self.w1.append((0.0, 0.0, 0.0))
        self.h1.append(0)
        return len(self.node) - 1

    def new_group(self) -> int:
        self.size.append(0)
        self.children.append(None)  # placeholder: filled when the group's step runs
        self.saves.append(False)
        self.pop_ref.append(-1)
        return len(self.size) - 1

    def build(self, names: list[str]) -> Recording:
        # children were gathered per group; flatten in group order
        flat, ptr = [], [0]
        for ch in self.children:
            flat.extend(ch or ())
            ptr.append(len(flat))
        i64 = np.int64
        return Recording(
            names=np.array(names, dtype=str), node=np.array(self.node, np.int32), bwd=np.array(self.bwd, bool),
            port=np.array(self.port, np.int16),
            nbytes=np.array(self.nbytes, i64), wire=np.array(self.wire, i64), state_ptr=np.array(self.state_ptr, i64),
            states=np.array(self.states, i64), group=np.array(self.group, np.int32),
            w0=np.array(self.w0, np.float64).reshape(-1, 3), h0=np.array(self.h0, i64),
            w1=np.array(self.w1, np.float64).reshape(-1, 3), h1=np.array(self.h1, i64),
            size=np.array(self.size, np.int32), child_ptr=np.array(ptr, i64), children=np.array(flat, i64),
            saves=np.array(self.saves, bool), pop_ref=np.array(self.pop_ref, i64), keys=np.array(self.keys, i64),
            root_ptr=np.array(self.root_ptr, i64), roots=np.array(self.roots, i64),
            msg_ptr=np.array(self.msg_ptr, i64), group_ptr=np.array(self.group_ptr, i64),
            stash_ptr=np.array(self.stash_ptr, i64), stash_node=np.array(self.stash_node, np.int32),
            prof_ptr=np.array(self.prof_ptr, i64), profiles=np.array(self.profiles, i64),
            seg_ptr=np.array(self.seg_ptr, i64), row_ptr=np.array(self.row_ptr, i64),
            row_ids=np.array(self.row_ids, i64))


def _record_one(b: _Builder, model: Model, inst: Instance, index: dict[str, int], joins: _Joins,
                param_nodes: list[ParamNode]) -> None:
    graph = model.graph
    first = list(model.inject(inst))
    base = len(b.node)
    for name, msg in first:
        b.roots.append(b.message(index[name], False, 0, msg))
    held = {n: graph.nodes[n].held_nbytes for n in graph.nodes}
    open_joins: dict[tuple, int] = {}
    members: dict[int, list[int]] = {}  # open join group -> its buffered messages
    forward_of: dict[tuple, int] = {}  # (param node, tag) -> group of its forward (the save)
    m = base - 1
    for visit in pump(graph, first):
        m += 1
        node, step = visit.node, visit.step
        name = node.name
        delta = node.held_nbytes - held[name]
        held[name] = node.held_nbytes
        work = (step.work.flops, step.work.bytes, step.work.kernels)
        joined = joins.last.pop(name, None)
        for dst, dport, s in visit.targets:
            b.message(index[dst.name], s.backward, dport, s.msg)
        children = list(range(len(b.node) - len(visit.targets), len(b.node)))
        if joined is None:
            g = b.new_group()
        else:
            tag, part, complete = joined
            jkey = (name, visit.backward, tag)
            g = open_joins.get(jkey)
            if g is None:
                g = open_joins[jkey] = b.new_group()
                members[g] = []
            members[g].append(m)
            b.w0[m] = (0.0, float(visit.msg.payload.nbytes), 0.0)
            b.h0[m] = part
            if not complete:
                if visit.targets or step.reports or work != b.w0[m] or delta != part:
                    raise GraphError(f"node {name}: a join arrival that does more than buffer its input "
                                     "cannot be recorded (the replay assumes buffering only)")
        b.group[m] = g
        b.size[g] += 1
        if isinstance(node, ParamNode) and node.training:
            if not visit.backward:
                b.saves[g] = True
                forward_of[(name, visit.msg.tag)] = g
            else:
                ref = forward_of.get((name, visit.msg.tag))
                if ref is None:
                    raise GraphError(f"node {name}: backward {visit.msg.tag} has no recorded forward")
                b.pop_ref[g] = ref
        if joined is not None and not joined[2]:
            continue
        # the step that emits: its outcome, and (joins) every other arrival's outcome had it come last
        b.w1[m], b.h1[m] = work, delta
        b.children[g] = children
        if joined is not None:
            del open_joins[(name, visit.backward, joined[0])]
            last_bytes, last_part = visit.msg.payload.nbytes, joined[1]
            for q in members.pop(g)[:-1]:
                b.w1[q] = (work[0], work[1] - last_bytes + b.nbytes[q], work[2])
                b.h1[q] = delta - last_part + b.h0[q]
    if open_joins:
        raise GraphError(f"instance {inst.key}: joins never completed at {sorted({k[0] for k in open_joins})}")
    b.keys.append(inst.key)
    b.root_ptr.append(len(b.roots))
    b.msg_ptr.append(len(b.node))
    b.group_ptr.append(len(b.size))
    for node in param_nodes:
        if node.stashed(inst.key):
            b.stash_node.append(index[node.name])
            b.profiles.extend(node.stash_profile(inst.key).tolist())
            b.prof_ptr.append(len(b.profiles))
            for rows in node.stash_rows(inst.key):
                b.row_ids.extend(rows.tolist())
                b.row_ptr.append(len(b.row_ids))
            b.seg_ptr.append(len(b.row_ptr) - 1)
            node.reset()
    b.stash_ptr.append(len(b.stash_node))
    leftover = [n.name for n in graph.nodes.values() if n.has_state()]
    if leftover:
        raise GraphError(f"instance {inst.key}: state left at {', '.join(leftover)} after its last message")


#: chip specs whose step durations a recording keeps (arrays and lists: two entries each)
DURATION_SLOTS = 8


def replay_lists(rec: Recording) -> dict:
    """The recording as the Python lists a replay's loop indexes (read-only; built once per recording and
    process; ``duration_cache``: per chip spec, filled by the replay, for the last few specs only: a sweep
    over chip speed would otherwise keep every point's durations, about 80 bytes a message each)."""
    rp, roots = rec.root_ptr.tolist(), rec.roots.tolist()
    sp, seg, rp_ids = rec.stash_ptr.tolist(), rec.seg_ptr.tolist(), rec.row_ptr.tolist()
    segments = np.split(rec.row_ids, rp_ids[1:-1]) if len(rp_ids) > 1 else []
    n_inst, n_stash = len(rec.keys), len(rec.stash_node)
    profiles = np.split(rec.profiles, rec.prof_ptr[1:-1]) if n_stash else []
    return {
        "node": rec.node.tolist(), "bwd": rec.bwd.tolist(), "nbytes": rec.nbytes.tolist(),
        "wire": rec.wire.tolist(), "group": rec.group.tolist(), "h0": rec.h0.tolist(), "h1": rec.h1.tolist(),
        "size": rec.size.tolist(),
        "saves": rec.saves.tolist(), "pop_ref": rec.pop_ref.tolist(),
        "inst_of": np.repeat(np.arange(n_inst), np.diff(rec.msg_ptr)).tolist(), "keys": rec.keys.tolist(),
        "messages_of": np.diff(rec.msg_ptr).tolist(),
        "roots": [roots[a:b] for a, b in zip(rp, rp[1:])],
        "stashes": [list(range(sp[i], sp[i + 1])) for i in range(n_inst)],
        "stash_node": rec.stash_node.tolist(), "profiles": profiles,
        "stash_held": rec.profiles[rec.prof_ptr[:-1]].tolist() if n_stash else [],
        # a stash's profile as a hashable key (equal profiles, equal update costs)
        "prof_key": [p.tobytes() for p in profiles],
        # per stash, the rows its update changes, per row parameter (sparse synchronization)
        "changed_rows": [segments[a:b] for a, b in zip(seg, seg[1:])],
        "duration_cache": Recent(DURATION_SLOTS),
    }


def graph_fingerprint(model: Model) -> list:
    """Node names, kinds and parameter shapes (what a recording's node indices and sizes refer to)."""
    return [[n, type(node).__name__, sorted((k, list(p.shape), p.dtype.str) for k, p in
                                            getattr(node, "params", {}).items())]
            for n, node in sorted(model.graph.nodes.items())]


_PLAIN = (bool, int, float, str, type(None))


def hand_built_fingerprint(model: Model) -> list:
    """What a planned model's ``[model]`` section (its recording's ``context``) stands for, for a model built by hand
    and given to an executor without one: its wiring and each node's plain settings (numbers, strings and short
    tuples of them: a node kind's constructor arguments, such as the work it reports). Without them two hand-built
    models that differ only there shared one recording, in the process's memory too, and the second's replay ran
    the first's messages and work (a node of 2e6 FLOPs replayed as 1e6)."""
    def plain(v) -> bool:
        return isinstance(v, _PLAIN) or (isinstance(v, (tuple, list)) and len(v) <= 64
                                         and all(isinstance(x, _PLAIN) for x in v))

    nodes = [[n, sorted((k, repr(v)) for k, v in vars(node).items() if plain(v))]
             for n, node in sorted(model.graph.nodes.items())]
    return [nodes, sorted(map(repr, model.graph.edges.items()))]

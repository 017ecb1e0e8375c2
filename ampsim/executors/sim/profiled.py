"""A placement's profile read off a recording, so that a replayed run plans without the numpy code.

:func:`~ampsim.placement.profile` runs a few instances through the message pump on a copy of the model and
sums each node's work, messages and traffic in the order the pump visits them. A recording holds exactly
those visits, in that order (:mod:`~ampsim.executors.sim.recording`: message ``m`` is the pump's visit
``m``), with each one's work (a join's buffered arrivals ``w0``, the arrival that runs its step ``w1``), its
children's payload bytes and each instance's stashes. :func:`recorded_profile` adds the same numbers in the
same order, and the updates' work as the nodes' :meth:`~ampsim.ir.param.ParamNode.complete` would report
it (every ``muf`` stashes, :meth:`~ampsim.ir.param.ParamNode.update_work`), so the profile, and the
placement made from it, is the one the numpy code gives, bit for bit (``tests/sim/test_profiled.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ampsim.executors.sim.recording_cache import obtain
from ampsim.ir.message import Instance
from ampsim.models.base import Model
from ampsim.placement import Profile

__all__ = ["recorded_profile"]


def recorded_profile(model: Model, instances: Sequence[Instance], context: str = "") -> Profile:
    """:func:`~ampsim.placement.profile` of ``instances`` on ``model``, from their recording (made now with
    the numpy code only where no recording of them is cached).

    The pump's additions are made as arrays: the visits and the updates in the order the pump makes them
    (an instance's messages, then the updates its stashes complete), and each node's sums by
    :func:`numpy.bincount`, which adds its weights one by one in that order, from 0.0, as the pump's
    ``+=`` does (a Python loop over SST's visits took 8 ms of every replayed sweep point)."""
    rec = obtain(model, list(instances), training=True, context=context)
    names = rec.names.tolist()  # sorted: a pair of nodes sorts as its indices do
    n_nodes, n_msg = len(names), rec.n_messages
    prof = Profile(instances=len(instances))
    last = np.zeros(len(rec.size), dtype=np.int64)  # the message of each group that runs its step
    last[rec.group] = np.arange(n_msg)  # (a group's messages in order: the last write wins)
    runs = last[rec.group] == np.arange(n_msg)
    work = np.where(runs[:, None], rec.w1, rec.w0)
    # the updates, as the nodes' complete() reports them: every muf stashes, by instance key
    nodes = {n: model.graph.nodes[n] for n in names}
    ready: dict[str, list] = {}
    upd_node, upd_work, upd_after = [], [], []  # node index, work, the instance whose messages it follows
    for i in range(len(rec.keys)):
        for j in range(int(rec.stash_ptr[i]), int(rec.stash_ptr[i + 1])):  # param_nodes order, as profile
            g = int(rec.stash_node[j])
            name = names[g]
            ready.setdefault(name, []).append((int(rec.keys[i]), rec.profiles[rec.prof_ptr[j]:rec.prof_ptr[j + 1]]))
            if len(ready[name]) >= nodes[name].muf:
                w = nodes[name].update_work([p for _, p in sorted(ready.pop(name), key=lambda kp: kp[0])])
                upd_node.append(g)
                upd_work.append((w.flops, w.bytes, w.kernels))
                upd_after.append(i)
    # the pump's order: instance by instance, its messages, then its updates
    inst_of = np.repeat(np.arange(len(rec.keys)), np.diff(rec.msg_ptr))
    order = np.lexsort((np.concatenate([np.arange(n_msg), np.arange(len(upd_node))]),
                        np.concatenate([np.zeros(n_msg, np.int64), np.ones(len(upd_node), np.int64)]),
                        np.concatenate([inst_of, np.asarray(upd_after, np.int64)])))
    seq_node = np.concatenate([rec.node.astype(np.int64), np.asarray(upd_node, np.int64)])[order]
    seq_work = np.concatenate([work, np.asarray(upd_work, np.float64).reshape(-1, 3)])[order]
    sums = [np.bincount(seq_node, weights=seq_work[:, c], minlength=n_nodes).tolist() for c in range(3)]
    for g in _first_seen(seq_node):
        name = names[g]
        prof.flops[name], prof.bytes[name], prof.kernels[name] = sums[0][g], sums[1][g], sums[2][g]
    counts = np.bincount(rec.node, minlength=n_nodes).tolist()
    for g in _first_seen(rec.node):
        prof.messages[names[g]] = counts[g]
    # traffic: each running message's children, by the pair of nodes (sorted) they connect
    src = np.flatnonzero(runs)
    lo, hi = rec.child_ptr[rec.group[src]], rec.child_ptr[rec.group[src] + 1]
    n_kids = hi - lo
    kids = rec.children[np.repeat(lo - np.cumsum(n_kids) + n_kids, n_kids) + np.arange(n_kids.sum())]
    a, b = np.repeat(rec.node[src], n_kids).astype(np.int64), rec.node[kids].astype(np.int64)
    pair = np.minimum(a, b) * n_nodes + np.maximum(a, b)
    distinct, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    total = np.bincount(inverse.reshape(-1), weights=rec.nbytes[kids].astype(np.float64)).tolist()
    for k in np.argsort(first, kind="stable").tolist():
        u, v = divmod(int(distinct[k]), n_nodes)
        prof.edge_bytes[names[u], names[v]] = total[k]
    return prof


def _first_seen(values: np.ndarray) -> list[int]:
    """The distinct ``values`` in the order each first occurs."""
    distinct, first = np.unique(values, return_index=True)
    return distinct[np.argsort(first, kind="stable")].tolist()

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
    the numpy code only where no recording of them is cached)."""
    rec = obtain(model, list(instances), training=True, context=context)
    names = rec.names.tolist()
    prof = Profile(instances=len(instances))
    last = np.zeros(len(rec.size), dtype=np.int64)  # the message of each group that runs its step
    last[rec.group] = np.arange(rec.n_messages)  # (a group's messages in order: the last write wins)
    nodes = {n: model.graph.nodes[n] for n in names}
    ready: dict[str, list] = {}
    for i in range(len(rec.keys)):
        for m in range(int(rec.msg_ptr[i]), int(rec.msg_ptr[i + 1])):
            name, g = names[rec.node[m]], int(rec.group[m])
            runs = bool(last[g] == m)
            prof.add(name, *(rec.w1 if runs else rec.w0)[m].tolist())
            prof.messages[name] += 1
            if runs:
                for k in rec.children[rec.child_ptr[g]:rec.child_ptr[g + 1]]:
                    prof.edge_bytes[tuple(sorted((name, names[rec.node[k]])))] += int(rec.nbytes[k])
        for j in range(int(rec.stash_ptr[i]), int(rec.stash_ptr[i + 1])):  # param_nodes order, as profile
            name = names[rec.stash_node[j]]
            node = nodes[name]
            ready.setdefault(name, []).append((int(rec.keys[i]), rec.profiles[rec.prof_ptr[j]:rec.prof_ptr[j + 1]]))
            if len(ready[name]) >= node.muf:
                work = node.update_work([p for _, p in sorted(ready.pop(name), key=lambda kp: kp[0])])
                prof.add(name, work.flops, work.bytes, work.kernels)
    return prof

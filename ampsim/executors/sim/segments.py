"""A recording made of other recordings' instances, so that an instance is recorded once per process.

An instance's part of a :class:`~ampsim.executors.sim.recording.Recording` (its messages, step groups,
roots and stashes) depends on the model and the instance's data, not on its key or on the instances
recorded before it (:func:`~ampsim.executors.sim.recording.record` resets every node after each
instance): control flow follows the data, the work of a step its shapes. A replicated model is the one
exception, and a small one: its key picks the group and copies that run the instance
(:class:`~ampsim.replicas.ReplicaInject`), so its *route class* (:func:`route_class`) joins the data in
what an instance's part is filed under. So an epoch's shuffled batch, or a sweep point's
``train.max_instances``, is the instances of an earlier recording in another order: :func:`compose`
gathers their parts, renumbering messages, groups, stashes and rows, and gives them the batch's keys. The
result equals what :func:`~ampsim.executors.sim.recording.record` makes of the batch, array for array
(``tests/sim/test_segments.py``).

Life cycle: :class:`InstancePool` per process → ``find(instances)`` for each instance its earlier part,
``(recording, index)``, or None → the caller records the rest and ``add`` s that recording → ``compose``
the batch from the parts.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections import OrderedDict
from typing import Hashable, Sequence

import numpy as np

from ampsim.executors.sim.recording import Recording
from ampsim.ir.message import Instance

__all__ = ["InstancePool", "compose", "route_class"]

_PER_MESSAGE = ("node", "bwd", "port", "nbytes", "wire", "w0", "h0", "w1", "h1")


def route_class(inject: object, key: int) -> Hashable:
    """What of an instance's ``key`` its recording depends on: nothing (None) for a model without copies;
    for a replicated one, its group and the copy it runs on at every node (``key % groups`` and ``key //
    groups`` modulo every node's number of copies)."""
    groups, names = getattr(inject, "groups", None), getattr(inject, "names", None)
    if groups is None or names is None:
        return None
    copies = math.lcm(*(len(c) for c in names.values()))
    return key % groups, (key // groups) % copies


def compose(parts: Sequence[tuple[Recording, int]], keys: Sequence[int]) -> Recording:
    """The recording of instance ``parts[k][1]`` of recording ``parts[k][0]``, for every ``k`` in order,
    under ``keys[k]``: messages, groups, stashes and changed rows renumbered, pointers rebuilt."""
    if not parts:
        raise ValueError("compose: no instances")
    out: dict[str, list] = {name: [] for name in (*_PER_MESSAGE, "group", "states", "size", "saves", "pop_ref",
                                                  "children", "roots", "stash_node", "profiles", "row_ids")}
    ptrs: dict[str, list] = {name: [np.zeros(1, np.int64)] for name in (
        "state_ptr", "child_ptr", "root_ptr", "msg_ptr", "group_ptr", "stash_ptr", "prof_ptr", "seg_ptr", "row_ptr")}
    n = {"m": 0, "g": 0, "s": 0, "c": 0, "r": 0, "st": 0, "p": 0, "sg": 0, "rw": 0}  # running counts
    for rec, i in parts:
        m0, m1 = int(rec.msg_ptr[i]), int(rec.msg_ptr[i + 1])
        g0, g1 = int(rec.group_ptr[i]), int(rec.group_ptr[i + 1])
        j0, j1 = int(rec.stash_ptr[i]), int(rec.stash_ptr[i + 1])
        for name in _PER_MESSAGE:
            out[name].append(getattr(rec, name)[m0:m1])
        out["group"].append(rec.group[m0:m1] - g0 + n["g"])
        s0, s1 = int(rec.state_ptr[m0]), int(rec.state_ptr[m1])
        out["states"].append(rec.states[s0:s1])
        ptrs["state_ptr"].append(rec.state_ptr[m0 + 1:m1 + 1] - s0 + n["s"])
        for name in ("size", "saves"):
            out[name].append(getattr(rec, name)[g0:g1])
        pop = rec.pop_ref[g0:g1]
        out["pop_ref"].append(np.where(pop >= 0, pop - g0 + n["g"], pop))
        c0, c1 = int(rec.child_ptr[g0]), int(rec.child_ptr[g1])
        out["children"].append(rec.children[c0:c1] - m0 + n["m"])
        ptrs["child_ptr"].append(rec.child_ptr[g0 + 1:g1 + 1] - c0 + n["c"])
        r0, r1 = int(rec.root_ptr[i]), int(rec.root_ptr[i + 1])
        out["roots"].append(rec.roots[r0:r1] - m0 + n["m"])
        out["stash_node"].append(rec.stash_node[j0:j1])
        p0, p1 = int(rec.prof_ptr[j0]), int(rec.prof_ptr[j1])
        out["profiles"].append(rec.profiles[p0:p1])
        ptrs["prof_ptr"].append(rec.prof_ptr[j0 + 1:j1 + 1] - p0 + n["p"])
        q0, q1 = int(rec.seg_ptr[j0]), int(rec.seg_ptr[j1])
        ptrs["seg_ptr"].append(rec.seg_ptr[j0 + 1:j1 + 1] - q0 + n["sg"])
        w0, w1 = int(rec.row_ptr[q0]), int(rec.row_ptr[q1])
        out["row_ids"].append(rec.row_ids[w0:w1])
        ptrs["row_ptr"].append(rec.row_ptr[q0 + 1:q1 + 1] - w0 + n["rw"])
        n["m"] += m1 - m0
        n["g"] += g1 - g0
        n["s"] += s1 - s0
        n["c"] += c1 - c0
        n["r"] += r1 - r0
        n["st"] += j1 - j0
        n["p"] += p1 - p0
        n["sg"] += q1 - q0
        n["rw"] += w1 - w0
        ptrs["root_ptr"].append(np.array([n["r"]], np.int64))
        ptrs["msg_ptr"].append(np.array([n["m"]], np.int64))
        ptrs["group_ptr"].append(np.array([n["g"]], np.int64))
        ptrs["stash_ptr"].append(np.array([n["st"]], np.int64))
    first = parts[0][0]
    arrays = {name: np.concatenate(v).astype(getattr(first, name).dtype, copy=False) for name, v in out.items()}
    arrays.update({name: np.concatenate(v).astype(np.int64, copy=False) for name, v in ptrs.items()})
    for name in ("w0", "w1"):
        arrays[name] = arrays[name].reshape(-1, 3)
    return Recording(names=first.names, keys=np.asarray(keys, dtype=np.int64), **arrays)


class InstancePool:
    """Each instance part of the last :data:`slots` recordings made or read in this process, filed under
    ``(scope, route class, digest of the instance's data)``; ``scope`` names what else a part depends on
    (the recording key's model, context, code and mode)."""

    slots = 4

    def __init__(self) -> None:
        self._parts: dict[tuple, tuple[Recording, int]] = {}
        self._sources: OrderedDict[int, tuple[Recording, list[tuple]]] = OrderedDict()

    @staticmethod
    def file_keys(scope: str, inject: object, instances: Sequence[Instance]) -> list[tuple]:
        return [(scope, route_class(inject, inst.key),
                 hashlib.blake2b(pickle.dumps(inst.data, protocol=5), digest_size=20).hexdigest())
                for inst in instances]

    def find(self, keys: Sequence[tuple]) -> list[tuple[Recording, int] | None]:
        return [self._parts.get(k) for k in keys]

    def add(self, rec: Recording, keys: Sequence[tuple]) -> None:
        """File the instances of ``rec`` (``keys[i]``: instance ``i``'s); drop the oldest recording's beyond
        :attr:`slots`."""
        self._sources.pop(id(rec), None)
        self._sources[id(rec)] = (rec, list(keys))
        for i, k in enumerate(keys):
            self._parts[k] = (rec, i)
        while len(self._sources) > self.slots:
            old, old_keys = self._sources.popitem(last=False)[1]
            for k in old_keys:
                if self._parts.get(k, (None,))[0] is old:
                    del self._parts[k]

    def clear(self) -> None:
        self._parts.clear()
        self._sources.clear()

"""The load profile placement weighs: each node's work and each edge's message bytes, measured by running a
few training instances through a private copy of the model with the message pump (the reference executor's
loop), and a node's estimated busy time on a chip from it.

Copies: a node's copies are nodes of their own to every strategy. Their estimates come from the model
before copying (:func:`expand_profile`): each copy gets its share of its node's work and traffic.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from ampsim.hardware.cost import compute_time_s
from ampsim.hardware.spec import ChipSpec
from ampsim.ir.message import Instance
from ampsim.ir.pump import pump
from ampsim.models.base import Model

__all__ = ["Profile", "expand_profile", "node_time_s", "profile"]


@dataclass
class Profile:
    """Work per node and message bytes per edge, summed over the profiled instances."""

    flops: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    bytes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    kernels: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    messages: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    edge_bytes: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    instances: int = 0

    def add(self, name: str, flops: float, nbytes: float, kernels: float) -> None:
        """Node ``name`` did this work once more (a step, or an update)."""
        self.flops[name] += flops
        self.bytes[name] += nbytes
        self.kernels[name] += kernels

    @classmethod
    def uniform(cls, names) -> Profile:
        """Equal work (one FLOP, one message) at every node of ``names`` and no traffic: placement by count."""
        prof = cls(instances=1)
        for name in names:
            prof.flops[name], prof.messages[name] = 1.0, 1
        return prof


def profile(model: Model, instances: Sequence[Instance]) -> Profile:
    """Run ``instances`` forward and backward on a deep copy of ``model``; the model is untouched."""
    m = copy.deepcopy(model)
    graph = m.graph.validate()
    prof = Profile(instances=len(instances))
    for inst in instances:
        for visit in pump(graph, m.inject(inst)):
            name, work = visit.node.name, visit.step.work
            prof.add(name, work.flops, work.bytes, work.kernels)
            prof.messages[name] += 1
            for dst, _, send in visit.targets:
                prof.edge_bytes[tuple(sorted((name, dst.name)))] += send.msg.payload.nbytes
        for node in graph.param_nodes:
            work = node.complete(inst.key)
            if work:
                prof.add(node.name, work.flops, work.bytes, work.kernels)
    return prof


def expand_profile(prof: Profile, copies: dict[str, list[list[str]]]) -> Profile:
    """The profile of a model before copying, spread over its copies: ``copies[node][group]`` lists the
    copies of ``node`` in each group; a copy of a node with ``m`` copies in all gets ``1/m`` of its
    work, and each pair of copies in one group ``1/(groups * copies a * copies b)`` of an edge's bytes.

    Examples
    --------
    >>> prof = Profile.uniform(["a", "b"])
    >>> prof.edge_bytes[("a", "b")] = 8.0
    >>> out = expand_profile(prof, {"a": [["a"]], "b": [["b.0", "b.1"]]})
    >>> dict(out.flops)
    {'a': 1.0, 'b.0': 0.5, 'b.1': 0.5}
    >>> dict(out.edge_bytes)
    {('a', 'b.0'): 4.0, ('a', 'b.1'): 4.0}
    """
    out = Profile(instances=prof.instances)
    for name, groups in copies.items():
        m = sum(len(g) for g in groups)
        for phys in (p for g in groups for p in g):
            out.flops[phys] = prof.flops[name] / m
            out.bytes[phys] = prof.bytes[name] / m
            out.kernels[phys] = prof.kernels[name] / m
            out.messages[phys] = prof.messages[name] / m
    for (a, b), w in prof.edge_bytes.items():
        ga, gb = copies[a], copies[b]
        share = w / (len(ga) * len(ga[0]) * len(gb[0]))
        for ca, cb in zip(ga, gb):
            for x in ca:
                for y in cb:
                    out.edge_bytes[tuple(sorted((x, y)))] += share
    return out


def node_time_s(prof: Profile, name: str, chip: ChipSpec) -> float:
    """Estimate of a node's busy time over the profile on ``chip``: the cost model applied to its summed
    work (:func:`~ampsim.hardware.cost.compute_time_s`), with ``overhead_s`` once per message."""
    extra = chip.overhead_s * (prof.messages[name] - 1)
    return compute_time_s(chip, prof.flops[name], prof.bytes[name], prof.kernels[name]) + extra

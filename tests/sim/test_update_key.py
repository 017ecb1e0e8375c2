"""A replay computes an update's Work once for all the nodes that report the same (``replay.update_key``): nodes
of a kind whose ``grad_work`` and ``grad_sizes`` read only their parameters' shapes share it where shapes,
optimizer and clipping agree; any other node shares it with no other, not even its replica copies. Each case checks the
key against what ``update_work`` reports."""

from __future__ import annotations

import copy

import numpy as np

from ampsim.executors.sim.replay import update_key
from ampsim.ir.node import Work
from ampsim.ir.nodes.cells import LSTMCell
from ampsim.ir.nodes.linear import Embedding, Linear
from ampsim.optim import OptimizerSpec

PROFILES = [np.array([64, 4], dtype=np.int64)]


def linear(name: str, n_in: int = 8, n_out: int = 4, *, kind: str = "sgd", clip: float = 0.0, bias: bool = True):
    node = Linear(name, n_in, n_out, bias=bias)
    node.configure(OptimizerSpec(kind=kind, count_state=True), muf=1, clip_norm=clip)
    return node


def same_work(a, b) -> bool:
    wa, wb = a.update_work(PROFILES), b.update_work(PROFILES)
    return (wa.flops, wa.bytes, wa.kernels) == (wb.flops, wb.bytes, wb.kernels)


def test_nodes_of_equal_shapes_optimizer_and_clipping_share_their_update():
    a, b = linear("a"), linear("b")
    assert update_key(a) == update_key(b) and same_work(a, b)


def test_what_the_update_reads_tells_keys_apart():
    a = linear("a")
    for other in (linear("wide", 8, 5), linear("nobias", bias=False), linear("adam", kind="adam"),
                  linear("clipped", clip=1.0)):
        assert update_key(other) != update_key(a)
        assert not same_work(other, a), other.name  # (each differs in what update_work reports)
    assert update_key(Embedding("e", 8, 4)) != update_key(a)  # (the same shapes, another kind)


class Named(Linear):
    """A kind of a model's own whose update reads more than its parameters' shapes: here its name."""

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        super().grad_work(profiles, work)
        work.kernels += len(self.name)


def test_a_kind_that_overrides_its_grad_work_shares_with_no_node():
    a, b = Named("a", 8, 4), Named("b", 8, 4)
    twin = copy.deepcopy(a)
    twin.name = "g1/a"  # a replica copy: its update is not its origin's
    assert not same_work(twin, a)
    assert len({update_key(a), update_key(b), update_key(twin)}) == 3
    assert update_key(a) != update_key(linear("a"))


def test_kinds_that_read_only_shapes_say_so():
    cell = LSTMCell("c", 4, 8)
    assert update_key(cell)[0] is LSTMCell

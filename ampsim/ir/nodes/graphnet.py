"""Graph-network payload nodes: EdgeSum (message passing inside a payload) and GatedReadout.

Both work on payloads whose **rows are atoms** (graph nodes) of one instance; which rows are connected
comes from picklable callables of the (immutable) instance and the message state, never from the payload:

* ``edges(inst, state) -> (src, dst)``: int arrays of equal length, one entry per *directed* edge.
* ``segments(inst, state) -> (segment, n_segments)``: int array ``[rows]`` naming the graph (molecule) each
  row belongs to, and the number of graphs (rows of the output).

========  ================================================  ============================================
node      forward                                           backward
========  ================================================  ============================================
EdgeSum   ``y[v] = Σ_{e: dst_e = v} x[src_e]``  (rows kept)   ``dx[u] = Σ_{e: src_e = u} dy[dst_e]``
Gated-    ``y[s] = Σ_{v in segment s} σ([h_v, x_v] Wi + bi)   vector-Jacobian product; stashes
Readout     ⊙ (h_v Wj + bj)``  (Li et al. 2016, eq. 7;       ``([h, x], dL/da, dL/dv)`` per visit for one
            Gilmer et al. 2017 with i, j linear)              GEMM per parameter at the update (muf rule)
========  ================================================  ============================================

Sums over edges and rows use ``np.add.at`` (unbuffered, applied in index order), so every executor gets
bit-identical results for the same inputs. A row with no incoming edge gets zeros; a graph with no edges
at all is simply ``EdgeSum`` of nothing (zeros), so isolated atoms need no special case.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ampsim.ir.hostmem import param_values
from ampsim.ir.message import Instance, Message
from ampsim.ir.node import Node, Send, Work
from ampsim.ir.nodes.cells import SIG_KERNELS, sig
from ampsim.ir.param import ParamNode, init_rng

__all__ = ["EdgeSum", "GatedReadout"]

State = tuple[int, ...]
EdgesFn = Callable[[Instance, State], tuple[np.ndarray, np.ndarray]]
SegmentsFn = Callable[[Instance, State], tuple[np.ndarray, int]]


class EdgeSum(Node):
    """Sum each row's incoming edge messages: ``y[v] = Σ_{(u → v) in edges} x[u]`` (output rows = input rows).

    With ``x = h W_k + b_k`` (a Linear on every atom) and the directed edges of bond type ``k`` this is
    GGNN's aggregated message of type ``k``: ``Σ_{u → v of type k} (W_k h_u + b_k)``. Stateless: the
    backward reads the same edges from the instance (``dx[u] = Σ_{u → v} dy[v]``), nothing is cached.
    """

    def __init__(self, name: str, edges: EdgesFn, *, width: int | None = None) -> None:
        super().__init__(name, width=width)
        self.edges = edges

    def forward(self, msg: Message, port: int) -> list[Send]:
        src, dst = self.edges(msg.inst, msg.state)
        x = msg.payload
        y = np.zeros_like(x)
        np.add.at(y, dst, x[src])
        self.charge(flops=len(src) * x.shape[-1], kernels=3)  # zeros, gather, add.at
        return [self.out(msg.with_payload(y))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        src, dst = self.edges(msg.inst, msg.state)
        g = msg.payload
        dx = np.zeros_like(g)
        np.add.at(dx, src, g[dst])
        self.charge(flops=len(src) * g.shape[-1], kernels=3)
        return [self.grad(msg.with_payload(dx))]


def _glorot(seed: int, name: str, shape: tuple[int, int], dtype) -> np.ndarray:
    scale = np.sqrt(6.0 / (shape[0] + shape[1]))
    return param_values(name, shape, dtype, lambda: init_rng(seed, name).uniform(-scale, scale, shape).astype(dtype))


class GatedReadout(ParamNode):
    """Gated graph-level readout: input ``[h, x]`` (widths ``n_h + n_x``, rows = atoms) → ``[graphs, width]``.

    ``y[s] = Σ_{v in s} σ(a_v) ⊙ t_v`` with gate ``a = [h, x] Wi + bi`` and transform ``t = h Wj + bj``.
    ``segments=None`` sums all rows into one output row (one graph per message, or one atom per message
    followed by a Group-sum over atoms). Parameters ``Wi [n_h + n_x, width]``, ``bi``, ``Wj [n_h, width]``,
    ``bj``; one node, one update.
    """

    update_work_from_shapes = True  # (grad_work, grad_sizes: the parameters' shapes and the profiles)

    def __init__(self, name: str, n_h: int, n_x: int, width: int, *, segments: SegmentsFn | None = None,
                 seed: int = 0, dtype=np.float32) -> None:
        super().__init__(name, {"Wi": _glorot(seed, name + "/i", (n_h + n_x, width), dtype),
                                "bi": np.zeros(width, dtype=dtype),
                                "Wj": _glorot(seed, name + "/j", (n_h, width), dtype),
                                "bj": np.zeros(width, dtype=dtype)})
        self.n_h, self.n_x, self.out_dim, self.segments = n_h, n_x, width, segments

    def in_width(self, port: int) -> int:
        return self.n_h + self.n_x

    def out_width(self, port: int) -> int:
        return self.out_dim

    def _segments(self, msg: Message) -> tuple[np.ndarray | None, int]:
        return (None, 1) if self.segments is None else self.segments(msg.inst, msg.state)

    def forward(self, msg: Message, port: int) -> list[Send]:
        P, z = self.params, msg.payload
        g = sig(z @ P["Wi"] + P["bi"])
        t = z[:, :self.n_h] @ P["Wj"] + P["bj"]
        r = g * t
        seg, n = self._segments(msg)
        if seg is None:
            y = r.sum(axis=0, keepdims=True)
        else:
            y = np.zeros((n, self.out_dim), dtype=r.dtype)
            np.add.at(y, seg, r)
        self.save(msg, (z, g, t, seg))
        # gate (GEMM, +, sig), transform (GEMM, +), g * t, then a sum or np.zeros and np.add.at
        self.charge(flops=2.0 * z.shape[0] * (P["Wi"].size + P["Wj"].size) + 6 * r.size, bytes=self.param_bytes,
                    kernels=2 + SIG_KERNELS + 2 + 1 + (1 if seg is None else 2))
        return [self.out(msg.with_payload(y))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        P = self.params
        z, g, t, seg = self.pop(msg)
        dr = msg.payload if seg is None else msg.payload[seg]  # [1, width] broadcasts over the rows
        dt = dr * g
        da = dr * t * g * (1 - g)
        self.stash(msg, (z, da, dt))
        dz = da @ P["Wi"].T
        dz[:, :self.n_h] += dt @ P["Wj"].T
        # the row gather of dy (segments only), dt (*), da (*, *, 1 -, *), two GEMMs and the += into dz
        self.charge(flops=2.0 * z.shape[0] * (P["Wi"].size + P["Wj"].size) + 6 * t.size,
                    bytes=P["Wi"].nbytes + P["Wj"].nbytes, kernels=(seg is not None) + 1 + 4 + 3)
        return [self.grad(msg.with_payload(dz))]

    def param_grads(self, entries):
        Z, DA, DT = (np.concatenate([e[k] for e in entries]) for k in range(3))
        # three concatenates, two GEMMs, two bias sums
        self.charge(flops=2.0 * Z.shape[0] * (self.params["Wi"].size + self.params["Wj"].size), kernels=7)
        return {"Wi": Z.T @ DA, "bi": DA.sum(axis=0), "Wj": Z[:, :self.n_h].T @ DT, "bj": DT.sum(axis=0)}

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        work.flops += 2.0 * sum(int(p[1]) for p in profiles) * (self.params["Wi"].size + self.params["Wj"].size)
        work.kernels += 7

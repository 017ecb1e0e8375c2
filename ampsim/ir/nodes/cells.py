"""Recurrent cells as single PPT nodes: LSTMCell, GRUCell, TreeLSTMLeaf, TreeLSTMCell.

Design choice (one PPT per cell, fused with its gate math). Each cell owns exactly one parameter set: a
weight matrix producing *all* gate pre-activations at once from the concatenated recurrent inputs
([x, h] for the LSTM, [h_l, h_r] for the Tree-LSTM) plus a bias, i.e. exactly a Linear. The gate
nonlinearities are fused into the same node rather than placed in a separate non-param node after a
Linear because the cell's carried memory ``c`` travels in the same payload as ``h``: a separate gate node
would need a Split, a Linear and a Concat around it, four message hops (and four per-message overheads
in every executor) instead of one, for every tree node and every time step. The parameter gradient is
computed exactly as Linear's: the backward stashes (linear input, gate-pre-activation gradient) per visit
and :meth:`param_grads` stacks the stashes of an update in canonical ``(key, state)`` order into one GEMM,
so the muf rule and executor bit-for-bit agreement hold unchanged.

Payload layouts (rows = a small batch; widths along the last axis):

==============  ==========================  ==============  ===========================================
cell            input                       output          gates (one weight matrix)
==============  ==========================  ==============  ===========================================
LSTMCell        [x (n_x), h (H), c (H)]     [h', c']        [i, f, o | u] = [x, h] W + b
GRUCell         [x (n_x), h (H)]            h'              [r, z, n]: x Wx + bx, h Wh + bh (PyTorch)
TreeLSTMLeaf    x (n_x)                     [h, c]          [i, o | u] = x W + b  (N-ary, no children)
TreeLSTMCell    [h_l, c_l, h_r, c_r]        [h, c]          [i, f_l, f_r, o | u] = [h_l, h_r] W + b
==============  ==========================  ==============  ===========================================

(Tai et al. 2015, binary N-ary Tree-LSTM: c = i⊙u + f_l⊙c_l + f_r⊙c_r, h = o⊙tanh(c); each forget gate
sees both children.) The GRU keeps two matrices (Wx, Wh) because its candidate uses r ⊙ (h Wh_n + b); it
is still one PPT node with one update.
"""

from __future__ import annotations

import numpy as np

from ampsim.ir.hostmem import param_values
from ampsim.ir.message import Message
from ampsim.ir.node import Send, Work
from ampsim.ir.param import ParamNode, init_rng

__all__ = ["GRUCell", "LSTMCell", "SIG_KERNELS", "TreeLSTMCell", "TreeLSTMLeaf", "sig"]

#: array operations of :func:`sig`: *, tanh, +, *
SIG_KERNELS = 4


def sig(x: np.ndarray) -> np.ndarray:
    """Logistic function via tanh: stable for any x, one transcendental call."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _uniform(seed: int, name: str, shape: tuple[int, int], fan: int, dtype) -> np.ndarray:
    scale = np.sqrt(6.0 / fan)
    return param_values(name, shape, dtype, lambda: init_rng(seed, name).uniform(-scale, scale, shape).astype(dtype))


class GatedCell(ParamNode):
    """Base: parameters ``W [n_lin, n_gates]`` and ``b [n_gates]``; stashes are (linear input, dz)."""

    update_work_from_shapes = True  # (grad_work, grad_sizes: the parameters' shapes and the profiles)

    def __init__(self, name: str, n_lin: int, n_gates: int, hidden: int, *, seed: int, dtype,
                 forget: tuple[slice, float] | None = None) -> None:
        # W first: its memory check must come before the bias is allocated (model.hidden = 2**53 was numpy's
        # MemoryError making the bias, not the one line that refuses W); ``forget``: the forget gates' bias
        W = _uniform(seed, name, (n_lin, n_gates), n_lin + hidden, dtype)
        b = np.zeros(n_gates)
        if forget is not None:
            b[forget[0]] = forget[1]
        super().__init__(name, {"W": W, "b": np.asarray(b, dtype=dtype)})
        self.hidden = hidden

    def linear(self, x: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        self.charge(flops=2.0 * x.shape[0] * W.size, bytes=self.param_bytes, kernels=2)
        return x @ W + self.params["b"]

    def linear_grad(self, msg: Message, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        self.stash(msg, (x, dz))
        W = self.params["W"]
        self.charge(flops=2.0 * dz.shape[0] * W.size, bytes=W.nbytes, kernels=1)
        return dz @ W.T

    def param_grads(self, entries):
        X = np.concatenate([x for x, _ in entries])
        DZ = np.concatenate([dz for _, dz in entries])
        # two concatenates, the GEMM, the bias sum
        self.charge(flops=2.0 * X.shape[0] * self.params["W"].size, bytes=X.nbytes + DZ.nbytes, kernels=4)
        return {"W": X.T @ DZ, "b": DZ.sum(axis=0)}

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        work.flops += 2.0 * sum(int(p[1]) for p in profiles) * self.params["W"].size
        work.bytes += sum(int(p[0]) for p in profiles)
        work.kernels += 4


class LSTMCell(GatedCell):
    """LSTM step: ``[x, h, c] -> [h', c']``; gates i, f, o (sigmoid) and u (tanh) from ``[x, h] W + b``.

    c' = i⊙u + f⊙c, h' = o⊙tanh(c'). ``forget_bias`` initializes the forget-gate bias.
    """

    def __init__(self, name: str, n_x: int, hidden: int, *, seed: int = 0, dtype=np.float32,
                 forget_bias: float = 1.0) -> None:
        H = hidden
        super().__init__(name, n_x + H, 4 * H, H, seed=seed, dtype=dtype, forget=(slice(H, 2 * H), forget_bias))
        self.n_x = n_x

    def in_width(self, port: int) -> int:
        return self.n_x + 2 * self.hidden

    def out_width(self, port: int) -> int:
        return 2 * self.hidden

    def forward(self, msg: Message, port: int) -> list[Send]:
        H, p = self.hidden, msg.payload
        xh, c = p[:, :-H], p[:, -H:]
        z = self.linear(xh)
        s, u = sig(z[:, :3 * H]), np.tanh(z[:, 3 * H:])
        i, f, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:]
        c2 = i * u + f * c
        tc = np.tanh(c2)
        self.save(msg, (xh, c, s, u, tc))
        # besides the linear: sig, tanh, c2 (*, *, +), tanh, o * tc, concatenate
        self.charge(flops=30 * c.size, kernels=SIG_KERNELS + 1 + 3 + 1 + 2)
        return [self.out(msg.with_payload(np.concatenate([o * tc, c2], axis=1)))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        H = self.hidden
        xh, c, s, u, tc = self.pop(msg)
        dh, dc = msg.payload[:, :H], msg.payload[:, H:]
        i, f, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:]
        dct = dc + dh * o * (1 - tc * tc)
        dz = np.empty((xh.shape[0], 4 * H), dtype=dh.dtype)
        dz[:, :H], dz[:, H:2 * H], dz[:, 2 * H:3 * H] = dct * u, dct * c, dh * tc
        dz[:, :3 * H] *= s * (1 - s)
        dz[:, 3 * H:] = dct * i * (1 - u * u)
        # dct (*, *, *, 1 -, +), empty, 3 products and 3 stores, s * (1 - s) and *=, the u-gate line (*, *,
        # 1 -, *, store); dct * f and the concatenate below (linear_grad charges its own)
        self.charge(flops=30 * c.size, kernels=5 + 1 + 6 + 3 + 5 + 2)
        dxh = self.linear_grad(msg, xh, dz)
        return [self.grad(msg.with_payload(np.concatenate([dxh, dct * f], axis=1)))]


class TreeLSTMLeaf(GatedCell):
    """Tree-LSTM leaf (N-ary cell with no children): ``x -> [h, c]``, c = i⊙u, h = o⊙tanh(c)."""

    def __init__(self, name: str, n_x: int, hidden: int, *, seed: int = 0, dtype=np.float32) -> None:
        super().__init__(name, n_x, 3 * hidden, hidden, seed=seed, dtype=dtype)
        self.n_x = n_x

    def in_width(self, port: int) -> int:
        return self.n_x

    def out_width(self, port: int) -> int:
        return 2 * self.hidden

    def forward(self, msg: Message, port: int) -> list[Send]:
        H, x = self.hidden, msg.payload
        z = self.linear(x)
        s, u = sig(z[:, :2 * H]), np.tanh(z[:, 2 * H:])
        c = s[:, :H] * u
        tc = np.tanh(c)
        self.save(msg, (x, s, u, tc))
        # besides the linear: sig, tanh, i * u, tanh, o * tc, concatenate
        self.charge(flops=20 * c.size, kernels=SIG_KERNELS + 5)
        return [self.out(msg.with_payload(np.concatenate([s[:, H:] * tc, c], axis=1)))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        H = self.hidden
        x, s, u, tc = self.pop(msg)
        dh, dc = msg.payload[:, :H], msg.payload[:, H:]
        i, o = s[:, :H], s[:, H:]
        dct = dc + dh * o * (1 - tc * tc)
        dz = np.empty((x.shape[0], 3 * H), dtype=dh.dtype)
        dz[:, :H], dz[:, H:2 * H] = dct * u, dh * tc
        dz[:, :2 * H] *= s * (1 - s)
        dz[:, 2 * H:] = dct * i * (1 - u * u)
        # dct (5), empty, 2 products and 2 stores, s * (1 - s) and *= (3), the u-gate line (5)
        self.charge(flops=20 * dh.size, kernels=5 + 1 + 4 + 3 + 5)
        return [self.grad(msg.with_payload(self.linear_grad(msg, x, dz)))]


class TreeLSTMCell(GatedCell):
    """Binary Tree-LSTM composition: ``[h_l, c_l, h_r, c_r] -> [h, c]`` (Tai et al. 2015, N = 2).

    Gates i, f_l, f_r, o (sigmoid) and u (tanh) from ``[h_l, h_r] W + b``;
    c = i⊙u + f_l⊙c_l + f_r⊙c_r, h = o⊙tanh(c).
    """

    def __init__(self, name: str, hidden: int, *, seed: int = 0, dtype=np.float32,
                 forget_bias: float = 0.0) -> None:
        H = hidden
        super().__init__(name, 2 * H, 5 * H, H, seed=seed, dtype=dtype, forget=(slice(H, 3 * H), forget_bias))

    def in_width(self, port: int) -> int:
        return 4 * self.hidden

    def out_width(self, port: int) -> int:
        return 2 * self.hidden

    def forward(self, msg: Message, port: int) -> list[Send]:
        H, p = self.hidden, msg.payload
        cl, cr = p[:, H:2 * H], p[:, 3 * H:]
        xh = np.concatenate([p[:, :H], p[:, 2 * H:3 * H]], axis=1)
        z = self.linear(xh)
        s, u = sig(z[:, :4 * H]), np.tanh(z[:, 4 * H:])
        c = s[:, :H] * u + s[:, H:2 * H] * cl + s[:, 2 * H:3 * H] * cr
        tc = np.tanh(c)
        self.save(msg, (xh, cl, cr, s, u, tc))
        # besides the linear: concatenate [h_l, h_r], sig, tanh, c (3 *, 2 +), tanh, o * tc, concatenate
        self.charge(flops=40 * c.size, kernels=1 + SIG_KERNELS + 1 + 5 + 1 + 2)
        return [self.out(msg.with_payload(np.concatenate([s[:, 3 * H:] * tc, c], axis=1)))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        H = self.hidden
        xh, cl, cr, s, u, tc = self.pop(msg)
        dh, dc = msg.payload[:, :H], msg.payload[:, H:]
        i, fl, fr, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
        dct = dc + dh * o * (1 - tc * tc)
        dz = np.empty((xh.shape[0], 5 * H), dtype=dh.dtype)
        dz[:, :H], dz[:, H:2 * H], dz[:, 2 * H:3 * H], dz[:, 3 * H:4 * H] = dct * u, dct * cl, dct * cr, dh * tc
        dz[:, :4 * H] *= s * (1 - s)
        dz[:, 4 * H:] = dct * i * (1 - u * u)
        # dct (5), empty, 4 products and 4 stores, s * (1 - s) and *= (3), the u-gate line (5);
        # dct * fl, dct * fr and the concatenate below
        self.charge(flops=40 * dh.size, kernels=5 + 1 + 8 + 3 + 5 + 3)
        dxh = self.linear_grad(msg, xh, dz)
        dx = np.concatenate([dxh[:, :H], dct * fl, dxh[:, H:], dct * fr], axis=1)
        return [self.grad(msg.with_payload(dx))]


class GRUCell(ParamNode):
    """GRU step (PyTorch formulation): ``[x, h] -> h'``.

    r = σ(x Wx_r + h Wh_r + b), z = σ(x Wx_z + h Wh_z + b), n = tanh(x Wx_n + bx_n + r⊙(h Wh_n + bh_n)),
    h' = (1-z)⊙n + z⊙h. Parameters ``Wx [n_x, 3H]``, ``Wh [H, 3H]``, ``bx``, ``bh``; one node, one update.
    """

    update_work_from_shapes = True  # (grad_work, grad_sizes: the parameters' shapes and the profiles)

    def __init__(self, name: str, n_x: int, hidden: int, *, seed: int = 0, dtype=np.float32) -> None:
        H = hidden
        super().__init__(name, {"Wx": _uniform(seed, name + "/x", (n_x, 3 * H), n_x + H, dtype),
                                "Wh": _uniform(seed, name + "/h", (H, 3 * H), 2 * H, dtype),
                                "bx": np.zeros(3 * H, dtype=dtype), "bh": np.zeros(3 * H, dtype=dtype)})
        self.n_x, self.hidden = n_x, hidden

    def in_width(self, port: int) -> int:
        return self.n_x + self.hidden

    def out_width(self, port: int) -> int:
        return self.hidden

    def forward(self, msg: Message, port: int) -> list[Send]:
        H, p, P = self.hidden, msg.payload, self.params
        x, h = p[:, :self.n_x], p[:, self.n_x:]
        gx, gh = x @ P["Wx"] + P["bx"], h @ P["Wh"] + P["bh"]
        rz = sig(gx[:, :2 * H] + gh[:, :2 * H])
        r, z, hn = rz[:, :H], rz[:, H:], gh[:, 2 * H:]
        n = np.tanh(gx[:, 2 * H:] + r * hn)
        self.save(msg, (x, h, rz, hn, n))
        # two GEMMs with bias adds (4), r/z (+, sig), n (*, +, tanh), h' (-, *, +)
        self.charge(flops=2.0 * p.shape[0] * (P["Wx"].size + P["Wh"].size) + 20 * h.size,
                    bytes=self.param_bytes, kernels=4 + 1 + SIG_KERNELS + 3 + 3)
        return [self.out(msg.with_payload(n + z * (h - n)))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        H, P, g = self.hidden, self.params, msg.payload
        x, h, rz, hn, n = self.pop(msg)
        r, z = rz[:, :H], rz[:, H:]
        dnp = g * (1 - z) * (1 - n * n)
        drz = np.concatenate([dnp * hn, g * (h - n)], axis=1) * rz * (1 - rz)
        dgx = np.concatenate([drz, dnp], axis=1)
        dgh = np.concatenate([drz, dnp * r], axis=1)
        self.stash(msg, (x, h, dgx, dgh))
        # dnp (1 -, *, n*n, 1 -, *), drz (*, -, *, concatenate, *, 1 -, *), dgx (concatenate),
        # dgh (*, concatenate), dx (2 GEMMs, g * z, +, concatenate)
        self.charge(flops=2.0 * g.shape[0] * (P["Wx"].size + P["Wh"].size) + 20 * g.size,
                    bytes=P["Wx"].nbytes + P["Wh"].nbytes, kernels=5 + 7 + 1 + 2 + 5)
        dx = np.concatenate([dgx @ P["Wx"].T, dgh @ P["Wh"].T + g * z], axis=1)
        return [self.grad(msg.with_payload(dx))]

    def param_grads(self, entries):
        X, Hs, DGX, DGH = (np.concatenate([e[k] for e in entries]) for k in range(4))
        # four concatenates, two GEMMs, two bias sums
        self.charge(flops=2.0 * X.shape[0] * (self.params["Wx"].size + self.params["Wh"].size), kernels=8)
        return {"Wx": X.T @ DGX, "Wh": Hs.T @ DGH, "bx": DGX.sum(axis=0), "bh": DGH.sum(axis=0)}

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        work.flops += 2.0 * sum(int(p[1]) for p in profiles) * (self.params["Wx"].size + self.params["Wh"].size)
        work.kernels += 8

"""Parameterized payload transforms: Linear and Embedding.

Each keeps its parameters resident, computes the input gradient during backward, and stashes what its
parameter gradient needs; :class:`~ampsim.ir.param.ParamNode` turns the stashes into updates (muf rule).
"""

from __future__ import annotations

import numpy as np

from ampsim.ir.hostmem import param_values
from ampsim.ir.message import Message
from ampsim.ir.node import Send, Work
from ampsim.ir.param import ParamNode, init_rng
from ampsim.optim import SparseRows

__all__ = ["Embedding", "Linear"]

#: array operations inside np.unique(ar, return_inverse=True) (numpy 2.x: flatten, argsort, gather, empty,
#: mask[:1] =, !=, mask[1:] =, aux[mask], cumsum, - 1, empty, inv[perm] =)
_UNIQUE_KERNELS = 12


class Linear(ParamNode):
    """y = x W + b, with x of shape [rows, n_in].

    ``input_grad=False`` skips dL/dx for a layer fed directly by data, where nobody needs it.
    """

    update_work_from_shapes = True  # (grad_work, grad_sizes: the parameters' shapes and the profiles)

    def __init__(self, name: str, n_in: int, n_out: int, *, seed: int = 0, init: str = "glorot",
                 bias: bool = True, input_grad: bool = True, dtype: type = np.float32) -> None:
        scale = np.sqrt(2.0 / n_in) if init == "he" else np.sqrt(6.0 / (n_in + n_out))

        def draw() -> np.ndarray:
            rng = init_rng(seed, name)
            if init == "he":
                return rng.normal(0.0, scale, (n_in, n_out)).astype(dtype)
            return rng.uniform(-scale, scale, (n_in, n_out)).astype(dtype)
        params = {"W": param_values(name, (n_in, n_out), dtype, draw)}
        if bias:
            params["b"] = np.zeros(n_out, dtype=dtype)
        super().__init__(name, params)
        self.n_inputs, self.n_outputs, self.input_grad = n_in, n_out, input_grad

    def in_width(self, port: int) -> int:
        return self.n_inputs

    def out_width(self, port: int) -> int:
        return self.n_outputs

    def forward(self, msg: Message, port: int) -> list[Send]:
        x, W = msg.payload, self.params["W"]
        y = x @ W
        if "b" in self.params:
            y += self.params["b"]
        self.save(msg, x)
        self.charge(flops=2.0 * x.shape[0] * W.size, bytes=self.param_bytes, kernels=1 + ("b" in self.params))
        return [self.out(msg.with_payload(y))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        x, dy = self.pop(msg), msg.payload
        self.stash(msg, (x, dy))
        if not self.input_grad:
            return []
        W = self.params["W"]
        self.charge(flops=2.0 * dy.shape[0] * W.size, bytes=W.nbytes, kernels=1)
        return [self.grad(msg.with_payload(dy @ W.T))]

    def param_grads(self, entries):
        X = np.concatenate([x for x, _ in entries])
        DY = np.concatenate([dy for _, dy in entries])
        # two concatenates, the GEMM, the bias sum
        self.charge(flops=2.0 * X.shape[0] * self.params["W"].size, bytes=X.nbytes + DY.nbytes,
                    kernels=3 + ("b" in self.params))
        grads = {"W": X.T @ DY}
        if "b" in self.params:
            grads["b"] = DY.sum(axis=0)
        return grads

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        rows = sum(int(p[1]) for p in profiles)
        work.flops += 2.0 * rows * self.params["W"].size
        work.bytes += sum(int(p[0]) for p in profiles)
        work.kernels += 3 + ("b" in self.params)


class Embedding(ParamNode):
    """Rows of a table: integer ids of shape [rows] → vectors of shape [rows, dim].

    The ids are data, so backward sends nothing upstream; the gradient is sparse over the rows used.
    """

    update_work_from_shapes = True  # (grad_work, grad_sizes: the parameters' shapes and the profiles)

    row_params = ("W",)

    def __init__(self, name: str, n_rows: int, dim: int, *, seed: int = 0, scale: float = 0.1,
                 table: np.ndarray | None = None, dtype: type = np.float32) -> None:
        if table is None:
            table = param_values(name, (n_rows, dim), dtype,
                                 lambda: init_rng(seed, name).uniform(-scale, scale, (n_rows, dim)))
        super().__init__(name, {"W": np.asarray(table, dtype=dtype)}, width=dim)
        self.n_rows = n_rows

    def in_width(self, port: int) -> None:
        return None

    def forward(self, msg: Message, port: int) -> list[Send]:
        ids = msg.payload
        W = self.params["W"]
        self.save(msg, ids)
        self.charge(bytes=ids.size * W.shape[1] * W.itemsize, kernels=1)  # the row gather
        return [self.out(msg.with_payload(W[ids]))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        self.stash(msg, (self.pop(msg), msg.payload))
        return []

    def param_grads(self, entries):
        ids = np.concatenate([i for i, _ in entries])
        dy = np.concatenate([d for _, d in entries])
        rows, inverse = np.unique(ids, return_inverse=True)
        values = np.zeros((rows.size, dy.shape[1]), dtype=dy.dtype)
        np.add.at(values, inverse, dy)
        # two concatenates, np.zeros, np.add.at and np.unique's own operations
        self.charge(flops=dy.size, bytes=2 * dy.nbytes, kernels=4 + _UNIQUE_KERNELS)
        return {"W": SparseRows(rows, values)}

    def stash_profile(self, key: int) -> np.ndarray:
        """``[bytes held, gradient elements, gradient bytes, *the distinct ids]`` (the ids decide how many
        rows an update over several instances touches)."""
        entries = self.stashed_entries(key)
        held = sum(i.nbytes + d.nbytes for i, d in entries)
        ids = np.unique(np.concatenate([i.reshape(-1) for i, _ in entries])) if entries else np.zeros(0, np.int64)
        head = [held, sum(d.size for _, d in entries), sum(d.nbytes for _, d in entries)]
        return np.concatenate([np.array(head, dtype=np.int64), ids.astype(np.int64)])

    def grad_work(self, profiles: list[np.ndarray], work: Work) -> None:
        work.flops += sum(int(p[1]) for p in profiles)
        work.bytes += 2 * sum(int(p[2]) for p in profiles)
        work.kernels += 4 + _UNIQUE_KERNELS

    def grad_sizes(self, profiles: list[np.ndarray]) -> list[tuple[int, bool]]:
        rows = profiles[0][3:] if len(profiles) == 1 else np.unique(np.concatenate([p[3:] for p in profiles]))
        return [(int(rows.size) * self.params["W"].shape[1], True)]

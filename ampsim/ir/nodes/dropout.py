"""Dropout whose mask is a pure function of (seed, node name, instance key, state).

Executors process messages in different orders, so a mask drawn from a shared random stream would
differ between them. Here each mask element is a counter-based hash (splitmix64) of
``(seed, crc32(name), key, state, element index)``: the same visit gets the same mask on every executor,
every process and every repetition, and different visits get independent masks.
"""

from __future__ import annotations

import zlib

import numpy as np

from ampsim.ir.message import Message
from ampsim.ir.node import Node, Send

__all__ = ["Dropout", "hash_uniform"]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(z: int) -> int:
    z &= _M64
    z = ((z ^ (z >> 30)) * _C1) & _M64
    z = ((z ^ (z >> 27)) * _C2) & _M64
    return z ^ (z >> 31)


#: array operations of :func:`hash_uniform`: arange, *, +, three rounds of (>>, ^, *) less the last *,
#: >> 11, astype, * 2**-53
HASH_UNIFORM_KERNELS = 14


def hash_uniform(words: tuple[int, ...], n: int) -> np.ndarray:
    """``n`` uniforms in [0, 1), a deterministic function of the integer tuple ``words``."""
    h = 0
    for w in words:
        h = _mix(h + _GOLDEN + (w & _M64))
    x = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(_GOLDEN) + np.uint64(h)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(_C1)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_C2)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class Dropout(Node):
    """Inverted dropout with rate ``p`` while training (identity in evaluation).

    Forward: y = x ⊙ m / (1 - p) with m ~ Bernoulli(1 - p) from :func:`hash_uniform` of
    (seed, name, key, state); the scaled mask is cached. Backward: dx = dy ⊙ m / (1 - p).
    """

    def __init__(self, name: str, p: float, *, seed: int = 0, width: int | None = None) -> None:
        super().__init__(name, width=width)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p, self.seed = p, seed
        self._name_hash = zlib.crc32(name.encode())

    def mask(self, msg: Message) -> np.ndarray:
        x = msg.payload
        u = hash_uniform((self.seed, self._name_hash, msg.key, len(msg.state), *msg.state), x.size)
        return ((u >= self.p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))).reshape(x.shape)

    def forward(self, msg: Message, port: int) -> list[Send]:
        if not self.training or self.p == 0.0:
            return [self.out(msg)]
        m = self.mask(msg)
        self.save(msg, m)
        # the mask (hash_uniform, >=, astype, * 1/(1-p)), then the multiply
        self.charge(flops=2 * m.size, kernels=HASH_UNIFORM_KERNELS + 3 + 1)
        return [self.out(msg.with_payload(msg.payload * m))]

    def backward(self, msg: Message, port: int) -> list[Send]:
        if self.p == 0.0:
            return [self.grad(msg)]
        m = self.pop(msg)
        self.charge(flops=m.size, kernels=1)
        return [self.grad(msg.with_payload(msg.payload * m))]

"""Per-node optimizers.

Every parameterized node owns one optimizer instance and steps it on its own schedule (AMPNet has no
parameter server). An optimizer updates named numpy arrays in place, either densely or, for embedding
tables, on a set of rows only (:class:`SparseRows`), so that a 16k-word table is not rewritten for a
sentence that touched 20 of its rows. Sparse Adam and Adagrad keep per-row state and update only the rows
given ("lazy" variants), which is what per-instance training of embeddings needs; so do momentum (a row's
velocity moves it only in the updates that touch it) and weight decay (it decays the rows updated), where a
dense gradient with zero rows would move and decay every row (``tests/unit/test_optim.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Adagrad", "Adam", "Momentum", "OPTIMIZERS", "Optimizer", "OptimizerSpec", "SGD", "SparseRows",
           "make_optimizer"]


@dataclass(frozen=True, slots=True)
class SparseRows:
    """A gradient that is zero except on ``rows`` (unique, sorted): ``values[i]`` is row ``rows[i]``."""

    rows: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, slots=True)
class OptimizerSpec:
    kind: str = "sgd"  # sgd | momentum | adam | adagrad
    lr: float = 0.01
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    #: count the optimizer's state (momentum's velocity, Adagrad's sums, Adam's two moments) in what an
    #: update reads and writes (:meth:`Optimizer.state_bytes`) and in the memory its node holds; off, an
    #: update moves three times its parameters' bytes whatever the optimizer, as before 2026-12-06
    count_state: bool = False


class Optimizer:
    """Base: ``update(name, param, grad)`` changes ``param`` in place; state is kept per name. Weight decay is
    L2, ``g + weight_decay * p`` fed to the rule (also for Adam: not AdamW's decoupled decay)."""

    #: floating-point operations per updated element, for the cost model
    flops_per_element: float = 2.0
    #: array operations of one ``_delta`` call on a dense gradient and on :class:`SparseRows` (counted in
    #: each subclass's code; state slots allocated on the first update are not counted)
    delta_kernels: float = 1.0
    sparse_delta_kernels: float = 1.0
    #: arrays of state kept per parameter array, each of its shape (:meth:`_slot`)
    state_slots: int = 0

    def __init__(self, spec: OptimizerSpec) -> None:
        self.spec = spec
        self.state: dict[str, dict[str, np.ndarray]] = {}
        #: keep :attr:`last_step` (weight prediction needs it; off, nothing is kept or computed)
        self.record_steps = False
        #: the step :meth:`update` last subtracted from each parameter (dense; for a sparse update the rows
        #: it touched, zero elsewhere); filled only while :attr:`record_steps` is set
        self.last_step: dict[str, np.ndarray] = {}

    def update(self, name: str, param: np.ndarray, grad: np.ndarray | SparseRows, lr_scale: float = 1.0) -> int:
        """Apply one step with the learning rate times ``lr_scale`` (``train.staleness = "scale_lr"``'s factor:
        the step, weight decay's share included, is scaled, whatever the optimizer does to the gradient); return
        the number of elements updated."""
        wd = self.spec.weight_decay
        lr = self.spec.lr * lr_scale  # (x 1.0 is exact: the rate as configured, bit for bit)
        if isinstance(grad, SparseRows):
            g = grad.values + wd * param[grad.rows] if wd else grad.values
            delta = self._delta(name, param, g, grad.rows, lr)
            param[grad.rows] -= delta
            if self.record_steps:
                last = self.last_step.get(name)
                if last is None:
                    last = self.last_step[name] = np.zeros_like(param)
                else:
                    last.fill(0)
                last[grad.rows] = delta
            return int(g.size)
        g = grad + wd * param if wd else grad
        delta = self._delta(name, param, g, None, lr)
        param -= delta
        if self.record_steps:  # _delta returns a fresh array: keeping it costs no copy
            self.last_step[name] = delta
        return int(g.size)

    def kernels(self, sparse: bool) -> float:
        """Array operations of one :meth:`update` of one parameter array, as the code above does it."""
        if sparse:
            # param[rows] -= delta: gather, subtract, scatter; weight decay: gather, scale, add
            return self.sparse_delta_kernels + 3 + (3 if self.spec.weight_decay else 0)
        # param -= delta; weight decay: scale, add
        return self.delta_kernels + 1 + (2 if self.spec.weight_decay else 0)

    def state_bytes(self, elements: int, itemsize: int) -> int:
        """The state bytes an update of ``elements`` elements reads and writes (each slot's element read and
        written once; a sparse update touches its rows' only), where :attr:`OptimizerSpec.count_state` asks
        for them, else 0. Lazy sparse Adam's step count per row (8 bytes a row) is not counted.

        >>> Adam(OptimizerSpec(kind="adam", count_state=True)).state_bytes(1000, 4)   # m and v, in and out
        16000
        >>> SGD(OptimizerSpec(count_state=True)).state_bytes(1000, 4), Adam(OptimizerSpec()).state_bytes(1000, 4)
        (0, 0)
        """
        return 2 * self.state_slots * elements * itemsize if self.spec.count_state else 0

    def held_bytes(self, param_bytes: int) -> int:
        """The memory the state of parameters of ``param_bytes`` takes (dense slots, also for sparse
        updates), where :attr:`OptimizerSpec.count_state` asks for it, else 0."""
        return self.state_slots * param_bytes if self.spec.count_state else 0

    def _slot(self, name: str, slot: str, param: np.ndarray) -> np.ndarray:
        st = self.state.setdefault(name, {})
        if slot not in st:
            st[slot] = np.zeros_like(param)
        return st[slot]

    def _delta(self, name: str, param: np.ndarray, g: np.ndarray, rows: np.ndarray | None, lr: float) -> np.ndarray:
        """The step to subtract at learning rate ``lr`` (a fresh array), updating the optimizer's state."""
        raise NotImplementedError


class SGD(Optimizer):
    flops_per_element = 2.0
    delta_kernels = sparse_delta_kernels = 1  # lr * g

    def _delta(self, name, param, g, rows, lr):
        return lr * g


class Momentum(Optimizer):
    """Heavy-ball momentum: v = m v + g; p -= lr v."""

    flops_per_element = 4.0
    state_slots = 1  # v
    delta_kernels = 3  # v *= m; v += g; lr * v
    sparse_delta_kernels = 6  # gather, scale, add, scatter; gather, scale

    def _delta(self, name, param, g, rows, lr):
        v = self._slot(name, "v", param)
        if rows is None:
            v *= self.spec.momentum
            v += g
            return lr * v
        v[rows] = self.spec.momentum * v[rows] + g
        return lr * v[rows]


class Adam(Optimizer):
    """Adam (Kingma & Ba): m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr m^ / (sqrt(v^) + eps), with
    m^ = m / (1 - b1^t), v^ = v / (1 - b2^t); sparse rows keep their own step count t (lazy Adam)."""

    flops_per_element = 12.0
    state_slots = 2  # m, v
    # m: *=, *, +=; v: *=, g*g, *, +=; m / c1, lr *, v / c2, sqrt, + eps, /
    delta_kernels = 13
    # np.zeros for setdefault's default (built on every call); steps[rows] += 1 (gather, add, scatter);
    # t (gather); m[rows] = (gather, *, *, +, scatter); v[rows] = (gather, *, g*g, *, +, scatter);
    # m_hat and v_hat (gather, beta**t, 1 -, / each); lr *, sqrt, + eps, /, astype (float64 -> param dtype)
    sparse_delta_kernels = 1 + 3 + 1 + 5 + 6 + 4 + 4 + 5

    def _delta(self, name, param, g, rows, lr):
        s = self.spec
        m, v = self._slot(name, "m", param), self._slot(name, "v", param)
        if rows is None:
            t = self.state[name]["t"] = self.state[name].get("t", 0) + 1
            m *= s.beta1
            m += (1 - s.beta1) * g
            v *= s.beta2
            v += (1 - s.beta2) * (g * g)
            return lr * (m / (1 - s.beta1**t)) / (np.sqrt(v / (1 - s.beta2**t)) + s.eps)
        steps = self.state[name].setdefault("t_rows", np.zeros(param.shape[0], dtype=np.int64))
        steps[rows] += 1
        t = steps[rows].reshape((-1,) + (1,) * (g.ndim - 1))
        m[rows] = s.beta1 * m[rows] + (1 - s.beta1) * g
        v[rows] = s.beta2 * v[rows] + (1 - s.beta2) * (g * g)
        m_hat = m[rows] / (1 - s.beta1**t)
        v_hat = v[rows] / (1 - s.beta2**t)
        return (lr * m_hat / (np.sqrt(v_hat) + s.eps)).astype(param.dtype, copy=False)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as Tai et al. trained the Tree-LSTM: h += g^2 (from 0); p -= lr g / (sqrt(h) + eps)."""

    flops_per_element = 5.0
    state_slots = 1  # h
    delta_kernels = 6  # g*g, h +=, lr * g, sqrt, + eps, /
    sparse_delta_kernels = 9  # g*g, h[rows] += (gather, add, scatter); lr * g, gather, sqrt, + eps, /

    def _delta(self, name, param, g, rows, lr):
        h = self._slot(name, "h", param)
        if rows is None:
            h += g * g
            return lr * g / (np.sqrt(h) + self.spec.eps)
        h[rows] += g * g
        return lr * g / (np.sqrt(h[rows]) + self.spec.eps)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam, "adagrad": Adagrad}


def make_optimizer(spec: OptimizerSpec) -> Optimizer:
    return OPTIMIZERS[spec.kind](spec)

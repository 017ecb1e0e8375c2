"""Gated graph neural network (Li et al. 2016; Gilmer et al. 2017's GG-NN) on QM9: the ``qm9_ggnn`` task.

Model (H = ``model.hidden``, T = ``model.steps``, bond types k = single, double, triple, aromatic)::

    h⁰_v = [x_v, 0]                     (one-hot element padded to H, as Li et al.)
    m_v  = Σ_{u → v} (h_u W_k + b_k)    (k = type of the bond; both directions, tied weights)
    h_v  ← GRU(m_v, h_v)                T times (one GRUCell PPT; PyTorch gates)
    y    = w · Σ_v σ([h_v, x_v] Wi + bi) ⊙ (h_v Wj + bj) + c      (gated readout, then a Linear to 1)

One Linear PPT per bond type (``msg0..msg3``), so placement can put each type's weights on its own
device. The T steps are a loop in the IR: ``loop (Phi) → … → next (Isu t+1) → more (Cond t < T)``.
The graph is built by :mod:`ampsim.models.ggnn_ir` at one of two message granularities
(``model.granularity``); both compute exactly the same function with the same (name-seeded) parameters:

* ``"molecule"`` (default, fast): one message carries every atom of the instance (payload rows = atoms),
  state ``(t,)``. Each step Ungroups onto the bond types present (state ``(t, k)``), a Cond routes to
  ``msg{k}``, ``EdgeSum`` adds each atom's incoming type-k messages, and a Group sums the types (anchored
  on the step's own message, so a molecule without bonds still gets a zero message).
* ``"atom"`` (AMPNet's finest grain): one message per atom, state ``(t, v)``; an Ungroup sends it onto
  its outgoing directed edges (state ``(t, e)``), ``msg{k}`` transforms each edge message, and a Group
  sums them per target atom (anchored: atoms without bonds get zeros). The readout's per-atom terms are
  Group-summed per molecule. Measured on QM9 (T = 4, H = 64, reference executor, one busy 2-core
  machine): ~1,870 messages and ~9.8 ms per molecule, against ~157 messages and ~1.6 ms at molecule
  granularity (~25 messages and ~0.5 ms per molecule with 8 molecules per instance). It takes one
  molecule per instance (``data.batch = 1``; minibatches through ``train.muf``).

An instance is ``data.batch`` molecules (a disjoint union: rows of all their atoms, one output row per
molecule), reshuffled every epoch from the run seed; ``data.batch = 1`` is one molecule per instance.
The target (``data.target``, default ``homo``; GGNN's own ``mu`` is selectable but stays near 0.6× the
mean predictor's MAE on this 11 % subset without 3-D geometry) is standardised with the training split's
mean and std; the loss is the mean squared error on that scale and the metric, ``valid_mae``, is the mean
absolute error on the validation split in the property's physical unit (Metric scale = std).
``task.info["baseline_mae"]`` is the MAE of predicting the training mean on the same split and unit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Sequence

import numpy as np

from ampsim.data import qm9
from ampsim.errors import ConfigError, DataError
from ampsim.ir.message import Instance, Message
from ampsim.models.base import DataSpec, Metric, Model, Task
from ampsim.models.ggnn_ir import build_ggnn_graph

__all__ = ["build", "build_model", "epoch_instances", "graph_data", "read_example_counts", "read_widths", "skeleton",
           "width_bounds"]

log = logging.getLogger(__name__)

#: Physical unit of each QM9 target in this project's files (MoleculeNet units).
UNITS = {"mu": "D", "alpha": "a0^3", "homo": "Ha", "lumo": "Ha", "gap": "Ha", "r2": "a0^2", "zpve": "Ha",
         "u0": "Ha", "u298": "Ha", "h298": "Ha", "g298": "Ha", "cv": "cal/(mol K)"}


# -- instances ------------------------------------------------------------------------------------------

def graph_data(mols: Sequence[qm9.Molecule], y: np.ndarray, granularity: str = "molecule",
               n_types: int = qm9.N_BOND_TYPES) -> dict:
    """What the graph's callables read from an instance of ``mols`` (disjoint union, atoms renumbered).

    Always: ``x`` float32 ``[n, n_feat]``, ``mol`` (molecule of each atom), ``n_mol``, ``y`` ``[n_mol, 1]``.
    Directed edges: bond ``i`` (s, k, d) gives edge ``2i`` (s → d) and ``2i + 1`` (d → s), both type k.
    Molecule granularity adds ``types`` (bond types present, ascending) and ``src``/``dst`` per type;
    atom granularity adds ``out_edges`` (edge ids leaving each atom), ``etype``, ``edst``, ``in_pos``
    (rank of an edge among those entering its target), ``in_deg``, ``mol_pos`` and ``mol_size``.
    """
    sizes = [m.n_atoms for m in mols]
    offsets = np.cumsum([0] + sizes)[:-1]
    x = np.concatenate([m.node_features for m in mols]).astype(np.float32)
    bonds = np.concatenate([m.edges + [o, 0, o] for m, o in zip(mols, offsets)]) if mols else np.zeros((0, 3))
    bonds = bonds.astype(np.int64).reshape(-1, 3)
    src = np.stack([bonds[:, 0], bonds[:, 2]], axis=1).reshape(-1)
    dst = np.stack([bonds[:, 2], bonds[:, 0]], axis=1).reshape(-1)
    etype = np.repeat(bonds[:, 1], 2)
    n = len(x)
    data = {"x": x, "mol": np.repeat(np.arange(len(mols)), sizes), "n_mol": len(mols),
            "y": np.asarray(y, dtype=np.float64).reshape(-1, 1)}
    if granularity == "molecule":
        data["types"] = tuple(int(k) for k in np.unique(etype))
        data["src"] = tuple(src[etype == k] for k in range(n_types))
        data["dst"] = tuple(dst[etype == k] for k in range(n_types))
        return data
    out_edges: list[list[int]] = [[] for _ in range(n)]
    for e, s in enumerate(src.tolist()):
        out_edges[s].append(e)
    in_pos = np.zeros(len(dst), dtype=np.int64)
    in_deg = np.zeros(n, dtype=np.int64)
    for e, d in enumerate(dst.tolist()):
        in_pos[e] = in_deg[d]
        in_deg[d] += 1
    data.update(out_edges=out_edges, etype=etype.tolist(), edst=dst.tolist(), in_pos=in_pos.tolist(),
                in_deg=in_deg.tolist(), mol_pos=np.concatenate([np.arange(s) for s in sizes]).tolist(),
                mol_size=sizes)
    return data


@dataclass(frozen=True, slots=True)
class InjectGraph:
    """``h0`` (state ``(0,)``, ``[x, 0]`` padded to ``hidden``) and ``x`` for the readout (state ``(T,)``);
    at atom granularity one message per atom with states ``(0, v)`` and ``(T, v)``."""

    hidden: int
    steps: int
    granularity: str = "molecule"
    dtype: str = "float32"

    def __call__(self, inst: Instance) -> list[tuple[str, Message]]:
        x = inst.data["x"].astype(self.dtype)
        h0 = np.zeros((x.shape[0], self.hidden), dtype=self.dtype)
        h0[:, :x.shape[1]] = x
        T = self.steps
        if self.granularity == "molecule":
            return [("h0", Message(inst, (0,), h0)), ("x", Message(inst, (T,), x))]
        n = x.shape[0]
        return ([("h0", Message(inst, (0, v), h0[v:v + 1])) for v in range(n)]
                + [("x", Message(inst, (T, v), x[v:v + 1])) for v in range(n)])


def build_model(n_feat: int, hidden: int, steps: int, readout: int, *, granularity: str = "molecule",
                seed: int = 0, dtype=np.float32, scale: float = 1.0, n_types: int = qm9.N_BOND_TYPES) -> Model:
    """The GGNN as a validated IR :class:`Model`; the metric ``valid_mae`` is scaled by ``scale``."""
    if hidden < n_feat:
        raise ValueError(f"hidden width {hidden} is smaller than the {n_feat} atom features")
    graph = build_ggnn_graph(n_feat, hidden, steps, readout, granularity=granularity, seed=seed, dtype=dtype,
                             n_types=n_types)
    return Model(graph.validate(), InjectGraph(hidden, steps, granularity, np.dtype(dtype).name),
                 Metric("valid_mae", "loss", "abs_err", higher_is_better=False, scale=scale),
                 fields=("x", "mol", "n_mol", "y"),  # (and the edges of its granularity)
                 data_specs=(DataSpec("x", "float32", n_feat), DataSpec("y", "float64", 1)))


def batched(mols: Sequence[qm9.Molecule], y: np.ndarray, order: np.ndarray, batch: int, first_key: int,
            granularity: str, cache: dict | None = None) -> list[Instance]:
    """Instances of ``batch`` consecutive molecules of ``order``; with batch 1 the data dicts are cached."""
    out = []
    for k, start in enumerate(range(0, len(order), batch)):
        idx = order[start:start + batch]
        if batch == 1 and cache is not None:
            i = int(idx[0])
            data = cache.get(i)
            if data is None:
                data = cache[i] = graph_data([mols[i]], y[idx], granularity)
        else:
            data = graph_data([mols[i] for i in idx], y[idx], granularity)
        out.append(Instance(first_key + k, data))
    return out


def _check_splits(source: str, train: list, valid: list, task_id: int) -> int:
    """One line where a user's QM9 files (read unverified) do not fit ``[data]`` or each other: fewer targets per
    molecule than ``data.target`` needs, splits of other widths (an IndexError, a matmul's ValueError mid-run);
    returns their atom features, which :func:`_check_hidden` holds against ``model.hidden``."""
    (n_feat, n_targets), other = ((m.node_features.shape[1], len(m.targets)) for m in (train[0], valid[0]))
    if task_id >= n_targets:
        raise ConfigError(f"{source}: data.target: {qm9.TASKS[task_id]!r} is target {task_id + 1} in QM9's order, "
                          f"but the files hold {n_targets} target(s) per molecule")
    if other != (n_feat, n_targets):
        raise DataError(f"the QM9 splits differ: valid molecules have {other[0]} atom features and {other[1]} "
                        f"targets, train molecules {n_feat} and {n_targets}")
    return n_feat


def _check_hidden(source: str, n_feat: int, hidden: int) -> None:
    """One line where the files have more atom features than ``model.hidden`` (a ValueError of the model)."""
    if hidden < n_feat:
        raise ConfigError(f"{source}: model.hidden: must be >= the {n_feat} atom features of the files, got {hidden}")


def epoch_instances(cfg) -> int:
    """Training instances of an epoch, as :func:`build` makes them, without building the model (the parsed
    molecules are kept for the process): a sweep checks ``train.muf`` against it before any point runs."""
    return -(-_molecules(cfg, "train") // cfg.data.batch)


def read_example_counts(cfg) -> tuple[int, int]:
    """The training and validation molecules :func:`build` gives, parsed as it parses them (a few seconds, once per
    process, file version and limit: the workers of a sweep, forked after its checks, have them too): ``sweep
    --check`` sizes a point's activations with them, as the run does. (Counting the JSON's records without parsing
    them would save a third of that, and pass a malformed record that the run refuses.)"""
    return _molecules(cfg, "train"), _molecules(cfg, "valid")


def _molecules(cfg, split: str) -> int:
    return len(qm9.load_qm9(split, limit=(cfg.data.limit_train if split == "train" else cfg.data.limit_valid) or None))


def _model(cfg, n_feat: int, scale: float) -> Model:
    m = cfg.model
    return build_model(n_feat, m.hidden, m.steps, m.readout, granularity=m.granularity, seed=cfg.experiment.seed,
                       dtype=np.dtype(cfg.experiment.dtype), scale=scale)


def width_bounds(cfg) -> tuple[int]:
    """At most the atom features any run has, without reading the files: ``model.hidden`` (a run refuses files with
    more, :func:`_check_hidden`, before it sizes the model). ``sweep --check`` sizes the readout's gate (``[hidden
    + features, readout]``) and the activations with it, and parses the files (:func:`read_widths`) only where
    that does not fit."""
    return (cfg.model.hidden,)


def read_widths(cfg) -> tuple[int]:
    """The atom features of the files as :func:`build` reads and checks them (a user's ``qm9/molecules_*.json``
    may have other than the standard 5), for ``sweep --check``; ``model.hidden`` is checked against them by
    :func:`skeleton`, per point."""
    d = cfg.data
    train = qm9.load_qm9("train", limit=d.limit_train or None)
    valid = qm9.load_qm9("valid", limit=d.limit_valid or None)
    return (_check_splits(cfg.path, train, valid, qm9.TASKS.index(d.target)),)  # (the run's checks of them)


def skeleton(cfg, widths: tuple[int] = (len(qm9.ELEMENTS),)) -> Model:
    """The model with the run's nodes, without the molecules: the atom features of the files the standard QM9's,
    or ``widths[0]`` (:func:`width_bounds`, :func:`read_widths`; the node names do not depend on them), the
    target unscaled."""
    _check_hidden(cfg.path, widths[0], cfg.model.hidden)
    return _model(cfg, widths[0], 1.0)


def build(cfg) -> Task:
    d, m, seed = cfg.data, cfg.model, cfg.experiment.seed
    train = qm9.load_qm9("train", limit=d.limit_train or None)
    valid = qm9.load_qm9("valid", limit=d.limit_valid or None)
    task_id = qm9.TASKS.index(d.target)
    n_feat = _check_splits(cfg.path, train, valid, task_id)
    _check_hidden(cfg.path, n_feat, m.hidden)
    norm = qm9.TargetNorm.fit(train, task_id)
    y_train = norm.normalize(qm9.task_values(train, task_id))
    y_valid_raw = qm9.task_values(valid, task_id)
    y_valid = norm.normalize(y_valid_raw)
    baseline = float(np.mean(np.abs(y_valid_raw - norm.mean)))
    model = _model(cfg, n_feat, norm.std)
    n_inst = -(-len(train) // d.batch)
    train_cache: dict = {}
    valid_instances = batched(valid, y_valid, np.arange(len(valid)), d.batch, -(10**9), m.granularity)
    log.info("qm9_ggnn: %d train / %d valid molecules, target %s (%s): train mean %.6g std %.6g, "
             "predict-the-mean validation MAE %.6g", len(train), len(valid), d.target, UNITS[d.target],
             norm.mean, norm.std, baseline)
    # (module-level functions, not closures: a plan pickles, sent to a process pool or Ray)
    return Task(model, partial(_train_batches, train, y_train, seed, d.batch, n_inst, m.granularity, train_cache),
                partial(_eval_copy, valid_instances),
                info={"train_examples": len(train), "test_examples": len(valid), "instances_per_epoch": n_inst,
                      "target": d.target, "unit": UNITS[d.target], "target_mean": norm.mean,
                      "target_std": norm.std, "baseline_mae": baseline, "eval_split": "valid"})


def _train_batches(train: list, y: np.ndarray, seed: int, batch: int, n_inst: int, granularity: str, cache: dict,
                   epoch: int) -> list[Instance]:
    """Epoch ``epoch``'s batches of the ``train`` molecules (a task's ``train_instances``), shuffled from the seed
    and epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(len(train))
    return batched(train, y, order, batch, epoch * n_inst, granularity, cache)


def _eval_copy(instances: list[Instance]) -> list[Instance]:
    return list(instances)  # (a list of its own: a caller trimming or sorting it trimmed every later call)

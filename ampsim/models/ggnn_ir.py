"""The GGNN's IR graph at two message granularities, and the picklable structure callables it routes by.

Both granularities share the node names, kinds and parameters (so the same seed gives the same weights)::

    h0 ─► loop (Phi) ─► fan (Bcast 3) ─(0)─► spread (Ungroup) ─► route (Cond: bond type) ─► msg{k} (Linear)
                          │  │                                                                   │
                          │  └─(2: anchor)──────────────────────► agg (Group sum) ◄── [esum] ◄── merge (Phi)
                          └─(1)─────────────► cat (Concat [m, h]) ◄──┘
    cat ─► gru (GRUCell) ─► next (Isu t+1) ─► more (Cond t < T) ─(0)─► loop
                                                                └─(1)─► rcat (Concat [h, x]) ◄─ x
    rcat ─► readout (GatedReadout) ─► [pool (Group sum per molecule)] ─► out (Linear → 1) ─► loss (MSE)

* molecule granularity (state ``(t,)``, rows = atoms): ``spread`` emits one copy per bond type present
  (state ``(t, k)``), ``esum`` (:class:`~ampsim.ir.nodes.graphnet.EdgeSum`) sums each atom's incoming
  type-k rows, ``agg`` sums the types; the readout sums the atoms of each molecule itself (no ``pool``).
* atom granularity (state ``(t, v)``, one row): ``spread`` emits one message per outgoing directed edge
  (state ``(t, e)``), ``agg`` sums the edges entering each atom (no ``esum``); ``pool`` sums the
  readout's per-atom terms per molecule (state ``(T, molecule)``).

``agg`` is anchored on ``fan``'s third output: the anchor names the group (the step's own state) and says
how many members to expect, which may be zero (a molecule with no bonds, an atom with no neighbour).
The structure callables read the instance data built by :func:`ampsim.models.ggnn.graph_data`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ampsim.ir.graph import Graph
from ampsim.ir.message import Instance
from ampsim.ir.nodes.cells import GRUCell
from ampsim.ir.nodes.control import Concat, Cond, Increment, Isu, Phi
from ampsim.ir.nodes.graphnet import EdgeSum, GatedReadout
from ampsim.ir.nodes.groups import Bcast, Group, Ungroup
from ampsim.ir.nodes.io import Input
from ampsim.ir.nodes.linear import Linear
from ampsim.ir.nodes.losses import MeanSquaredError

__all__ = ["build_ggnn_graph"]

State = tuple[int, ...]


# -- molecule granularity: state (t,) for the atoms of an instance, (t, k) per bond type ----------------

@dataclass(frozen=True, slots=True)
class BondTypes:
    """Ungroup members: ``(t,) -> [(t, k) for each bond type k present]``."""

    def __call__(self, inst: Instance, state: State) -> list[State]:
        return [(state[0], k) for k in inst.data["types"]]


@dataclass(frozen=True, slots=True)
class ByStep:
    """Group: type member ``(t, k) -> ((t,), rank of k among the types present, number present)``."""

    def __call__(self, inst: Instance, state: State) -> tuple[State, int, int]:
        types = inst.data["types"]
        return (state[0],), types.index(state[1]), len(types)

    def count(self, inst: Instance, state: State) -> int:
        return len(inst.data["types"])


@dataclass(frozen=True, slots=True)
class TypeEdges:
    """EdgeSum edges of the bond type in ``state[1]``: ``(src, dst)`` (both directions)."""

    def __call__(self, inst: Instance, state: State) -> tuple[np.ndarray, np.ndarray]:
        k = state[1]
        return inst.data["src"][k], inst.data["dst"][k]


@dataclass(frozen=True, slots=True)
class StateType:
    """Cond predicate (molecule granularity): the bond type is ``state[1]``."""

    def __call__(self, inst: Instance, state: State) -> int:
        return state[1]


@dataclass(frozen=True, slots=True)
class AtomMolecule:
    """GatedReadout segments: the molecule of every atom row, and the number of molecules."""

    def __call__(self, inst: Instance, state: State) -> tuple[np.ndarray, int]:
        return inst.data["mol"], inst.data["n_mol"]


# -- atom granularity: state (t, v) per atom, (t, e) per directed edge ----------------------------------

@dataclass(frozen=True, slots=True)
class OutEdges:
    """Ungroup members: atom ``(t, v) -> [(t, e) for each directed edge e leaving v]``."""

    def __call__(self, inst: Instance, state: State) -> list[State]:
        t = state[0]
        return [(t, e) for e in inst.data["out_edges"][state[1]]]


@dataclass(frozen=True, slots=True)
class ByTargetAtom:
    """Group: edge ``(t, e) -> ((t, dst_e), rank of e among the edges entering dst_e, in-degree)``."""

    def __call__(self, inst: Instance, state: State) -> tuple[State, int, int]:
        d = inst.data
        e = state[1]
        v = d["edst"][e]
        return (state[0], v), d["in_pos"][e], d["in_deg"][v]

    def count(self, inst: Instance, state: State) -> int:
        return inst.data["in_deg"][state[1]]


@dataclass(frozen=True, slots=True)
class EdgeType:
    """Cond predicate (atom granularity): the bond type of edge ``state[1]``."""

    def __call__(self, inst: Instance, state: State) -> int:
        return inst.data["etype"][state[1]]


@dataclass(frozen=True, slots=True)
class ByMolecule:
    """Group: readout term of atom ``(T, v) -> ((T, molecule), position in it, its atom count)``."""

    def __call__(self, inst: Instance, state: State) -> tuple[State, int, int]:
        d = inst.data
        m = int(d["mol"][state[1]])
        return (state[0], m), d["mol_pos"][state[1]], d["mol_size"][m]


# -- shared ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StepBelow:
    """Cond predicate: port 0 (stay in the loop) while ``state[0] < steps``, else port 1."""

    steps: int

    def __call__(self, inst: Instance, state: State) -> int:
        return 0 if state[0] < self.steps else 1


@dataclass(frozen=True, slots=True)
class MoleculeTarget:
    """Loss target: all molecules' ``y`` rows (state ``(T,)``) or molecule ``state[1]``'s (``(T, m)``)."""

    def __call__(self, inst: Instance, state: State) -> np.ndarray:
        y = inst.data["y"]
        return y if len(state) == 1 else y[state[1]:state[1] + 1]


def build_ggnn_graph(n_feat: int, hidden: int, steps: int, readout: int, *, granularity: str = "molecule",
                     seed: int = 0, dtype=np.float32, n_types: int = 4) -> Graph:
    """The GGNN graph (not yet validated); see the module docstring for its shape."""
    if granularity not in ("molecule", "atom"):
        raise ValueError(f"granularity must be 'molecule' or 'atom', got {granularity!r}")
    H, mol = hidden, granularity == "molecule"
    g = Graph(f"ggnn_{granularity}")
    h0 = g.add(Input("h0", width=H, dtype=dtype))
    x = g.add(Input("x", width=n_feat, dtype=dtype))
    loop = g.add(Phi("loop", 2, width=H))
    fan = g.add(Bcast("fan", 3, width=H))
    spread = g.add(Ungroup("spread", BondTypes() if mol else OutEdges(), "copy", width=H))
    route = g.add(Cond("route", StateType() if mol else EdgeType(), n_types, width=H))
    merge = g.add(Phi("merge", n_types, width=H))
    agg = g.add(Group("agg", ByStep() if mol else ByTargetAtom(), "sum", width=H, anchor=True))
    cat = g.add(Concat("cat", [H, H]))
    gru = g.add(GRUCell("gru", H, H, seed=seed, dtype=dtype))
    nxt = g.add(Isu("next", Increment(0, 1), Increment(0, -1), width=H))
    more = g.add(Cond("more", StepBelow(steps), width=H))
    rcat = g.add(Concat("rcat", [H, n_feat]))
    ro = g.add(GatedReadout("readout", H, n_feat, readout, segments=AtomMolecule() if mol else None,
                            seed=seed, dtype=dtype))
    out = g.add(Linear("out", readout, 1, seed=seed, dtype=dtype))
    loss = g.add(MeanSquaredError("loss", 1, MoleculeTarget()))

    g.chain(h0, loop)
    g.chain(loop, fan)
    g.connect(fan, spread, 0, 0)
    g.connect(fan, cat, 1, 1)
    g.connect(fan, agg, 2, 1)
    g.chain(spread, route)
    for k in range(n_types):
        lin = g.add(Linear(f"msg{k}", H, H, seed=seed, dtype=dtype))
        g.connect(route, lin, k, 0)
        g.connect(lin, merge, 0, k)
    if mol:
        esum = g.add(EdgeSum("esum", TypeEdges(), width=H))
        g.chain(merge, esum, agg)
    else:
        g.chain(merge, agg)
    g.connect(agg, cat, 0, 0)
    g.chain(cat, gru, nxt, more)
    g.connect(more, loop, 0, 1)
    g.connect(more, rcat, 1, 0)
    g.connect(x, rcat, 0, 1)
    g.chain(rcat, ro)
    if mol:
        g.chain(ro, out)
    else:
        pool = g.add(Group("pool", ByMolecule(), "sum", width=readout))
        g.chain(ro, pool, out)
    g.chain(out, loss)
    return g

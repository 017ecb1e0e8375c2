"""The GGNN (qm9_ggnn): new node kinds' gradients, the IR GGNN against a direct numpy GGNN, empty groups,
freed caches, and the task built from a config on a tiny fake QM9."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ggnn_numpy import numpy_ggnn

from ampsim.config import load_config, parse_override
from ampsim.data import qm9
from ampsim.errors import ConfigError
from ampsim.executors.reference import ReferenceExecutor
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.graphnet import EdgeSum, GatedReadout
from ampsim.models import build_task
from ampsim.models.ggnn import build_model, graph_data
from ampsim.optim import OptimizerSpec
from ampsim.testing import check_node
from ampsim.training import train_experiment

ROOT = Path(__file__).resolve().parents[2]
H, T, R = 6, 3, 4


def molecule(n_atoms: int, bonds: list[tuple[int, int, int]], y: float = 0.0, seed: int = 0) -> qm9.Molecule:
    """A Molecule from 0-based (src, type, dst) bonds; random one-hot elements, target ``y`` first."""
    rng = np.random.default_rng(seed)
    feats = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n_atoms)]
    edges = np.asarray(bonds, dtype=np.int64).reshape(-1, 3)
    return qm9.Molecule(feats, edges, np.full(12, y), f"test_{seed}")


def random_molecule(seed: int) -> qm9.Molecule:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    bonds = [(int(rng.integers(0, v)), int(rng.integers(0, 4)), v) for v in range(1, n) if rng.random() < 0.8]
    return molecule(n, bonds, float(rng.normal()), seed)


SINGLE_ATOM = molecule(1, [], 0.7, seed=1)
METHANE = molecule(5, [(0, 0, k) for k in range(1, 5)], -0.3, seed=2)  # carbon with 4 H neighbours
WITH_ISOLATED = molecule(4, [(0, 1, 1), (1, 3, 2)], 1.1, seed=3)  # atom 3 has no bond
ALL_TYPES = molecule(5, [(0, 0, 1), (1, 1, 2), (2, 2, 3), (3, 3, 4), (4, 0, 0)], -1.2, seed=4)
CASES = [SINGLE_ATOM, METHANE, WITH_ISOLATED, ALL_TYPES] + [random_molecule(s) for s in range(10, 14)]


@dataclass(frozen=True)
class DataEdges:
    def __call__(self, inst, state):
        return inst.data["src"], inst.data["dst"]


@dataclass(frozen=True)
class DataSegments:
    def __call__(self, inst, state):
        return inst.data["seg"], inst.data["n_seg"]


# -- new node kinds ---------------------------------------------------------------------------------------

def test_edgesum_gradcheck_and_isolated_rows():
    rng = np.random.default_rng(0)
    inst = Instance(0, {"src": np.array([0, 1, 1, 2, 0]), "dst": np.array([1, 0, 2, 1, 2])})
    node = EdgeSum("esum", DataEdges(), width=3)
    x = rng.normal(size=(4, 3))  # row 3 has no edge: gets zeros and sends no gradient
    assert check_node(node, [x], inst=inst) < 1e-8
    out = node.step(False, Message(inst, (), x), 0).sends[0].msg.payload
    assert np.allclose(out, [x[1], x[0] + x[2], x[1] + x[0], np.zeros(3)])
    empty = Instance(1, {"src": np.zeros(0, int), "dst": np.zeros(0, int)})
    assert check_node(EdgeSum("e2", DataEdges(), width=3), [x], inst=empty) == 0.0


@pytest.mark.parametrize("segmented", [False, True])
def test_gated_readout_gradcheck(segmented):
    rng = np.random.default_rng(1)
    inst = Instance(0, {"seg": np.array([0, 0, 2, 1, 2]), "n_seg": 3})
    node = GatedReadout("ro", 4, 2, 3, segments=DataSegments() if segmented else None, seed=5, dtype=np.float64)
    node.params["bi"][:] = rng.normal(size=3)
    node.params["bj"][:] = rng.normal(size=3)
    assert check_node(node, [rng.normal(size=(5, 6))], inst=inst) < 1e-7


# -- the IR GGNN against the numpy GGNN -------------------------------------------------------------------

def sgd_model(granularity: str, seed: int = 0):
    model = build_model(5, H, T, R, granularity=granularity, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for node in model.graph.param_nodes:  # non-zero biases, so their gradients are checked too
        for name, p in node.params.items():
            if name.startswith("b"):
                p[:] = 0.1 * rng.normal(size=p.shape)
        node.configure(OptimizerSpec(kind="sgd", lr=1.0), muf=1)
    return model


def params_of(model) -> dict:
    return {n.name: {k: v.copy() for k, v in n.params.items()} for n in model.graph.param_nodes}


@pytest.mark.parametrize("granularity,batch", [("molecule", 1), ("molecule", 3), ("atom", 1)])
def test_ir_gradients_equal_numpy_ggnn(granularity, batch):
    groups = [CASES[i:i + batch] for i in range(0, len(CASES), batch)]
    for key, mols in enumerate(groups):
        model = sgd_model(granularity, seed=key)
        before = params_of(model)
        y = np.array([m.targets[0] for m in mols])
        inst = Instance(key, graph_data(mols, y, granularity))
        reports = ReferenceExecutor(model).train([inst])
        loss, grads = numpy_ggnn(before, graph_data(mols, y, "molecule"), H, T)
        assert sum(r.values["loss"] for r in reports) == pytest.approx(loss, rel=1e-12, abs=1e-14)
        after = params_of(model)
        for node, ps in grads.items():
            for name, g in ps.items():
                ir = before[node][name] - after[node][name]  # SGD, lr 1: the applied gradient
                scale = max(np.abs(g).max(), 1e-3)
                assert np.abs(ir - g).max() / scale < 1e-10, (granularity, [m.mol_id for m in mols], node, name)


def test_granularities_predict_the_same():
    preds = {}
    for gran in ("molecule", "atom"):
        model = build_model(5, H, T, R, granularity=gran, seed=3, dtype=np.float64)
        insts = [Instance(k, graph_data([m], np.zeros(1), gran)) for k, m in enumerate(CASES)]
        reports = ReferenceExecutor(model).evaluate(insts)
        preds[gran] = np.array([r.values["loss"] for r in sorted(reports, key=lambda r: r.key)])
    assert np.allclose(preds["molecule"], preds["atom"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("granularity", ["molecule", "atom"])
def test_empty_groups_single_atom_and_isolated_atoms(granularity):
    """A molecule without bonds: no bond type (molecule) / no edge (atom) is Ungrouped, the anchored Group
    still emits a zero message every step, the loop runs T times and the gradient flows back."""
    model = sgd_model(granularity)
    for mol in (SINGLE_ATOM, WITH_ISOLATED):
        data = graph_data([mol], np.array([mol.targets[0]]), granularity)
        if granularity == "molecule" and mol is SINGLE_ATOM:
            assert data["types"] == ()
        before = params_of(model)
        ReferenceExecutor(model).train([Instance(0, data)])
        changed = {n for n, ps in params_of(model).items() if any(not np.array_equal(v, before[n][k])
                                                                    for k, v in ps.items())}
        assert {"gru", "readout", "out"} <= changed
        if mol is SINGLE_ATOM:
            assert not any(n.startswith("msg") for n in changed)  # no bond, no message weight touched
    assert sum(model.graph.nodes["gru"].staleness.values()) == T * (2 if granularity == "molecule" else 5)


@pytest.mark.parametrize("granularity,muf", [("molecule", 1), ("atom", 1), ("molecule", 3)])
def test_caches_freed_after_an_epoch(granularity, muf):
    model = build_model(5, H, T, R, granularity=granularity, seed=0)
    for node in model.graph.param_nodes:
        node.configure(OptimizerSpec(kind="adam", lr=1e-3), muf=muf)
    ex = ReferenceExecutor(model)
    insts = [Instance(k, graph_data([m], np.array([m.targets[0]]), granularity)) for k, m in enumerate(CASES)]
    ex.train(insts)
    ex.evaluate([Instance(100 + k, i.data) for k, i in enumerate(insts)])
    for node in model.graph.nodes.values():
        assert not node._cache and not node._joins, node.name
        assert not any(node.holds(i.key) for i in insts), node.name
        if node.kind != "ppt":
            assert node.held_nbytes == 0, node.name
    for node in model.graph.param_nodes:
        node.update()  # flush a remainder smaller than muf
        assert node.held_nbytes == 0, node.name


# -- the task from a config, on a tiny fake QM9 -----------------------------------------------------------

def record(mol: qm9.Molecule, targets: list[float]) -> dict:
    return {"targets": [[t] for t in targets], "node_features": mol.node_features.tolist(),
            "graph": [[int(s), int(k) + 1, int(d)] for s, k, d in mol.edges], "mol_id": mol.mol_id}


@pytest.fixture
def fake_qm9(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    (tmp_path / "qm9").mkdir()
    for split, n in (("train", 12), ("valid", 5)):
        recs = [record(CASES[i % len(CASES)], rng.normal(size=12).tolist()) for i in range(n)]
        (tmp_path / "qm9" / f"molecules_{split}.json").write_text(json.dumps(recs))
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    return tmp_path


def test_task_from_config(fake_qm9, tmp_path):
    sets = ["data.target=\"gap\"", "data.batch=4", "model.hidden=8", "model.steps=2", "train.epochs=2"]
    cfg = load_config(ROOT / "experiments" / "qm9_ggnn.toml", [parse_override(s) for s in sets])
    task = build_task(cfg)
    train = qm9.load_qm9("train")
    valid = qm9.load_qm9("valid")
    y_tr, y_va = qm9.task_values(train, 4), qm9.task_values(valid, 4)
    assert task.info["target"] == "gap" and task.info["unit"] == "Ha"
    assert task.info["baseline_mae"] == pytest.approx(np.mean(np.abs(y_va - y_tr.mean())))
    assert task.model.metric.scale == pytest.approx(y_tr.std()) and not task.model.metric.higher_is_better
    epoch1 = task.train_instances(1)
    assert len(epoch1) == 3 and sum(i.data["n_mol"] for i in epoch1) == 12
    assert [i.key for i in epoch1] == [3, 4, 5] and [i.key for i in task.train_instances(2)] == [6, 7, 8]
    summary = train_experiment(cfg, tmp_path / "run")
    assert summary["epochs"] == 2 and summary["metric"] == "valid_mae" and summary["final_metric"] > 0
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("sets,match", [
    (["model.granularity=\"atom\"", "data.batch=2"], "data.batch: model.granularity 'atom'"),
    (["model.hidden=4"], "model.hidden: must be >= 5"),
    (["data.target=\"nope\""], "data.target: must be one of mu, alpha"),
])
def test_bad_config(fake_qm9, sets, match):
    with pytest.raises(ConfigError, match=match):
        build_task(load_config(ROOT / "experiments" / "qm9_ggnn.toml", [parse_override(s) for s in sets]))


def test_eval_instances_is_a_list_of_the_callers_own(fake_qm9):
    """It handed out the task's one list (the other tasks make a new one a call): a notebook that cut it to a few
    instances, or sorted it, changed every later evaluation of the task."""
    task = build_task(load_config(ROOT / "experiments" / "qm9_ggnn.toml", [parse_override("data.batch=4")]))
    keys = [i.key for i in task.eval_instances()]
    mine = task.eval_instances()
    mine.clear()
    assert keys and [i.key for i in task.eval_instances()] == keys

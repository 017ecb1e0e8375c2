"""The real datasets under AMPSIM_DATA: checksums, counts and label distributions.

Expected numbers are those of the data README (shared/data/README.md). Skips without AMPSIM_DATA,
fails with AMPSIM_REQUIRE_DATA=1 (see the ``data_root`` fixture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ampsim.data import mnist, qm9, sst, store

pytestmark = pytest.mark.data

MNIST_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
SST_ROOTS = {
    "train": [1092, 2218, 1624, 2322, 1288],
    "dev": [139, 289, 229, 279, 165],
    "test": [279, 633, 389, 510, 399],
}
SST_NODES = {
    "train": [8245, 34362, 219788, 44194, 11993],
    "dev": [1070, 4613, 28305, 5781, 1678],
    "test": [2008, 9255, 56548, 10998, 3791],
}
SST2_SIZES = {"train": 6920, "dev": 872, "test": 1821}


@pytest.fixture(scope="session")
def sst_trees(data_root):
    return {split: sst.load_sst(split, root=data_root) for split in sst.SPLITS}


@pytest.fixture(scope="session")
def qm9_mols(data_root):
    return {split: qm9.load_qm9(split, root=data_root) for split in qm9.SPLITS}


def test_registered_files_verify(data_root):
    for rel in store.REGISTRY:
        if (data_root / rel).exists():
            assert store.fetch(rel, root=data_root) == data_root / rel


@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist(data_root, split):
    x, y = mnist.load_mnist(split, root=data_root)
    n = sum(MNIST_COUNTS[split])
    assert x.shape == (n, 784) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == MNIST_COUNTS[split]
    assert x.min() == 0.0 and x.max() == 1.0
    assert 0.12 < x.mean() < 0.14  # the well-known MNIST pixel mean ~0.13


@pytest.mark.parametrize("split", sst.SPLITS)
def test_sst_counts(sst_trees, split):
    trees = sst_trees[split]
    assert len(trees) == sum(SST_ROOTS[split])
    assert np.bincount([t.root_label for t in trees], minlength=5).tolist() == SST_ROOTS[split]
    nodes = np.bincount(np.concatenate([t.labels for t in trees]), minlength=5)
    assert nodes.tolist() == SST_NODES[split]
    assert len(sst.drop_neutral_roots(trees)) == SST2_SIZES[split]
    for t in trees[:200]:
        assert t.n_nodes == 2 * len(t.leaves) - 1 and t.parent[t.root] == -1


def test_sst_tokens_with_spaces(sst_trees):
    spaced = [w for t in sst_trees["train"] for w in t.words if len(w.split()) > 1]
    assert sorted(w.split()[0] for w in spaced) == ["2", "2", "8"]
    assert all(w.endswith("1\\/2") for w in spaced)


def test_sst_vocab(sst_trees):
    vocab = sst.Vocab.build(sst_trees["train"])
    assert 15000 < len(vocab) < 25000 and vocab.tokens[0] == sst.UNK
    ids = vocab.encode(sst_trees["dev"][0])
    assert (ids[sst_trees["dev"][0].left >= 0] == sst.INTERNAL).all()


def test_qm9(qm9_mols):
    train, valid = qm9_mols["train"], qm9_mols["valid"]
    assert len(train) == 13291 and len(valid) == 1424
    mols = train + valid
    assert len({m.mol_id for m in mols}) == 14715
    types = np.bincount(np.concatenate([m.edges[:, 1] for m in mols]), minlength=4)
    assert types.tolist() == [244744, 10389, 4035, 14408]  # 0-based single/double/triple/aromatic
    assert max(m.n_atoms for m in mols) == 29
    assert all(m.node_features.shape[1] == 5 and m.targets.shape == (12,) for m in mols)
    gap, homo, lumo = (qm9.task_values(mols, qm9.TASKS.index(k)) for k in ("gap", "homo", "lumo"))
    assert np.abs(gap - (lumo - homo)).max() <= 1e-4 + 1e-9
    norm = qm9.TargetNorm.fit(train, task=0)
    assert abs(norm.normalize(qm9.task_values(train, 0)).mean()) < 1e-9


@pytest.mark.parametrize("experiment, granularity", [
    ("blobs_mlp", None), ("list_reduction", None), ("mnist_mlp", None), ("sst_treelstm", None),
    ("qm9_ggnn", "molecule"), ("qm9_ggnn", "atom")])
def test_every_tasks_instances_hold_the_fields_its_model_declares(data_root, monkeypatch, experiment, granularity):
    """Executors check a given instance against ``Model.fields``: a field declared and not produced would refuse
    the task's own instances, and a model declaring none would check nothing."""
    import ampsim

    monkeypatch.setenv("AMPSIM_DATA", str(data_root))
    limits = {"mnist_mlp": "data.limit_test", "sst_treelstm": "data.limit_test", "qm9_ggnn": "data.limit_valid"}
    sets = {"data.limit_train": 8, limits[experiment]: 8} if experiment in limits else {}
    task = ampsim.plan(ampsim.load_experiment(Path(__file__).parents[2] / "experiments" / f"{experiment}.toml",
                                              {**sets, **({"model.granularity": granularity, "data.batch": 1} if granularity else {})})).task
    assert task.model.fields
    for inst in [*task.train_instances(0)[:3], *task.eval_instances()[:3]]:
        assert set(task.model.fields) <= set(inst.data)

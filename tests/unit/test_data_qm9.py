"""ampsim.data.qm9: GGNN JSON records, validation messages, target normalisation."""

from __future__ import annotations

import copy
import gzip
import json

import numpy as np
import pytest

from ampsim.data import qm9
from ampsim.errors import DataError


def record(i: int = 7, mu: float = 0.5) -> dict:
    """Ethane-like record: 2 carbons, 1 C-C bond, 1 C-H bond (shortened), 12 targets."""
    return {
        "targets": [[mu]] + [[float(k)] for k in range(1, 12)],
        "graph": [[0, 1, 1], [0, 4, 2]],
        "node_features": [[0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0]],
        "smiles": "CC",
        "mol_id": f"gdb_{i}",
    }


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "qm9").mkdir()
    data = json.dumps([record(1, 1.0), record(2, 2.0), record(3, 6.0)]).encode()
    (tmp_path / "qm9" / "molecules_train.json.gz").write_bytes(gzip.compress(data))
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    return tmp_path


def test_load(root):
    mols = qm9.load_qm9("train", verify=False)
    assert [m.mol_id for m in mols] == ["gdb_1", "gdb_2", "gdb_3"]
    m = mols[0]
    assert m.node_features.dtype == np.float32 and m.node_features.shape == (3, 5)
    assert m.edges.dtype == np.int64 and m.edges.tolist() == [[0, 0, 1], [0, 3, 2]]  # 0-based types
    assert m.targets.dtype == np.float64 and m.targets.shape == (12,) and m.targets[0] == 1.0
    assert m.n_atoms == 3 and m.n_edges == 2 and m.smiles == "CC"
    assert not m.edges.flags.writeable
    assert len(qm9.load_qm9("train", root=root, limit=2, verify=False)) == 2


def test_checksum_and_missing(root):
    with pytest.raises(DataError, match="corrupt .*molecules_train.json.gz: sha256 mismatch"):
        qm9.load_qm9("train")
    with pytest.raises(DataError, match=r"missing .*molecules_valid.json.gz: no public download"):
        qm9.load_qm9("valid")
    with pytest.raises(ValueError):
        qm9.load_qm9("test")


def test_user_supplied_plain_json_wins(root):
    """GGNN's own preprocessing: plain JSON, one (normalised) target, no mol_id or smiles."""
    ggnn = [{"targets": [[0.25]], "graph": [], "node_features": [[0, 1, 0, 0, 0]]},
            {"targets": [[-1.0]], "graph": [[0, 2, 1]], "node_features": [[0, 1, 0, 0, 0]] * 2}]
    (root / "qm9" / "molecules_train.json").write_text(json.dumps(ggnn))
    mols = qm9.load_qm9("train")  # not registered: not checksum-verified
    assert [m.mol_id for m in mols] == ["record_0", "record_1"]
    assert mols[0].edges.shape == (0, 3) and mols[1].edges.tolist() == [[0, 1, 1]]
    assert mols[0].targets.tolist() == [0.25] and mols[0].smiles == ""


def test_flat_targets_accepted(tmp_path):
    r = record()
    r["targets"] = [t[0] for t in r["targets"]]
    p = tmp_path / "m.json"
    p.write_text(json.dumps([r]))
    assert qm9.read_molecules(p)[0].targets.shape == (12,)


def _break(mutate):
    r = copy.deepcopy(record())
    mutate(r)
    return r


@pytest.mark.parametrize(
    "bad, what",
    [
        (_break(lambda r: r.pop("graph")), "missing key 'graph'"),
        (_break(lambda r: r.pop("targets")), "missing key 'targets'"),
        (_break(lambda r: r["graph"].append([0, 1, 3])), "edge 2 [0, 1, 3] has an atom index outside 0..2"),
        (_break(lambda r: r["graph"].append([-1, 1, 0])), "edge 2 [-1, 1, 0] has an atom index outside 0..2"),
        (_break(lambda r: r["graph"].append([0, 5, 1])), "edge 2 has bond type 5, expected 1..4"),
        (_break(lambda r: r["graph"].append([0, 0, 1])), "edge 2 has bond type 0, expected 1..4"),
        (_break(lambda r: r["graph"].append([0, 1.5, 1])), "graph must hold only integers"),
        (_break(lambda r: r["graph"].append([0, 1])), "graph is ragged or not numeric"),
        (_break(lambda r: r.update(graph=[[0, 1, 1, 2]])), "graph must be a list of [src, bond_type, dst]"),
        (_break(lambda r: r["targets"].pop()), "11 targets, expected 12"),
        (_break(lambda r: r["targets"].__setitem__(3, ["x"])), "target 3 is not a number"),
        (_break(lambda r: r["targets"].__setitem__(3, [1.0, 2.0])), "target 3 is not a number"),
        (_break(lambda r: r["targets"].__setitem__(3, [float("nan")])), "target 3 is not finite"),
        (_break(lambda r: r.update(targets=[])), "targets must be a non-empty list"),
        (_break(lambda r: r["targets"].__setitem__(2, [10**400])), "target 2 is not finite (an integer too large"),
        (_break(lambda r: r["node_features"][1].__setitem__(0, "C")), "node_features must hold only numbers"),
        (_break(lambda r: r["node_features"][1].append(0)), "node_features is ragged or not numeric"),
        (_break(lambda r: r.update(node_features=[])), "node_features must be a non-empty"),
        (_break(lambda r: r.update(node_features=[[0, 1, 0, 0]] * 3)), "4 node features, expected 5"),
        (_break(lambda r: r.update(mol_id=5)), "mol_id and smiles must be strings"),
        ("not a record", "expected an object, got str"),
    ],
)
def test_malformed_record(tmp_path, bad, what):
    p = tmp_path / "m.json"
    p.write_text(json.dumps([record(1), bad]))
    with pytest.raises(DataError) as err:
        qm9.read_molecules(p)
    assert str(err.value).startswith(f"{p}: record 1: {what}")


def test_the_record_short_of_targets_is_named_when_it_is_the_first(tmp_path):
    """Taken from the first record, the number of targets blamed the second record for the first one's lack."""
    short = _break(lambda r: r.update(targets=[[1.0]]))
    p = tmp_path / "m.json"
    p.write_text(json.dumps([short, record(1), record(2)]))
    with pytest.raises(DataError) as err:
        qm9.read_molecules(p)
    assert str(err.value) == f"{p}: record 0: 1 targets, expected 12"


def test_bad_files(tmp_path):
    p = tmp_path / "m.json"
    p.write_text("[{")
    with pytest.raises(DataError, match=f"{p}: invalid JSON"):
        qm9.read_molecules(p)
    p.write_text('{"a": 1}')
    with pytest.raises(DataError, match="expected a JSON list"):
        qm9.read_molecules(p)
    p.write_bytes(gzip.compress(json.dumps([record()]).encode())[:-10])
    with pytest.raises(DataError, match=f"{p}: truncated: gzip stream ends early"):
        qm9.read_molecules(p)
    with pytest.raises(DataError, match="missing"):
        qm9.read_molecules(tmp_path / "nope.json")


def test_target_norm(root):
    mols = qm9.load_qm9("train", verify=False)
    norm = qm9.TargetNorm.fit(mols, task=0)
    assert norm.task == 0 and norm.mean == pytest.approx(3.0) and norm.std == pytest.approx(np.std([1, 2, 6]))
    z = norm.normalize(qm9.task_values(mols, 0))
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    np.testing.assert_allclose(norm.denormalize(z), [1.0, 2.0, 6.0])
    assert norm.normalize(3.0) == pytest.approx(0.0)
    flat = qm9.TargetNorm.fit(mols, task=5)  # same value everywhere
    assert flat.std == 1.0 and flat.mean == 5.0


def _ggnn_config(root, *overrides):
    from pathlib import Path

    from ampsim.config import load_config

    experiment = Path(__file__).resolve().parents[2] / "experiments" / "qm9_ggnn.toml"
    return load_config(experiment, [("data.limit_train", 3), ("data.limit_valid", 3), *overrides])


@pytest.mark.parametrize("train, valid, overrides, message", [
    ([], None, (), r"molecules_train.json: holds no molecule records"),
    ([record(1), record(2)], [], (), r"molecules_valid.json: holds no molecule records"),
    # GGNN's own files, one target each: data.target homo (the third) was an IndexError
    ([{**record(1), "targets": [[0.5]]}], [{**record(2), "targets": [[0.5]]}], (),
     r"data.target: 'homo' is target 3 in QM9's order, but the files hold 1 target\(s\) per molecule"),
    # splits of two widths: a matmul's ValueError after training had started
    ([{**record(1), "node_features": [[0, 1, 0, 0, 0, 0, 0]] * 3}], None, (),
     "the QM9 splits differ: valid molecules have 5 atom features and 12 targets, train molecules 7 and 12"),
    ([{**record(1), "node_features": [[0, 1, 0, 0, 0, 0, 0]] * 3}], [{**record(2), "node_features":
                                                                     [[0, 1, 0, 0, 0, 0, 0]] * 3}],
     (("model.hidden", 6),), r"model.hidden: must be >= the 7 atom features of the files, got 6"),
])
def test_a_users_qm9_files_that_do_not_fit_are_one_line(root, train, valid, overrides, message):
    """A user's plain JSON is read unverified: what does not fit the config or the other split is one line."""
    from ampsim.errors import AmpsimError
    from ampsim.planning import plan

    for split, records in (("train", train), ("valid", valid if valid is not None else [record(5), record(6)])):
        if records is not None:
            (root / "qm9" / f"molecules_{split}.json").write_text(json.dumps(records))
    with pytest.raises(AmpsimError, match=message):
        plan(_ggnn_config(root, *overrides))


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "molecules_train.json: is not a regular file"),
    (lambda p: p.symlink_to("/nonexistent/qm9_full.json"), "molecules_train.json: it is a symbolic link that leads to "
                                                           "nothing (to '/nonexistent/qm9_full.json')"),
    (lambda p: p.symlink_to(p.name), "molecules_train.json: it is a symbolic link loop (to 'molecules_train.json')"),
], ids=["folder", "dangling-link", "link-loop"])
def test_a_users_plain_file_that_is_no_file_is_refused_not_passed_over_for_the_projects(root, make, words):
    """A folder or a broken link at qm9/molecules_train.json (a user's full QM9 on a disk not mounted) was passed
    over without a word, and the run trained on the project's molecules instead."""
    make(root / "qm9" / "molecules_train.json")
    with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        qm9.load_qm9("train", verify=False)

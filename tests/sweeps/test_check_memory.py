"""``sweep --check`` refuses a point whose parameters the host cannot hold, as the point's run refuses it
(:func:`ampsim.ir.hostmem.check_param_memory`), without making them: it passed them, and the sweep then ran
the points before it and failed that one (README: every point is validated before anything runs). The host's
memory is the test's (``available_memory_bytes`` replaced), so the outcome does not depend on the machine."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from ampsim.cli import main
from ampsim.ir import hostmem

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
SST = ROOT / "experiments" / "sst_treelstm.toml"
QM9 = ROOT / "experiments" / "qm9_ggnn.toml"
ONE_UPDATE = '"train.muf" = 1'  # (an update an instance: the tasks' own muf would count the data for its check)


def sweep(tmp_path: Path, axis: str, fixed: str = '"data.n_train" = 64', experiment: Path = BLOBS,
          base: str = '"data.n_test" = 16') -> Path:
    path = tmp_path / "sw.toml"
    path.write_text(f'[sweep]\nexperiment = "{experiment}"\nhardware = "{ROOT / "hardware_models" / "torus8x8.toml"}"\n'
                    f'[fixed]\n"train.epochs" = 1\n{base}\n{fixed}\n[grid]\n{axis}\n')
    return path


@pytest.fixture
def one_gib(monkeypatch):
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 30)


def test_sweep_check_refuses_parameters_the_host_cannot_hold(tmp_path, capsys, one_gib):
    """16 features × 5,000,000 hidden units: 1.19 GiB to initialize and train on a 1 GiB host (the first layer's
    width is the data's, which the config tells: the skeleton's placeholder of one feature fitted)."""
    path = sweep(tmp_path, '"model.hidden" = [[64], [5000000]]')
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 (model.hidden=[5000000]): "), err
    assert err[0].endswith(f"{BLOBS}: node 'fc0': parameters [16, 5000000] need 1.19 GiB of host memory to initialize "
                           "and train; 1 GiB is available; make the model smaller"), err


def test_sweep_check_counts_the_layers_together_as_the_run_does(tmp_path, capsys, monkeypatch):
    """Layers that fit one by one but not beside what training adds to the earlier ones: refused as one model's."""
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 100 << 20)
    path = sweep(tmp_path, '"model.hidden" = [[64], [2500, 2500, 2500]]')
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err
    assert "point 1 (model.hidden=[2500,2500,2500]): " in err and "node 'fc2': parameters [2500, 2500] need" in err


def test_sweep_check_makes_no_parameter_array(tmp_path, capsys, monkeypatch):
    """Sizing a point draws nothing: 16 × 3,000,000 weights (192 MB, drawn as 384 MB of float64) fit the host
    given, and --check passes them in a few megabytes."""
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 40)
    path = sweep(tmp_path, '"model.hidden" = [[64], [3000000]]')
    tracemalloc.start()
    try:
        assert main(["sweep", str(path), "--check"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "2 valid points" in capsys.readouterr().out
    assert peak < 50e6, f"--check took {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("axis, fixed, bad", [
    ('"data.n_train" = [64, 200000000]', "",
     "blobs of 200,000,016 x 16 features around 4 class centres need 87.9 GiB of host memory to generate; 1 GiB "
     "is available"),
    ('"replicas.groups" = [1, 32]', '"data.n_train" = 64\n"model.hidden" = [2048, 2048]',
     "replicas: the copies' parameters need 2.01 GiB of host memory to train"),
], ids=["generated-data", "replica-copies"])
def test_sweep_check_refuses_data_or_copies_the_host_cannot_hold(tmp_path, capsys, one_gib, axis, fixed, bad):
    """The run refuses them as it generates the data, or before it copies the model; --check passed them."""
    path = sweep(tmp_path, axis, fixed)
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 ("), err
    assert f"): {BLOBS}: {bad}" in err[0], err


@pytest.mark.parametrize("experiment, fixed, wide", [
    # 200,020 values a row: 16 rows (mak 1) fit, 32 batches of 16 do not (0.38 GiB); the parameters are 0.05 GiB
    (BLOBS, '"data.n_train" = 1000', '"model.hidden" = [200000]'),
    # 3,914 values a row: 2,048 rows fit, 32 batches of them do not, even capped at the data's 20,000 rows
    (ROOT / "experiments" / "list_reduction.toml", '"data.n_train" = 20000\n"data.batch" = 2048', '"model.hidden" = 256'),
], ids=["blobs", "lists"])
def test_sweep_check_refuses_activations_the_host_cannot_hold_in_the_runs_words(tmp_path, capsys, monkeypatch,
                                                                                  experiment, fixed, wide):
    """A model whose parameters fit but whose activations at mak 32 do not: --check passed it and the sweep ran
    point 0 before its run refused point 1. Where the task counts its examples from the config (blobs, generated
    lists), --check refuses it, with the run's own line."""
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    refused_as_run(tmp_path, capsys, experiment, f"{fixed}\n{wide}", 32)


def refused_as_run(tmp_path: Path, capsys, experiment: Path, fixed: str, mak: int, base: str = '"data.n_test" = 16',
                   key: str = "train.mak", first: int = 1, says: str = "activations need at least"):
    """``sweep --check`` over ``key`` = [``first``, ``mak``] refuses point 1 in one line, which ends with the line its
    run (``ampsim train`` with the point's values) gives, which ``says``."""
    path = sweep(tmp_path, f'"{key}" = [{first}, {mak}]', fixed, experiment, base)
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 ({key}={mak}): "), err
    sets = [f"{k.strip()[1:-1]}={v.strip()}" for k, v in (ln.split("=", 1) for ln in (*base.splitlines(),
                                                                                      *fixed.splitlines()))]
    argv = ["train", str(experiment), "--no-progress", "--out", str(tmp_path / "run"), "--set", "train.epochs=1",
            "--set", f"{key}={mak}", *(a for s in sets for a in ("--set", s))]
    assert main(argv) == 2
    run = capsys.readouterr().err.strip()
    assert says in run and err[0].endswith(run.removeprefix("ampsim: error: ")), (err, run)


@pytest.mark.parametrize("experiment, fixed", [
    # 8,115 values a row: mak 10,000 is capped at the 8,544 training trees, 0.258 GiB
    (SST, '"model.hidden" = 300'),
    # 6,411 values a row: 8 molecules an instance × mak 10,000, capped at the 13,291 training molecules, 0.317 GiB
    (QM9, '"model.hidden" = 256\n"model.readout" = 256'),
], ids=["sst", "qm9"])
def test_sweep_check_refuses_activations_counted_from_the_data_in_the_runs_words(tmp_path, capsys, monkeypatch,
                                                                                  data_root, experiment, fixed):
    """SST's and QM9's examples are counted from their data: --check passed a point whose activations the host
    cannot hold (8,544 trees at mak 10,000 on 256 MiB), and the sweep ran point 0 before the run refused point 1.
    --check counts the examples where the point's activations could exceed the host's memory, and refuses it with
    the run's own line."""
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    refused_as_run(tmp_path, capsys, experiment, fixed, 10000, ONE_UPDATE)


def test_sweep_check_counts_the_trees_once_and_only_where_they_matter(tmp_path, capsys, monkeypatch, data_root):
    """A point whose activations fit at any count reads no data (--check of a usual SST sweep stays as fast as it
    was); points that need the count read each split once for the sweep, not once each: 300 trees at mak 10,000 or
    more fit, the whole treebank would not."""
    from ampsim.data import sst

    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    counted = []
    real = sst.count_sst
    monkeypatch.setattr(sst, "count_sst", lambda split, *a, **k: counted.append(split) or real(split, *a, **k))
    path = sweep(tmp_path, '"train.mak" = [1, 16, 10000, 20000, 40000]',
                 '"model.hidden" = 300\n"data.limit_train" = 300\n"data.limit_test" = 100', SST, ONE_UPDATE)
    assert main(["sweep", str(path), "--check"]) == 0, capsys.readouterr().err
    assert "5 valid points" in capsys.readouterr().out
    assert sorted(counted) == ["test", "train"], counted


def test_sweep_check_sizes_each_model_once_and_judges_it_at_every_point(tmp_path, capsys, monkeypatch):
    """--check sized every point's model twice (for its memory, uncached, and for its node names), though the points
    of a sweep share a few models: now once per model in the process, and its parameters are checked against the
    memory available at every point all the same (here the test's, which it lowers between two checks)."""
    from ampsim import models
    from ampsim.models import mlp
    from ampsim.recent import Recent

    monkeypatch.setattr(models, "_SIZED", Recent(16), raising=False)  # (what other tests sized: not to count)
    monkeypatch.setattr(models, "_NAMES", Recent(16))
    built = []
    skeleton = mlp.skeleton
    monkeypatch.setattr(mlp, "skeleton", lambda cfg: built.append(cfg.model.hidden) or skeleton(cfg))
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 30)
    path = sweep(tmp_path, '"model.hidden" = [[64, 8], [8000000, 8]]\n"train.mak" = [1, 2, 3, 4]',
                 '"data.n_train" = 64\n"replicas.groups" = 2\n"replicas.nodes" = { fc1 = 2 }')  # (names checked)
    assert main(["sweep", str(path), "--check"]) == 2  # (8,000,000 x 16 weights: 1.9 GiB, refused at point 4)
    assert "point 4 (model.hidden=[8000000,8], train.mak=1): " in capsys.readouterr().err
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 40)
    assert main(["sweep", str(path), "--check"]) == 0 and "8 valid points" in capsys.readouterr().out
    assert built == [[64, 8], [8000000, 8], [8000000, 8]]  # (the refused one sized again: no verdict is kept)
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 30)
    assert main(["sweep", str(path), "--check"]) == 2 and len(built) == 3
    assert "point 4 (model.hidden=[8000000,8], train.mak=1): " in capsys.readouterr().err


@pytest.mark.parametrize("fixed, key, first, last, says", [
    # the training split's 18,281 words × 4,000: 1.09 GiB
    ("", "model.embed", 300, 4000, "node 'emb': parameters [18281, 4000] need 1.09 GiB"),
    # 7 more copies of the 18,281 × 500 table (and the rest), each with its gradient and two slots: 1.11 GiB
    ('"model.embed" = 500', "replicas.groups", 1, 8, "replicas: the copies' parameters need 1.11 GiB"),
], ids=["table", "copies"])
def test_sweep_check_sizes_sst_embedding_table_with_the_runs_vocabulary(tmp_path, capsys, monkeypatch, data_root,
                                                                       fixed, key, first, last, says):
    """The skeleton's vocabulary is one word: --check passed an embedding table, or replica copies of it, on a
    256 MiB host whose run refuses them with the training split's vocabulary. It sizes the table with the
    vocabulary's bound, then, where that does not fit, with the vocabulary the run builds: the run's line."""
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    refused_as_run(tmp_path, capsys, SST, fixed, last, ONE_UPDATE, key=key, first=first, says=says)


@pytest.mark.parametrize("axis, fixed", [
    ('"model.embed" = [300, 1000, 3000, 4000, 5000]', ""),
    ('"replicas.groups" = [1, 2, 4, 8]', '\n"model.embed" = 500'),
], ids=["table", "copies"])
def test_sweep_check_builds_the_vocabulary_once_and_only_where_it_matters(tmp_path, capsys, monkeypatch, data_root,
                                                                          axis, fixed):
    """Tables (and their copies) that fit at the bound (18,281 words) build no vocabulary (--check of a usual SST
    sweep reads no tree for it); larger ones build it once for the sweep, not once each: 300 trees' words fit
    256 MiB where the treebank's would not (a table of 5,000-number words, 8 groups of 500)."""
    from ampsim.data import sst

    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    built = []
    real = sst.Vocab.build
    monkeypatch.setattr(sst.Vocab, "build", lambda trees, *a, **k: built.append(1) or real(trees, *a, **k))
    path = sweep(tmp_path, axis, '"data.limit_train" = 300' + fixed, SST, ONE_UPDATE)
    assert main(["sweep", str(path), "--check"]) == 0, capsys.readouterr().err
    assert "valid points" in capsys.readouterr().out
    assert len(built) == 1, built


def test_sweep_check_sizes_an_sst_model_once_per_widths(tmp_path, capsys, monkeypatch, data_root):
    """The sized skeletons are kept by the widths the data decides too: a table of other words is another model.
    An SST sweep sizes each model once, with the vocabulary's bound, and reads its node names from it (no skeleton
    of one word sized for them); where the bound does not fit, it sizes the run's vocabulary's once (the bound's,
    refused, again at each point: no verdict is kept)."""
    from ampsim import models
    from ampsim.config import load_config, parse_override
    from ampsim.models import treelstm
    from ampsim.recent import Recent

    monkeypatch.setattr(models, "_SIZED", Recent(16))
    monkeypatch.setattr(models, "_NAMES", Recent(16))
    sized = []
    skeleton = treelstm.skeleton
    monkeypatch.setattr(treelstm, "skeleton", lambda cfg, *w: sized.append((cfg.model.embed, *w)) or skeleton(cfg, *w))
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 40)
    path = sweep(tmp_path, '"model.embed" = [300, 500]\n"train.mak" = [1, 2, 3]', '"data.limit_train" = 300', SST,
                 ONE_UPDATE)
    assert main(["sweep", str(path), "--check"]) == 0, capsys.readouterr().err
    assert sized == [(300, (18281,)), (500, (18281,))]
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)  # (18,281 x 5,000: 1.36 GiB)
    path = sweep(tmp_path, '"train.mak" = [1, 2, 3]', '"data.limit_train" = 300\n"model.embed" = 5000', SST,
                 ONE_UPDATE)
    assert main(["sweep", str(path), "--check"]) == 0, capsys.readouterr().err
    words = sized[3][1]  # (the 300 trees': 2,164)
    assert words[0] < 18281 and sized[2:] == [(5000, (18281,)), (5000, words), *[(5000, (18281,))] * 2], sized
    cfg = load_config(SST, [parse_override(s) for s in ("data.limit_train=300", "model.embed=5000")])
    table = models.check_model_memory(cfg, words).graph.nodes["emb"]
    assert table.n_rows == words[0] and len(sized) == 6  # (the run's vocabulary's model, kept)
    assert models.check_model_memory(cfg, (7,)).graph.nodes["emb"].n_rows == 7 and sized[-1] == (5000, (7,))


def users_qm9(root: Path, features: int) -> Path:
    """A user's QM9 files (``qm9/molecules_*.json``, read unverified) of 3-atom molecules with ``features`` each."""
    import json

    atoms = [[float(a == f) for f in range(features)] for a in range(3)]
    record = {"targets": [[float(k)] for k in range(12)], "graph": [[0, 1, 1], [1, 1, 2]], "node_features": atoms}
    (root / "qm9").mkdir(parents=True)
    for split, n in (("train", 20), ("valid", 5)):
        (root / "qm9" / f"molecules_{split}.json").write_text(json.dumps([record] * n))
    return root


def test_sweep_check_sizes_qm9_readout_with_the_files_atom_features(tmp_path, capsys, monkeypatch):
    """The readout's gate is [hidden + atom features, readout], and the skeleton has QM9's standard 5 features: a
    user's files of 20 passed --check at readout 400,000 on a 256 MiB host, and the run refuses it."""
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    monkeypatch.setenv("AMPSIM_DATA", str(users_qm9(tmp_path / "data", 20)))
    refused_as_run(tmp_path, capsys, QM9, '"model.hidden" = 20', 400000, ONE_UPDATE, key="model.readout", first=64,
                   says="node 'readout/j': parameters [20, 400000] need 0.119 GiB")


def test_sweep_check_passes_what_a_qm9_run_of_fewer_atom_features_holds(tmp_path, capsys, monkeypatch):
    """Files of 3 features: the run's model at readout 440,000 fits 256 MiB, the skeleton's of 5 did not, and
    --check refused a point its run holds."""
    from ampsim.config import load_config, parse_override
    from ampsim.models import build_task, check_activations

    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 256 << 20)
    monkeypatch.setenv("AMPSIM_DATA", str(users_qm9(tmp_path / "data", 3)))
    path = sweep(tmp_path, '"model.readout" = [64, 440000]', '"model.hidden" = 20', QM9, ONE_UPDATE)
    assert main(["sweep", str(path), "--check"]) == 0, capsys.readouterr().err
    assert "2 valid points" in capsys.readouterr().out
    cfg = load_config(QM9, [parse_override(s) for s in ("model.hidden=20", "model.readout=440000", "train.muf=1")])
    with hostmem.sizing():  # (the run's own checks, its arrays not made)
        task = build_task(cfg)
    check_activations(cfg, task.model.graph, (20, 5))


def test_a_run_with_word_vectors_refuses_the_table_as_sweep_check_does(tmp_path, capsys, monkeypatch, data_root):
    """With ``model.vectors`` the run made the embedding table from the vectors file, unchecked: it drew the random
    rows (float64) and read the file, and counted nothing of the table for the later nodes, where --check refused
    the table as a run without vectors does (300 trees' 2,164 words × 6,000 on a 128 MiB host). The run refuses it
    in the same line, before it draws a row or reads the file."""
    from ampsim.data import sst
    from ampsim.errors import DataError

    def not_read(*args, **kwargs):
        raise DataError("the vectors file was read")

    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 128 << 20)
    monkeypatch.setattr(sst, "load_vectors", not_read)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the " + " ".join(["0.5"] * 6000) + "\n")
    refused_as_run(tmp_path, capsys, SST, f'"data.limit_train" = 300\n"data.limit_test" = 10\n"model.vectors" = '
                   f'"{vectors}"', 6000, ONE_UPDATE, key="model.embed", first=300,
                   says="node 'emb': parameters [2164, 6000] need 0.193 GiB")

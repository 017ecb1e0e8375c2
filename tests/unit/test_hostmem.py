"""Parameters checked against host memory before they are made: alone, or as one model's (``model_build``)."""

import numpy as np
import pytest

from ampsim.errors import ConfigError, RunError
from ampsim.ir import hostmem
from ampsim.ir.hostmem import check_param_memory, model_build


@pytest.fixture
def one_gib(monkeypatch):
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 1 << 30)


def test_each_array_alone_is_checked_for_its_initialization_and_training(one_gib):
    check_param_memory("fc0", (8000, 8000), np.float32)  # 64e6 × 16 bytes (array, gradient, 2 slots) = 0.95 GiB
    check_param_memory("fc1", (8000, 8000), np.float32)  # outside a model build: each alone
    with pytest.raises(RunError, match=r"^node 'fc0': parameters \[9000, 9000\] need 1.21 GiB .* train; 1 GiB is"):
        check_param_memory("fc0", (9000, 9000), np.float32)
    with pytest.raises(RunError, match=r"need 1.04 GiB"):  # a float64 draw + its float16 cast: 10 bytes beat 4 × 2
        check_param_memory("emb", (8000, 14000), np.float16)


def test_within_a_model_build_what_training_adds_to_earlier_arrays_counts():
    with model_build():
        hostmem.available_memory_bytes, real = (lambda: 1 << 30), hostmem.available_memory_bytes
        try:
            check_param_memory("fc0", (8000, 8000), np.float32)
            with pytest.raises(RunError, match=r"^node 'fc1': parameters \[8000, 8000\] need 0.954 GiB of host "
                                               r"memory to initialize and train with the 0.715 GiB training adds"):
                check_param_memory("fc1", (8000, 8000), np.float32)
        finally:
            hostmem.available_memory_bytes = real
    with model_build():  # a new build starts from nothing
        assert hostmem._TO_COME.get() == [0]
    assert hostmem._TO_COME.get() is None


def test_small_models_do_not_read_the_machine(monkeypatch):
    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: pytest.fail("read /proc for a small model"))
    with model_build():
        for i in range(10):
            check_param_memory(f"fc{i}", (500, 500), np.float32)  # 4 MB each, 30 MB to come: under 64 MiB


def test_the_activation_check_counts_a_batch_no_larger_than_the_data():
    """A batch larger than the whole dataset holds the dataset: 10 rows asked for in batches of 10**8 were refused
    as needing hundreds of GiB of activations."""
    from pathlib import Path

    from ampsim.config import load_config
    from ampsim.planning import plan

    blobs = Path(__file__).resolve().parents[2] / "experiments" / "blobs_mlp.toml"
    cfg = load_config(blobs, [("data.n_train", 10), ("data.n_test", 10), ("data.batch", 10**8)])
    assert plan(cfg).task.info["train_examples"] == 10
    with pytest.raises(ConfigError, match="activations need at least"):  # (a batch that large with its rows)
        hostmem.check_activation_memory(plan(cfg).task.model.graph, 10**8, "float32", 1, "x.toml")


def test_the_activation_check_counts_no_more_instances_in_flight_than_the_data_holds():
    """A train.mak far past the run's instances ("no bound") was refused as needing 8e10 GiB for 240 rows."""
    from pathlib import Path

    from ampsim.config import load_config
    from ampsim.planning import plan

    blobs = Path(__file__).resolve().parents[2] / "experiments" / "blobs_mlp.toml"
    p = plan(load_config(blobs, [("data.n_train", 200), ("data.n_test", 40), ("train.mak", 2**53)]))
    assert p.config.train.mak == 2**53
    with pytest.raises(ConfigError, match=r"\(148 values a row, 16 rows, train.mak 9007199254740992, at most the "
                                          r"data's 10,000,000,000 rows\)"):  # (still refused where the data is that big)
        hostmem.check_activation_memory(p.task.model.graph, 16, "float32", 2**53, "x.toml", 10**10)



def test_a_replicated_models_copies_are_checked_before_they_are_copied(monkeypatch):
    """The copies are deep copies, which no parameter check saw: 32 groups of a model that fit once grew past the
    host's memory (the kernel's OOM killer would have spoken)."""
    from pathlib import Path

    from ampsim.config import load_config
    from ampsim.planning import plan

    monkeypatch.setattr(hostmem, "available_memory_bytes", lambda: 300 * 2**20)
    blobs = Path(__file__).resolve().parents[2] / "experiments" / "blobs_mlp.toml"
    # (1,024 examples: 64 instances an epoch, so that each of the 32 groups' copies sees some, as train.muf asks)
    over = [("data.n_train", 1024), ("data.n_test", 16), ("model.hidden", [2048, 2048])]
    assert plan(load_config(blobs, over)).replicas is None  # the model alone fits
    with pytest.raises(ConfigError, match=r"replicas: the copies' parameters need 2.\d+ GiB of host memory to train"):
        plan(load_config(blobs, over + [("replicas.groups", 32), ("executor.kind", "sim"),
                                         ("executor.hardware", str(blobs.parents[1] / "hardware_models" /
                                                                   "torus8x8.toml"))]))


@pytest.mark.parametrize("cell", ["LSTMCell", "TreeLSTMCell"])
def test_a_gated_cells_weights_are_checked_before_its_bias_is_made(one_gib, cell):
    """The bias (4 or 5 x hidden) was made first: model.hidden = 2**53 was numpy's MemoryError, not the one line."""
    from ampsim.ir.nodes import cells

    make = {"LSTMCell": lambda h: cells.LSTMCell("lstm", 4, h), "TreeLSTMCell": lambda h: cells.TreeLSTMCell("tree", h)}
    with pytest.raises(RunError, match=r"^node '(lstm|tree)': parameters \[\d+, \d+\] need .* GiB of host memory"):
        make[cell](2**53)
    small = make[cell](3)  # the forget gates' bias, and only theirs, as before
    assert small.params["b"].tolist() == ([0.0] * 3 + [1.0] * 3 + [0.0] * 6 if cell == "LSTMCell" else [0.0] * 15)
    tree = cells.TreeLSTMCell("t", 2, forget_bias=0.5)
    assert tree.params["b"].tolist() == [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]

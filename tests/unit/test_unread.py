"""Keys set that nothing reads are said, not taken without a word: those the executor's kind does not read,
and those the other settings leave unread (a field's ``read_if``), at the plan stage; the key tables say when
each is read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ampsim.config import load_config, parse_override
from ampsim.fieldspec import unread_keys
from ampsim.planning import plan

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"


def _cfg(experiment: str, *sets: str):
    return load_config(EXP / f"{experiment}.toml", [parse_override(s) for s in sets])


@pytest.mark.parametrize("experiment, sets, unread", [
    ("blobs_mlp", ['train.optimizer="adam"', "train.momentum=0.5"], ["train.momentum"]),
    ("blobs_mlp", ['train.optimizer="sgd"', "train.beta2=0.9", "train.eps=1e-6"], ["train.beta2", "train.eps"]),
    ("blobs_mlp", ['train.optimizer="adagrad"', "train.eps=1e-6"], []),
    ("mnist_mlp", ["data.n_classes=7", "data.n_train=5"], ["data.n_classes", "data.n_train"]),
    ("blobs_mlp", ["data.n_classes=7"], []),
    ("list_reduction", ['model.cell="gru"', "model.forget_bias=5"], ["model.forget_bias"]),
    ("list_reduction", ['model.cell="lstm"', "model.forget_bias=5"], []),
    ("sst_treelstm", ['model.embedding_optimizer="same"', "model.embedding_lr=5"], ["model.embedding_lr"]),
    # the embedding table's own optimizer reads train's settings of its kind
    ("sst_treelstm", ['model.embedding_optimizer="momentum"', 'train.optimizer="adagrad"', "train.momentum=0.5"], []),
    ("sst_treelstm", ['model.embedding_optimizer="sgd"', 'train.optimizer="adagrad"', "train.momentum=0.5"],
     ["train.momentum"]),
])
def test_a_key_the_other_settings_leave_unread_is_named_with_what_would_read_it(experiment, sets, unread):
    said = unread_keys(_cfg(experiment, *sets))
    assert [s.split(" ")[0] for s in said] == unread
    assert all(" (read only with " in s for s in said)


@pytest.mark.parametrize("sets, warned", [
    (['executor.kind="multicore"', "hardware.link.latency_s=1e-6", "eval.advances_time=true"],
     "blobs_mlp.toml: [hardware] and --set eval.advances_time ignored: the multicore executor runs on this "
     "machine's cores"),
    (['executor.kind="sim"', f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"', "executor.workers=3",
      "executor.watchdog_s=5"], " --set executor.workers and executor.watchdog_s ignored: the multicore executor's "
                                "keys"),
    (['train.optimizer="adam"', "train.momentum=0.5"],
     "train.momentum (read only with train.optimizer = momentum or model.embedding_optimizer = momentum): set, "
     "and nothing reads it with these settings"),
])
def test_the_plan_stage_warns_of_keys_nothing_reads(caplog, sets, warned):
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", "data.n_train=64", "data.n_test=16", *sets))
    assert warned in caplog.text


def test_a_key_nothing_reads_is_named_by_the_override_that_gave_it_else_by_the_file(caplog, tmp_path):
    """The warnings named the experiment file for every key, also for one a --set gave, which the file does not hold
    (as the plan stage's errors did: ampsim.blame); the file still names what it gave."""
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", "data.n_train=64", 'train.optimizer="adam"', "train.momentum=0.5"))
    (line,) = [r.getMessage() for r in caplog.records if "nothing reads" in r.getMessage()]
    assert line == ("--set train.momentum (read only with train.optimizer = momentum or model.embedding_optimizer = "
                    "momentum): set, and nothing reads it with these settings")
    own = tmp_path / "adam.toml"  # the same key from the file, another from --set: the file first, then each
    own.write_text((EXP / "blobs_mlp.toml").read_text().replace("[train]\n", "[train]\nmomentum = 0.5\n", 1))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(load_config(own, [("data.n_train", 64), ("train.optimizer", "adam"), ("train.eps", 1e-6),
                               ("train.optimizer", "sgd")]))
    (line,) = [r.getMessage() for r in caplog.records if "nothing reads" in r.getMessage()]
    assert line.startswith(f"{own}: train.momentum (read only with ") and "; --set train.eps (read only" in line


def test_keys_every_executor_reads_are_not_warned_of(caplog):
    with caplog.at_level(logging.WARNING):
        plan(_cfg("blobs_mlp", 'executor.kind="multicore"', f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"',
                  "hardware.link.latency_s=1e-6", "executor.trace=true"))
    assert "ignored" not in caplog.text and "nothing reads" not in caplog.text


def test_the_controllers_costs_on_unshared_cores_are_warned_of(caplog):
    """With host.cores = 0 the controller is not modelled: its CPU costs did nothing, without a word."""
    ring = f'executor.hardware="{ROOT / "hardware_models" / "ring4.toml"}"'
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", 'executor.kind="sim"', ring, "hardware.host.controller_s_per_instance=1.5"))
    assert "host.controller_s_per_instance ignored: host.cores = 0" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", 'executor.kind="sim"', ring, "hardware.host.controller_s_per_instance=1.5",
                  "hardware.host.cores=2"))
    assert "ignored" not in caplog.text


def test_a_caller_that_resolves_the_machine_keeps_the_other_executors_keys_quietly(caplog):
    """compare simulates each multicore configuration with its executor.workers kept (they name the run): every
    compare warned that the simulator ignores them."""
    from ampsim.hardware.parse import load_system

    ring = ROOT / "hardware_models" / "ring4.toml"
    cfg = _cfg("blobs_mlp", 'executor.kind="sim"', f'executor.hardware="{ring}"', "executor.workers=2")
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(cfg, system=load_system(ring))
    assert "ignored" not in caplog.text


@pytest.mark.parametrize("sets, warned", [
    (["train.predict_delay=5"], True),
    (["train.predict_delay=5", 'train.staleness="predict"'], False),
    (["train.predict_delay=5", 'train.staleness_nodes={"fc*"="predict"}'], False),
    (['train.staleness="predict"'], False),
    # the first matching pattern decides a node's mode: a predict entry shadowed, or overridden for every node
    (["train.predict_delay=5", 'train.staleness="predict"', 'train.staleness_nodes={"*"="none"}'], True),
    (["train.predict_delay=5", 'train.staleness="predict"', 'train.staleness_nodes={"fc*"="none"}'], True),
])
def test_a_predict_delay_without_a_node_that_predicts_is_warned_of(caplog, sets, warned):
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", "data.n_train=64", "data.n_test=16", *sets))
    assert ("train.predict_delay (read only with train.staleness = predict" in caplog.text) == warned


@pytest.mark.parametrize("model, sets, warned", [
    # packet links: the mode an override asks for changes nothing (a sweep over it ran equal points)
    ("switch64", ['hardware.system.switching="store_and_forward"'], True),
    ("ring4", ['hardware.link.packet_bytes=256', 'hardware.system.switching="cut_through"'], True),
    # whole messages read it; a file's own mode beside its packets is the machine's description
    ("ring4", ['hardware.system.switching="cut_through"'], False),
    ("switch64", [], False),
    ("switch64", ['hardware.link.packet_bytes=0', 'hardware.system.switching="store_and_forward"'], False),
])
def test_a_switching_mode_set_on_packet_links_is_warned_of(caplog, model, sets, warned):
    hw = f'executor.hardware="{ROOT / "hardware_models" / f"{model}.toml"}"'
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", "data.n_train=64", "data.n_test=16", 'executor.kind="sim"', hw, *sets))
    assert ("hardware.system.switching ignored: the model's links are packet-switched" in caplog.text) == warned


@pytest.mark.parametrize("model, sets, warned", [
    # the calibrated model's table times every work: the roofline's rates and overheads cancel out
    ("local_cpu", ["hardware.chip.overhead_s=1.0"], "hardware.chip.overhead_s"),
    ("local_cpu", ["hardware.chip.flops_per_s=1e15", "hardware.chip.kernel_overhead_s=0.0"],
     "hardware.chip.flops_per_s and hardware.chip.kernel_overhead_s"),
    ("local_cpu", ["hardware.chip_override=[{chips=[1], mem_bandwidth_bytes_per_s=1e6}]"],
     "hardware.chip_override[0].mem_bandwidth_bytes_per_s"),
    # without a table (or with it removed) the rates are the model
    ("local_cpu", ["hardware.chip.overhead_s=1.0", "hardware.chip.compute_table=[]"], None),
    ("local_cpu", [], None),
    ("ring4", ["hardware.chip.overhead_s=1.0"], None),
])
def test_roofline_rates_set_on_chips_with_a_compute_table_are_warned_of(caplog, model, sets, warned):
    hw = f'executor.hardware="{ROOT / "hardware_models" / f"{model}.toml"}"'
    with caplog.at_level(logging.WARNING, logger="ampsim.planning"):
        plan(_cfg("blobs_mlp", "data.n_train=64", "data.n_test=16", 'executor.kind="sim"', hw, *sets))
    said = [r.getMessage() for r in caplog.records if "changes little or nothing" in r.getMessage()]
    assert [m.split(" changes little")[0].split(": ", 1)[1] for m in said] == ([warned] if warned else [])

"""Guards against runs that are nonsense or never end (issue 15): divergence (a loss that is not finite or
exceeds ``train.max_loss``), a ``train.muf`` that is never reached, absurd ``train.epochs``, and an explicit
placement naming a chip the machine lacks or a node the model lacks, caught by ``sweep --check``."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pytest

import ampsim
from ampsim.cli import main
from ampsim.config import load_config, parse_override
from ampsim.errors import ConfigError, RunError
from ampsim.ir.message import Instance, Message
from ampsim.ir.nodes.losses import Field, LossNode, MeanSquaredError, SoftmaxCrossEntropy, configure_losses
from ampsim.planning import plan
from ampsim.sweeps.spec import load_sweep
from ampsim.training import train_experiment

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"
RING4 = ROOT / "hardware_models" / "ring4.toml"
#: a small, fast blobs run: 20 instances (batches of 16) per epoch
SMALL = [("data.n_train", 320), ("data.n_test", 64), ("model.hidden", [8]), ("train.epochs", 1)]


def config(*overrides):
    return load_config(BLOBS, SMALL + [parse_override(o) for o in overrides])


# --------------------------------------------------------------------------- divergence
def mse_message(y: np.ndarray, t: np.ndarray) -> tuple[MeanSquaredError, Message]:
    node = MeanSquaredError("loss", y.shape[1], Field("t"))
    return node, Message(Instance(7, {"t": t}), (2,), y)


def test_loss_above_the_bound_is_one_run_error_naming_node_instance_and_value():
    y = np.full((4, 1), 3000.0)
    node, msg = mse_message(y, np.zeros((4, 1)))
    node.forward(msg, 0)  # no bound: 9e6 per row goes through
    configure_losses([node], 1e6)
    with pytest.raises(RunError) as err:
        node.forward(msg, 0)
    assert str(err.value) == ("loss became 9e+06 per row at node loss on instance key 7 state (2,), above "
                              "train.max_loss = 1e+06: the run diverged; lower train.lr (or a rate of the model's "
                              "own, e.g. model.embedding_lr) or set train.clip_norm")
    assert "\n" not in str(err.value)
    configure_losses([node], 1e7)  # the bound is per labelled row: 9e6 < 1e7
    node.forward(msg, 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_loss_that_is_not_finite_stops_the_run_even_without_a_bound(bad):
    node, msg = mse_message(np.array([[bad]]), np.zeros((1, 1)))
    configure_losses([node], 0.0)
    with pytest.raises(RunError, match=r"^loss became (nan|inf) at node loss on instance key 7 state \(2,\); lower"):
        node.forward(msg, 0)


def test_cross_entropy_bound_counts_labelled_rows_only():
    node = SoftmaxCrossEntropy("ce", 2, Field("y"))
    z = np.array([[0.0, 50.0], [0.0, 50.0], [0.0, 0.0]])
    msg = Message(Instance(1, {"y": np.array([0, 0, -1])}), (), z)  # two labelled rows, 50 each
    configure_losses([node], 50.5)
    node.forward(msg, 0)
    configure_losses([node], 49.5)
    with pytest.raises(RunError, match="loss became 50 per row at node ce"):
        node.forward(msg, 0)


def test_configure_losses_touches_only_loss_nodes_and_rejects_negative_bounds():
    node = SoftmaxCrossEntropy("ce", 2, Field("y"))
    other = object()
    configure_losses([node, other], 5.0)
    assert node.max_loss == 5.0 and isinstance(node, LossNode)
    with pytest.raises(ValueError):
        configure_losses([node], -1.0)


@pytest.mark.parametrize("kind", ["reference", "sim", "multicore"])
def test_the_plan_gives_every_executor_the_bound(kind):
    cfg = config(f'executor.kind="{kind}"', f'executor.hardware="{RING4}"', "executor.workers=2",
                 "train.max_loss=123.0")
    p = plan(cfg)
    losses = [n for n in p.task.model.graph.nodes.values() if isinstance(n, LossNode)]
    assert losses and all(n.max_loss == 123.0 for n in losses)


def test_default_bound_is_generous_and_zero_turns_it_off():
    assert config().train.max_loss == 1e6
    assert config("train.max_loss=0").train.max_loss == 0.0
    with pytest.raises(ConfigError, match=r"train.max_loss: must be >= 0"):
        config("train.max_loss=-1")


def test_a_diverging_adam_run_stops_in_one_line_and_keeps_no_result(tmp_path, capsys):
    # Adam at lr 1e3 reaches losses of 1e10 per row: it used to report success
    out = tmp_path / "run"
    code = main(["train", str(BLOBS), "--no-progress", "--out", str(out), "--set", "train.lr=1000",
                 "--set", "train.epochs=2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("ampsim: error: loss became ") and "above train.max_loss = 1e+06" in err[0]
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize("kind", ["reference", "sim"])
@pytest.mark.parametrize("sets, blamed", [
    # a round of the averaging steps 1e308 times the copies' mean move: the parameters turn nan at once, and the
    # line advised lowering train.lr (0.003), which had no part in it
    (["replicas.groups=2", "replicas.outer_lr=1e308"],
     "likely at fault: replicas.outer_lr = 1e+308 (each replica averaging round moves the parameters 1e+308 "
     "times the copies' mean move, more than the 2 copies' moves added up); else lower train.lr"),
    (["train.staleness=\"predict\"", "train.predict_delay=1e308", "train.mak=4"],
     "likely at fault: train.predict_delay = 1e+308 (the delay predictor extrapolates each forward's parameters "
     "along the last step 1e+308 updates ahead, with train.mak = 4 instances in flight); else lower train.lr"),
])
def test_a_divergence_blames_the_extreme_setting_of_the_stage_that_blew_up(tmp_path, capsys, kind, sets, blamed):
    out = tmp_path / "run"
    code = main(["train", str(BLOBS), "--no-progress", "--out", str(out), "--set", "data.n_train=200",
                 "--set", "data.n_test=50", "--set", f'executor.kind="{kind}"', "--set", f'executor.hardware="{RING4}"',
                 *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("ampsim: error: loss became nan at node ") and f"); {blamed}" in err[0], err[0]


def test_a_divergence_lists_the_other_stages_the_run_has_where_no_setting_is_extreme(tmp_path, capsys):
    def line(*sets: str) -> str:
        main(["train", str(BLOBS), "--no-progress", "--out", str(tmp_path / "run"), "--set", "data.n_train=200",
              "--set", "data.n_test=50", "--set", "train.lr=1000", *[a for s in sets for a in ("--set", s)]])
        (err,) = capsys.readouterr().err.strip().splitlines()
        advice = err.partition(": the run diverged; ")[2].partition("; parameters when it stopped: ")[0]
        said = re.fullmatch(r"(.*) \(epoch 1, training\)", advice)  # (then when: an instance's key runs on)
        assert said, advice
        return said[1]

    rates = "lower train.lr (or a rate of the model's own, e.g. model.embedding_lr) or set train.clip_norm"
    assert line() == rates  # (nothing else in the run can blow up: word for word the line it always was)
    assert line("replicas.groups=4", "replicas.outer_lr=4") == (
        f"{rates}, or lower replicas.outer_lr (4: each replica averaging round steps past the copies' average)")
    assert line("replicas.groups=4", "replicas.outer_lr=4", 'replicas.sync="none"') == rates  # (nothing averaged)
    assert line('train.staleness="predict"', "train.mak=4") == (
        f"{rates}, or turn off the delay predictor (train.staleness \"predict\": each forward's parameters "
        "extrapolated along the last step by the measured staleness)")


@pytest.mark.parametrize("kind", ["reference", "sim"])
def test_a_divergence_says_what_the_parameters_hold_when_it_stopped(tmp_path, capsys, kind):
    # what the config cannot tell apart, the parameters can: blown up by the rate (1e+30 after one update), not
    # finite after an averaging round at outer_lr 1e308, moderate where the delay predictor's extrapolation alone
    # overflowed (the stored parameters never saw it)
    def evidence(*sets: str) -> str:
        main(["train", str(BLOBS), "--no-progress", "--out", str(tmp_path / "run"), "--set", "data.n_train=200",
              "--set", "data.n_test=50", "--set", f'executor.kind="{kind}"', "--set", f'executor.hardware="{RING4}"',
              *[a for s in sets for a in ("--set", s)]])
        (err,) = capsys.readouterr().err.strip().splitlines()
        return err.partition("; parameters when it stopped: ")[2]

    assert re.fullmatch(r"all finite, the largest \|value\| 1[.0-9]*e\+30 \((fc\d)\.[Wb], after 1 update of \1\)",
                        evidence('train.optimizer="sgd"', "train.lr=1e30"))
    assert evidence("replicas.groups=2", "replicas.outer_lr=1e308") == (
        "not finite in all 12 arrays (g0/fc0.W, g0/fc0.b, g0/fc1.W, g0/fc1.b, ...)")
    moderate = re.fullmatch(r"all finite, the largest \|value\| ([0-9.]+) \(fc\d\.[Wb], after \d+ updates? of fc\d\)",
                            evidence('train.staleness="predict"', "train.predict_delay=1e308", "train.mak=4"))
    assert moderate and float(moderate[1]) < 10


# --------------------------------------------------------------------------- muf and epochs
def test_muf_above_the_whole_run_is_refused_in_one_line(tmp_path):
    cfg = config("train.muf=41", "train.epochs=2")  # 2 epochs of 20 instances
    with pytest.raises(ConfigError) as err:
        train_experiment(cfg, tmp_path / "run")
    assert str(err.value) == ("--set train.muf: 41 is more than the 40 instances of the whole run (2 epoch(s) "
                              "of 20): parameters would never update; use at most 20")
    cfg = config("train.muf=11", "train.max_instances=5", "train.epochs=2")  # max_instances counts
    with pytest.raises(ConfigError, match="more than the 10 instances of the whole run"):
        train_experiment(cfg, tmp_path / "run")


def test_muf_above_an_epoch_warns_in_one_line(tmp_path, caplog):
    cfg = config("train.muf=30", "train.epochs=2")
    with caplog.at_level(logging.WARNING, logger="ampsim.training"):
        summary = train_experiment(cfg, tmp_path / "run")
    assert summary["epochs"] == 2
    (record,) = [r for r in caplog.records if "train.muf" in r.getMessage()]
    assert record.getMessage() == ("--set train.muf = 30 is more than the 20 instances of an epoch: parameters "
                                   "update only about once every 1.5 epochs (completed instances carry over to the "
                                   "next epoch)")  # (the --set that gave it, as the errors above: not the file)
    caplog.clear()
    own = tmp_path / "muf30.toml"  # the same value from a file: the file's key
    own.write_text(BLOBS.read_text().replace("[train]\n", "[train]\nmuf = 30\n", 1))
    with caplog.at_level(logging.WARNING, logger="ampsim.training"):
        train_experiment(load_config(own, SMALL + [("train.epochs", 2)]), tmp_path / "run1")
    assert [r.getMessage() for r in caplog.records if "train.muf" in r.getMessage()] == [
        f"{own}: train.muf = 30 is more than the 20 instances of an epoch: parameters update only about once every "
        "1.5 epochs (completed instances carry over to the next epoch)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ampsim.training"):
        train_experiment(config("train.muf=20"), tmp_path / "run2")
    assert not caplog.records


def test_absurd_epochs_are_refused():
    with pytest.raises(ConfigError, match=r"train.epochs: must be <= 1e\+06, got 1000000000000"):
        config("train.epochs=1000000000000")
    assert config("train.epochs=1000000").train.epochs == 1_000_000


def test_a_run_projected_past_a_day_warns_after_its_first_epoch(tmp_path, caplog, monkeypatch):
    from ampsim import training

    monkeypatch.setattr(training, "LONG_RUN_S", 1e-9)
    with caplog.at_level(logging.WARNING, logger="ampsim.training"):
        train_experiment(config("train.epochs=2"), tmp_path / "run")
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "the first epoch took" in msg and "train.epochs = 2 will take about" in msg


# --------------------------------------------------------------------------- sweep --check and placement
def sweep_file(tmp_path: Path, placement: str, extra: str = "") -> Path:
    p = tmp_path / "sw.toml"
    p.write_text(f"""
[sweep]
experiment = "{BLOBS}"
hardware = "{RING4}"
[fixed]
"data.n_train" = 320
"placement.strategy" = "explicit"
{extra}
[grid]
"placement.map" = [{placement}]
""")
    return p


def test_sweep_check_refuses_a_placement_on_a_chip_the_machine_lacks(tmp_path):
    path = sweep_file(tmp_path, '{ "*" = 0 }, { "x" = 1, "*" = 4 }')
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: point 1 (") and "\n" not in msg
    # (the sweep's map: its key, not the experiment file, which holds none)
    assert msg.endswith("): placement.map.*: chip 4 does not exist (hardware model 'ring4' has chips 0..3)")
    assert main(["sweep", str(path), "--check"]) == 2


def test_sweep_check_accepts_chips_that_exist_and_checks_worker_counts(tmp_path):
    assert len(load_sweep(sweep_file(tmp_path, '{ "*" = 3 }, { "*" = 0 }')).points) == 2
    path = tmp_path / "mc.toml"
    path.write_text(f"""
[sweep]
experiment = "{BLOBS}"
[fixed]
"executor.kind" = "multicore"
"executor.workers" = 2
"placement.strategy" = "explicit"
[grid]
"placement.map" = [{{ "*" = 1 }}, {{ "*" = 2 }}]
""")
    with pytest.raises(ConfigError, match=r"worker 2 does not exist \(executor.workers = 2 has workers 0..1\)"):
        load_sweep(path)


def test_an_explicit_map_beyond_the_workers_names_workers():
    """The multicore run's message spoke of chips ("chip 2 does not exist (the hardware has chips 0..1)")."""
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "multicore", "executor.workers": 2,
                                         "placement.strategy": "explicit", "placement.map": {"*": 2}})
    with pytest.raises(ConfigError, match=r"placement.map.\*: worker 2 does not exist \(the run has workers 0..1\)$"):
        ampsim.plan(cfg)



def no_data(monkeypatch):
    """Make building the blobs task (its data and model) fail the test: a check that needed it is not early."""
    from ampsim.models import mlp

    def build(cfg):
        raise AssertionError("the task was built")
    monkeypatch.setattr(mlp, "build", build)


@pytest.mark.parametrize("placement, extra, bad", [
    ('{ "fc9" = 1, "*" = 0 }', "", "placement.map.fc9: names no node of the model (nodes: x, fc0, relu0, fc1, "),
    ('{ "fc0" = 1 }', "", "placement.map: no chip for node(s) x, relu0, fc1, relu1, fc2, loss (add them"),
    ('{ "g2/*" = 1, "*" = 0 }', '"replicas.groups" = 2', "placement.map.g2/*: names no node of the model (nodes: "
     "g0/x, g0/fc0, g0/relu0, g0/fc1, g0/relu1, g0/fc2, g0/loss, g1/x, g1/fc0, g1/relu0, ... (14 in all))"),
    ('{ "*" = 0 }', '"replicas.nodes" = { fc9 = 2 }', "replicas.nodes.fc9: names no node of the model (nodes: x,"),
])
def test_sweep_check_refuses_node_names_the_model_lacks_without_its_data(tmp_path, monkeypatch, capsys, placement,
                                                                         extra, bad):
    """The map's (and replicas.nodes') names were checked only when the point ran, once its data was loaded: a
    sweep --check passed a typo that failed its points one by one. They are names of the model built from the
    config alone (the copies' names with [replicas]); the data is not read."""
    no_data(monkeypatch)
    path = sweep_file(tmp_path, placement, extra)
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: point 0 (") and "\n" not in msg
    assert f"): {bad}" in msg and str(BLOBS) not in msg  # (the sweep set them: its keys, not the experiment file)
    assert main(["sweep", str(path), "--check"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"ampsim: error: {msg}"]


def test_sweep_check_accepts_the_copies_names_a_map_gives_chips(tmp_path, monkeypatch):
    no_data(monkeypatch)
    path = sweep_file(tmp_path, '{ "g1/fc0#1" = 3, "g1/*" = 2, "*" = 0 }',
                      '"replicas.groups" = 2\n"replicas.nodes" = { fc0 = 2 }')
    assert len(load_sweep(path).points) == 1


def test_sweep_check_refuses_a_later_points_node_name_before_an_earlier_points_data(tmp_path, monkeypatch, capsys):
    """Point 0's train.muf was checked against its instances, read from its data, before point 1's misspelt
    node name: without the data the check failed on the missing data, not on the name (docs/replicas.md: such a
    pattern is refused before any data is read). Every point's names come first, then the muf checks."""
    from ampsim.models import mlp

    def read(cfg):
        raise AssertionError("the data was read")
    monkeypatch.setattr(mlp, "epoch_instances", read)
    path = sweep_file(tmp_path, '{ "*" = 0 }, { "fc9" = 1, "*" = 0 }', '"train.muf" = 2')
    assert main(["sweep", str(path), "--check"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f'ampsim: error: {path}: point 1 (placement.map={{"fc9":1,"*":0}}): placement.map.fc9: names no '
        "node of the model (nodes: x, fc0, relu0, fc1, relu1, fc2, loss)"]


def test_sweep_check_still_refuses_a_muf_beyond_a_points_instances(tmp_path, capsys):
    path = sweep_file(tmp_path, '{ "*" = 0 }, { "*" = 1 }', '"train.muf" = 21\n"train.epochs" = 1')
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f'ampsim: error: {path}: point 0 (placement.map={{"*":0}}): '
                                               "train.muf: 21 is more than the 20 instances"), err  # (the sweep's)


def test_load_experiment_and_train_refuse_a_node_name_before_the_data(tmp_path, monkeypatch, capsys):
    no_data(monkeypatch)
    explicit = {"placement.strategy": "explicit", "placement.map": {"fc*": 0, "relu": 1, "*": 0}}
    with pytest.raises(ConfigError, match=r"^load_experiment: overrides: placement.map.relu: names no node of the "
                                          r"model \(nodes: x, fc0, relu0, fc1, relu1, fc2, loss\)$"):
        ampsim.load_experiment(BLOBS, {"executor.kind": "multicore", **explicit})
    with pytest.raises(ConfigError, match=r"^load_experiment: overrides: replicas.nodes.Fc0: names no node of the"):
        ampsim.load_experiment(BLOBS, {"replicas.nodes": {"Fc0": 2}})
    # the reference executor places nothing: its map is not read (a warning says so), as before
    assert ampsim.load_experiment(BLOBS, explicit).placement.map == explicit["placement.map"]
    run = tmp_path / "run"
    args = ["train", str(BLOBS), "--hardware", str(RING4), "--out", str(run), "--set", "placement.strategy=explicit"]
    assert main([*args, "--set", 'placement.map={fc0=1, "f*"=2, relu1=0}']) == 2
    assert capsys.readouterr().err.splitlines() == [
        "ampsim: error: --set placement.map: no chip for node(s) x, relu0, loss (add them or a pattern such as "
        '"*" = 0)']
    assert main([*args, "--set", 'placement.map={"*"=4}']) == 2  # a chip the machine lacks: before the data too
    assert capsys.readouterr().err.endswith("placement.map.*: chip 4 does not exist (the hardware has chips 0..3)\n")
    assert not run.exists()


def test_a_map_pattern_every_node_of_which_an_earlier_one_took_is_refused(tmp_path, monkeypatch, capsys):
    from ampsim.models.mlp import build_mlp
    from ampsim.placement import place

    """First match wins: with {"fc*" = 0, "fc0" = 1} fc0 went on chip 0 and the "fc0" entry was ignored without a
    word, where replicas.nodes and train.staleness_nodes refuse such a pattern. Refused as they are, in one line
    naming the file, the key and the earlier pattern, before the data (the run's place() and a sweep's --check)."""
    no_data(monkeypatch)
    experiment = tmp_path / "e.toml"
    experiment.write_text(BLOBS.read_text() + '\n[placement]\nstrategy = "explicit"\nmap = { "fc*" = 0, "fc0" = 1, '
                                              '"*" = 2 }\n')
    run = tmp_path / "run"
    assert main(["train", str(experiment), "--hardware", str(RING4), "--out", str(run), "--no-progress"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ampsim: error: {experiment}: placement.map.fc0: places no node: every node it names (fc0) takes its chip "
        "from the earlier pattern fc* (first match wins; list the narrower pattern first)"]
    assert not run.exists()
    with pytest.raises(ConfigError, match=r"^e\.toml: placement\.map\.\*: places no node: every node it names \(x, "
                                          r"fc0, relu0, fc1, relu1, fc2, loss\) takes its worker from the earlier "
                                          r"pattern x \(first match wins"):
        place("explicit", build_mlp(4, [8, 8], 2, seed=0), [None] * 2,
                     explicit={name: 0 for name in ("x", "fc0", "relu0", "fc1", "relu1", "fc2", "loss", "*")},
                     source="e.toml", unit="worker")
    path = sweep_file(tmp_path, '{ "*" = 0 }, { "fc*" = 1, "fc1" = 2, "*" = 0 }')
    assert main(["sweep", str(path), "--check"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f'ampsim: error: {path}: point 1 (placement.map={{"fc*":1,"fc1":2,"*":0}}): placement.map.fc1: places no '
        "node: every node it names (fc1) takes its chip from the earlier pattern fc* (first match wins; list the "
        "narrower pattern first)"]
    # the narrower pattern first is what was meant: accepted, and placed so
    experiment.write_text(experiment.read_text().replace('"fc*" = 0, "fc0" = 1', '"fc0" = 1, "fc*" = 0'))
    narrower = ampsim.load_experiment(experiment, {"executor.kind": "sim"}).placement.map
    assert place("explicit", build_mlp(4, [8, 8], 2, seed=0), [None] * 4, explicit=narrower)["fc0"] == 1

def test_only_a_strategy_that_weighs_rates_reads_this_machines_model(tmp_path, monkeypatch):
    """A broken hardware_models/local_cpu.toml in the working folder failed every multicore run, round-robin
    ones too (which place by name), with a line naming a file the user never gave."""
    (tmp_path / "hardware_models").mkdir()
    (tmp_path / "hardware_models" / "local_cpu.toml").write_text("[system\n")
    monkeypatch.chdir(tmp_path)
    for strategy in ("round_robin", "single", "explicit"):
        cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "multicore", "executor.workers": 2,
                                             "placement.strategy": strategy} | ({"placement.map": {"*": 1}}
                                                                                if strategy == "explicit" else {}))
        assert len(ampsim.plan(cfg).placement) > 0
    cfg = ampsim.load_experiment(BLOBS, {"executor.kind": "multicore", "executor.workers": 2,
                                         "placement.strategy": "greedy"})
    with pytest.raises(ConfigError, match=r"/hardware_models/local_cpu.toml: invalid TOML"):
        ampsim.plan(cfg)  # (greedy weighs the rates: the model is read, and what is wrong with it said)


def test_a_run_keeps_what_else_its_folder_holds_by_refusing(tmp_path, capsys):
    """A figure plotted into a finished run's folder was deleted, silently, by the next run into the folder (a
    run replaces its folder whole). Now that run is refused in one line, and the folder is as it was."""
    blobs = Path(__file__).resolve().parents[2] / "experiments" / "blobs_mlp.toml"
    run = tmp_path / "run"
    args = ["train", str(blobs), "--no-progress", "--out", str(run), "--set", "train.epochs=1"]
    assert main(args) == 0 and main(args) == 0  # a run's own files: replaced as before
    (run / ".DS_Store").write_bytes(b"a desktop's")  # not a result (it goes with the folder)
    assert main(args) == 0
    (run / ".notes").write_text("mine")  # hidden, but the user's
    assert main(args) == 2 and (run / ".notes").read_text() == "mine"
    (run / ".notes").unlink()
    (run / "fig.png").write_bytes(b"a figure")
    before = {f.name: f.read_bytes() for f in run.iterdir()}
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ampsim: error: {run}: an earlier run's folder that also holds fig.png, which no run writes; a run replaces "
        "its folder whole: move that out first, or give another folder"]
    assert {f.name: f.read_bytes() for f in run.iterdir()} == before


def test_an_open_files_limit_no_worker_count_fits_says_only_to_raise_it(monkeypatch):
    """Under a limit too low for a single worker it said "use at most 0 workers" (0 means one per core)."""
    import resource

    from ampsim.executors.multicore.transport import check_open_files

    monkeypatch.setattr(resource, "getrlimit", lambda _: (20, 20))
    with pytest.raises(ConfigError) as err:
        check_open_files(1, "x.toml")
    message = str(err.value)
    assert message.startswith("x.toml: executor.workers: 1 worker needs about ") and "raise the limit (one " in message
    assert "at most" not in message
    monkeypatch.setattr(resource, "getrlimit", lambda _: (10_000, 10_000))
    with pytest.raises(ConfigError, match=r"1000 workers need about [\d,]+ open files .*use at most \d+ workers or"):
        check_open_files(1000, "x.toml")


def test_a_huge_worker_count_is_refused_at_once_with_the_most_that_fit(monkeypatch):
    """The most workers that fit was looked for among every count below the one given: executor.workers = 2**53 (in
    a file, a sweep point or --workers) hung the plan stage instead of saying its one line; 10**8 took a minute."""
    import re
    import resource

    from ampsim.executors.multicore.transport import check_open_files

    monkeypatch.setattr(resource, "getrlimit", lambda _: (10_000, 10_000))
    said = []
    for workers in (1000, 10**8, 2**53):
        start = time.perf_counter()
        with pytest.raises(ConfigError, match=rf"^x\.toml: executor\.workers: {workers} workers need about [\d,]+ open "
                                              r"files .*; use at most \d+ workers or raise the limit$") as err:
            check_open_files(workers, "x.toml")
        assert time.perf_counter() - start < 1, workers
        said.append(int(re.search(r"use at most (\d+) workers", str(err.value))[1]))
    assert said[0] == said[1] == said[2] > 1


@pytest.mark.parametrize("file, sets", [
    ("blobs_mlp", {"model.hidden": [8, 4]}), ("list_reduction", {"data.n_train": 40, "model.cell": "gru"}),
    ("mnist_mlp", {"data.limit_train": 100, "data.limit_test": 10}),
    ("sst_treelstm", {"data.limit_train": 20, "data.limit_test": 5, "model.batch_leaves": False}),
    ("qm9_ggnn", {"data.limit_train": 10, "data.limit_valid": 5, "data.batch": 1, "model.granularity": "atom"}),
])
def test_the_model_built_without_data_has_the_runs_nodes_and_edges(request, file, sets):
    """The names sweep --check and load_experiment check are those the run's placement and replicas read."""
    from ampsim.models import build_task, skeleton

    if file not in ("blobs_mlp", "list_reduction"):
        request.getfixturevalue("data_root")  # (skips without the datasets)
    cfg = ampsim.load_experiment(ROOT / "experiments" / f"{file}.toml", sets)
    bare, model = skeleton(cfg).graph, build_task(cfg).model.graph
    assert list(bare.nodes) == list(model.nodes) and bare.edges == model.edges


@pytest.mark.parametrize("axis, extra, bad", [
    ('"replicas.groups" = [2, 5]', "", "replicas.groups: 5 groups but only 4 chip(s) to hold them"),
    ('"replicas.nodes" = [{ fc0 = 2 }, { fc0 = 3 }]', '"replicas.groups" = 2',
     "replicas.nodes.fc0: 6 copies of node fc0 (2 group(s)) but only 4 chip(s) to hold them"),
    ('"replicas.groups" = [2, 3]', '"executor.kind" = "multicore"\n"executor.workers" = 2',
     "replicas.groups: 3 groups but only 2 worker(s) to hold them"),
], ids=["groups", "copies", "workers"])
def test_sweep_check_refuses_more_replicas_than_chips(tmp_path, monkeypatch, capsys, axis, extra, bad):
    """sweep --check passed a point with more replica groups (or copies of a node) than its machine's chips or its
    workers, which its run then refused after the points before it had run (the README: every point is validated
    before anything runs; docs/replicas.md: such a run is refused before any copy is made)."""
    no_data(monkeypatch)
    path = tmp_path / "sw.toml"
    path.write_text(f'[sweep]\nexperiment = "{BLOBS}"\nhardware = "{RING4}"\n[fixed]\n{extra}\n[grid]\n{axis}\n')
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 (") and err[0].endswith(
        f"): {bad}"), err


@pytest.mark.parametrize("axis, bad", [
    ('"replicas.collective" = ["ring", "halving_doubling"]', 'replicas.collective: halving_doubling pairs copies by '
     'index bits and needs a power-of-two number of copies; node fc0 has 3 (use collective = "ring")'),
    ('"replicas.collective" = ["ring", "host"]', 'replicas.collective: "host" synchronizes through the controller of '
     "a measured machine, which shares [host] cores; the model ring4 has no [host] table (or cores = 0 in it)"),
], ids=["halving-doubling", "host"])
def test_sweep_check_refuses_a_collective_its_run_refuses(tmp_path, monkeypatch, capsys, axis, bad):
    """sweep --check passed a halving-doubling all-reduce over 3 copies, and the controller's collective on a machine
    without [host] cores, which the point's run refused once its model was copied, after the points before it."""
    no_data(monkeypatch)
    path = tmp_path / "sw.toml"
    path.write_text(f'[sweep]\nexperiment = "{BLOBS}"\nhardware = "{RING4}"\n[fixed]\n"replicas.groups" = 3\n'
                    f"[grid]\n{axis}\n")
    assert main(["sweep", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ampsim: error: {path}: point 1 (") and f"): {bad}" in err[0]
    path.write_text(path.read_text().replace('"replicas.groups" = 3', '"replicas.groups" = 3\n"replicas.sync" = "none"'))
    assert len(load_sweep(path).points) == 2  # copies that never synchronize run no collective

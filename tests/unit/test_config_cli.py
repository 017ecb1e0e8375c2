"""Experiment files and the CLI: overrides, run folders, and one-line errors with exit code 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ampsim.cli import main
from ampsim.config import load_config, parse_override
from ampsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BLOBS = ROOT / "experiments" / "blobs_mlp.toml"


def write(tmp_path, text, name="exp.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


BASE = """
[experiment]
name = "t"
task = "mlp"
[data]
dataset = "blobs"
n_train = 200
n_test = 100
[model]
hidden = [8]
"""


@pytest.mark.parametrize("extra,message", [
    ("[train]\nlrr = 0.1\n", "train.lrr: unknown key"),
    ("[train]\nlr = \"fast\"\n", "train.lr: expected number, got string 'fast'"),
    ("[train]\nlr = -1\n", "train.lr: must be > 0, got -1.0"),
    ("[train]\nmak = 0\n", "train.mak: must be >= 1, got 0"),
    ("[train]\nepochs = true\n", "train.epochs: expected integer, got boolean True"),
    ("[train]\noptimizer = \"lbfgs\"\n", "train.optimizer: must be one of sgd, momentum, adam, adagrad"),
    # Adam divides by 1 - beta**t: 1 made every step NaN, said as a divergence to lower train.lr for
    ("[train]\noptimizer = \"adam\"\nbeta1 = 1\n", "train.beta1: must be < 1, got 1.0"),
    ("[train]\noptimizer = \"adam\"\nbeta2 = 1.0\n", "train.beta2: must be < 1, got 1.0"),
    # Adam adds eps to a root of the squared gradients in the dtype: 0 there made every step NaN (0 / 0)
    ("[train]\noptimizer = \"adam\"\neps = 1e-50\n", "train.eps: 1e-50 is 0 in float32 (experiment.dtype), and an "
                                                      "update would divide 0 by 0: give at least 1.4013e-45"),
    ("[train]\noptimizer = \"adagrad\"\neps = 1e-46\n", "train.eps: 1e-46 is 0 in float32"),
    ("[bogus]\nx = 1\n", "bogus: unknown section"),
    # a NUL in a path was "hw\x00.toml: invalid TOML: embedded null byte", blaming a file never opened
    ("[executor]\nhardware = \"hw\\u0000.toml\"\n", "executor.hardware: holds a NUL character, which no name or "
                                                    "path can, got 'hw\\x00.toml'"),
    ("[placement]\nmap = { x = 0 }\n", "placement.map: only placement.strategy = \"explicit\" reads it, "
                                       "the strategy is 'round_robin'"),
])
def test_bad_experiment_files_name_file_and_field(tmp_path, extra, message):
    path = write(tmp_path, BASE + extra)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_model_and_data_sections_are_validated_by_the_task(tmp_path):
    with pytest.raises(ConfigError, match=r"model.hidden\[1\]: expected integer"):
        load_config(write(tmp_path, BASE.replace("hidden = [8]", 'hidden = [8, "x"]')))
    with pytest.raises(ConfigError, match="data.dataset: must be one of mnist, blobs"):
        load_config(write(tmp_path, BASE.replace('"blobs"', '"cifar"')))
    with pytest.raises(ConfigError, match="experiment.task: unknown task 'gpt'"):
        load_config(write(tmp_path, BASE.replace('task = "mlp"', 'task = "gpt"')))


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, BASE)
    cfg = load_config(path, [parse_override("train.lr=0.5"), parse_override("model.hidden=[3, 4]")])
    assert cfg.train.lr == 0.5 and cfg.model.hidden == [3, 4]
    with pytest.raises(ConfigError, match="train.muf: must be >= 1"):
        load_config(path, [parse_override("train.muf=0")])


def test_train_writes_run_folder_and_config_round_trips(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(BLOBS), "--out", str(out), "--no-progress", "--set", "train.epochs=2"]) == 0
    df = pd.read_csv(out / "metrics.csv")
    assert list(df.columns) == ["epoch", "instances", "time_s", "wall_s", "train_loss", "test_accuracy"]
    assert list(df.epoch) == [1, 2] and df.test_accuracy.iloc[-1] > 0.8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["executor"] == "reference"
    again = load_config(out / "config.toml")  # the resolved config is itself a valid experiment file
    assert again.train.epochs == 2 and again.model.hidden == [64, 64]


@pytest.mark.parametrize("epochs, said", [(1, "after 1 epoch, "), (2, "after 2 epochs, ")])
def test_trains_last_line_counts_its_epochs_in_words(tmp_path, capsys, epochs, said):
    """It said 'after 1 epochs' of a one-epoch run (the README's replay command, any quick look)."""
    argv = ["train", str(BLOBS), "--out", str(tmp_path / "run"), "--no-progress", "--set", f"train.epochs={epochs}",
            "--set", "data.n_train=64", "--set", "data.n_test=16"]
    assert main(argv) == 0
    assert said in capsys.readouterr().out


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ampsim.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, timeout=120)


def test_cli_errors_are_one_line_exit_2_no_traceback(tmp_path):
    bad = write(tmp_path, BASE + "[train]\nlr = -3\n")
    r = run_cli("train", str(bad), "--no-progress")
    assert r.returncode == 2
    assert r.stderr.strip() == f"ampsim: error: {bad}: train.lr: must be > 0, got -3.0"
    r = run_cli("train", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "missing.toml: no such file" in r.stderr and "Traceback" not in r.stderr


def test_missing_dataset_is_a_one_line_error(tmp_path):
    exp = ROOT / "experiments" / "mnist_mlp.toml"
    r = run_cli("train", str(exp), "--no-progress", env={"AMPSIM_DATA": str(tmp_path), "AMPSIM_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "mnist/train-images-idx3-ubyte.gz" in r.stderr


def test_corrupt_idx_file_is_a_one_line_error(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    exp = ROOT / "experiments" / "mnist_mlp.toml"
    r = run_cli("train", str(exp), "--no-progress", env={"AMPSIM_DATA": str(tmp_path), "AMPSIM_OFFLINE": "1"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "train-images-idx3-ubyte.gz" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_diverging_training_is_a_one_line_error(tmp_path):
    r = run_cli("train", str(BLOBS), "--no-progress", "--out", str(tmp_path / "run"),
                "--set", 'train.optimizer="sgd"', "--set", "train.lr=1e12")
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    # the loss passes train.max_loss (default 1e6 per row) long before it turns NaN
    assert line.startswith("ampsim: error: loss became ") and "per row at node loss on instance key " in line
    assert "above train.max_loss = 1e+06" in line and "lower train.lr" in line
    assert "or set train.clip_norm (epoch 1, training); parameters when it stopped: " in line  # (a key runs on: when)
    r = run_cli("train", str(BLOBS), "--no-progress", "--out", str(tmp_path / "run"),
                "--set", 'train.optimizer="sgd"', "--set", "train.lr=1e12", "--set", "train.max_loss=0")
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("ampsim: error: loss became nan at node loss") and "lower train.lr" in line


def test_unwritable_run_folder_is_a_one_line_error():
    r = run_cli("train", str(BLOBS), "--no-progress", "--out", "/dev/null/run")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["ampsim: error: /dev/null/run: cannot create: /dev/null is a device, not a folder"]


@pytest.mark.parametrize("argv, kind", [
    (["--hardware", "RING4"], "sim"),  # --hardware alone picks the simulator
    (["--executor", "multicore", "--hardware", "RING4"], "multicore"),
    (["--set", 'executor.kind="multicore"', "--hardware", "RING4"], "multicore"),  # it ran the simulator, silently
    (["--hardware", "RING4", "--set", "executor.kind=reference"], "reference"),
    (["--set", "executor.kind=sim", "--executor", "sim"], "sim"),
])
def test_train_honours_an_explicit_executor_kind_beside_hardware(argv, kind, monkeypatch, tmp_path):
    import ampsim.api

    ring4 = str(ROOT / "hardware_models" / "ring4.toml")
    trained = []
    monkeypatch.setattr(ampsim.api, "train", lambda cfg, out, progress: trained.append(cfg) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # (nothing trained: the config the command made is what counts)
        main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--out", str(tmp_path / "r"),
              *[ring4 if a == "RING4" else a for a in argv]])
    assert trained[0].executor.kind == kind
    assert trained[0].executor.hardware == (ring4 if "RING4" in argv else "")


def test_train_refuses_an_executor_option_that_contradicts_set_executor_kind(capsys):
    assert main(["train", str(ROOT / "experiments" / "blobs_mlp.toml"), "--set", 'executor.kind="multicore"',
                 "--executor", "sim"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "ampsim: error: --executor sim: --set executor.kind='multicore' chose another executor; give one of them"]


@pytest.mark.parametrize("overrides, message", [
    # an empty field name took the whole-table branch: "--set train.: must be a table, got integer"
    ([("train.", 5)], "--set train.: unknown key (known: epochs, "),
    ([("train..lr", 5)], "--set train..lr: unknown key (known: epochs, "),
    # a list field's bound is each item's, checked under the override's name (a task check named the file)
    ([("model.hidden", [8, 0])], "--set model.hidden[1]: must be >= 1, got 0"),
])
def test_an_override_is_refused_under_its_own_name(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(BLOBS, overrides)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_list_items_bound_in_the_file_names_the_file(tmp_path):
    path = write(tmp_path, '[experiment]\ntask = "mlp"\n[model]\nhidden = [4, 0]\n')
    with pytest.raises(ConfigError, match=r"exp\.toml: model\.hidden\[1\]: must be >= 1, got 0$"):
        load_config(path)


LISTS = ROOT / "experiments" / "list_reduction.toml"


@pytest.mark.parametrize("path, overrides, option, message", [
    # rules across fields and a task's own checks ran on the merged file, and named it for a --set value
    (LISTS, [("data.min_len", 100)], "--set", "--set data.min_len: must be <= data.max_len (10), got 100"),
    (LISTS, [("data", {"min_len": 9, "max_len": 3})], "--set", "--set data.min_len: must be <= data.max_len (3), got 9"),
    (LISTS, [("data.ops", ["sum", "foo"])], "load_experiment: overrides:",
     "load_experiment: overrides: data.ops: unknown operations ['foo'] (known: sum, max, min, first, last)"),
    (BLOBS, [("placement.map", {"fc1": 0})], "", 'placement.map: only placement.strategy = "explicit" reads it, the '
     "strategy is 'round_robin'"),
    (LISTS, [("data.min_len", 4), ("data.max_len", 3)], "--set", "--set data.min_len: must be <= data.max_len (3), got 4"),
])
def test_a_rule_across_fields_names_the_override_whose_value_it_refuses(path, overrides, option, message):
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides, option)
    assert str(err.value) == message


def test_a_rule_across_fields_names_the_file_where_the_value_it_refuses_is_the_files(tmp_path):
    path = write(tmp_path, '[experiment]\ntask = "list_reduction"\n[data]\nmin_len = 5\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, [("data.max_len", 3)])
    assert str(err.value) == f"{path}: data.min_len: must be <= data.max_len (3), got 5"


@pytest.mark.parametrize("table, overrides, source", [
    # the hardware model's error named the experiment file's [hardware] table, which it did not have
    ("", [("hardware.link.packet_bytes", 0.5)], "--set hardware.link.packet_bytes"),
    ("[hardware.link]\npacket_bytes = 0.5\n", [], "{exp}"),
    ("[hardware.link]\npacket_bytes = 0.5\n", [("hardware.link.latency_s", 1e-6)],
     "{exp} and --set hardware.link.latency_s"),
])
def test_a_hardware_models_error_names_where_its_overrides_came_from(tmp_path, table, overrides, source):
    from ampsim.api import train
    hw = ROOT / "hardware_models" / "ring4.toml"
    exp = write(tmp_path, f'[experiment]\ntask = "mlp"\n[executor]\nkind = "sim"\nhardware = "{hw}"\n{table}')
    with pytest.raises(ConfigError) as err:
        train(load_config(exp, overrides), tmp_path / "run")  # (through checked(): the API's re-validation)
    assert str(err.value).startswith(f"{hw} (with the hardware overrides of {source.format(exp=exp)}): "
                                      "link.packet_bytes: must be 0 (whole messages) or a whole number")
    assert not (tmp_path / "run").exists()


def test_eps_is_checked_in_the_experiments_dtype(tmp_path):
    """1e-50 is 0 in float32, where Adam adds it (refused above), not in float64, where it trains; an override
    that sets it is named as the override."""
    path = write(tmp_path, BASE + "[train]\noptimizer = \"adam\"\neps = 1e-50\n")
    assert load_config(path, [parse_override("experiment.dtype=\"float64\"")]).train.eps == 1e-50
    with pytest.raises(ConfigError, match=r"^--set train.eps: 1e-300 is 0 in float32"):
        load_config(write(tmp_path, BASE, "b.toml"), [parse_override("train.optimizer=\"adam\""),
                                                      parse_override("train.eps=1e-300")])


def test_an_override_that_made_a_section_a_value_is_the_one_named(tmp_path):
    """--set train=5 --set train.epochs=1: the first made train no table (the second was blamed); an override
    into a value the file holds is still the one named."""
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError, match=r"^--set train: must be a table \(train.epochs is set inside it\), got "
                                          r"integer 5$"):
        load_config(path, [parse_override("train=5"), parse_override("train.epochs=1")])
    with pytest.raises(ConfigError, match=r"^--set model.hidden.x: hidden is not a table$"):
        load_config(path, [parse_override("model.hidden.x=1")])


def test_every_argument_of_every_command_says_what_it_is():
    """The README sends users to ``ampsim COMMAND --help`` for every option; ``info --help`` listed its one
    argument, ``hardware``, with no word of what it takes."""
    import argparse

    from ampsim.cli import build_parser

    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {action.dest}" for name, command in sub.choices.items() for action in command._actions
            if not isinstance(action, argparse._HelpAction) and not action.help]
    assert bare == []


@pytest.mark.parametrize("flag", ["-v", "-vv", "--verbose"])
def test_the_verbose_option_after_the_command_says_where_it_goes(capsys, flag):
    """`ampsim train FILE -v` said only "unrecognized arguments: -v; see `ampsim train --help`", whose help has no
    -v: it is ampsim's own option (the README's `ampsim -v COMMAND`)."""
    assert main(["train", str(BLOBS), flag]) == 2
    err = capsys.readouterr().err
    assert err == (f"ampsim: error: unrecognized arguments: {flag} (an option of ampsim itself: give it before the "
                   f"command, ampsim {flag} train ...); see `ampsim train --help`\n")
